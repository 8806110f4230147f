//! Ids of the lifecycle facts Play purchases imply. Purchase tokens run to a few hundred
//! characters, so ids carry a digest of the token rather than the token itself; the same
//! inputs always give the same id, so seeing a state or a notification twice records one fact.

use aws_lc_rs::digest::{SHA256, digest};

/// `evt_play_<what>_<digest of the parts>`: 32 hex digits of SHA-256 over the parts, each
/// length-prefixed so different splits of the same text never collide.
pub(crate) fn event_id(what: &str, parts: &[&str]) -> String {
    let mut input = Vec::new();
    for part in parts {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    let hash = digest(&SHA256, &input);
    let hex: String = hash.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("evt_play_{what}_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_split_sensitive() {
        let a = event_id("cancelled", &["tok", "GPA.1"]);
        assert_eq!(a, event_id("cancelled", &["tok", "GPA.1"]));
        assert!(a.starts_with("evt_play_cancelled_"));
        assert_eq!(a.len(), "evt_play_cancelled_".len() + 32);
        assert_ne!(a, event_id("cancelled", &["to", "kGPA.1"]));
        assert_ne!(a, event_id("paused", &["tok", "GPA.1"]));
    }
}
