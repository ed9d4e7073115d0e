//! A test-only module: it manages one text file and has an option of every type, so that
//! the runtime's protocol handling can be exercised through real ansible-core.

use std::collections::BTreeMap;

use module_runtime::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub struct Example;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The file exists with `content`.
    #[default]
    Present,
    /// The file does not exist.
    Absent,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Params {
    /// Path of the file to manage.
    #[schemars(extend("x-aliases" = ["dest"]))]
    pub path: String,
    /// Content to write.
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub state: State,
    /// How many times to repeat `content`.
    #[serde(default = "one")]
    pub count: i64,
    /// A float, echoed back.
    #[serde(default)]
    pub ratio: f64,
    /// A bool, echoed back.
    #[serde(default)]
    pub enabled: bool,
    /// A list, echoed back.
    #[serde(default)]
    pub names: Vec<String>,
    /// A dict, echoed back.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A secret, written into the file and echoed back (must come out masked).
    #[schemars(extend("x-no-log" = true))]
    pub secret: Option<String>,
    /// Mutually exclusive with `secret`.
    pub token: Option<String>,
    /// A warning to emit.
    pub warn: Option<String>,
    /// Fail with this message.
    pub fail: Option<String>,
    /// Panic with this message (tests the panic hook).
    pub crash: Option<String>,
}

fn one() -> i64 {
    1
}

/// What the example returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The file's path.
    pub path: String,
    /// The options as the module received them after coercion.
    pub echo: serde_json::Value,
}

impl Module for Example {
    const NAME: &'static str = "example";
    const DOC: ModuleDoc = ModuleDoc {
        short_description: "Test-only module exercising the runtime",
        description: &["Manages one text file. Never shipped."],
        notes: &[],
        requirements: &[],
        check_mode: Support::Full,
        diff_mode: Support::Full,
        examples: "- name: Write a file\n  example:\n    path: /tmp/x\n    content: hello\n",
    };
    const CONSTRAINTS: module_runtime::Constraints = module_runtime::Constraints {
        mutually_exclusive: &[&["secret", "token"]],
        required_one_of: &[],
        required_together: &[],
    };
    type Params = Params;
    type Output = Output;

    fn run(params: Params, ctx: &mut Context) -> Result<Outcome<Output>, Failure> {
        if let Some(msg) = &params.crash {
            panic!("{msg}");
        }
        if let Some(msg) = &params.fail {
            return Err(Failure::new(msg.clone()).with("rc", 3));
        }
        if let Some(msg) = &params.warn {
            ctx.warn(msg.clone());
        }
        let before = match std::fs::read_to_string(&params.path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Failure::new(format!("cannot read {}: {e}", params.path))),
        };
        let wanted = match params.state {
            State::Present => {
                let mut text = params.content.repeat(params.count.max(0) as usize);
                if let Some(secret) = &params.secret {
                    text.push_str(secret);
                }
                Some(text)
            }
            State::Absent => None,
        };
        let changed = before != wanted;
        if changed {
            ctx.add_diff(Diff::file(
                &params.path,
                before.as_deref(),
                wanted.as_deref(),
            ));
            if !ctx.check_mode() {
                let written = match &wanted {
                    Some(text) => std::fs::write(&params.path, text),
                    None => std::fs::remove_file(&params.path),
                };
                written.map_err(|e| Failure::new(format!("cannot update {}: {e}", params.path)))?;
            }
        }
        let echo = serde_json::json!({
            "content": params.content,
            "count": params.count,
            "ratio": params.ratio,
            "enabled": params.enabled,
            "names": params.names,
            "labels": params.labels,
            "secret": params.secret,
        });
        Ok(Outcome::new(
            changed,
            Output {
                path: params.path,
                echo,
            },
        ))
    }
}
