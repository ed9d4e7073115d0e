//! apt and dpkg: the [`PackageManager`] for Debian and Ubuntu.
//!
//! Every command is an argv list run through `duct` (never a shell string), with a
//! noninteractive, untranslated environment. Waiting for the dpkg lock: apt-get's own
//! `-o DPkg::Lock::Timeout=N` (apt >= 1.9.11, so bullseye and later) waits for the dpkg
//! frontend lock; the package-lists lock taken by `apt-get update`, and older apt
//! releases, are covered by retrying a command that failed on a lock until
//! `lock_timeout` has passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use module_runtime::Failure;

use crate::packages::{
    FileEdit, PackageChange, PackageManager, Plan, RepoChange, Transaction, SYSTEM_PATH,
};
use crate::repo::Repository;

/// apt's package lists; the directory's mtime changes when apt-get update writes a list.
const LISTS_DIR: &str = "/var/lib/apt/lists";
/// "Last successful apt-get update", as APT::Periodic and Ansible's apt module read it.
const UPDATE_STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
/// The deb822 source docker_install writes for `source: upstream` (the path Docker's own
/// installation guide uses).
pub const SOURCE_FILE: &str = "/etc/apt/sources.list.d/docker.sources";
/// The one-line source older Docker guides had users write; it would duplicate ours with
/// another Signed-By, which apt refuses ("Conflicting values set for option Signed-By").
pub const LEGACY_LIST: &str = "/etc/apt/sources.list.d/docker.list";
pub const KEYRING_DIR: &str = "/etc/apt/keyrings";

/// A command's outcome.
#[derive(Debug, Clone)]
pub struct Run {
    pub argv: Vec<String>,
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The failure for a command that exited non-zero: apt's `E:` lines in the message,
    /// the whole output as result keys.
    fn failure(&self, what: &str) -> Failure {
        Failure::new(format!(
            "{what}: `{}` failed (rc={}): {}",
            self.argv.join(" "),
            self.rc,
            error_summary(&self.stdout, &self.stderr)
        ))
        .with("rc", self.rc)
        .with("cmd", &self.argv)
        .with("stdout", &self.stdout)
        .with("stderr", &self.stderr)
    }
}

pub struct Apt {
    apt_get: PathBuf,
    lock_timeout: Duration,
}

impl Apt {
    pub fn new(apt_get: PathBuf, lock_timeout: Duration) -> Apt {
        Apt {
            apt_get,
            lock_timeout,
        }
    }

    /// Runs `program args` once, capturing its output.
    fn exec(program: &Path, args: &[String]) -> Result<Run, Failure> {
        let path = match std::env::var("PATH") {
            Ok(p) if !p.is_empty() => format!("{p}:{SYSTEM_PATH}"),
            _ => SYSTEM_PATH.to_string(),
        };
        let output = duct::cmd(program, args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
            .env("APT_LISTCHANGES_FRONTEND", "none")
            .env("APT_LISTBUGS_FRONTEND", "none")
            // needrestart would otherwise restart services (sshd...) in the middle of a task.
            .env("NEEDRESTART_SUSPEND", "1")
            .env("LC_ALL", "C")
            .env("LANG", "C")
            // dpkg needs /usr/sbin (ldconfig, start-stop-daemon) on its PATH.
            .env("PATH", path)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| Failure::new(format!("cannot run {}: {e}", program.display())))?;
        Ok(Run {
            argv: std::iter::once(program.display().to_string())
                .chain(args.iter().cloned())
                .collect(),
            rc: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs apt-get, waiting up to `lock_timeout` for locks held by another process.
    fn apt_get(&self, what: &str, args: &[&str]) -> Result<Run, Failure> {
        let deadline = Instant::now() + self.lock_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now()).as_secs();
            let mut argv = vec![
                "-q".to_string(),
                "-o".into(),
                format!("DPkg::Lock::Timeout={remaining}"),
            ];
            argv.extend(args.iter().map(|a| a.to_string()));
            let run = Self::exec(&self.apt_get, &argv)?;
            if run.rc == 0 {
                return Ok(run);
            }
            if is_lock_error(&run.stderr) {
                if Instant::now() < deadline {
                    std::thread::sleep(Duration::from_secs(2));
                    continue;
                }
                return Err(Failure::new(format!(
                    "{what}: another process still holds the package manager's lock after {} s \
                     (lock_timeout); wait for it (unattended-upgrades?) or raise lock_timeout: {}",
                    self.lock_timeout.as_secs(),
                    error_summary(&run.stdout, &run.stderr)
                ))
                .with("rc", run.rc)
                .with("cmd", &run.argv)
                .with("stderr", &run.stderr));
            }
            return Err(run.failure(what));
        }
    }

    fn transaction_args(tx: &Transaction, simulate: bool) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        if simulate {
            args.push("-s".into());
        } else {
            args.push("-y".into());
            args.extend(
                [
                    "-o",
                    "Dpkg::Options::=--force-confdef",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                ]
                .map(String::from),
            );
        }
        if tx.install.is_empty() {
            args.push("remove".into());
            args.extend(tx.remove.iter().cloned());
            return args;
        }
        if !tx.install_recommends {
            args.push("--no-install-recommends".into());
        }
        if tx.install.iter().any(|(_, v)| v.is_some()) {
            args.push("--allow-downgrades".into());
        }
        args.push("install".into());
        for (name, version) in &tx.install {
            args.push(match version {
                Some(v) => format!("{name}={v}"),
                None => name.clone(),
            });
        }
        // `name-` in an install command removes it in the same transaction.
        args.extend(tx.remove.iter().map(|name| format!("{name}-")));
        args
    }
}

