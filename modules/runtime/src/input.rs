//! Reading the arguments: the JSON file named by argv[1], or the same JSON on stdin.

use std::io::Read;

use serde_json::{Map, Value};

use crate::coerce::to_bool;

/// Real argument files are a few KiB; anything this large is a mistake or an attack, and
/// parsing it would only delay the failure.
pub const MAX_ARGS_BYTES: u64 = 16 * 1024 * 1024;

/// Where the arguments come from.
pub enum Source {
    File(String),
    Stdin,
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::File(path) => path.clone(),
            Source::Stdin => "standard input".into(),
        }
    }
}

/// Reads and parses the arguments into a JSON object.
pub fn read_args(source: &Source) -> Result<Map<String, Value>, String> {
    let what = source.describe();
    let mut bytes = Vec::new();
    let read = match source {
        Source::File(path) => std::fs::File::open(path)
            .and_then(|file| file.take(MAX_ARGS_BYTES + 1).read_to_end(&mut bytes)),
        Source::Stdin => std::io::stdin()
            .lock()
            .take(MAX_ARGS_BYTES + 1)
            .read_to_end(&mut bytes),
    };
    read.map_err(|e| format!("cannot read module arguments from {what}: {e}"))?;
    parse_args(&bytes, &what)
}

/// Parses argument bytes; `what` names their origin in error messages.
pub fn parse_args(bytes: &[u8], what: &str) -> Result<Map<String, Value>, String> {
    if bytes.len() as u64 > MAX_ARGS_BYTES {
        return Err(format!(
            "module arguments in {what} are larger than {} MiB; refusing to parse them",
            MAX_ARGS_BYTES / (1024 * 1024)
        ));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("module arguments in {what} are not valid JSON: {e}"))?;
    match value {
        // The Python-module wire format wraps the arguments; accept it so that a
        // transport built for AnsibleModule can feed us unchanged.
        Value::Object(mut map) if map.len() == 1 && map.contains_key("ANSIBLE_MODULE_ARGS") => {
            match map.remove("ANSIBLE_MODULE_ARGS") {
                Some(Value::Object(inner)) => Ok(inner),
                _ => Err(format!(
                    "ANSIBLE_MODULE_ARGS in {what} must be a JSON object"
                )),
            }
        }
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "module arguments in {what} must be a JSON object, got {}",
            crate::coerce::type_name(&other)
        )),
    }
}

/// The `_ansible_*` keys the controller adds, as far as a module has to honour them.
#[derive(Debug, Clone, Default)]
pub struct Internal {
    pub check_mode: bool,
    pub diff: bool,
    pub no_log: bool,
    pub ignore_unknown_opts: bool,
    /// None when the controller (before 2.21) does not say; AnsibleModule then always
    /// added `invocation`.
    pub inject_invocation: Option<bool>,
    /// Event kinds ("error", "warning", "deprecated", or "always") for which the
    /// controller wants tracebacks.
    pub tracebacks_for: Vec<String>,
    pub module_name: Option<String>,
}

impl Internal {
    pub fn wants_traceback(&self, event: &str) -> bool {
        self.tracebacks_for
            .iter()
            .any(|kind| kind == event || kind == "always")
    }
}

/// Splits the internal keys off the user's options. Unknown `_ansible_*` keys are dropped:
/// the set changes nearly every ansible-core release.
pub fn split_internal(args: Map<String, Value>) -> (Internal, Map<String, Value>) {
    let mut internal = Internal::default();
    let mut user = Map::new();
    let flag = |value: &Value| to_bool(value).unwrap_or(false);
    for (key, value) in args {
        let Some(name) = key.strip_prefix("_ansible_") else {
            user.insert(key, value);
            continue;
        };
        match name {
            "check_mode" => internal.check_mode = flag(&value),
            "diff" => internal.diff = flag(&value),
            "no_log" => internal.no_log = flag(&value),
            "ignore_unknown_opts" => internal.ignore_unknown_opts = flag(&value),
            "inject_invocation" => internal.inject_invocation = Some(flag(&value)),
            "tracebacks_for" => {
                internal.tracebacks_for = match value {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                    Value::String(text) => text.split(',').map(|s| s.trim().to_string()).collect(),
                    _ => Vec::new(),
                }
            }
            "module_name" => internal.module_name = value.as_str().map(String::from),
            _ => {}
        }
    }
    (internal, user)
}
