//! The package-manager seam: what docker_install needs from apt (and, one day, from dnf,
//! zypper or pacman). Only apt is implemented; any other manager fails with
//! "not supported yet: <manager>" before anything is touched.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use module_runtime::{Diff, Failure};
use schemars::JsonSchema;
use serde::Serialize;

use crate::apt::Apt;
use crate::repo::Repository;

/// One package a transaction installs, upgrades, downgrades or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PackageChange {
    /// The package name.
    pub name: String,
    /// The version installed (for removals: the version removed); null when unknown.
    pub version: Option<String>,
    /// The version that was installed before, for upgrades and downgrades.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// What a transaction does, as the package manager's simulation predicts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub installed: Vec<PackageChange>,
    pub removed: Vec<PackageChange>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty() && self.removed.is_empty()
    }
}

/// One package transaction: install (optionally pinned) and remove in one go, so that a
/// failed download never leaves the host without an engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// Packages to install or upgrade, with the exact version to install when pinned.
    pub install: Vec<(String, Option<String>)>,
    pub remove: Vec<String>,
    pub install_recommends: bool,
}

impl Transaction {
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty()
    }
}

/// What configuring a vendor repository changed; enough to put the old files back.
#[derive(Debug, Clone, Default)]
pub struct RepoChange {
    /// (path, content before (None: absent), content after (None: removed), mode).
    pub files: Vec<FileEdit>,
}

#[derive(Debug, Clone)]
pub struct FileEdit {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    pub mode: u32,
}

impl RepoChange {
    pub fn changed(&self) -> bool {
        !self.files.is_empty()
    }

    /// Diffs of the text files (keys in binary form are left out).
    pub fn diffs(&self) -> Vec<Diff> {
        let text = |b: &Option<Vec<u8>>| -> Option<Option<String>> {
            match b {
                None => Some(None),
                Some(bytes) => String::from_utf8(bytes.clone()).ok().map(Some),
            }
        };
        self.files
            .iter()
            .filter_map(|f| {
                let before = text(&f.before)?;
                let after = text(&f.after)?;
                Some(Diff::file(&f.path, before.as_deref(), after.as_deref()))
            })
            .collect()
    }
}

/// What docker_install needs from a package manager.
pub trait PackageManager {
    /// The manager's name, for messages ("apt").
    fn name(&self) -> &'static str;

    /// Installed versions of those of `names` that are installed.
    fn installed(&self, names: &[String]) -> Result<BTreeMap<String, String>, Failure>;

    /// Versions of `name` the configured repositories offer, best first.
    fn available_versions(&self, name: &str) -> Result<Vec<String>, Failure>;

    /// Time since the package index was last refreshed; `None` when unknown (never).
    fn index_age(&self) -> Option<Duration>;

    /// Refreshes the package index.
    fn refresh(&self) -> Result<(), Failure>;

    /// Predicts a transaction without changing anything.
    fn simulate(&self, tx: &Transaction) -> Result<Plan, Failure>;

    /// Runs a transaction.
    fn apply(&self, tx: &Transaction) -> Result<(), Failure>;

    /// Brings the vendor repository's configuration (source and key files) to `repo`;
    /// with `check`, only computes what would change.
    fn configure_repository(&self, repo: &Repository, check: bool) -> Result<RepoChange, Failure>;

    /// Puts back the files a [`PackageManager::configure_repository`] call replaced.
    fn restore_repository(&self, change: &RepoChange) -> Result<(), Failure>;
}

/// Package managers this module recognizes but does not drive yet, by their binary.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("dnf", "dnf"),
    ("yum", "yum"),
    ("zypper", "zypper"),
    ("pacman", "pacman"),
    ("apk", "apk"),
    ("emerge", "portage"),
    ("xbps-install", "xbps"),
];

/// Directories searched besides $PATH: a become'd module may run with a short PATH.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The full path of `program`, from $PATH or the standard system directories.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    let path = match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{p}:{SYSTEM_PATH}"),
        _ => SYSTEM_PATH.to_string(),
    };
    which::which_in(program, Some(path), Path::new("/")).ok()
}

/// The package manager of this host.
pub fn detect(lock_timeout: Duration) -> Result<Box<dyn PackageManager>, Failure> {
    detect_with(find_program, lock_timeout)
}

/// [`detect`] with the program lookup given (for tests).
pub fn detect_with(
    find: impl Fn(&str) -> Option<std::path::PathBuf>,
    lock_timeout: Duration,
) -> Result<Box<dyn PackageManager>, Failure> {
    if let (Some(apt_get), Some(_)) = (find("apt-get"), find("dpkg-query")) {
        return Ok(Box::new(Apt::new(apt_get, lock_timeout)));
    }
    for (binary, name) in UNSUPPORTED {
        if find(binary).is_some() {
            return Err(Failure::new(format!(
                "install Docker: not supported yet: {name}. docker_install manages packages \
                 with apt on Debian and Ubuntu only; install Docker with your distribution's \
                 tools (e.g. ansible.builtin.package) on this host"
            ))
            .with("package_manager", name));
        }
    }
    Err(Failure::new(
        "install Docker: no supported package manager found (looked for apt-get and dpkg-query); \
         docker_install supports Debian and Ubuntu",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn only(programs: &'static [&'static str]) -> impl Fn(&str) -> Option<PathBuf> {
        move |name| {
            programs
                .contains(&name)
                .then(|| PathBuf::from(format!("/usr/bin/{name}")))
        }
    }

    #[test]
    fn apt_hosts_get_apt() {
        let pm = detect_with(only(&["apt-get", "dpkg-query", "dnf"]), Duration::ZERO).unwrap();
        assert_eq!(pm.name(), "apt");
    }

    #[test]
    fn other_managers_are_not_supported_yet() {
        for (programs, name) in [
            (&["dnf", "yum"][..], "dnf"),
            (&["zypper"][..], "zypper"),
            (&["pacman"][..], "pacman"),
            // apt-get without dpkg-query is not a Debian system either.
            (&["apt-get", "apk"][..], "apk"),
        ] {
            let programs: &'static [&'static str] = Box::leak(programs.to_vec().into_boxed_slice());
            let err = detect_with(only(programs), Duration::ZERO).err().unwrap();
            assert!(
                err.msg
                    .starts_with(&format!("install Docker: not supported yet: {name}. ")),
                "{err}"
            );
            assert_eq!(err.extra["package_manager"], name);
        }
        let err = detect_with(only(&[]), Duration::ZERO).err().unwrap();
        assert!(err.msg.contains("no supported package manager"), "{err}");
    }
}
