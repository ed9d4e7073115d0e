//! Talking to systemd through `systemctl` and `journalctl` (no D-Bus client: the binaries
//! stay small, and systemctl's messages are the ones operators know).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::command::{self, CommandError, CommandOutput};

/// Where unit files and drop-ins written by the administrator live.
pub const ETC_UNIT_DIR: &str = "/etc/systemd/system";
/// Where packages install their unit files (`/lib` is a symlink on merged-/usr systems,
/// a separate directory on older ones).
pub const VENDOR_UNIT_DIRS: &[&str] = &["/usr/lib/systemd/system", "/lib/systemd/system"];

/// True when systemd is the init system (the test `sd_booted()` does).
pub fn is_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// `systemctl show` output: `Key=value` lines. A key may repeat (e.g. `Listen` of a socket
/// with several listeners); [`Properties::get`] returns the first value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

impl Properties {
    pub fn parse(text: &str) -> Properties {
        let entries = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.to_string()))
            .collect();
        Properties { entries }
    }

    /// The first value of `key`; `None` when absent (an empty value is `Some("")`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `key` or "".
    pub fn value(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }

    /// A space-separated list property (`Triggers`, `DropInPaths`, ...).
    pub fn list(&self, key: &str) -> Vec<&str> {
        self.value(key).split_whitespace().collect()
    }

    pub fn is_yes(&self, key: &str) -> bool {
        self.value(key) == "yes"
    }
}

/// How long a systemctl call may take (starting dockerd can take a while).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// `systemctl show UNIT --property=A,B,...`.
pub fn show(unit: &str, properties: &[&str]) -> Result<Properties, Box<CommandError>> {
    let props = format!("--property={}", properties.join(","));
    command::run(
        &["systemctl", "show", unit, &props, "--no-pager"],
        DEFAULT_TIMEOUT,
    )
    .map(|out| Properties::parse(&out.stdout))
    .map_err(|e| with_units(e, &[unit], false))
}

/// `systemctl stop UNITS...`.
pub fn stop(units: &[&str], timeout: Duration) -> Result<CommandOutput, Box<CommandError>> {
    unit_command("stop", units, timeout)
}

/// `systemctl start UNITS...`.
pub fn start(units: &[&str], timeout: Duration) -> Result<CommandOutput, Box<CommandError>> {
    unit_command("start", units, timeout)
}

/// `systemctl restart UNITS...`.
pub fn restart(units: &[&str], timeout: Duration) -> Result<CommandOutput, Box<CommandError>> {
    unit_command("restart", units, timeout)
}

/// `systemctl reset-failed UNITS...`: forgets failures and the start rate limit's count,
/// so that a deliberate start is not refused as "start request repeated too quickly".
pub fn reset_failed(units: &[&str]) -> Result<CommandOutput, Box<CommandError>> {
    unit_command("reset-failed", units, DEFAULT_TIMEOUT)
}

/// `systemctl enable UNITS...`.
pub fn enable(units: &[&str]) -> Result<CommandOutput, Box<CommandError>> {
    unit_command("enable", units, DEFAULT_TIMEOUT)
}

/// `systemctl disable UNITS...`.
pub fn disable(units: &[&str]) -> Result<CommandOutput, Box<CommandError>> {
    unit_command("disable", units, DEFAULT_TIMEOUT)
}

/// `systemctl daemon-reload`.
pub fn daemon_reload(timeout: Duration) -> Result<CommandOutput, Box<CommandError>> {
    command::run(&["systemctl", "daemon-reload"], timeout)
}

fn unit_command(
    verb: &str,
    units: &[&str],
    timeout: Duration,
) -> Result<CommandOutput, Box<CommandError>> {
    let mut argv = vec!["systemctl", verb];
    argv.extend_from_slice(units);
    command::run(&argv, timeout).map_err(|e| with_units(e, units, true))
}

/// Records the units in the error and, when asked, their last journal lines.
fn with_units(mut err: Box<CommandError>, units: &[&str], journal: bool) -> Box<CommandError> {
    err.units = units.iter().map(|u| u.to_string()).collect();
    if journal {
        err.journal = journal_of(units, 20);
    }
    err
}

/// The last `lines` journal lines of the units, merged in time order (best effort: ""
/// when unavailable).
pub fn journal_of(units: &[&str], lines: u32) -> String {
    let lines = lines.to_string();
    let mut argv = vec!["journalctl", "-n", &lines, "--no-pager", "-o", "short-iso"];
    for unit in units {
        argv.extend(["-u", unit]);
    }
    match command::run(&argv, Duration::from_secs(15)) {
        Ok(out) => {
            let text = out.stdout.trim_end();
            if text.is_empty() || text == "-- No entries --" {
                String::new()
            } else {
                format!("{text}\n")
            }
        }
        Err(_) => String::new(),
    }
}

/// A journal line without its timestamp and host name (`unit[pid]: message`), for
/// messages where the full line is too long.
pub fn journal_message(line: &str) -> &str {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(stamp), Some(_host), Some(rest))
            if stamp.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => line,
    }
}

