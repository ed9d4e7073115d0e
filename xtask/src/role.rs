//! The `ci_setup` role's variables, generated from the modules' options.
//!
//! Most role variables hand one module option through. Their type, choices, default and
//! description come from that option's schema, so the role's `meta/argument_specs.yml`,
//! `defaults/main.yml` and the README's variable list cannot drift from the modules.
//! Role-only variables are declared here with their own docs.

use module_runtime::spec::{ArgSpec, OptionSpec};
use serde_json::{json, Map, Value};

use crate::registry::MODULES;
use crate::yaml;

/// Where a role variable's facts come from.
enum Source {
    /// Passed to `option` of `module`.
    Option {
        module: &'static str,
        option: &'static str,
        /// A role default that differs from the module's (with the reason in `note`).
        default: Option<fn() -> Value>,
        note: &'static str,
    },
    /// The role's own.
    Own {
        kind: &'static str,
        elements: Option<&'static str>,
        default: fn() -> Value,
        description: &'static [&'static str],
    },
}

struct RoleVar {
    name: &'static str,
    source: Source,
}

/// An entry point of the role and the variables it reads.
struct EntryPoint {
    name: &'static str,
    short_description: &'static str,
    description: &'static [&'static str],
    variables: &'static [&'static str],
}

const fn pass(name: &'static str, module: &'static str, option: &'static str) -> RoleVar {
    RoleVar {
        name,
        source: Source::Option {
            module,
            option,
            default: None,
            note: "",
        },
    }
}

const VARIABLES: &[RoleVar] = &[
    RoleVar {
        name: "ci_setup_user",
        source: Source::Own {
            kind: "str",
            elements: None,
            default: || json!("{{ ansible_user }}"),
            description: &[
                "The CI user. The Docker socket is given to this user's primary group, and \
                 the role checks at the end that this user reaches the Docker API over the \
                 play's own connection, without become.",
            ],
        },
    },
    RoleVar {
        name: "ci_setup_group",
        source: Source::Option {
            module: "socket_group",
            option: "group",
            default: None,
            note: "Leave unset to use the primary group of O(ci_setup_user).",
        },
    },
    pass("ci_setup_docker_source", "docker_install", "source"),
    pass("ci_setup_docker_packages", "docker_install", "packages"),
    pass("ci_setup_docker_state", "docker_install", "state"),
    pass("ci_setup_docker_version", "docker_install", "version"),
    pass("ci_setup_docker_repo_url", "docker_install", "repo_url"),
    pass("ci_setup_docker_repo_key", "docker_install", "repo_key"),
    pass("ci_setup_docker_channel", "docker_install", "channel"),
    pass(
        "ci_setup_docker_daemon_options",
        "docker_install",
        "daemon_options",
    ),
    pass(
        "ci_setup_docker_wait_timeout",
        "docker_install",
        "wait_timeout",
    ),
    pass("ci_setup_socket_unit", "socket_group", "unit"),
    pass("ci_setup_socket_method", "socket_group", "method"),
    RoleVar {
        name: "ci_setup_verify",
        source: Source::Option {
            module: "socket_group",
            option: "verify_access",
            default: None,
            note: "Also decides whether the role's final check runs: the Docker API's \
                   version, asked as the CI user over the play's connection, without become.",
        },
    },
    pass("ci_setup_prune_containers", "docker_prune", "containers"),
    pass(
        "ci_setup_prune_containers_filters",
        "docker_prune",
        "containers_filters",
    ),
    RoleVar {
        name: "ci_setup_prune_images",
        source: Source::Option {
            module: "docker_prune",
            option: "images",
            default: Some(|| json!(true)),
            note: "The role prunes dangling images by default.",
        },
    },
    pass(
        "ci_setup_prune_images_filters",
        "docker_prune",
        "images_filters",
    ),
    pass("ci_setup_prune_networks", "docker_prune", "networks"),
    pass(
        "ci_setup_prune_networks_filters",
        "docker_prune",
        "networks_filters",
    ),
    pass("ci_setup_prune_volumes", "docker_prune", "volumes"),
    pass(
        "ci_setup_prune_volumes_filters",
        "docker_prune",
        "volumes_filters",
    ),
    pass("ci_setup_prune_volumes_all", "docker_prune", "volumes_all"),
    pass(
        "ci_setup_prune_builder_cache",
        "docker_prune",
        "builder_cache",
    ),
    pass(
        "ci_setup_prune_builder_cache_all",
        "docker_prune",
        "builder_cache_all",
    ),
    pass(
        "ci_setup_prune_builder_cache_filters",
        "docker_prune",
        "builder_cache_filters",
    ),
    pass(
        "ci_setup_prune_builder_cache_keep_storage",
        "docker_prune",
        "builder_cache_keep_storage",
    ),
    pass("ci_setup_docker_host", "docker_prune", "docker_host"),
];

