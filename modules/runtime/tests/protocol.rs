//! The protocol as a module sees it: arguments in, one result object out.

use std::collections::BTreeMap;

use module_runtime::coerce::{coerce, to_bool};
use module_runtime::input::parse_args;
use module_runtime::{
    execute, Constraints, Context, Diff, Failure, Kind, Module, ModuleDoc, Outcome, Support,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    #[default]
    Fast,
    Safe,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct Params {
    /// Required name.
    #[schemars(extend("x-aliases" = ["title"]))]
    name: String,
    #[serde(default)]
    flag: bool,
    #[serde(default = "three")]
    retries: i64,
    #[serde(default)]
    ratio: f64,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    ports: Vec<i64>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    modes: Vec<Mode>,
    #[schemars(extend("x-no-log" = true))]
    password: Option<String>,
    user: Option<String>,
    group: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

fn three() -> i64 {
    3
}

#[derive(Debug, Serialize, JsonSchema)]
struct Output {
    echo: Value,
}

macro_rules! test_module {
    ($name:ident, $check:expr) => {
        struct $name;
        impl Module for $name {
            const NAME: &'static str = "probe";
            const DOC: ModuleDoc = ModuleDoc {
                short_description: "probe",
                description: &[],
                notes: &[],
                requirements: &[],
                check_mode: $check,
                diff_mode: Support::Full,
                examples: "",
            };
            const CONSTRAINTS: Constraints = Constraints {
                mutually_exclusive: &[&["user", "group"]],
                required_one_of: &[],
                required_together: &[&["cert", "key"]],
            };
            type Params = Params;
            type Output = Output;
            fn run(p: Params, ctx: &mut Context) -> Result<Outcome<Output>, Failure> {
                if p.name == "fail" {
                    return Err(Failure::new(format!("failed with {:?}", p.password))
                        .with("rc", 2)
                        .with("stderr", "boom"));
                }
                if p.name == "warn" {
                    ctx.warn("careful");
                    ctx.deprecate("old", "2.0.0");
                }
                ctx.add_diff(Diff::file("/f", None, Some("new")));
                Ok(Outcome::new(
                    true,
                    Output {
                        echo: serde_json::to_value(&p).unwrap(),
                    },
                )
                .msg("done"))
            }
        }
    };
}
test_module!(Probe, Support::Full);
test_module!(NoCheck, Support::None);

fn run(args: Value) -> Value {
    let Value::Object(map) = args else {
        panic!("test args must be an object")
    };
    execute::<Probe>(map).0
}

fn run_masked(args: Value) -> String {
    let Value::Object(map) = args else {
        panic!("test args must be an object")
    };
    let (result, secrets) = execute::<Probe>(map);
    serde_json::to_string(&module_runtime::output::mask(result, &secrets)).unwrap()
}

fn msg(result: &Value) -> &str {
    result["msg"].as_str().unwrap_or_default()
}

#[test]
fn booleans_accept_every_ansible_spelling() {
    for yes in ["yes", "YES", "true", "True", "on", "On", "1", "y", "Y", "t"] {
        assert_eq!(to_bool(&json!(yes)), Ok(true), "{yes}");
    }
    for no in [
        "no", "NO", "false", "False", "off", "OFF", "0", "n", "N", "f",
    ] {
        assert_eq!(to_bool(&json!(no)), Ok(false), "{no}");
    }
    assert_eq!(to_bool(&json!(1)), Ok(true));
    assert_eq!(to_bool(&json!(0)), Ok(false));
    assert!(to_bool(&json!("maybe"))
        .unwrap_err()
        .contains("not a valid boolean"));
    assert!(to_bool(&json!(2)).is_err());
}

#[test]
fn coercion_table() {
    let cases: &[(Kind, Value, Value)] = &[
        (Kind::Int, json!("3"), json!(3)),
        (Kind::Int, json!(" -7 "), json!(-7)),
        (Kind::Int, json!(4.0), json!(4)),
        (Kind::Float, json!("2.5"), json!(2.5)),
        (Kind::Float, json!(2), json!(2)),
        (Kind::Str, json!(5), json!("5")),
        (Kind::Str, json!(true), json!("True")),
        (Kind::List, json!("a,b, c"), json!(["a", "b", "c"])),
        (Kind::List, json!(""), json!([])),
        (Kind::List, json!(7), json!(["7"])),
        (Kind::Dict, json!("a=1 b=2"), json!({"a": "1", "b": "2"})),
        (Kind::Dict, json!("a=1,b=2"), json!({"a": "1", "b": "2"})),
        (
            Kind::Dict,
            json!("a='x y' b=\"p,q\""),
            json!({"a": "x y", "b": "p,q"}),
        ),
        (Kind::Dict, json!("{\"a\": [1, 2]}"), json!({"a": [1, 2]})),
        (Kind::Raw, json!({"x": 1}), json!({"x": 1})),
    ];
    for (kind, input, expected) in cases {
        assert_eq!(
            &coerce(*kind, input.clone()).unwrap(),
            expected,
            "{kind:?} {input}"
        );
    }
    for (kind, input) in [
        (Kind::Int, json!("abc")),
        (Kind::Int, json!(1.5)),
        (Kind::Float, json!("x")),
        (Kind::Str, json!([1])),
        (Kind::List, json!({"a": 1})),
        (Kind::Dict, json!("novalue")),
        (Kind::Dict, json!("{not json")),
        (Kind::Dict, json!("[1]")),
    ] {
        assert!(coerce(kind, input.clone()).is_err(), "{kind:?} {input}");
    }
}

#[test]
fn ad_hoc_strings_are_coerced_by_declared_type() {
    let result = run(json!({
        "name": "x", "flag": "yes", "retries": "5", "ratio": "0.5",
        "names": "a,b", "ports": "80,443", "labels": "k=v", "mode": "safe", "modes": "fast,safe",
    }));
    assert_eq!(result["failed"], Value::Null, "{result}");
    let echo = &result["echo"];
    assert_eq!(echo["flag"], json!(true));
    assert_eq!(echo["retries"], json!(5));
    assert_eq!(echo["ratio"], json!(0.5));
    assert_eq!(echo["names"], json!(["a", "b"]));
    assert_eq!(echo["ports"], json!([80, 443]));
    assert_eq!(echo["labels"], json!({"k": "v"}));
    assert_eq!(echo["mode"], json!("safe"));
    assert_eq!(echo["modes"], json!(["fast", "safe"]));
}

#[test]
fn defaults_apply_and_nulls_count_as_unset() {
    let result = run(json!({"name": "x", "retries": null}));
    assert_eq!(result["echo"]["retries"], json!(3));
    assert_eq!(result["echo"]["mode"], json!("fast"));
    assert_eq!(result["invocation"]["module_args"]["retries"], json!(3));
}

#[test]
fn aliases_map_to_the_option() {
    let result = run(json!({"title": "x"}));
    assert_eq!(result["echo"]["name"], json!("x"));
    let both = run(json!({"name": "x", "title": "y"}));
    assert_eq!(both["echo"]["name"], json!("x"));
    assert!(both["warnings"][0]
        .as_str()
        .unwrap()
        .contains("alias title"));
}

#[test]
fn unknown_options_are_named_with_the_supported_list() {
    let result = run(json!({"name": "x", "colour": "red", "bogus": 1}));
    assert_eq!(result["failed"], json!(true));
    assert_eq!(
        msg(&result),
        "Unsupported parameters for (probe) module: bogus, colour. Supported parameters include: \
         cert, flag, group, key, labels, mode, modes, name (title), names, password, ports, ratio, \
         retries, user."
    );
    let named =
        run(json!({"name": "x", "bogus": 1, "_ansible_module_name": "ci_tools.docker.probe"}));
    assert!(msg(&named)
        .starts_with("Unsupported parameters for (ci_tools.docker.probe) module: bogus."));
    let ignored = run(json!({"name": "x", "bogus": 1, "_ansible_ignore_unknown_opts": true}));
    assert_eq!(ignored["failed"], Value::Null, "{ignored}");
}

#[test]
fn missing_wrong_type_and_bad_choice_name_the_option() {
    assert_eq!(msg(&run(json!({}))), "missing required arguments: name");
    assert_eq!(
        msg(&run(json!({"name": "x", "retries": "many"}))),
        "argument 'retries' is of type str and we were unable to convert to int: 'many' is not an integer"
    );
    assert!(msg(&run(json!({"name": "x", "flag": "maybe"})))
        .starts_with("argument 'flag' is of type str and we were unable to convert to bool: The value 'maybe' is not a valid boolean"));
    assert_eq!(
        msg(&run(json!({"name": "x", "mode": "turbo"}))),
        "value of mode must be one of: fast, safe, got: turbo"
    );
    assert_eq!(
        msg(&run(json!({"name": "x", "modes": ["fast", "warp"]}))),
        "value of modes must be one or more of: fast, safe. Got no match for: warp"
    );
    assert!(
        msg(&run(json!({"name": "x", "ports": "80,http"}))).starts_with(
            "Elements value for option 'ports' is of type str and we were unable to convert to int"
        )
    );
}

#[test]
fn option_relations() {
    assert_eq!(
        msg(&run(json!({"name": "x", "user": "a", "group": "b"}))),
        "parameters are mutually exclusive: user|group"
    );
    assert_eq!(
        msg(&run(json!({"name": "x", "cert": "c"}))),
        "parameters are required together: cert, key"
    );
    assert_eq!(
        run(json!({"name": "x", "cert": "c", "key": "k"}))["failed"],
        Value::Null
    );
}

#[test]
fn internal_keys_are_split_off_and_unknown_ones_ignored() {
    let result = run(json!({"name": "x", "_ansible_verbosity": 3, "_ansible_future_thing": {}}));
    assert_eq!(result["failed"], Value::Null, "{result}");
    assert!(result["invocation"]["module_args"]
        .get("_ansible_verbosity")
        .is_none());
}

#[test]
fn invocation_only_when_not_declined() {
    assert!(run(json!({"name": "x"})).get("invocation").is_some());
    assert!(
        run(json!({"name": "x", "_ansible_inject_invocation": true}))
            .get("invocation")
            .is_some()
    );
    assert!(
        run(json!({"name": "x", "_ansible_inject_invocation": false}))
            .get("invocation")
            .is_none()
    );
}

#[test]
fn diff_only_in_diff_mode() {
    assert!(run(json!({"name": "x"})).get("diff").is_none());
    let result = run(json!({"name": "x", "_ansible_diff": true}));
    assert_eq!(result["diff"]["after"], json!("new"));
    assert_eq!(result["diff"]["before_header"], json!("/f (absent)"));
}

#[test]
fn failures_carry_extra_keys_warnings_and_deprecations() {
    let result = run(json!({"name": "fail"}));
    assert_eq!(result["failed"], json!(true));
    assert_eq!(result["changed"], json!(false));
    assert_eq!(result["rc"], json!(2));
    assert_eq!(result["stderr"], json!("boom"));
    let warned = run(json!({"name": "warn"}));
    assert_eq!(warned["warnings"], json!(["careful"]));
    assert_eq!(
        warned["deprecations"][0]["collection_name"],
        json!("ci_tools.docker")
    );
    assert_eq!(warned["deprecations"][0]["version"], json!("2.0.0"));
}

#[test]
fn no_log_values_are_masked_everywhere() {
    let text = run_masked(json!({"name": "hunter2-user", "password": "hunter2"}));
    assert!(!text.contains("hunter2\""), "{text}");
    assert!(text.contains("********-user"), "{text}");
    assert!(
        text.contains("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"),
        "{text}"
    );
    let failed = run_masked(json!({"name": "fail", "password": "hunter2"}));
    assert!(!failed.contains("hunter2"), "{failed}");
    assert!(failed.contains("\"failed\":true"), "{failed}");
}

#[test]
fn check_mode_skip_for_modules_that_cannot_predict() {
    let Value::Object(args) = json!({"name": "x", "_ansible_check_mode": true}) else {
        unreachable!()
    };
    let (result, _) = execute::<NoCheck>(args.clone());
    assert_eq!(
        result,
        json!({"skipped": true, "changed": false, "msg": "remote module (probe) does not support check mode"})
    );
    let (predicted, _) = execute::<Probe>(args);
    assert_eq!(predicted["skipped"], Value::Null);
}

#[test]
fn bad_argument_files() {
    let err = |bytes: &[u8]| parse_args(bytes, "args.json").unwrap_err();
    assert!(err(b"").contains("not valid JSON"));
    assert!(err(b"{\"a\": ").contains("not valid JSON"));
    assert!(err(b"[1, 2]").contains("must be a JSON object, got list"));
    assert!(err(b"\"text\"").contains("must be a JSON object, got str"));
    assert!(err(b"null").contains("must be a JSON object, got NoneType"));
    assert!(err(b"{\"ANSIBLE_MODULE_ARGS\": 1}").contains("must be a JSON object"));
    let huge = vec![b' '; (module_runtime::input::MAX_ARGS_BYTES + 1) as usize];
    assert!(err(&huge).contains("larger than 16 MiB"));
    assert_eq!(
        parse_args(b"{\"ANSIBLE_MODULE_ARGS\": {\"a\": 1}}", "x").unwrap(),
        json!({"a": 1})
            .as_object()
            .cloned()
            .unwrap_or_else(Map::new)
    );
}
