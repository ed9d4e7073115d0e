//! Query strings and the Engine API's `filters` parameter.

use std::collections::BTreeMap;

/// Filters as the Engine API takes them: values of one key are ORed (or, for `label`,
/// ANDed), different keys ANDed. A `BTreeMap` keeps the encoding deterministic.
pub type Filters = BTreeMap<String, Vec<String>>;

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `?k1=v1&k2=v2` (empty when there are no parameters).
pub fn query_string(params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    format!("?{}", pairs.join("&"))
}

/// The JSON text of `filters` (`{"key": ["v1", "v2"]}`), not yet URL-encoded. This list
/// form is understood by every API version (the map form only from 1.24 on).
pub fn filters_json(filters: &Filters) -> String {
    serde_json::to_string(filters).unwrap_or_else(|_| "{}".into())
}

/// The `filters` query parameter, or `None` when there are no filters.
pub fn filters_param(filters: &Filters) -> Option<(&'static str, String)> {
    if filters.is_empty() {
        None
    } else {
        Some(("filters", filters_json(filters)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_filters_as_url_encoded_json() {
        let mut filters = Filters::new();
        filters.insert("label".into(), vec!["a=b c".into(), "d".into()]);
        filters.insert("dangling".into(), vec!["false".into()]);
        let query = query_string(&[filters_param(&filters).unwrap()]);
        assert_eq!(
            query,
            "?filters=%7B%22dangling%22%3A%5B%22false%22%5D%2C%22label%22%3A%5B%22a%3Db%20c%22%2C%22d%22%5D%7D"
        );
        assert_eq!(filters_param(&Filters::new()), None);
        assert_eq!(query_string(&[]), "");
        assert_eq!(percent_encode("aZ9-._~/ä"), "aZ9-._~%2F%C3%A4");
    }
}