impl PackageManager for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn installed(&self, names: &[String]) -> Result<BTreeMap<String, String>, Failure> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let program = crate::packages::find_program("dpkg-query")
            .unwrap_or_else(|| PathBuf::from("/usr/bin/dpkg-query"));
        let mut args = vec![
            "-W".to_string(),
            "-f=${Package}\\t${Version}\\t${Status}\\n".to_string(),
            "--".to_string(),
        ];
        args.extend(names.iter().cloned());
        let run = Self::exec(&program, &args)?;
        // rc 1: some of the names are unknown to dpkg (never installed); not an error.
        if run.rc > 1 {
            return Err(run.failure("read the installed packages"));
        }
        Ok(parse_dpkg_query(&run.stdout))
    }

    fn available_versions(&self, name: &str) -> Result<Vec<String>, Failure> {
        let program = crate::packages::find_program("apt-cache")
            .unwrap_or_else(|| PathBuf::from("/usr/bin/apt-cache"));
        let run = Self::exec(&program, &["madison".to_string(), name.to_string()])?;
        if run.rc != 0 {
            return Err(run.failure(&format!("list the versions of {name}")));
        }
        Ok(parse_madison(&run.stdout))
    }

    fn index_age(&self) -> Option<Duration> {
        let newest = [UPDATE_STAMP, LISTS_DIR]
            .iter()
            .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .max()?;
        Some(
            SystemTime::now()
                .duration_since(newest)
                .unwrap_or(Duration::ZERO),
        )
    }

    fn refresh(&self) -> Result<(), Failure> {
        let run = self.apt_get("update the package lists", &["update"])?;
        // apt-get update exits 0 when a source could not be fetched ("W: Failed to
        // fetch"), leaving that source's old or no lists: a later install then fails with
        // a much less clear message, so the warning becomes the error here.
        let failed: Vec<&str> = run
            .stderr
            .lines()
            .chain(run.stdout.lines())
            .filter(|l| {
                (l.starts_with("W:") || l.starts_with("E:"))
                    && (l.contains("Failed to fetch") || l.contains("is not signed"))
            })
            .collect();
        if !failed.is_empty() {
            return Err(
                Failure::new(format!("update the package lists: {}", failed.join("; ")))
                    .with("stdout", &run.stdout)
                    .with("stderr", &run.stderr),
            );
        }
        // Record the time of this successful update, for cache_valid_time.
        let stamp = Path::new(UPDATE_STAMP);
        if let Some(dir) = stamp.parent() {
            let _ = system::files::ensure_dir(dir);
        }
        if let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(stamp)
        {
            let _ = file.set_modified(SystemTime::now());
        }
        Ok(())
    }

    fn simulate(&self, tx: &Transaction) -> Result<Plan, Failure> {
        if tx.is_empty() {
            return Ok(Plan::default());
        }
        let args = Self::transaction_args(tx, true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = self.apt_get("predict the package changes", &args)?;
        Ok(parse_simulation(&run.stdout))
    }

    fn apply(&self, tx: &Transaction) -> Result<(), Failure> {
        if tx.is_empty() {
            return Ok(());
        }
        let args = Self::transaction_args(tx, false);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let what = if tx.install.is_empty() {
            "remove the Docker packages"
        } else {
            "install the Docker packages"
        };
        self.apt_get(what, &args).map(|_| ())
    }

    fn configure_repository(&self, repo: &Repository, check: bool) -> Result<RepoChange, Failure> {
        let key_path = format!(
            "{KEYRING_DIR}/docker.{}",
            if repo.key.armored { "asc" } else { "gpg" }
        );
        let wanted: Vec<(String, Option<Vec<u8>>)> = vec![
            (key_path.clone(), Some(repo.key.bytes.clone())),
            (
                SOURCE_FILE.to_string(),
                Some(repo.deb822(&key_path).into_bytes()),
            ),
        ];
        let mut change = RepoChange::default();
        // The key in the other format, when our own source used it until now.
        let other_key = format!(
            "{KEYRING_DIR}/docker.{}",
            if repo.key.armored { "gpg" } else { "asc" }
        );
        let ours_before = read_bytes(SOURCE_FILE)?.is_some_and(|text| {
            String::from_utf8_lossy(&text).contains(&format!("Signed-By: {other_key}\n"))
        });
        if ours_before {
            if let Some(old_key) = read_bytes(&other_key)? {
                change.files.push(FileEdit {
                    path: other_key,
                    before: Some(old_key),
                    after: None,
                    mode: 0o644,
                });
            }
        }
        for (path, after) in wanted {
            let before = read_bytes(&path)?;
            if before != after {
                change.files.push(FileEdit {
                    path,
                    before,
                    after,
                    mode: 0o644,
                });
            }
        }
        if let Some(legacy) = read_bytes(LEGACY_LIST)? {
            if String::from_utf8_lossy(&legacy).contains(repo.url.trim_end_matches('/')) {
                change.files.push(FileEdit {
                    path: LEGACY_LIST.to_string(),
                    before: Some(legacy),
                    after: None,
                    mode: 0o644,
                });
            }
        }
        if !check && change.changed() {
            system::files::ensure_dir(Path::new(KEYRING_DIR)).map_err(Failure::new)?;
            for edit in &change.files {
                write_edit(&edit.path, edit.after.as_deref(), edit.mode).map_err(|e| {
                    Failure::new(format!("configure the Docker apt repository: {e}"))
                })?;
            }
        }
        Ok(change)
    }

    fn restore_repository(&self, change: &RepoChange) -> Result<(), Failure> {
        for edit in change.files.iter().rev() {
            write_edit(&edit.path, edit.before.as_deref(), edit.mode).map_err(Failure::new)?;
        }
        Ok(())
    }
}

