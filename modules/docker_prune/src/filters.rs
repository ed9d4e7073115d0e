//! The `*_filters` options: converted to what the daemon wants and checked the way the
//! daemon checks them, before anything is pruned. A filter the daemon would refuse for
//! the third kind must not leave the first two already pruned.

use std::collections::BTreeMap;

use docker_engine::{ApiVersion, Filters};
use serde_json::Value;

use crate::parse;

/// The kinds of objects, in the order they are pruned (containers first: removing them
/// frees images, networks and volumes for the later steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Containers,
    Images,
    Networks,
    Volumes,
    BuilderCache,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Containers,
        Kind::Images,
        Kind::Networks,
        Kind::Volumes,
        Kind::BuilderCache,
    ];

    pub fn option(self) -> &'static str {
        match self {
            Kind::Containers => "containers",
            Kind::Images => "images",
            Kind::Networks => "networks",
            Kind::Volumes => "volumes",
            Kind::BuilderCache => "builder_cache",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::Containers => "/containers/prune",
            Kind::Images => "/images/prune",
            Kind::Networks => "/networks/prune",
            Kind::Volumes => "/volumes/prune",
            Kind::BuilderCache => "/build/prune",
        }
    }

    /// The filter keys the daemon accepts for this kind's prune.
    fn accepted(self, api: ApiVersion) -> &'static [&'static str] {
        match self {
            Kind::Containers | Kind::Networks => &["label", "label!", "until"],
            Kind::Images => &["dangling", "label", "label!", "until"],
            Kind::Volumes if api >= ApiVersion(1, 42) => &["label", "label!", "all"],
            Kind::Volumes => &["label", "label!"],
            Kind::BuilderCache => &[
                "until",
                "unused-for",
                "id",
                "parent",
                "type",
                "description",
                "inuse",
                "shared",
                "private",
            ],
        }
    }
}

/// One filter value the way docker-py's `convert_filters` (the reference module) turns
/// it into text: booleans become "true"/"false", numbers their decimal text.
fn value_text(option: &str, key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(if *b { "true" } else { "false" }.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!(
            "{option}: the value of filter {key:?} must be a string, a bool, a number or a list of them, not {other}"
        )),
    }
}

/// The user's filter dict as the daemon's `{"key": ["value", ...]}`.
pub fn to_filters(option: &str, dict: &BTreeMap<String, Value>) -> Result<Filters, String> {
    let mut filters = Filters::new();
    for (key, value) in dict {
        let values = match value {
            Value::Array(items) => items
                .iter()
                .map(|item| value_text(option, key, item))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Null => {
                return Err(format!(
                    "{option}: filter {key:?} has no value; remove it or give one"
                ))
            }
            single => vec![value_text(option, key, single)?],
        };
        filters.insert(key.clone(), values);
    }
    Ok(filters)
}

/// Go's strconv.ParseBool, plus yes/no/on/off as Ansible users write them.
fn bool_text(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "y" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// True for the spellings of "true" [`validate`] accepts.
pub fn is_true(text: &str) -> bool {
    bool_text(text) == Some(true)
}

fn single<'a>(option: &str, filters: &'a Filters, key: &str) -> Result<Option<&'a str>, String> {
    match filters.get(key).map(Vec::as_slice) {
        None => Ok(None),
        Some([one]) => Ok(Some(one.as_str())),
        Some(values) => Err(format!(
            "{option}: filter {key:?} takes exactly one value, got {}",
            values.len()
        )),
    }
}

/// Checks `filters` for `kind` as the daemon of version `api` would, and normalizes the
/// values the daemon is strict about (`dangling`, `all`: to "true"/"false"). Returns the
/// filters to send.
pub fn validate(
    kind: Kind,
    option: &str,
    mut filters: Filters,
    api: ApiVersion,
) -> Result<Filters, String> {
    let accepted = kind.accepted(api);
    if let Some(bad) = filters.keys().find(|k| !accepted.contains(&k.as_str())) {
        let mut msg = format!(
            "{option}: invalid filter {bad:?} for pruning {}; accepted: {}",
            kind.option().replace('_', " "),
            accepted.join(", ")
        );
        if kind == Kind::Volumes && bad == "all" {
            msg = format!(
                "{option}: filter \"all\" needs Docker API 1.42 (Engine 23) or later, this daemon speaks {api}; below 1.42 volume prune already removes named volumes too"
            );
        }
        return Err(msg);
    }
    for key in ["dangling", "all"] {
        if let Some(value) = single(option, &filters, key)? {
            let b = bool_text(value).ok_or_else(|| {
                format!("{option}: filter {key:?} must be true or false, got {value:?}")
            })?;
            filters.insert(key.into(), vec![b.to_string()]);
        }
    }
    match kind {
        Kind::BuilderCache => {
            if filters.contains_key("until") && filters.contains_key("unused-for") {
                return Err(format!(
                    "{option}: filters \"until\" and \"unused-for\" are the same; give only one"
                ));
            }
            for key in ["until", "unused-for"] {
                if let Some(value) = single(option, &filters, key)? {
                    if parse::go_duration(value).is_none() {
                        return Err(format!(
                            "{option}: filter {key:?} expects a duration such as 24h or 90m, got {value:?}"
                        ));
                    }
                }
            }
            for key in [
                "id",
                "parent",
                "type",
                "description",
                "inuse",
                "shared",
                "private",
            ] {
                single(option, &filters, key)?;
            }
        }
        _ => {
            if let Some(value) = single(option, &filters, "until")? {
                parse::until_cutoff(value, 0, 0).map_err(|why| {
                    format!("{option}: invalid value for filter \"until\": {why}")
                })?;
            }
        }
    }
    Ok(filters)
}

