//! The runtime every ci_tools.docker module stands on.
//!
//! It owns Ansible's binary-module protocol: reading the arguments, splitting off the
//! controller's `_ansible_*` keys, validating and coercing options like AnsibleModule,
//! writing exactly one JSON result to stdout, masking `no_log` values, turning panics into
//! JSON failures and describing the module (`--schema`, used for docs). A module only
//! implements [`Module`]: typed options in, a typed outcome or a [`Failure`] out.

pub mod coerce;
pub mod input;
pub mod output;
pub mod spec;

use std::sync::{Mutex, OnceLock};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

pub use input::{Internal, Source};
pub use spec::{ArgSpec, Kind, OptionSpec};

/// Relations between options that a struct cannot express, as AnsibleModule declares them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Constraints {
    pub mutually_exclusive: &'static [&'static [&'static str]],
    pub required_one_of: &'static [&'static [&'static str]],
    pub required_together: &'static [&'static [&'static str]],
}

impl Constraints {
    pub const NONE: Constraints = Constraints {
        mutually_exclusive: &[],
        required_one_of: &[],
        required_together: &[],
    };
}

/// How far a module supports check mode, as ansible-doc's `attributes` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Full,
    Partial,
    None,
}

impl Support {
    pub fn as_str(self) -> &'static str {
        match self {
            Support::Full => "full",
            Support::Partial => "partial",
            Support::None => "none",
        }
    }
}

/// What the docs say about a module beyond its options and return values.
#[derive(Debug, Clone, Copy)]
pub struct ModuleDoc {
    pub short_description: &'static str,
    /// Paragraphs.
    pub description: &'static [&'static str],
    pub notes: &'static [&'static str],
    pub requirements: &'static [&'static str],
    pub check_mode: Support,
    pub diff_mode: Support,
    /// Ansible YAML, shown verbatim by ansible-doc.
    pub examples: &'static str,
}

/// One Ansible module.
pub trait Module {
    /// The module's name: the last part of its FQCN.
    const NAME: &'static str;
    const DOC: ModuleDoc;
    const CONSTRAINTS: Constraints = Constraints::NONE;

    /// The options. Doc comments become the option docs; `#[serde(default)]` the defaults.
    type Params: DeserializeOwned + Serialize + JsonSchema;
    /// The module-specific return values. Doc comments become the RETURN docs.
    type Output: Serialize + JsonSchema;

    fn run(params: Self::Params, ctx: &mut Context) -> Result<Outcome<Self::Output>, Failure>;
}

/// What a successful run returns.
#[derive(Debug)]
pub struct Outcome<T> {
    pub changed: bool,
    pub msg: Option<String>,
    pub output: T,
}

impl<T> Outcome<T> {
    pub fn new(changed: bool, output: T) -> Outcome<T> {
        Outcome {
            changed,
            msg: None,
            output,
        }
    }

    pub fn msg(mut self, msg: impl Into<String>) -> Outcome<T> {
        self.msg = Some(msg.into());
        self
    }
}

/// A failed run: the message a user acts on, plus any extra result keys
/// (`rc`/`stdout`/`stderr` of a command, what was restored, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub msg: String,
    pub extra: Map<String, Value>,
}

impl Failure {
    pub fn new(msg: impl Into<String>) -> Failure {
        Failure {
            msg: msg.into(),
            extra: Map::new(),
        }
    }

    /// Adds a result key; values that do not serialize are left out rather than panic.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Failure {
        if let Ok(value) = serde_json::to_value(value) {
            self.extra.insert(key.to_string(), value);
        }
        self
    }
}

impl From<String> for Failure {
    fn from(msg: String) -> Failure {
        Failure::new(msg)
    }
}

impl From<&str> for Failure {
    fn from(msg: &str) -> Failure {
        Failure::new(msg)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

/// One file's (or one object's) change, as diff mode shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diff {
    pub before: String,
    pub after: String,
    pub before_header: String,
    pub after_header: String,
}

impl Diff {
    /// A diff of one file's content; `None` stands for "absent".
    pub fn file(path: &str, before: Option<&str>, after: Option<&str>) -> Diff {
        Diff {
            before: before.unwrap_or_default().to_string(),
            after: after.unwrap_or_default().to_string(),
            before_header: if before.is_some() {
                path.to_string()
            } else {
                format!("{path} (absent)")
            },
            after_header: if after.is_some() {
                path.to_string()
            } else {
                format!("{path} (absent)")
            },
        }
    }
}

/// A deprecation notice, as the controller expects it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Deprecation {
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub collection_name: String,
}

