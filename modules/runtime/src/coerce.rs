//! Argument validation and coercion with AnsibleModule's rules.
//!
//! Ad-hoc `-a 'images=yes retries=3 names=a,b'` arrives as strings; playbooks send typed
//! YAML values. Users expect both to work the way they do for Python modules, and the
//! error messages to read the same, so this follows AnsibleModule's behaviour and wording.

use serde_json::{Map, Number, Value};

use crate::spec::{ArgSpec, Kind, OptionSpec};
use crate::Constraints;

/// Checks the user's options against the spec and returns them under their canonical
/// names, coerced to their declared types, with explicit nulls dropped (so that serde
/// applies the default, as AnsibleModule does for `None`).
pub fn validate(
    module_name: &str,
    spec: &ArgSpec,
    constraints: &Constraints,
    user: Map<String, Value>,
    ignore_unknown: bool,
    warnings: &mut Vec<String>,
) -> Result<Map<String, Value>, String> {
    let mut unknown = Vec::new();
    let mut canonical = Map::new();
    for (given_name, value) in user {
        let Some(option) = spec.find(&given_name) else {
            unknown.push(given_name);
            continue;
        };
        if given_name != option.name && canonical.contains_key(&option.name) {
            warnings.push(format!(
                "Both option {} and its alias {} are set.",
                option.name, given_name
            ));
            continue;
        }
        canonical.insert(option.name.clone(), value);
    }
    if !unknown.is_empty() && !ignore_unknown {
        unknown.sort();
        return Err(format!(
            "Unsupported parameters for ({module_name}) module: {}. Supported parameters include: {}.",
            unknown.join(", "),
            spec.supported_list()
        ));
    }
    canonical.retain(|_, value| !value.is_null());

    check_constraints(constraints, &canonical)?;

    let missing: Vec<&str> = spec
        .options
        .iter()
        .filter(|o| o.required && !canonical.contains_key(&o.name))
        .map(|o| o.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing required arguments: {}",
            missing.join(", ")
        ));
    }

    let mut coerced = Map::new();
    for (name, value) in canonical {
        let option = spec
            .find(&name)
            .ok_or_else(|| format!("internal error: option {name} vanished from the spec"))?;
        let value = coerce_option(option, value)?;
        check_choices(option, &value)?;
        coerced.insert(name, value);
    }
    Ok(coerced)
}

fn check_constraints(constraints: &Constraints, given: &Map<String, Value>) -> Result<(), String> {
    let present = |names: &&[&str]| -> Vec<String> {
        names
            .iter()
            .filter(|n| given.contains_key(**n))
            .map(|n| n.to_string())
            .collect()
    };
    for group in constraints.mutually_exclusive {
        let set = present(group);
        if set.len() > 1 {
            return Err(format!(
                "parameters are mutually exclusive: {}",
                set.join("|")
            ));
        }
    }
    for group in constraints.required_one_of {
        if present(group).is_empty() {
            return Err(format!(
                "one of the following is required: {}",
                group.join(", ")
            ));
        }
    }
    for group in constraints.required_together {
        let set = present(group);
        if !set.is_empty() && set.len() != group.len() {
            return Err(format!(
                "parameters are required together: {}",
                group.join(", ")
            ));
        }
    }
    Ok(())
}

