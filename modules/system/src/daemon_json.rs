//! Editing Docker's /etc/docker/daemon.json without disturbing what others put there:
//! keys keep their order, the file keeps its indentation style and final newline, and a
//! file whose content would not change is never rewritten.

use serde_json::{Map, Value};

/// The default location of dockerd's configuration file.
pub const DEFAULT_PATH: &str = "/etc/docker/daemon.json";

/// How the file lays out its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Everything on one line.
    Compact,
    /// One key per line, indented with this string per level.
    Pretty(String),
}

/// A parsed daemon.json.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonJson {
    /// The top-level object, in file order.
    pub map: Map<String, Value>,
    pub layout: Layout,
    pub trailing_newline: bool,
    /// The file's text as read (`None`: the file does not exist).
    pub original: Option<String>,
}

impl DaemonJson {
    /// Parses the file's text (`None` or blank: an empty configuration). `path` names the
    /// file in errors.
    pub fn parse(path: &str, text: Option<&str>) -> Result<DaemonJson, String> {
        let blank = text.is_none_or(|t| t.trim().is_empty());
        let map = if blank {
            Map::new()
        } else {
            let text = text.unwrap_or_default();
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(format!("cannot use {path}: it is not a JSON object")),
                Err(e) => return Err(format!("cannot parse {path}: {e}")),
            }
        };
        Ok(DaemonJson {
            map,
            layout: text.map_or(Layout::Pretty("  ".into()), detect_layout),
            trailing_newline: text.is_none_or(|t| blank || t.ends_with('\n')),
            original: text.map(str::to_string),
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Sets `key` (appended at the end when new, in place otherwise); true if it changed.
    pub fn set(&mut self, key: &str, value: Value) -> bool {
        if self.map.get(key) == Some(&value) {
            return false;
        }
        self.map.insert(key.to_string(), value);
        true
    }

    /// Removes `key` keeping the others in order; the removed value, if there was one.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.map.shift_remove(key)
    }

    /// The file's new text in its own layout.
    pub fn render(&self) -> String {
        let value = Value::Object(self.map.clone());
        let mut text = match &self.layout {
            Layout::Compact => serde_json::to_string(&value).unwrap_or_default(),
            Layout::Pretty(indent) => {
                let mut out = Vec::new();
                let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
                let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
                // Serializing a Value into a Vec cannot fail.
                let _ = serde::Serialize::serialize(&value, &mut ser);
                String::from_utf8(out).unwrap_or_default()
            }
        };
        if self.trailing_newline {
            text.push('\n');
        }
        text
    }

    /// The text to write, or `None` when the file already says exactly this
    /// (semantically: an edit that changes nothing never reformats the file).
    pub fn new_text(&self) -> Option<String> {
        if let Some(original) = &self.original {
            if let Ok(Value::Object(before)) = serde_json::from_str::<Value>(original) {
                if before == self.map && before.keys().eq(self.map.keys()) {
                    return None;
                }
            } else if original.trim().is_empty() && self.map.is_empty() {
                return None;
            }
        }
        Some(self.render())
    }
}

/// The layout of `text`: the indentation of its first indented line, or compact when the
/// object is on one line.
pub fn detect_layout(text: &str) -> Layout {
    let trimmed = text.trim();
    if !trimmed.contains('\n') {
        return if trimmed.is_empty() || trimmed == "{}" {
            Layout::Pretty("  ".into())
        } else {
            Layout::Compact
        };
    }
    for line in trimmed.lines().skip(1) {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if !indent.is_empty() && line.len() > indent.len() {
            return Layout::Pretty(indent);
        }
    }
    Layout::Pretty("  ".into())
}

/// The Unix socket paths among daemon.json's `hosts` (`unix:///path`).
pub fn unix_hosts(doc: &DaemonJson) -> Vec<String> {
    match doc.get("hosts") {
        Some(Value::Array(hosts)) => hosts
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|h| h.strip_prefix("unix://"))
            .map(str::to_string)
            .collect(),
        Some(Value::String(h)) => h
            .strip_prefix("unix://")
            .map(|p| vec![p.to_string()])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FOUR: &str = "{\n    \"log-driver\": \"journald\",\n    \"storage-driver\": \"overlay2\",\n    \"registry-mirrors\": [\n        \"https://mirror.example\"\n    ]\n}\n";

    #[test]
    fn set_keeps_order_and_indentation() {
        let mut doc = DaemonJson::parse("daemon.json", Some(FOUR)).unwrap();
        assert_eq!(doc.layout, Layout::Pretty("    ".into()));
        assert!(doc.set("group", json!("zuul")));
        let text = doc.new_text().unwrap();
        assert_eq!(
            text,
            "{\n    \"log-driver\": \"journald\",\n    \"storage-driver\": \"overlay2\",\n    \"registry-mirrors\": [\n        \"https://mirror.example\"\n    ],\n    \"group\": \"zuul\"\n}\n"
        );
        // Removing it again gives back the original text byte for byte.
        let mut again = DaemonJson::parse("daemon.json", Some(&text)).unwrap();
        assert_eq!(again.remove("group"), Some(json!("zuul")));
        assert_eq!(again.new_text().as_deref(), Some(FOUR));
    }

    #[test]
    fn existing_key_changes_in_place() {
        let text = "{\n\t\"group\": \"docker\",\n\t\"debug\": true\n}";
        let mut doc = DaemonJson::parse("d", Some(text)).unwrap();
        assert_eq!(doc.layout, Layout::Pretty("\t".into()));
        assert!(!doc.trailing_newline);
        doc.set("group", json!("zuul"));
        assert_eq!(
            doc.new_text().unwrap(),
            "{\n\t\"group\": \"zuul\",\n\t\"debug\": true\n}"
        );
    }

    #[test]
    fn unchanged_content_is_never_rewritten() {
        // Odd formatting that a re-serialization would change.
        let text = "{ \"group\":\"zuul\",\n  \"debug\" :true }";
        let mut doc = DaemonJson::parse("d", Some(text)).unwrap();
        assert!(!doc.set("group", json!("zuul")));
        assert_eq!(doc.new_text(), None);
        assert_eq!(doc.remove("absent"), None);
        assert_eq!(doc.new_text(), None);
        let empty = DaemonJson::parse("d", Some("  \n")).unwrap();
        assert_eq!(empty.new_text(), None);
    }

    #[test]
    fn compact_and_missing_files() {
        let mut doc = DaemonJson::parse("d", Some("{\"debug\":true}\n")).unwrap();
        assert_eq!(doc.layout, Layout::Compact);
        doc.set("group", json!("zuul"));
        assert_eq!(
            doc.new_text().unwrap(),
            "{\"debug\":true,\"group\":\"zuul\"}\n"
        );

        let mut missing = DaemonJson::parse("d", None).unwrap();
        assert!(missing.map.is_empty());
        missing.set("group", json!("zuul"));
        assert_eq!(missing.new_text().unwrap(), "{\n  \"group\": \"zuul\"\n}\n");
        missing.remove("group");
        assert_eq!(missing.render(), "{}\n");
    }

    #[test]
    fn errors_name_the_file() {
        let err = DaemonJson::parse("/etc/docker/daemon.json", Some("{\"a\": ")).unwrap_err();
        assert!(
            err.starts_with("cannot parse /etc/docker/daemon.json: "),
            "{err}"
        );
        let err = DaemonJson::parse("/etc/docker/daemon.json", Some("[1]")).unwrap_err();
        assert_eq!(
            err,
            "cannot use /etc/docker/daemon.json: it is not a JSON object"
        );
    }

    #[test]
    fn hosts() {
        let doc = DaemonJson::parse(
            "d",
            Some(r#"{"hosts": ["tcp://0.0.0.0:2375", "unix:///run/custom.sock"]}"#),
        )
        .unwrap();
        assert_eq!(unix_hosts(&doc), vec!["/run/custom.sock"]);
        let none = DaemonJson::parse("d", Some("{}")).unwrap();
        assert!(unix_hosts(&none).is_empty());
    }
}
