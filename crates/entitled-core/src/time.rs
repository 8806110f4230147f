//! Points in time as UTC milliseconds since the Unix epoch, the unit of v2's `…_at` fields.

use serde::{Deserialize, Serialize};

/// A UTC instant in whole milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// The raw millisecond count.
    pub fn as_i64(self) -> i64 {
        self.0
    }
}
