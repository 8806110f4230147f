//! Just enough CSV (RFC 4180): quoted fields with `""` escapes, on both ends.

/// Splits one CSV line into fields; `None` when a quote is left open.
pub fn parse_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, other) => field.push(other),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, other) => field.push(other),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// One CSV line from fields, quoting those that need it.
pub fn line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_round_trip() {
        let fields = vec![
            "a,b".to_string(),
            "say \"hi\"".to_string(),
            String::new(),
            "plain".to_string(),
        ];
        assert_eq!(parse_line(&line(&fields)), Some(fields));
        assert_eq!(
            parse_line("x,,y"),
            Some(vec!["x".into(), String::new(), "y".into()])
        );
        assert_eq!(parse_line("\"open"), None);
    }
}