const ENTRY_POINTS: &[EntryPoint] = &[
    EntryPoint {
        name: "main",
        short_description: "Set up a CI node so that the CI user can drive Docker",
        description: &[
            "Installs and starts Docker (with become), gives the Docker API socket to the \
             CI user's primary group (with become), then checks without become, over the \
             play's own connection, that the CI user reaches the Docker API.",
            "No re-login, no docker group membership and no sudo are needed afterwards.",
        ],
        variables: &[
            "ci_setup_user",
            "ci_setup_group",
            "ci_setup_docker_source",
            "ci_setup_docker_packages",
            "ci_setup_docker_state",
            "ci_setup_docker_version",
            "ci_setup_docker_repo_url",
            "ci_setup_docker_repo_key",
            "ci_setup_docker_channel",
            "ci_setup_docker_daemon_options",
            "ci_setup_docker_wait_timeout",
            "ci_setup_socket_unit",
            "ci_setup_socket_method",
            "ci_setup_verify",
        ],
    },
    EntryPoint {
        name: "cleanup",
        short_description: "Prune Docker data after the tests (post-run)",
        description: &[
            "Runs ci_tools.docker.docker_prune as the connecting user (no become): by \
             default removes dangling images, and on request stopped containers, unused \
             networks, volumes and build cache. Reports what went and the space reclaimed.",
        ],
        variables: &[
            "ci_setup_prune_containers",
            "ci_setup_prune_containers_filters",
            "ci_setup_prune_images",
            "ci_setup_prune_images_filters",
            "ci_setup_prune_networks",
            "ci_setup_prune_networks_filters",
            "ci_setup_prune_volumes",
            "ci_setup_prune_volumes_filters",
            "ci_setup_prune_volumes_all",
            "ci_setup_prune_builder_cache",
            "ci_setup_prune_builder_cache_all",
            "ci_setup_prune_builder_cache_filters",
            "ci_setup_prune_builder_cache_keep_storage",
            "ci_setup_docker_host",
        ],
    },
];

/// One variable's docs, resolved against the module schemas.
struct Resolved {
    name: &'static str,
    spec: Map<String, Value>,
    default: Value,
}

fn module_spec(module: &str) -> Result<ArgSpec, String> {
    let entry = MODULES
        .iter()
        .find(|m| m.name == module)
        .ok_or_else(|| format!("role variable refers to unknown module {module}"))?;
    Ok(ArgSpec::from_schema(&(entry.describe)()))
}

fn option<'a>(spec: &'a ArgSpec, module: &str, name: &str) -> Result<&'a OptionSpec, String> {
    spec.options
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| format!("role variable refers to unknown option {module}.{name}"))
}

fn resolve(var: &RoleVar) -> Result<Resolved, String> {
    let mut spec = Map::new();
    match &var.source {
        Source::Own {
            kind,
            elements,
            default,
            description,
        } => {
            spec.insert("description".into(), json!(description));
            spec.insert("type".into(), json!(kind));
            if let Some(elements) = elements {
                spec.insert("elements".into(), json!(elements));
            }
            let default = default();
            spec.insert("default".into(), default.clone());
            Ok(Resolved {
                name: var.name,
                spec,
                default,
            })
        }
        Source::Option {
            module,
            option: option_name,
            default,
            note,
        } => {
            let module_spec = module_spec(module)?;
            let option = option(&module_spec, module, option_name)?;
            let mut description: Vec<String> = option
                .description
                .as_deref()
                .unwrap_or("")
                .split("\n\n")
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|p| !p.is_empty())
                .collect();
            description.push(format!(
                "Passed to option O(ci_tools.docker.{module}#module:{option_name})."
            ));
            if !note.is_empty() {
                description.push(note.to_string());
            }
            spec.insert("description".into(), json!(description));
            spec.insert("type".into(), json!(option.kind.ansible_name()));
            if let Some(elements) = option.elements {
                spec.insert("elements".into(), json!(elements.ansible_name()));
            }
            if let Some(choices) = &option.choices {
                spec.insert("choices".into(), json!(choices));
            }
            // The module's default, or null: a null role variable is left out of the
            // module call, so the module's own default applies.
            let default = match default {
                Some(role_default) => role_default(),
                None => option.default.clone().unwrap_or(Value::Null),
            };
            spec.insert("default".into(), default.clone());
            Ok(Resolved {
                name: var.name,
                spec,
                default,
            })
        }
    }
}

