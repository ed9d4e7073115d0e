//! The roles-path bundle: `build/bundle/roles/ci_setup`, for CI systems (Zuul) that put a
//! repository's `roles/` directory on the roles path instead of installing the collection.
//!
//! There the collection's FQCNs do not resolve, so the bundle's role carries the module
//! binaries in `library/` and its tasks name them `ansible.legacy.<module>`, which finds a
//! role's own modules. Everything else is the role as it is in the collection. The plain
//! binaries run through Ansible's normal binary-module path (x86_64 targets only: without
//! the collection's action plugin nothing picks another architecture).

use std::path::Path;

use crate::registry::MODULES;

const ROLE: &str = "ci_setup";

pub fn write(root: &Path) -> Result<(), String> {
    let source = root.join("roles").join(ROLE);
    let bundle = root.join("build/bundle");
    let target = bundle.join("roles").join(ROLE);
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle)
            .map_err(|e| format!("cannot remove {}: {e}", bundle.display()))?;
    }
    copy_tree(&source, &target)?;
    let library = target.join("library");
    std::fs::create_dir_all(&library)
        .map_err(|e| format!("cannot create {}: {e}", library.display()))?;
    for module in MODULES.iter().filter(|m| m.shipped) {
        let built = root.join("plugins/modules").join(module.name);
        if !built.is_file() {
            return Err(format!(
                "{} is missing; run `cargo xtask build` first",
                built.display()
            ));
        }
        copy(&built, &library.join(module.name))?;
        copy(
            &root.join(format!("plugins/modules/{}.yml", module.name)),
            &library.join(format!("{}.yml", module.name)),
        )?;
    }
    let tasks = target.join("tasks");
    for entry in read_dir(&tasks)? {
        let text = std::fs::read_to_string(&entry)
            .map_err(|e| format!("cannot read {}: {e}", entry.display()))?;
        let rewritten = rewrite_module_names(&text);
        if rewritten != text {
            std::fs::write(&entry, rewritten)
                .map_err(|e| format!("cannot write {}: {e}", entry.display()))?;
        }
    }
    println!("wrote {}", target.display());
    Ok(())
}

/// `ci_tools.docker.<module>:` task keys become `ansible.legacy.<module>:`; role
/// references (`ci_tools.docker.ci_setup`) stay as they are.
pub fn rewrite_module_names(text: &str) -> String {
    let mut out = text.to_string();
    for module in MODULES.iter().filter(|m| m.shipped) {
        out = out.replace(
            &format!("ci_tools.docker.{}:", module.name),
            &format!("ansible.legacy.{}:", module.name),
        );
    }
    out
}

fn read_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    Ok(paths)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    for path in read_dir(from)? {
        let dest = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            copy(&path, &dest)?;
        }
    }
    Ok(())
}
