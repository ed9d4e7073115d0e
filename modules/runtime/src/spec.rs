//! The argument spec of a module, read from the JSON Schema of its options struct.
//!
//! The schema (derived by schemars from the `Params` struct and its doc comments) is the
//! one source of option names, types, defaults, choices and docs. Ansible-only facts that
//! JSON Schema has no word for ride along as extension keys on the property:
//! `x-aliases` (list of names) and `x-no-log` (bool).

use serde_json::{Map, Value};

/// The Ansible type of an option, as AnsibleModule and ansible-doc name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
    /// Anything goes (`serde_json::Value`, or a union this runtime does not coerce).
    Raw,
}

impl Kind {
    /// The name ansible-doc and AnsibleModule use for the type.
    pub fn ansible_name(self) -> &'static str {
        match self {
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Str => "str",
            Kind::List => "list",
            Kind::Dict => "dict",
            Kind::Raw => "raw",
        }
    }
}

/// One module option.
#[derive(Debug, Clone)]
pub struct OptionSpec {
    pub name: String,
    pub kind: Kind,
    /// For lists: the type of the elements.
    pub elements: Option<Kind>,
    /// Allowed values (for lists: allowed element values).
    pub choices: Option<Vec<Value>>,
    pub aliases: Vec<String>,
    pub no_log: bool,
    pub required: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
    /// The property's own schema, for doc generators that need more (e.g. nested dicts).
    pub schema: Value,
}

/// All options of a module, in schema order.
#[derive(Debug, Clone, Default)]
pub struct ArgSpec {
    pub options: Vec<OptionSpec>,
}

impl ArgSpec {
    /// Reads the spec from a schemars root schema.
    pub fn from_schema(root: &Value) -> ArgSpec {
        let defs = root.get("$defs").and_then(Value::as_object);
        let required: Vec<&str> = root
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut options = Vec::new();
        if let Some(properties) = root.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                options.push(option_from_property(
                    name,
                    property,
                    defs,
                    required.contains(&name.as_str()),
                ));
            }
        }
        ArgSpec { options }
    }

    /// The option called `name`, by its own name or one of its aliases.
    pub fn find(&self, name: &str) -> Option<&OptionSpec> {
        self.options
            .iter()
            .find(|o| o.name == name || o.aliases.iter().any(|a| a == name))
    }

    /// "name (alias1, alias2)" for every option, sorted: the list AnsibleModule prints
    /// after "Supported parameters include:".
    pub fn supported_list(&self) -> String {
        let mut entries: Vec<String> = self
            .options
            .iter()
            .map(|o| {
                if o.aliases.is_empty() {
                    o.name.clone()
                } else {
                    format!("{} ({})", o.name, o.aliases.join(", "))
                }
            })
            .collect();
        entries.sort();
        entries.join(", ")
    }
}

fn option_from_property(
    name: &str,
    property: &Value,
    defs: Option<&Map<String, Value>>,
    required: bool,
) -> OptionSpec {
    let resolved = resolve(property, defs);
    let shape = Shape::of(&resolved, defs);
    let elements = if shape.kind == Kind::List {
        resolved
            .get("items")
            .map(|items| Shape::of(&resolve(items, defs), defs))
    } else {
        None
    };
    let choices = match &elements {
        Some(items) => items.choices.clone(),
        None => shape.choices.clone(),
    };
    OptionSpec {
        name: name.to_string(),
        kind: shape.kind,
        elements: elements.map(|e| e.kind),
        choices,
        aliases: property
            .get("x-aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        no_log: property.get("x-no-log").and_then(Value::as_bool) == Some(true),
        required,
        default: property.get("default").cloned(),
        description: property
            .get("description")
            .or_else(|| resolved.get("description"))
            .and_then(Value::as_str)
            .map(String::from),
        schema: resolved,
    }
}

/// Follows a local `$ref` into `$defs`, keeping the referring schema's own keys
/// (schemars puts `default` and `description` beside the `$ref`).
fn resolve(schema: &Value, defs: Option<&Map<String, Value>>) -> Value {
    let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
        return schema.clone();
    };
    let target = reference
        .strip_prefix("#/$defs/")
        .and_then(|name| defs?.get(name))
        .cloned()
        .unwrap_or(Value::Bool(true));
    let mut merged = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(own) = schema.as_object() {
        for (key, value) in own {
            if key != "$ref" {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(merged)
}

/// What a (resolved) schema says about type and allowed values.
struct Shape {
    kind: Kind,
    choices: Option<Vec<Value>>,
}

impl Shape {
    fn of(schema: &Value, defs: Option<&Map<String, Value>>) -> Shape {
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return Shape::choice(values.iter().filter(|v| !v.is_null()).cloned().collect());
        }
        if let Some(value) = schema.get("const") {
            return Shape::choice(vec![value.clone()]);
        }
        if let Some(types) = schema.get("type") {
            let names: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let concrete: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
            if let [only] = concrete.as_slice() {
                return Shape {
                    kind: kind_of_type_name(only),
                    choices: None,
                };
            }
            return Shape::raw();
        }
        // anyOf/oneOf: `Option<Enum>` is [{$ref}, {type: null}]; documented enums are a
        // oneOf of consts. Anything richer is taken as raw and left to serde.
        let branches = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(branches) = branches {
            let shapes: Vec<Shape> = branches
                .iter()
                .map(|b| resolve(b, defs))
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .map(|b| Shape::of(&b, defs))
                .collect();
            if shapes.len() == 1 {
                return shapes.into_iter().next().unwrap_or_else(Shape::raw);
            }
            if !shapes.is_empty() && shapes.iter().all(|s| s.choices.is_some()) {
                let all = shapes
                    .into_iter()
                    .flat_map(|s| s.choices.unwrap_or_default());
                return Shape::choice(all.collect());
            }
        }
        Shape::raw()
    }

    fn choice(values: Vec<Value>) -> Shape {
        let kind = match values.first() {
            Some(Value::Bool(_)) => Kind::Bool,
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Kind::Int,
            Some(Value::Number(_)) => Kind::Float,
            _ => Kind::Str,
        };
        Shape {
            kind,
            choices: Some(values),
        }
    }

    fn raw() -> Shape {
        Shape {
            kind: Kind::Raw,
            choices: None,
        }
    }
}

fn kind_of_type_name(name: &str) -> Kind {
    match name {
        "boolean" => Kind::Bool,
        "integer" => Kind::Int,
        "number" => Kind::Float,
        "string" => Kind::Str,
        "array" => Kind::List,
        "object" => Kind::Dict,
        _ => Kind::Raw,
    }
}