fn resolved_variables() -> Result<Vec<Resolved>, String> {
    VARIABLES.iter().map(resolve).collect()
}

/// `meta/argument_specs.yml`.
pub fn argument_specs() -> Result<String, String> {
    let variables = resolved_variables()?;
    let mut specs = Map::new();
    for entry in ENTRY_POINTS {
        let mut options = Map::new();
        for name in entry.variables {
            let var = variables.iter().find(|v| v.name == *name).ok_or_else(|| {
                format!("entry point {} names unknown variable {name}", entry.name)
            })?;
            options.insert(name.to_string(), Value::Object(var.spec.clone()));
        }
        specs.insert(
            entry.name.into(),
            json!({
                "short_description": entry.short_description,
                "description": entry.description,
                "options": options,
            }),
        );
    }
    let mut top = Map::new();
    top.insert("argument_specs".into(), Value::Object(specs));
    Ok(format!("{GENERATED}{}", yaml::document(&top)))
}

/// `defaults/main.yml`.
pub fn defaults() -> Result<String, String> {
    let mut map = Map::new();
    for var in resolved_variables()? {
        map.insert(var.name.into(), var.default);
    }
    Ok(format!("{GENERATED}{}", yaml::document(&map)))
}

/// The README's variable reference (between the markers).
pub fn readme_variables() -> Result<String, String> {
    let variables = resolved_variables()?;
    let mut out = String::new();
    for entry in ENTRY_POINTS {
        out.push_str(&format!(
            "\n### Entry point `{}`: {}\n\n",
            entry.name, entry.short_description
        ));
        for name in entry.variables {
            let Some(var) = variables.iter().find(|v| v.name == *name) else {
                continue;
            };
            let default = match &var.default {
                Value::Null => "unset".to_string(),
                Value::String(s) => format!("`{s}`"),
                other => format!("`{other}`"),
            };
            let kind = var.spec["type"].as_str().unwrap_or("raw");
            out.push_str(&format!(
                "- **`{}`** ({kind}, default: {default})",
                var.name
            ));
            if let Some(choices) = var.spec.get("choices").and_then(Value::as_array) {
                let listed: Vec<String> = choices
                    .iter()
                    .map(|c| format!("`{}`", c.as_str().unwrap_or_default()))
                    .collect();
                out.push_str(&format!(", one of {}", listed.join(", ")));
            }
            out.push('\n');
            for paragraph in var.spec["description"].as_array().into_iter().flatten() {
                let text = paragraph.as_str().unwrap_or_default();
                out.push_str(&format!("  {}\n", markup_to_markdown(text)));
            }
        }
    }
    Ok(out)
}

/// ansible-doc markup (`O(x)`, `C(x)`, `O(mod#module:x)`) as Markdown code spans.
fn markup_to_markdown(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest
        .find(['O', 'C', 'V'])
        .filter(|&i| rest[i + 1..].starts_with('('))
    {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let shown = inner.rsplit(':').next().unwrap_or(inner);
        let shown = match inner.split_once("#module:") {
            Some((module, opt)) => format!("{module}: {opt}"),
            None => shown.to_string(),
        };
        out.push_str(&format!("`{shown}`"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

const GENERATED: &str =
    "# Generated by `cargo xtask docs` from the modules' options (xtask/src/role.rs). Do not edit.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_code_spans() {
        assert_eq!(
            markup_to_markdown(
                "Use O(user) or C(podman.socket), see O(ci_tools.docker.x#module:y)."
            ),
            "Use `user` or `podman.socket`, see `ci_tools.docker.x: y`."
        );
        assert_eq!(markup_to_markdown("CONFIG (x)"), "CONFIG (x)");
    }

    #[test]
    fn every_entry_point_variable_is_declared() {
        for entry in ENTRY_POINTS {
            for name in entry.variables {
                assert!(
                    VARIABLES.iter().any(|v| v.name == *name),
                    "{} lists undeclared {name}",
                    entry.name
                );
            }
        }
    }
}
