//! docker.service and docker.socket: enabled, started, restarted, and the API answering.

use std::path::{Path, PathBuf};
use std::time::Duration;

use docker_engine::{Client, DaemonVersion};
use module_runtime::Failure;
use system::systemd;

pub const SERVICE: &str = "docker.service";
pub const SOCKET: &str = "docker.socket";

/// What systemd says about one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    pub loaded: bool,
    pub active: bool,
    /// `UnitFileState`: enabled, disabled, static, masked, ...
    pub file_state: String,
    /// CLOCK_MONOTONIC µs of the main process's start; 0 when it never ran.
    pub main_start: u64,
    /// The main process's PID; 0 when it does not run.
    pub main_pid: u32,
}

pub fn unit_state(unit: &str) -> Result<UnitState, Failure> {
    let props = systemd::show(
        unit,
        &[
            "LoadState",
            "ActiveState",
            "UnitFileState",
            "ExecMainStartTimestampMonotonic",
            "MainPID",
        ],
    )
    .map_err(|e| e.to_failure(format!("read the state of {unit}")))?;
    Ok(UnitState {
        loaded: props.value("LoadState") == "loaded",
        active: matches!(props.value("ActiveState"), "active" | "reloading"),
        file_state: props.value("UnitFileState").to_string(),
        main_start: props
            .value("ExecMainStartTimestampMonotonic")
            .parse()
            .unwrap_or(0),
        main_pid: props.value("MainPID").parse().unwrap_or(0),
    })
}

/// True when the process `pid` runs an executable that has since been deleted or
/// replaced (a package upgrade unpacked a new one): it must be restarted to run the new
/// code.
pub fn runs_replaced_binary(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|exe| exe.to_string_lossy().ends_with(" (deleted)"))
        .unwrap_or(false)
}

/// True for the `UnitFileState`s that mean "starts at boot" (or is started by another
/// unit and needs no enabling).
pub fn is_enabled(state: &UnitState) -> bool {
    matches!(
        state.file_state.as_str(),
        "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated"
    )
}

/// The daemon's own explanation among its journal lines (`journalctl -o short-iso`), as
/// in `dockerd[812]: unable to configure the Docker daemon with file ...` or
/// `level=fatal msg="..."`: the last error dockerd wrote, without the journal prefix.
pub fn daemon_error(journal: &str) -> Option<String> {
    let mut found = None;
    for line in journal.lines() {
        let Some(at) = line.find("dockerd[") else {
            continue;
        };
        let Some(end) = line[at..].find("]: ") else {
            continue;
        };
        let message = line[at + end + 3..].trim();
        let lower = message.to_ascii_lowercase();
        let is_error = lower.starts_with("unable to configure")
            || lower.starts_with("failed to start daemon")
            || lower.contains("level=fatal")
            || lower.contains("level=error");
        if !is_error {
            continue;
        }
        found = Some(logfmt_msg(message).unwrap_or_else(|| message.to_string()));
    }
    found
}

/// The `msg="..."` value of a logfmt line, unescaped.
fn logfmt_msg(line: &str) -> Option<String> {
    let start = line.find("msg=\"")? + 5;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    Some(out)
}

/// The socket the API listens on: the first `unix://` entry of daemon.json's `hosts`,
/// else the default.
pub fn api_socket(daemon_json: Option<&system::daemon_json::DaemonJson>) -> PathBuf {
    daemon_json
        .and_then(|doc| system::daemon_json::unix_hosts(doc).into_iter().next())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(docker_engine::DEFAULT_SOCKET))
}

pub use docker_engine::wait_for_api;

/// The versions of a daemon that is already up, without waiting.
pub fn current_version(socket: &Path) -> Option<DaemonVersion> {
    Client::new(socket, Some(Duration::from_secs(5)))
        .version()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_daemons_config_error() {
        let journal = "\
2024-05-01T10:00:00+0000 node systemd[1]: Starting docker.service - Docker Application Container Engine...
2024-05-01T10:00:00+0000 node dockerd[812]: unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives don't match any configuration option: bogus-option
2024-05-01T10:00:00+0000 node systemd[1]: docker.service: Main process exited, code=exited, status=1/FAILURE
2024-05-01T10:00:00+0000 node systemd[1]: docker.service: Failed with result 'exit-code'.
";
        assert_eq!(
            daemon_error(journal).as_deref(),
            Some("unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives don't match any configuration option: bogus-option")
        );
    }

    #[test]
    fn finds_a_logfmt_fatal_line() {
        let journal = "\
2024-05-01T10:00:00+0000 node dockerd[9]: time=\"2024-05-01T10:00:00Z\" level=info msg=\"Starting up\"
2024-05-01T10:00:00+0000 node dockerd[9]: time=\"2024-05-01T10:00:00Z\" level=fatal msg=\"failed to start daemon: error initializing graphdriver: \\\"overlay\\\" not supported\"
";
        assert_eq!(
            daemon_error(journal).as_deref(),
            Some(
                "failed to start daemon: error initializing graphdriver: \"overlay\" not supported"
            )
        );
        assert_eq!(daemon_error("nothing here\n"), None);
    }

    #[test]
    fn enabled_states() {
        let state = |s: &str| UnitState {
            loaded: true,
            active: false,
            file_state: s.into(),
            main_start: 0,
            main_pid: 0,
        };
        assert!(is_enabled(&state("enabled")));
        assert!(is_enabled(&state("static")));
        assert!(!is_enabled(&state("disabled")));
        assert!(!is_enabled(&state("masked")));
    }

    #[test]
    fn replaced_binaries() {
        assert!(!runs_replaced_binary(0));
        assert!(!runs_replaced_binary(std::process::id()));
    }
}