/// The per-run state a module sees: modes requested by the controller and the warnings,
/// deprecations and diffs it collects along the way.
#[derive(Debug, Default)]
pub struct Context {
    internal: Internal,
    warnings: Vec<String>,
    deprecations: Vec<Deprecation>,
    diffs: Vec<Diff>,
}

impl Context {
    pub fn new(internal: Internal) -> Context {
        Context {
            internal,
            ..Context::default()
        }
    }

    /// True when the module must not change anything, only predict.
    pub fn check_mode(&self) -> bool {
        self.internal.check_mode
    }

    /// True when the user asked to see diffs (`--diff`).
    pub fn diff_mode(&self) -> bool {
        self.internal.diff
    }

    pub fn internal(&self) -> &Internal {
        &self.internal
    }

    pub fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }

    pub fn deprecate(&mut self, msg: impl Into<String>, version: &str) {
        self.deprecations.push(Deprecation {
            msg: msg.into(),
            version: Some(version.to_string()),
            date: None,
            collection_name: COLLECTION.to_string(),
        });
    }

    /// Records a diff; it is returned only in diff mode, so callers need not check.
    pub fn add_diff(&mut self, diff: Diff) {
        self.diffs.push(diff);
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn diffs(&self) -> &[Diff] {
        &self.diffs
    }
}

/// The collection these modules ship in (for deprecations and docs).
pub const COLLECTION: &str = "ci_tools.docker";

/// The module's spec, parsed once from its schema.
pub fn arg_spec<M: Module>() -> ArgSpec {
    ArgSpec::from_schema(&params_schema::<M>())
}

/// The JSON Schema of the module's options.
pub fn params_schema<M: Module>() -> Value {
    serde_json::to_value(schemars::schema_for!(M::Params)).unwrap_or(Value::Null)
}

/// Everything known about the module, as printed by `--schema`: the options' JSON Schema
/// with the module's docs, constraints and return-value schema under `x-ansible-module`.
pub fn describe<M: Module>() -> Value {
    let mut schema = params_schema::<M>();
    let output = serde_json::to_value(schemars::schema_for!(M::Output)).unwrap_or(Value::Null);
    let doc = M::DOC;
    let constraints = |groups: &[&[&str]]| -> Value {
        Value::from(
            groups
                .iter()
                .map(|g| Value::from(g.to_vec()))
                .collect::<Vec<_>>(),
        )
    };
    let meta = serde_json::json!({
        "name": M::NAME,
        "short_description": doc.short_description,
        "description": doc.description,
        "notes": doc.notes,
        "requirements": doc.requirements,
        "check_mode": doc.check_mode.as_str(),
        "diff_mode": doc.diff_mode.as_str(),
        "examples": doc.examples,
        "mutually_exclusive": constraints(M::CONSTRAINTS.mutually_exclusive),
        "required_one_of": constraints(M::CONSTRAINTS.required_one_of),
        "required_together": constraints(M::CONSTRAINTS.required_together),
        "returns": output,
    });
    if let Value::Object(map) = &mut schema {
        map.insert("x-ansible-module".into(), meta);
    }
    schema
}

/// Secrets and tracebacks settings the panic hook needs; set once the args are parsed.
struct PanicContext {
    module_name: String,
    secrets: Vec<String>,
    traceback: bool,
}

static PANIC_CONTEXT: OnceLock<Mutex<PanicContext>> = OnceLock::new();

fn panic_context() -> &'static Mutex<PanicContext> {
    PANIC_CONTEXT.get_or_init(|| {
        Mutex::new(PanicContext {
            module_name: String::new(),
            secrets: Vec::new(),
            traceback: false,
        })
    })
}

