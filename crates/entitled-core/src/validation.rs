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
