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
        Value::String(text) if text.len() > WRAP_AT => write_folded(text, indent + 2, out),
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

/// Past this many characters a one-line string is written folded (linters cap lines).
const WRAP_AT: usize = 100;

/// A long one-line string as a folded block (`>-`): its lines are joined with single
/// spaces on reading, so it is broken only at single spaces between words.
fn write_folded(text: &str, indent: usize, out: &mut String) {
    out.push_str(" >-\n");
    let pad = " ".repeat(indent);
    let mut line = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        // The next word with the single space that follows it (if any).
        let end = rest
            .char_indices()
            .find(|&(i, c)| {
                c == ' '
                    && rest[i + 1..].chars().next().is_some_and(|n| n != ' ')
                    && i > 0
                    && !rest[..i].ends_with(' ')
            })
            .map_or(rest.len(), |(i, _)| i);
        let word = &rest[..end];
        rest = rest[end..].strip_prefix(' ').unwrap_or(&rest[end..]);
        if !line.is_empty() && line.len() + 1 + word.len() > WRAP_AT {
            out.push_str(&pad);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&pad);
    out.push_str(&line);
    out.push('\n');
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
            // Anything else sits after the dash as it would after a key.
            other => write_after_key(other, indent, out),
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
    fn long_strings_fold_at_word_boundaries() {
        let words: Vec<String> = (0..40).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        let mut out = String::new();
        write_folded(&text, 2, &mut out);
        assert!(out.starts_with(" >-\n"));
        assert!(out.lines().all(|l| l.len() <= WRAP_AT + 2), "{out}");
        let folded: Vec<&str> = out.lines().skip(1).map(str::trim).collect();
        assert_eq!(folded.join(" "), text);
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