fn coerce_option(option: &OptionSpec, value: Value) -> Result<Value, String> {
    let converted = coerce(option.kind, value.clone()).map_err(|why| {
        format!(
            "argument '{}' is of type {} and we were unable to convert to {}: {}",
            option.name,
            type_name(&value),
            option.kind.ansible_name(),
            why
        )
    })?;
    match (option.kind, option.elements, converted) {
        (Kind::List, Some(element_kind), Value::Array(items)) => items
            .into_iter()
            .map(|item| {
                coerce(element_kind, item.clone()).map_err(|why| {
                    format!(
                        "Elements value for option '{}' is of type {} and we were unable to convert to {}: {}",
                        option.name,
                        type_name(&item),
                        element_kind.ansible_name(),
                        why
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (_, _, converted) => Ok(converted),
    }
}

fn check_choices(option: &OptionSpec, value: &Value) -> Result<(), String> {
    let Some(choices) = &option.choices else {
        return Ok(());
    };
    let listed = || {
        choices
            .iter()
            .map(display_value)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match value {
        Value::Array(items) => {
            let bad: Vec<String> = items
                .iter()
                .filter(|item| !choices.contains(item))
                .map(display_value)
                .collect();
            if !bad.is_empty() {
                return Err(format!(
                    "value of {} must be one or more of: {}. Got no match for: {}",
                    option.name,
                    listed(),
                    bad.join(", ")
                ));
            }
        }
        single if !choices.contains(single) => {
            return Err(format!(
                "value of {} must be one of: {}, got: {}",
                option.name,
                listed(),
                display_value(single)
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Converts `value` to `kind`, or says why it cannot be.
pub fn coerce(kind: Kind, value: Value) -> Result<Value, String> {
    match kind {
        Kind::Raw => Ok(value),
        Kind::Bool => to_bool(&value).map(Value::Bool),
        Kind::Int => to_int(&value),
        Kind::Float => to_float(&value),
        Kind::Str => match value {
            Value::String(_) => Ok(value),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(if b { "True" } else { "False" }.into())),
            other => Err(format!(
                "{} cannot be converted to a str",
                type_name(&other)
            )),
        },
        Kind::List => match value {
            Value::Array(_) => Ok(value),
            // AnsibleModule splits strings on commas; surrounding blanks are never wanted.
            Value::String(text) => Ok(Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_string()))
                    .collect(),
            )),
            Value::Number(n) => Ok(Value::Array(vec![Value::String(n.to_string())])),
            other => Err(format!(
                "{} cannot be converted to a list",
                type_name(&other)
            )),
        },
        Kind::Dict => match value {
            Value::Object(_) => Ok(value),
            Value::String(text) => parse_dict(&text),
            other => Err(format!(
                "{} cannot be converted to a dict",
                type_name(&other)
            )),
        },
    }
}

/// The spellings AnsibleModule accepts for booleans, in any case.
pub fn to_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "1" | "true" | "y" | "t" => Ok(true),
            "no" | "off" | "0" | "false" | "n" | "f" => Ok(false),
            _ => Err(format!(
                "The value '{text}' is not a valid boolean. Valid booleans include: \
                 'yes', 'no', 'true', 'false', 'on', 'off', 'y', 'n', '1', '0'"
            )),
        },
        other => Err(format!(
            "{} cannot be converted to a bool",
            type_name(other)
        )),
    }
}

fn to_int(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
            _ => Err(format!("{n} is not a whole number")),
        },
        Value::String(text) => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("'{text}' is not an integer")),
        other => Err(format!(
            "{} cannot be converted to an int",
            type_name(other)
        )),
    }
}

fn to_float(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(_) => Ok(value.clone()),
        Value::String(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("'{text}' is not a number")),
        other => Err(format!(
            "{} cannot be converted to a float",
            type_name(other)
        )),
    }
}

/// A dict from a string: JSON when it looks like JSON, else `k=v` pairs separated by
/// commas or blanks, with single or double quotes protecting separators.
fn parse_dict(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        return match serde_json::from_str::<Value>(trimmed) {
            Ok(value @ Value::Object(_)) => Ok(value),
            Ok(_) => Err("the JSON is not an object".into()),
            Err(e) => Err(format!("'{text}' is not valid JSON: {e}")),
        };
    }
    let mut dict = Map::new();
    for field in split_fields(trimmed) {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!(
                "'{field}' is not a key=value pair (in '{text}'); \
                 write a dict as k1=v1,k2=v2 or as JSON"
            ));
        };
        dict.insert(key.trim().to_string(), Value::String(value.to_string()));
    }
    Ok(Value::Object(dict))
}

fn split_fields(text: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, ',') | (None, ' ' | '\t' | '\n') => {
                if !current.is_empty() {
                    fields.push(std::mem::take(&mut current));
                }
            }
            (None, c) => current.push(c),
        }
    }
    if !current.is_empty() {
        fields.push(current);
    }
    fields
}

/// Python's name for the JSON value's type, as AnsibleModule's messages show it.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
