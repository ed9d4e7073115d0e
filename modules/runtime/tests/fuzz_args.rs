//! Property test over argument parsing and validation: whatever bytes or JSON arrive, the
//! runtime answers with one JSON object and never panics.
//!
//! CI runs the default number of cases; for a long run:
//! `PROPTEST_CASES=1000000 cargo test --release -p module_runtime --test fuzz_args`

use module_runtime::input::parse_args;
use module_runtime::{execute, Context, Failure, Module, ModuleDoc, Outcome, Support};
use proptest::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    A,
    B,
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Params {
    #[schemars(extend("x-aliases" = ["n"]))]
    name: String,
    #[serde(default)]
    flag: bool,
    count: Option<i64>,
    ratio: Option<f64>,
    #[serde(default)]
    list: Vec<i64>,
    #[serde(default)]
    dict: std::collections::BTreeMap<String, Value>,
    mode: Option<Mode>,
    #[schemars(extend("x-no-log" = true))]
    secret: Option<String>,
}

struct Fuzz;
impl Module for Fuzz {
    const NAME: &'static str = "fuzz";
    const DOC: ModuleDoc = ModuleDoc {
        short_description: "",
        description: &[],
        notes: &[],
        requirements: &[],
        check_mode: Support::Full,
        diff_mode: Support::None,
        examples: "",
    };
    type Params = Params;
    type Output = Params;
    fn run(p: Params, _: &mut Context) -> Result<Outcome<Params>, Failure> {
        Ok(Outcome::new(false, p))
    }
}

const KEYS: &[&str] = &[
    "name",
    "n",
    "flag",
    "count",
    "ratio",
    "list",
    "dict",
    "mode",
    "secret",
    "other",
    "_ansible_check_mode",
    "_ansible_diff",
    "_ansible_no_log",
    "_ansible_tracebacks_for",
    "_ansible_ignore_unknown_opts",
    "_ansible_module_name",
    "_ansible_inject_invocation",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z0-9=, {}\"'.:-]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "yes",
            "off",
            "a",
            "b",
            "1,2,x",
            "k=v x=y",
            "{\"a\":1}",
            "1.5"
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn args_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(prop::sample::select(KEYS), json_value(), 0..8)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn assert_one_result(result: &Value) {
    let object = result.as_object().expect("result is an object");
    assert!(
        object.get("changed").is_some_and(Value::is_boolean),
        "{result}"
    );
    if object.get("failed") == Some(&Value::Bool(true)) {
        assert!(object.get("msg").is_some_and(Value::is_string), "{result}");
    }
}

proptest! {
    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_args(&bytes, "fuzz");
    }

    #[test]
    fn any_arguments_give_one_result(args in args_object()) {
        let (result, secrets) = execute::<Fuzz>(args.clone());
        assert_one_result(&result);
        let text = serde_json::to_string(&module_runtime::output::mask(result, &secrets)).unwrap();
        if let Some(Value::String(secret)) = args.get("secret") {
            if secret.len() > 3 && !"VALUE_SPECIFIED_IN_NO_LOG_PARAMETER********".contains(secret.as_str()) {
                prop_assert!(!text.contains(secret.as_str()), "secret {secret} leaked: {text}");
            }
        }
    }

    #[test]
    fn serialized_arguments_round_trip_through_the_parser(args in args_object()) {
        let bytes = serde_json::to_vec(&Value::Object(args.clone())).unwrap();
        let parsed = parse_args(&bytes, "fuzz").unwrap();
        let (result, _) = execute::<Fuzz>(parsed);
        assert_one_result(&result);
    }
}