/// A bug must still reach the user as one JSON failure, never as a Rust backtrace the
/// controller cannot parse. The hook prints that failure and exits; with `panic = "abort"`
/// nothing else would run anyway.
fn install_panic_hook(default_name: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let (name, secrets, traceback) = match panic_context().lock() {
            Ok(ctx) => (ctx.module_name.clone(), ctx.secrets.clone(), ctx.traceback),
            Err(_) => (String::new(), Vec::new(), false),
        };
        let name = if name.is_empty() {
            default_name.to_string()
        } else {
            name
        };
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let mut result = Map::new();
        result.insert("failed".into(), Value::Bool(true));
        result.insert("changed".into(), Value::Bool(false));
        result.insert(
            "msg".into(),
            Value::String(format!(
                "module {name} crashed: {payload}. This is a bug in {COLLECTION}; please report it."
            )),
        );
        if traceback {
            if let Some(location) = info.location() {
                result.insert(
                    "exception".into(),
                    Value::String(format!("panicked at {location}")),
                );
            }
        }
        output::emit(Value::Object(result), &secrets);
        std::process::exit(1);
    }));
}

/// Runs module `M` as a process: parses argv/stdin, runs, prints the result, exits.
pub fn main<M: Module>() -> ! {
    install_panic_hook(M::NAME);
    let mut args = std::env::args().skip(1);
    let source = match args.next() {
        Some(flag) if flag == "--schema" => {
            println!(
                "{}",
                serde_json::to_string_pretty(&describe::<M>()).unwrap_or_default()
            );
            std::process::exit(0);
        }
        Some(path) => Source::File(path),
        None => Source::Stdin,
    };
    let (result, secrets) = match input::read_args(&source) {
        Ok(raw) => execute::<M>(raw),
        Err(msg) => (output::failure_result(&msg), Vec::new()),
    };
    let failed = result.get("failed").and_then(Value::as_bool) == Some(true);
    output::emit(result, &secrets);
    std::process::exit(if failed { 1 } else { 0 });
}

/// Runs the module on already-parsed arguments and returns the result object and the
/// secrets to mask in it. Separate from [`main`] so that tests run it in-process.
pub fn execute<M: Module>(raw: Map<String, Value>) -> (Value, Vec<String>) {
    let (internal, user) = input::split_internal(raw);
    let module_name = internal
        .module_name
        .clone()
        .unwrap_or_else(|| M::NAME.to_string());
    let spec = arg_spec::<M>();
    let secrets = output::secret_values(&spec, &user);
    if let Ok(mut ctx) = panic_context().lock() {
        ctx.module_name = module_name.clone();
        ctx.secrets = secrets.clone();
        ctx.traceback = internal.wants_traceback("error");
    }

    if internal.check_mode && M::DOC.check_mode == Support::None {
        let mut skipped = Map::new();
        skipped.insert("skipped".into(), Value::Bool(true));
        skipped.insert("changed".into(), Value::Bool(false));
        skipped.insert(
            "msg".into(),
            Value::String(format!(
                "remote module ({module_name}) does not support check mode"
            )),
        );
        return (Value::Object(skipped), secrets);
    }

    let mut ctx = Context::new(internal);
    let validated = coerce::validate(
        &module_name,
        &spec,
        &M::CONSTRAINTS,
        user,
        ctx.internal.ignore_unknown_opts,
        &mut ctx.warnings,
    );
    let params: M::Params = match validated.and_then(|coerced| {
        serde_json::from_value(Value::Object(coerced))
            .map_err(|e| format!("invalid arguments for module ({module_name}): {e}"))
    }) {
        Ok(params) => params,
        Err(msg) => {
            let mut result = output::failure_result(&msg);
            output::add_notices(&mut result, &ctx);
            return (result, secrets);
        }
    };
    let invocation = output::invocation(&params, &spec);
    let outcome = M::run(params, &mut ctx);
    let mut result = output::assemble(outcome, &ctx);
    if ctx.internal.inject_invocation != Some(false) {
        if let (Value::Object(map), Some(invocation)) = (&mut result, invocation) {
            map.insert("invocation".into(), invocation);
        }
    }
    (result, secrets)
}