fn read_bytes(path: &str) -> Result<Option<Vec<u8>>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::new(format!("cannot read {path}: {e}"))),
    }
}

fn write_edit(path: &str, content: Option<&[u8]>, mode: u32) -> Result<(), String> {
    match content {
        Some(bytes) => system::files::write_atomic(Path::new(path), bytes, mode),
        None => system::files::remove_optional(Path::new(path)).map(|_| ()),
    }
}

/// True when apt or dpkg failed because another process holds one of their locks.
pub fn is_lock_error(stderr: &str) -> bool {
    [
        "Could not get lock",
        "Unable to acquire the dpkg frontend lock",
        "Unable to lock the administration directory",
        "Unable to lock directory",
        "dpkg status database is locked by another process",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

/// apt's error lines (`E: ...`), or the last line of stderr when there are none.
pub fn error_summary(stdout: &str, stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.starts_with("E:") || l.starts_with("dpkg: error"))
        .map(str::trim)
        .collect();
    if !errors.is_empty() {
        return errors.join("; ");
    }
    stderr
        .lines()
        .chain(stdout.lines())
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
        .to_string()
}

/// The packages an `apt-get -s` run would install and remove, from its `Inst` and `Remv`
/// (or `Purg`) lines:
///
/// ```text
/// Inst docker.io (20.10.24+dfsg1-1+b3 Debian:12.5/stable [amd64])
/// Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [amd64]) []
/// Remv runc [1.1.5+ds1-1]
/// ```
pub fn parse_simulation(text: &str) -> Plan {
    let mut plan = Plan::default();
    for line in text.lines() {
        let (kind, rest) = match line.split_once(' ') {
            Some((kind @ ("Inst" | "Remv" | "Purg"), rest)) => (kind, rest.trim()),
            _ => continue,
        };
        let (name, mut rest) = match rest.split_once(' ') {
            Some((name, rest)) => (name, rest.trim_start()),
            None => (rest, ""),
        };
        let mut current = None;
        if let Some(after) = rest.strip_prefix('[') {
            if let Some((version, tail)) = after.split_once(']') {
                current = Some(version.to_string());
                rest = tail.trim_start();
            }
        }
        let new = rest
            .strip_prefix('(')
            .and_then(|inner| inner.split_whitespace().next())
            .map(|v| v.trim_end_matches(')').to_string());
        if kind == "Inst" {
            plan.installed.push(PackageChange {
                name: name.to_string(),
                version: new,
                previous: current,
            });
        } else {
            plan.removed.push(PackageChange {
                name: name.to_string(),
                version: current,
                previous: None,
            });
        }
    }
    plan
}

/// Installed packages from `dpkg-query -W -f='${Package}\t${Version}\t${Status}\n'`.
/// Packages dpkg knows but that are not installed (removed with their configuration
/// files left, or half-installed) are left out.
pub fn parse_dpkg_query(text: &str) -> BTreeMap<String, String> {
    let mut installed = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(name), Some(version), Some(status)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let state = status.split_whitespace().nth(2).unwrap_or_default();
        if matches!(state, "installed" | "triggers-pending" | "triggers-awaited")
            && !version.is_empty()
        {
            installed
                .entry(name.to_string())
                .or_insert_with(|| version.to_string());
        }
    }
    installed
}

