//! A small YAML writer for the generated docs: block style, strings quoted only when a
//! YAML reader could take them for something else. It writes JSON values only, so it needs
//! none of the YAML spec's harder corners.

use serde_json::{Map, Value};

/// A YAML document for a mapping.
pub fn document(map: &Map<String, Value>) -> String {
    let mut out = String::from("---\n");
    write_map(map, 0, &mut out);
    out
}

fn write_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar_string(key));
        out.push(':');
        write_after_key(value, indent, out);
    }
}

fn write_after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(inner) if !inner.is_empty() => {
            out.push('\n');
            write_map(inner, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_list(items, indent + 2, out);
        }
        Value::String(text) if text.contains('\n') => write_block(text, indent + 2, out),
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

fn write_list(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key shares the dash's line; the rest align under it.
                let mut first = true;
                for (key, value) in map {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&scalar_string(key));
                    out.push(':');
                    write_after_key(value, indent + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(inner, indent + 2, out);
            }
            Value::String(text) if text.contains('\n') => write_block(text, indent + 2, out),
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

fn write_block(text: &str, indent: usize, out: &mut String) {
    out.push_str(if text.ends_with('\n') {
        " |\n"
    } else {
        " |-\n"
    });
    for line in text.lines() {
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A plain scalar when that reads back as the same string, else a JSON (= YAML
/// double-quoted) string.
fn scalar_string(text: &str) -> String {
    const YAML_WORDS: &[&str] = &[
        "yes", "no", "on", "off", "true", "false", "y", "n", "null", "~",
    ];
    let plain = !text.is_empty()
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.,()/-`'".contains(c))
        && !text.ends_with(' ')
        && !YAML_WORDS.contains(&text.to_ascii_lowercase().as_str());
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_what_yaml_would_misread() {
        assert_eq!(scalar_string("plain words"), "plain words");
        assert_eq!(scalar_string("yes"), "\"yes\"");
        assert_eq!(scalar_string("1.0"), "\"1.0\"");
        assert_eq!(scalar_string("a: b"), "\"a: b\"");
        assert_eq!(scalar_string(""), "\"\"");
        assert_eq!(scalar_string("#x"), "\"#x\"");
    }

    #[test]
    fn writes_nested_blocks() {
        let doc = json!({"a": {"b": [1, {"c": "d", "e": []}]}, "t": "x\ny\n"});
        let Value::Object(map) = doc else { panic!() };
        assert_eq!(
            document(&map),
            "---\na:\n  b:\n    - 1\n    - c: d\n      e: []\nt: |\n  x\n  y\n"
        );
    }
}