/// The path of the first filesystem listener of a socket unit, from its `Listen` values
/// (`/run/docker.sock (Stream)`).
pub fn listen_path(listen: &[&str]) -> Option<PathBuf> {
    listen.iter().find_map(|entry| {
        let (address, kind) = entry.rsplit_once(" (").unwrap_or((entry, ""));
        (address.starts_with('/') && (kind.is_empty() || kind.starts_with("Stream")))
            .then(|| PathBuf::from(address))
    })
}

/// The argument vectors of an `Exec*` property as `systemctl show` prints it:
/// `{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ; ignore_errors=no ; ... }`.
/// Arguments are split on whitespace (systemctl prints them unquoted); unexpanded
/// `$VARIABLES` stay as they are.
pub fn exec_argvs(value: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("argv[]=") {
        let after = &rest[start + "argv[]=".len()..];
        let end = after.find(" ; ").unwrap_or(after.len());
        out.push(after[..end].split_whitespace().map(String::from).collect());
        rest = &after[end..];
    }
    out
}

/// The drop-in directory for `unit` under /etc.
pub fn dropin_dir(unit: &str) -> PathBuf {
    Path::new(ETC_UNIT_DIR).join(format!("{unit}.d"))
}

/// The vendor (package) unit files of `unit` that exist.
pub fn vendor_unit_files(unit: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = VENDOR_UNIT_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(unit))
        .filter(|p| p.is_file())
        .collect();
    // On merged-/usr systems both names are the same file; report it once.
    found.dedup_by(|a, b| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    });
    found
}

/// True when `fragment` (a unit's `FragmentPath`) is an administrator's full copy under
/// /etc that hides the package's unit file.
pub fn is_shadowing_copy(fragment: &str, vendor_files: &[PathBuf]) -> bool {
    fragment.starts_with(&format!("{ETC_UNIT_DIR}/")) && !vendor_files.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKET_SHOW: &str = "\
Triggers=docker.service
Listen=/run/docker.sock (Stream)
LoadState=loaded
ActiveState=active
FragmentPath=/lib/systemd/system/docker.socket
DropInPaths=/etc/systemd/system/docker.socket.d/a.conf /etc/systemd/system/docker.socket.d/zz.conf
SocketGroup=docker
SocketMode=0660
NeedDaemonReload=no
Description=Docker Socket for the API
";

    #[test]
    fn parses_show_output() {
        let p = Properties::parse(SOCKET_SHOW);
        assert_eq!(p.get("LoadState"), Some("loaded"));
        assert_eq!(p.list("Triggers"), vec!["docker.service"]);
        assert_eq!(p.list("DropInPaths").len(), 2);
        assert_eq!(p.get("Description"), Some("Docker Socket for the API"));
        assert_eq!(p.get("Missing"), None);
        assert!(!p.is_yes("NeedDaemonReload"));
        assert_eq!(
            listen_path(&p.all("Listen")),
            Some(PathBuf::from("/run/docker.sock"))
        );
    }

    #[test]
    fn empty_and_repeated_values() {
        let p = Properties::parse(
            "SocketGroup=\nListen=[::]:2375 (Stream)\nListen=/run/podman/podman.sock (Stream)\n",
        );
        assert_eq!(p.get("SocketGroup"), Some(""));
        assert_eq!(p.list("SocketGroup"), Vec::<&str>::new());
        assert_eq!(
            listen_path(&p.all("Listen")),
            Some(PathBuf::from("/run/podman/podman.sock"))
        );
        assert_eq!(listen_path(&["@abstract (Stream)"]), None);
        assert_eq!(listen_path(&["/run/x.fifo (FIFO)"]), None);
    }

    #[test]
    fn parses_exec_start() {
        let value = "{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }";
        assert_eq!(
            exec_argvs(value),
            vec![vec!["/usr/sbin/dockerd", "-H", "fd://", "$DOCKER_OPTS"]]
        );
        let two = "{ path=/bin/a ; argv[]=/bin/a 1 ; ignore_errors=no } { path=/bin/b ; argv[]=/bin/b ; ignore_errors=yes }";
        assert_eq!(exec_argvs(two), vec![vec!["/bin/a", "1"], vec!["/bin/b"]]);
        assert!(exec_argvs("").is_empty());
    }

    #[test]
    fn journal_lines() {
        assert_eq!(
            journal_message(
                "2026-12-04T20:32:43+0000 node1 systemd[1]: Failed to start docker.service."
            ),
            "systemd[1]: Failed to start docker.service."
        );
        assert_eq!(journal_message("-- No entries --"), "-- No entries --");
    }

    #[test]
    fn shadowing_copy() {
        let vendor = vec![PathBuf::from("/lib/systemd/system/docker.socket")];
        assert!(is_shadowing_copy(
            "/etc/systemd/system/docker.socket",
            &vendor
        ));
        assert!(!is_shadowing_copy(
            "/lib/systemd/system/docker.socket",
            &vendor
        ));
        assert!(!is_shadowing_copy("/etc/systemd/system/docker.socket", &[]));
        assert_eq!(
            dropin_dir("podman.socket"),
            PathBuf::from("/etc/systemd/system/podman.socket.d")
        );
    }
}