/// The versions `apt-cache madison NAME` lists, best first, without duplicates:
///
/// ```text
///  docker.io | 20.10.24+dfsg1-1+deb12u1+b6 | http://deb.debian.org/debian bookworm/main amd64 Packages
/// ```
pub fn parse_madison(text: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        if fields.len() < 3 || fields[2].ends_with("Sources") {
            continue;
        }
        if !fields[1].is_empty() && !versions.iter().any(|v| v == fields[1]) {
            versions.push(fields[1].to_string());
        }
    }
    versions
}

/// True when `version` (as apt lists it) matches the user's `pin`: exactly, without the
/// epoch, or as a prefix that ends at a component boundary ("20.10" matches
/// "20.10.24+dfsg1-1" and "5:20.10.24~3-0~debian-bookworm", not "20.100").
/// A `*` in the pin is a wildcard.
pub fn version_matches(pin: &str, version: &str) -> bool {
    let pin = pin.trim();
    if pin.is_empty() {
        return false;
    }
    let bare = version.split_once(':').map_or(version, |(_, v)| v);
    if pin.contains('*') {
        return glob(pin, version) || glob(pin, bare);
    }
    let prefix_of = |candidate: &str| {
        candidate == pin
            || (candidate.starts_with(pin)
                && candidate[pin.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| !c.is_ascii_alphanumeric()))
    };
    prefix_of(version) || prefix_of(bare)
}

/// `*`-only glob matching.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return part.is_empty() || rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMULATION: &str = "\
NOTE: This is only a simulation!
Reading package lists...
The following NEW packages will be installed:
  containerd docker.io runc tini
The following packages will be REMOVED:
  docker-ce