/// The daemon's label matching (`MatchKVList`): every `label` value must match (a bare
/// key: present; `k=v`: equal), and the object is excluded when every `label!` value
/// matches.
pub fn labels_match(filters: &Filters, labels: &BTreeMap<String, String>) -> bool {
    let all_match = |values: &Vec<String>| {
        values.iter().all(|value| match value.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|found| found == v),
            None => labels.contains_key(value.as_str()),
        })
    };
    if let Some(values) = filters.get("label").filter(|v| !v.is_empty()) {
        if labels.is_empty() || !all_match(values) {
            return false;
        }
    }
    if let Some(values) = filters.get("label!") {
        if values.is_empty() {
            return true;
        }
        if !labels.is_empty() && all_match(values) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dict(value: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    const OLD: ApiVersion = ApiVersion(1, 41);
    const NEW: ApiVersion = ApiVersion(1, 47);

    #[test]
    fn values_are_converted_like_the_reference_module() {
        let filters = to_filters(
            "images_filters",
            &dict(json!({"dangling": false, "label": ["a=1", "b"], "until": 3600})),
        )
        .unwrap();
        assert_eq!(filters["dangling"], vec!["false"]);
        assert_eq!(filters["label"], vec!["a=1", "b"]);
        assert_eq!(filters["until"], vec!["3600"]);
        assert!(to_filters("x", &dict(json!({"label": {"a": 1}}))).is_err());
        assert!(to_filters("x", &dict(json!({"label": null}))).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let f = |v: Value| to_filters("f", &dict(v)).unwrap();
        let err = validate(
            Kind::Containers,
            "containers_filters",
            f(json!({"dangling": true})),
            OLD,
        )
        .unwrap_err();
        assert!(err.contains("invalid filter \"dangling\""), "{err}");
        let err = validate(
            Kind::Images,
            "images_filters",
            f(json!({"until": "yesterday"})),
            OLD,
        )
        .unwrap_err();
        assert!(err.contains("invalid value for filter \"until\""), "{err}");
        let err = validate(Kind::Images, "i", f(json!({"until": ["1h", "2h"]})), OLD).unwrap_err();
        assert!(err.contains("exactly one value"), "{err}");
        let err = validate(Kind::Images, "i", f(json!({"dangling": "maybe"})), OLD).unwrap_err();
        assert!(err.contains("true or false"), "{err}");
        let err = validate(Kind::Volumes, "v", f(json!({"all": true})), OLD).unwrap_err();
        assert!(err.contains("needs Docker API 1.42"), "{err}");
        assert!(validate(Kind::Volumes, "v", f(json!({"all": true})), NEW).is_ok());
        let err = validate(
            Kind::BuilderCache,
            "b",
            f(json!({"until": "2024-01-01"})),
            NEW,
        )
        .unwrap_err();
        assert!(err.contains("expects a duration"), "{err}");
        let err = validate(
            Kind::BuilderCache,
            "b",
            f(json!({"until": "1h", "unused-for": "2h"})),
            NEW,
        )
        .unwrap_err();
        assert!(err.contains("give only one"), "{err}");
    }

    #[test]
    fn strict_booleans_are_normalized() {
        let filters = to_filters("i", &dict(json!({"dangling": "no"}))).unwrap();
        let filters = validate(Kind::Images, "i", filters, OLD).unwrap();
        assert_eq!(filters["dangling"], vec!["false"]);
    }

    #[test]
    fn label_matching_follows_the_daemon() {
        let labels: BTreeMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]
        .into();
        let none = BTreeMap::new();
        let f = |v: Value| to_filters("f", &dict(v)).unwrap();
        assert!(labels_match(&f(json!({})), &labels));
        assert!(labels_match(&f(json!({"label": ["a", "b=2"]})), &labels));
        assert!(!labels_match(&f(json!({"label": ["a", "c"]})), &labels));
        assert!(!labels_match(&f(json!({"label": "a=2"})), &labels));
        assert!(!labels_match(&f(json!({"label": "a"})), &none));
        assert!(!labels_match(&f(json!({"label!": "a"})), &labels));
        // label! excludes only when all its values match.
        assert!(labels_match(&f(json!({"label!": ["a", "c"]})), &labels));
        assert!(labels_match(&f(json!({"label!": "a"})), &none));
    }
}
