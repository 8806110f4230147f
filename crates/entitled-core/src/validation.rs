//! Validation of outside input: a failure names the offending parameter.

/// Input that breaks a rule; `param` is the field (or path segment) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct ValidationError {
    /// The request field that is invalid, as the client named it.
    pub param: String,
    /// What is wrong, in words a developer can act on.
    pub message: String,
}

impl ValidationError {
    /// A validation error about `param`.
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
        }
    }
}

/// Checks a display name: 1 to `max` characters, no control characters; returns it trimmed.
pub fn display_name(value: &str, param: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > max {
        return Err(ValidationError::new(
            param,
            format!("{param} must be 1 to {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            param,
            format!("{param} must not contain control characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Checks a reverse-DNS identifier such as a bundle id or package name.
pub fn reverse_dns(value: &str, param: &str) -> Result<String, ValidationError> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(value.to_string())
    } else {
        Err(ValidationError::new(
            param,
            format!(
                "{param} must be a dotted identifier like com.example.app (letters, digits, '_', '-')"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(display_name("  Pro  ", "name", 10), Ok("Pro".into()));
        assert_eq!(display_name("   ", "name", 10).unwrap_err().param, "name");
        assert!(display_name(&"x".repeat(11), "name", 10).is_err());
        assert!(display_name("a\u{7}b", "name", 10).is_err());
    }

    #[test]
    fn reverse_dns_rejects_empty_parts() {
        assert!(reverse_dns("com.example.app", "bundle_id").is_ok());
        assert!(reverse_dns("com..app", "bundle_id").is_err());
        assert!(reverse_dns("com.exa mple", "bundle_id").is_err());
        assert!(reverse_dns("", "bundle_id").is_err());
    }
}

/// Checks a lookup key (entitlements, offerings, packages): 1 to 200 characters of letters,
/// digits and `_ - . $ :` (RevenueCat's package keys look like `$rc_monthly`).
pub fn lookup_key(value: &str, param: &str) -> Result<String, ValidationError> {
    identifier(value, param, 200, &['_', '-', '.', '$', ':'])
}

/// Checks a store product identifier: 1 to 200 characters of letters, digits and `_ - . :`
/// (Play subscriptions are `product:base-plan`).
pub fn store_identifier(value: &str, param: &str) -> Result<String, ValidationError> {
    identifier(value, param, 200, &['_', '-', '.', ':'])
}

fn identifier(
    value: &str,
    param: &str,
    max: usize,
    punctuation: &[char],
) -> Result<String, ValidationError> {
    if value.is_empty() || value.len() > max {
        return Err(ValidationError::new(
            param,
            format!("{param} must be 1 to {max} characters"),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !punctuation.contains(c))
    {
        let allowed: String = punctuation.iter().collect();
        return Err(ValidationError::new(
            param,
            format!("{param} may contain only letters, digits and {allowed:?} (found {bad:?})"),
        ));
    }
    Ok(value.to_string())
}

/// Checks an ISO 8601 period of whole years, months, weeks and days, e.g. `P1M`, `P1Y6M`, `P7D`.
pub fn iso_period(value: &str, param: &str) -> Result<String, ValidationError> {
    let invalid = || {
        ValidationError::new(
            param,
            format!("{param} must be an ISO 8601 period such as P1W, P1M, P3M or P1Y"),
        )
    };
    let body = value.strip_prefix('P').ok_or_else(invalid)?;
    let mut last_unit = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let rank = match c {
            'Y' => 1,
            'M' => 2,
            'W' => 3,
            'D' => 4,
            _ => return Err(invalid()),
        };
        let amount: u32 = digits.parse().map_err(|_| invalid())?;
        if rank <= last_unit || amount == 0 || digits.len() > 4 {
            return Err(invalid());
        }
        last_unit = rank;
        digits.clear();
        any = true;
    }
    if !any || !digits.is_empty() {
        return Err(invalid());
    }
    Ok(value.to_string())
}

/// Deepest nesting of arrays and objects accepted in free-form JSON (offering metadata).
pub const MAX_JSON_DEPTH: usize = 16;
/// Largest free-form JSON accepted, in bytes once serialized.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// Checks free-form JSON: an object, at most [`MAX_JSON_DEPTH`] deep and [`MAX_JSON_BYTES`] large.
pub fn json_object(value: &serde_json::Value, param: &str) -> Result<(), ValidationError> {
    fn depth(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if !value.is_object() {
        return Err(ValidationError::new(
            param,
            format!("{param} must be a JSON object"),
        ));
    }
    if depth(value) > MAX_JSON_DEPTH {
        return Err(ValidationError::new(
            param,
            format!("{param} may nest at most {MAX_JSON_DEPTH} levels deep"),
        ));
    }
    if value.to_string().len() > MAX_JSON_BYTES {
        return Err(ValidationError::new(
            param,
            format!("{param} may be at most {MAX_JSON_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod identifier_tests {
    use super::*;

    #[test]
    fn lookup_keys_allow_revenuecat_package_keys() {
        assert!(lookup_key("$rc_monthly", "lookup_key").is_ok());
        assert!(lookup_key("pro", "lookup_key").is_ok());
        assert!(lookup_key("", "lookup_key").is_err());
        assert!(lookup_key("has space", "lookup_key").is_err());
        assert!(lookup_key("slash/y", "lookup_key").is_err());
        assert!(lookup_key(&"k".repeat(201), "lookup_key").is_err());
        assert!(store_identifier("premium:monthly-base", "store_identifier").is_ok());
        assert!(store_identifier("$nope", "store_identifier").is_err());
    }

    #[test]
    fn iso_periods() {
        for ok in ["P1W", "P1M", "P3M", "P6M", "P1Y", "P7D", "P1Y6M", "P2W3D"] {
            assert!(iso_period(ok, "d").is_ok(), "{ok}");
        }
        for bad in [
            "", "P", "1M", "PM", "P0M", "P1", "P1M1Y", "P1H", "PT1H", "P-1M", "P1M1M", "P99999D",
        ] {
            assert!(iso_period(bad, "d").is_err(), "{bad}");
        }
    }

    #[test]
    fn json_objects_are_bounded() {
        assert!(json_object(&serde_json::json!({"a": [1, {"b": 2}]}), "metadata").is_ok());
        assert!(json_object(&serde_json::json!([1]), "metadata").is_err());
        let mut deep = serde_json::json!(1);
        for _ in 0..20 {
            deep = serde_json::json!({ "x": deep });
        }
        assert_eq!(
            json_object(&deep, "metadata").unwrap_err().param,
            "metadata"
        );
        let big = serde_json::json!({ "x": "y".repeat(MAX_JSON_BYTES) });
        assert!(json_object(&big, "metadata").is_err());
    }
}