0 upgraded, 4 newly installed, 1 to remove and 3 not upgraded.
Remv docker-ce [5:24.0.7-1~debian.12~bookworm]
Inst runc (1.1.5+ds1-1+deb12u1 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
Inst containerd (1.6.20~ds1-1+b1 Debian:12.5/stable [amd64])
Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian:12.5/stable [amd64]) []
Inst tini (0.19.0-1 Debian:12.5/stable [amd64])
Inst docker.io (20.10.24+dfsg1-1+b3 Debian:12.5/stable [amd64])
Conf runc (1.1.5+ds1-1+deb12u1 Debian:12.5/stable [amd64])
Conf docker.io (20.10.24+dfsg1-1+b3 Debian:12.5/stable [amd64])
Purg podman-docker [4.3.1+ds1-8]
";

    #[test]
    fn simulation_lists_installs_and_removals() {
        let plan = parse_simulation(SIMULATION);
        let names: Vec<&str> = plan.installed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["runc", "containerd", "libc6", "tini", "docker.io"]);
        assert_eq!(
            plan.installed[0].version.as_deref(),
            Some("1.1.5+ds1-1+deb12u1")
        );
        assert_eq!(plan.installed[0].previous, None);
        assert_eq!(
            plan.installed[2],
            PackageChange {
                name: "libc6".into(),
                version: Some("2.36-9+deb12u4".into()),
                previous: Some("2.36-9+deb12u3".into()),
            }
        );
        assert_eq!(
            plan.removed,
            vec![
                PackageChange {
                    name: "docker-ce".into(),
                    version: Some("5:24.0.7-1~debian.12~bookworm".into()),
                    previous: None,
                },
                PackageChange {
                    name: "podman-docker".into(),
                    version: Some("4.3.1+ds1-8".into()),
                    previous: None,
                },
            ]
        );
        assert!(parse_simulation("0 upgraded, 0 newly installed, 0 to remove\n").is_empty());
    }

    #[test]
    fn simulation_of_a_local_repository_without_origin() {
        let plan = parse_simulation(
            "Inst docker-ce (1:20.10.24-1 localhost [amd64])\nInst x:i386 (1.0)\n",
        );
        assert_eq!(plan.installed[0].version.as_deref(), Some("1:20.10.24-1"));
        assert_eq!(plan.installed[1].name, "x:i386");
        assert_eq!(plan.installed[1].version.as_deref(), Some("1.0"));
    }

    #[test]
    fn dpkg_query_keeps_only_installed_packages() {
        let text = "docker.io\t20.10.24+dfsg1-1+b3\tinstall ok installed\n\
                    containerd\t1.6.20~ds1-1+b1\tdeinstall ok config-files\n\
                    runc\t1.1.5\tinstall ok half-configured\n\
                    tini\t0.19.0-1\tinstall ok triggers-pending\n\
                    docker-ce\t\tunknown ok not-installed\n\
                    garbage line\n";
        let installed = parse_dpkg_query(text);
        assert_eq!(
            installed.into_iter().collect::<Vec<_>>(),
            vec![
                ("docker.io".to_string(), "20.10.24+dfsg1-1+b3".to_string()),
                ("tini".to_string(), "0.19.0-1".to_string()),
            ]
        );
    }

    #[test]
    fn madison_versions() {
        let text = " docker-ce | 5:24.0.7-1~debian.12~bookworm | https://download.docker.com/linux/debian bookworm/stable amd64 Packages\n \
                    docker-ce | 5:24.0.6-1~debian.12~bookworm | https://download.docker.com/linux/debian bookworm/stable amd64 Packages\n \
                    docker-ce | 5:24.0.7-1~debian.12~bookworm | http://mirror/debian bookworm/stable amd64 Packages\n \
                    docker.io | 20.10.24 | http://deb.debian.org/debian bookworm/main Sources\n";
        assert_eq!(
            parse_madison(text),
            vec![
                "5:24.0.7-1~debian.12~bookworm",
                "5:24.0.6-1~debian.12~bookworm"
            ]
        );
        assert!(parse_madison("").is_empty());
    }

    #[test]
    fn version_pins() {
        let ce = "5:24.0.7-1~debian.12~bookworm";
        assert!(version_matches(ce, ce));
        assert!(version_matches("24.0.7-1~debian.12~bookworm", ce));
        assert!(version_matches("24.0.7", ce));
        assert!(version_matches("24.0", ce));
        assert!(version_matches("24", ce));
        assert!(!version_matches("24.0.70", ce));
        assert!(!version_matches("2", ce));
        assert!(version_matches("24.0.*", ce));
        assert!(version_matches("5:24.*bookworm", ce));
        assert!(!version_matches("25.*", ce));
        let io = "20.10.24+dfsg1-1+deb12u1+b6";
        assert!(version_matches("20.10.24", io));
        assert!(version_matches("20.10.24+dfsg1", io));
        assert!(!version_matches("20.10.2", io));
        assert!(!version_matches("", io));
    }

    #[test]
    fn lock_errors() {
        assert!(is_lock_error("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 123 (apt-get)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n"));
        assert!(is_lock_error("E: Could not get lock /var/lib/apt/lists/lock. It is held by process 9 (apt-get)\nE: Unable to lock directory /var/lib/apt/lists/\n"));
        assert!(!is_lock_error("E: Unable to locate package docker-cee\n"));
    }

    #[test]
    fn error_summaries() {
        assert_eq!(
            error_summary(
                "",
                "W: a warning\nE: Unable to locate package x\nE: second\n"
            ),
            "E: Unable to locate package x; E: second"
        );
        assert_eq!(error_summary("last words\n\n", ""), "last words");
        assert_eq!(error_summary("", ""), "no output");
    }

    #[test]
    fn transaction_arguments() {
        let tx = Transaction {
            install: vec![
                ("docker-ce".into(), Some("5:24.0.7-1".into())),
                ("containerd.io".into(), None),
            ],
            remove: vec!["docker.io".into(), "runc".into()],
            install_recommends: false,
        };
        assert_eq!(
            Apt::transaction_args(&tx, true),
            [
                "-s",
                "--no-install-recommends",
                "--allow-downgrades",
                "install",
                "docker-ce=5:24.0.7-1",
                "containerd.io",
                "docker.io-",
                "runc-"
            ]
        );
        let remove = Transaction {
            remove: vec!["docker.io".into()],
            ..Transaction::default()
        };
        let args = Apt::transaction_args(&remove, false);
        assert_eq!(args[0], "-y");
        assert_eq!(args[args.len() - 2..], ["remove", "docker.io"]);
    }
}
