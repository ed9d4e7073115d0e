//! `cargo xtask build`: builds the static module binaries into `plugins/modules/` and
//! regenerates everything derived from the modules' options structs.
//! `cargo xtask docs`: regenerates the derived files only.
//! `cargo xtask bundle`: the roles-path bundle (build/bundle/roles), see bundle.rs.
//! `cargo xtask sidecar NAME`: prints one module's sidecar doc (tests use it for `example`).

mod bundle;
mod docs;
mod registry;
mod role;
mod yaml;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use registry::MODULES;

const DEFAULT_TARGET: &str = "x86_64-unknown-linux-musl";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(&args[1..]),
        Some("docs") => write_generated(&workspace_root()),
        Some("sidecar") => sidecar(args.get(1).map(String::as_str)),
        Some("bundle") => bundle::write(&workspace_root()),
        _ => {
            Err("usage: cargo xtask build [--target TRIPLE] | docs | bundle | sidecar NAME".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn sidecar(name: Option<&str>) -> Result<(), String> {
    let name = name.ok_or("usage: cargo xtask sidecar NAME")?;
    let module = MODULES
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| format!("no module named {name}"))?;
    print!("{}", docs::sidecar(&(module.describe)()));
    Ok(())
}

/// Every generated file, by path relative to the workspace root, with its content.
pub fn generated_files(root: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let mut files: Vec<(PathBuf, String)> = MODULES
        .iter()
        .filter(|m| m.shipped)
        .map(|m| {
            (
                PathBuf::from(format!("plugins/modules/{}.yml", m.name)),
                docs::sidecar(&(m.describe)()),
            )
        })
        .collect();
    files.push((
        PathBuf::from("roles/ci_setup/meta/argument_specs.yml"),
        role::argument_specs()?,
    ));
    files.push((
        PathBuf::from("roles/ci_setup/defaults/main.yml"),
        role::defaults()?,
    ));
    let readme = PathBuf::from("roles/ci_setup/README.md");
    let current = std::fs::read_to_string(root.join(&readme))
        .map_err(|e| format!("cannot read {}: {e}", readme.display()))?;
    files.push((
        readme,
        replace_between(
            &current,
            README_BEGIN,
            README_END,
            &role::readme_variables()?,
        )?,
    ));
    Ok(files)
}

const README_BEGIN: &str = "<!-- BEGIN GENERATED VARIABLES -->";
const README_END: &str = "<!-- END GENERATED VARIABLES -->";

/// `text` with what stands between the two marker lines replaced by `content`.
fn replace_between(text: &str, begin: &str, end: &str, content: &str) -> Result<String, String> {
    let start = text
        .find(begin)
        .ok_or_else(|| format!("marker {begin} not found"))?
        + begin.len();
    let stop = text[start..]
        .find(end)
        .ok_or_else(|| format!("marker {end} not found"))?
        + start;
    Ok(format!(
        "{}\n{}\n{}",
        &text[..start],
        content.trim_matches('\n'),
        &text[stop..]
    ))
}

fn write_generated(root: &Path) -> Result<(), String> {
    for (relative, content) in generated_files(root)? {
        let path = root.join(&relative);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != content {
            std::fs::write(&path, content)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("wrote {}", relative.display());
        }
    }
    Ok(())
}

/// A target the modules are built for, and the directory name its binaries ship under
/// (`uname -m` on the target, which is what the fast-transport action plugin matches).
struct Target {
    triple: &'static str,
    arch: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        triple: DEFAULT_TARGET,
        arch: "x86_64",
    },
    Target {
        triple: "aarch64-unknown-linux-musl",
        arch: "aarch64",
    },
];

fn build(args: &[String]) -> Result<(), String> {
    let targets: Vec<&Target> =
        match args {
            [] => TARGETS.iter().collect(),
            [flag, triple] if flag == "--target" => vec![TARGETS
                .iter()
                .find(|t| t.triple == triple)
                .ok_or_else(|| format!("unknown target {triple}; known: {}", known_triples()))?],
            _ => return Err("usage: cargo xtask build [--target TRIPLE]".into()),
        };
    let root = workspace_root();
    for target in targets {
        build_target(&root, target)?;
    }
    link_dev_collection(&root)?;
    write_generated(&root)
}

/// `build/collections/ansible_collections/ci_tools/docker` -> the checkout, so that
/// playbooks run from the checkout (ansible.cfg) find the collection by FQCN. It lives in
/// the ignored build/ dir: a link inside the tree would make every tree walker loop.
fn link_dev_collection(root: &Path) -> Result<(), String> {
    let parent = root.join("build/collections/ansible_collections/ci_tools");
    std::fs::create_dir_all(&parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let link = parent.join("docker");
    if std::fs::read_link(&link).is_err() {
        std::os::unix::fs::symlink("../../../..", &link)
            .map_err(|e| format!("cannot link {}: {e}", link.display()))?;
    }
    Ok(())
}

fn known_triples() -> String {
    TARGETS
        .iter()
        .map(|t| t.triple)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds every module for one target. Shipped binaries go to `bin/<arch>/` (where the
/// action plugin picks them per host); the x86_64 ones also to `plugins/modules/`, where
/// Ansible's plain binary-module path finds them by FQCN.
fn build_target(root: &Path, target: &Target) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--target", target.triple]);
    // The example is built too (tests run it through ansible) but never copied.
    for module in MODULES {
        command.args(["--package", module.crate_name]);
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --target {} failed ({status})",
            target.triple
        ));
    }
    let release = root.join("target").join(target.triple).join("release");
    let arch_dir = root.join("bin").join(target.arch);
    let mut destinations = vec![arch_dir];
    if target.triple == DEFAULT_TARGET {
        destinations.push(root.join("plugins/modules"));
    }
    for dir in &destinations {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    println!("module binaries for {} ({}):", target.arch, target.triple);
    for module in MODULES {
        let built = release.join(module.crate_name);
        let size = std::fs::metadata(&built)
            .map_err(|e| format!("cannot stat {}: {e}", built.display()))?
            .len();
        let note = if module.shipped {
            for dir in &destinations {
                let dest = dir.join(module.name);
                std::fs::copy(&built, &dest).map_err(|e| {
                    format!("cannot copy {} to {}: {e}", built.display(), dest.display())
                })?;
            }
            ""
        } else {
            "(test only, not shipped)"
        };
        println!(
            "  {:<16} {:>7.1} KiB  {note}",
            module.name,
            size as f64 / 1024.0
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated files are committed; a change to an options struct must come with
    /// them regenerated.
    #[test]
    fn generated_files_are_fresh() {
        let root = workspace_root();
        let mut stale = Vec::new();
        for (relative, content) in generated_files(&root).expect("generated files") {
            let current = std::fs::read_to_string(root.join(&relative)).unwrap_or_default();
            if current != content {
                let first_difference = current
                    .lines()
                    .zip(content.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(current.lines().count().min(content.lines().count()));
                stale.push(format!(
                    "{} (first difference at line {})",
                    relative.display(),
                    first_difference + 1
                ));
            }
        }
        assert!(
            stale.is_empty(),
            "generated files are stale: {}; run `cargo xtask docs` and commit the result",
            stale.join(", ")
        );
    }

    #[test]
    fn every_sidecar_names_its_module() {
        for module in MODULES {
            let text = docs::sidecar(&(module.describe)());
            assert!(
                text.contains(&format!("module: {}\n", module.name)),
                "{} sidecar lacks its module name",
                module.name
            );
        }
    }
}
