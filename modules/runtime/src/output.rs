//! Building the one JSON result object and writing it to stdout.

use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::spec::ArgSpec;
use crate::{Context, Failure, Outcome};

/// What AnsibleModule writes in place of a secret.
pub const MASK: &str = "********";
/// What AnsibleModule shows for a no_log option in `invocation`.
const NO_LOG_PLACEHOLDER: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";

/// Keys the runtime owns; a module's typed output must not overwrite them.
const RESERVED: &[&str] = &[
    "changed",
    "failed",
    "msg",
    "diff",
    "warnings",
    "deprecations",
    "invocation",
    "skipped",
];

pub fn failure_result(msg: &str) -> Value {
    let mut map = Map::new();
    map.insert("failed".into(), Value::Bool(true));
    map.insert("changed".into(), Value::Bool(false));
    map.insert("msg".into(), Value::String(msg.to_string()));
    Value::Object(map)
}

/// The result object for a finished run, success or failure.
pub fn assemble<T: Serialize>(outcome: Result<Outcome<T>, Failure>, ctx: &Context) -> Value {
    let mut result = match outcome {
        Ok(outcome) => {
            let mut map = match serde_json::to_value(&outcome.output) {
                Ok(Value::Object(map)) => map,
                Ok(Value::Null) => Map::new(),
                Ok(other) => {
                    let mut map = Map::new();
                    map.insert("result".into(), other);
                    map
                }
                Err(e) => {
                    return failure_result(&format!("cannot serialize the module's result: {e}"))
                }
            };
            for key in RESERVED {
                map.remove(*key);
            }
            map.insert("changed".into(), Value::Bool(outcome.changed));
            if let Some(msg) = outcome.msg {
                map.insert("msg".into(), Value::String(msg));
            }
            Value::Object(map)
        }
        Err(failure) => {
            let mut map = failure.extra;
            for key in RESERVED {
                map.remove(*key);
            }
            map.insert("failed".into(), Value::Bool(true));
            map.insert("changed".into(), Value::Bool(false));
            map.insert("msg".into(), Value::String(failure.msg));
            Value::Object(map)
        }
    };
    add_notices(&mut result, ctx);
    if ctx.diff_mode() {
        if let Value::Object(map) = &mut result {
            match ctx.diffs() {
                [] => {}
                [one] => {
                    map.insert("diff".into(), serde_json::to_value(one).unwrap_or_default());
                }
                many => {
                    map.insert(
                        "diff".into(),
                        serde_json::to_value(many).unwrap_or_default(),
                    );
                }
            }
        }
    }
    result
}

/// Adds the warnings and deprecations collected so far.
pub fn add_notices(result: &mut Value, ctx: &Context) {
    let Value::Object(map) = result else { return };
    if !ctx.warnings.is_empty() {
        map.insert("warnings".into(), Value::from(ctx.warnings.clone()));
    }
    if !ctx.deprecations.is_empty() {
        map.insert(
            "deprecations".into(),
            serde_json::to_value(&ctx.deprecations).unwrap_or_default(),
        );
    }
}

/// `invocation.module_args`: the options as the module saw them, defaults included, with
/// no_log options replaced by AnsibleModule's placeholder.
pub fn invocation<P: Serialize>(params: &P, spec: &ArgSpec) -> Option<Value> {
    let Ok(Value::Object(mut args)) = serde_json::to_value(params) else {
        return None;
    };
    for option in spec.options.iter().filter(|o| o.no_log) {
        if let Some(value) = args.get_mut(&option.name) {
            if !value.is_null() {
                *value = Value::String(NO_LOG_PLACEHOLDER.into());
            }
        }
    }
    let mut invocation = Map::new();
    invocation.insert("module_args".into(), Value::Object(args));
    Some(Value::Object(invocation))
}

/// The values of the no_log options as given, as strings to mask wherever they appear.
pub fn secret_values(spec: &ArgSpec, user: &Map<String, Value>) -> Vec<String> {
    let mut secrets = Vec::new();
    for (name, value) in user {
        let Some(option) = spec.find(name) else {
            continue;
        };
        if option.no_log {
            collect_scalars(value, &mut secrets);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    secrets.retain(|s| !s.is_empty());
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

fn collect_scalars(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(s) => into.push(s.clone()),
        Value::Number(n) => into.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect_scalars(v, into)),
        Value::Object(map) => map.values().for_each(|v| collect_scalars(v, into)),
        Value::Bool(_) | Value::Null => {}
    }
}

/// Replaces every occurrence of a secret in every string (keys included), like
/// AnsibleModule's `remove_values`; the protocol's own top-level keys are left readable.
pub fn mask(value: Value, secrets: &[String]) -> Value {
    if secrets.is_empty() {
        return value;
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = if RESERVED.contains(&k.as_str()) || k == "exception" {
                        k
                    } else {
                        mask_text(k, secrets)
                    };
                    (key, mask_nested(v, secrets))
                })
                .collect(),
        ),
        other => mask_nested(other, secrets),
    }
}

fn mask_text(text: String, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text, |acc, secret| acc.replace(secret.as_str(), MASK))
}

fn mask_nested(value: Value, secrets: &[String]) -> Value {
    match value {
        Value::String(s) => Value::String(mask_text(s, secrets)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| mask_nested(v, secrets)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (mask_text(k, secrets), mask_nested(v, secrets)))
                .collect(),
        ),
        Value::Number(n) if secrets.contains(&n.to_string()) => Value::String(MASK.into()),
        other => other,
    }
}

/// Writes the masked result as one line on stdout; nothing ever goes to stderr (over SSH
/// the module runs under a tty and stderr would corrupt the JSON).
pub fn emit(result: Value, secrets: &[String]) {
    let masked = mask(result, secrets);
    let text = serde_json::to_string(&masked)
        .unwrap_or_else(|_| r#"{"failed": true, "msg": "cannot serialize result"}"#.into());
    let mut stdout = std::io::stdout().lock();
    // If stdout is gone there is nobody left to tell.
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}
