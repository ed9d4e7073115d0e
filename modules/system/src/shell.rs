//! Values of shell-style `KEY=value` files (/etc/os-release, /etc/default/*).

/// The value with one pair of surrounding double or single quotes removed, trimmed.
pub fn unquote(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn strips_one_pair_of_matching_quotes() {
        assert_eq!(unquote(" \"-G zuul\" "), "-G zuul");
        assert_eq!(unquote("'debian'"), "debian");
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote("\"unbalanced"), "\"unbalanced");
        assert_eq!(unquote("'mixed\""), "'mixed\"");
    }
}
