//! `ci_tools.docker.socket_group`: makes the container engine's API socket belong to a
//! group that a CI user's *already open* sessions have, its primary group.
//!
//! Why: a CI job installs Docker with sudo, then loses sudo, and runs its tests over an SSH
//! connection that was opened before Docker existed (ControlPersist). Adding the user to
//! group `docker` does not help: a session's groups are fixed at login. The primary group
//! is in every session, so the socket is given to it, as configuration that survives
//! package upgrades: a systemd drop-in for the socket unit, or `group` in daemon.json for
//! a dockerd that creates its own socket.

mod checks;
mod daemon;
mod dropin;

use std::path::{Path, PathBuf};
use std::time::Duration;

use module_runtime::{Constraints, Context, Failure, Module, ModuleDoc, Outcome, Support};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use system::access::{self, Identity, SocketState};
use system::users::{self, Account, GroupInfo};

pub struct SocketGroup;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The socket belongs to the group.
    #[default]
    Present,
    /// What this module wrote is removed and the socket gets its default group back.
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// C(systemd_dropin) when the socket unit (O(unit)) exists and is loaded, else C(daemon_json).
    #[default]
    Auto,
    /// A drop-in for the socket unit sets C(SocketGroup) and C(SocketMode) (socket-activated Docker, Podman).
    SystemdDropin,
    /// C(group) in dockerd's daemon.json, for a dockerd that creates its own socket (no socket unit).
    DaemonJson,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Params {
    /// The user who must reach the socket. Without O(group), the socket goes to this
    /// user's primary group: the one group that sessions opened before the change have.
    ///
    /// Also the user whose access is verified (O(verify_access)).
    pub user: Option<String>,
    /// The group (name or gid) to give the socket. With O(user), the user must already be
    /// a member. Default: the primary group of O(user).
    pub group: Option<String>,
    /// Whether the socket belongs to the group (C(present)) or gets its default group back
    /// (C(absent), removing only what this module wrote).
    #[serde(default)]
    pub state: State,
    /// How the group is configured.
    #[serde(default)]
    pub method: Method,
    /// The systemd socket unit that provides the API socket, e.g. C(podman.socket).
    #[serde(default = "default_unit")]
    pub unit: String,
    /// The service behind the socket. Default: the unit O(unit) triggers (C(Triggers) of
    /// C(systemctl show)); with O(method=daemon_json), C(docker.service).
    pub service: Option<String>,
    /// The API socket's path. Default: from the socket unit's C(Listen), or with
    /// O(method=daemon_json) the first C(unix://) host of daemon.json or of dockerd's
    /// command line, else C(/var/run/docker.sock).
    pub socket: Option<String>,
    /// After the change, connect to the socket as O(user) (as uid 65534 with the group as
    /// its primary group when only O(group) is given) and check that C(GET /_ping) answers.
    /// The check runs with the user's uid, primary group and supplementary groups from the
    /// group database, never with the caller's. A failure fails the task and undoes the change.
    #[serde(default = "yes")]
    pub verify_access: bool,
    /// Restart the socket and the service so the change takes effect now. With C(false)
    /// only the configuration is written (a warning says how to apply it) and access is
    /// not verified.
    #[serde(default = "yes")]
    pub restart: bool,
    /// The drop-in's file name (without C(.conf)) in C(/etc/systemd/system/UNIT.d/).
    #[serde(default = "default_dropin_name")]
    pub dropin_name: String,
    /// The socket's permission mode (octal). The group needs read and write access. Only
    /// O(method=systemd_dropin) applies it; dockerd always creates its socket with C(0660).
    #[serde(default = "default_socket_mode")]
    pub socket_mode: String,
    /// dockerd's configuration file (checked for conflicts, and edited with
    /// O(method=daemon_json)).
    #[serde(default = "default_daemon_json_path")]
    pub daemon_json_path: String,
    /// Seconds to wait for the socket and the API after a restart.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

fn default_unit() -> String {
    "docker.socket".into()
}

fn default_dropin_name() -> String {
    "ci-tools-socket-group".into()
}

fn default_socket_mode() -> String {
    "0660".into()
}

fn default_daemon_json_path() -> String {
    system::daemon_json::DEFAULT_PATH.into()
}

fn default_timeout() -> u64 {
    60
}

fn yes() -> bool {
    true
}

/// What socket_group returns.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Output {
    /// The group the socket is given (O(state=present)), or the group named by the options.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "always (with state=absent: when the group exists)"))]
    pub group: Option<String>,
    /// Its gid.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "when the group exists"))]
    pub gid: Option<u32>,
    /// The user whose access is verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "when O(user) is given"))]
    pub user: Option<String>,
    /// The method used: C(systemd_dropin) or C(daemon_json).
    pub method: String,
    /// The socket unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "with method systemd_dropin"))]
    pub unit: Option<String>,
    /// The service that is restarted to apply the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "when the engine runs as a systemd service"))]
    pub service: Option<String>,
    /// The file this module manages: the drop-in or daemon.json.
    pub path: String,
    /// With C(daemon_json): the file recording what this module wrote, so that
    /// O(state=absent) removes only that.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "with method daemon_json"))]
    pub state_file: Option<String>,
    /// The API socket's path.
    pub socket: String,
    /// The live socket's owner after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "when the socket exists"))]
    pub socket_owner: Option<String>,
    /// The live socket's group after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "when the socket exists"))]
    pub socket_group: Option<String>,
    /// The live socket's permission mode after the run, e.g. C(0660).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "when the socket exists"))]
    pub socket_mode: Option<String>,
    /// Whether the socket and the service were restarted.
    pub restarted: bool,
    /// Whether access as the user was checked and works.
    pub verified: bool,
    /// What was done (in check mode: what would be done), e.g. C(write /etc/systemd/system/docker.socket.d/ci-tools-socket-group.conf).
    pub actions: Vec<String>,
}

const EXAMPLES: &str = r#"- name: Let zuul's open sessions use Docker (socket group = zuul's primary group)
  ci_tools.docker.socket_group:
    user: zuul
  become: true

- name: The same for the user running the play, with a named group it is a member of
  ci_tools.docker.socket_group:
    user: "{{ ansible_user }}"
    group: ci
  become: true

# Ad-hoc, from the controller:
#   ansible node1 -b -m ci_tools.docker.socket_group -a user=zuul

- name: Podman's API socket (/run/podman/podman.sock)
  ci_tools.docker.socket_group:
    user: zuul
    unit: podman.socket
  become: true

- name: A dockerd started without socket activation (no docker.socket)
  ci_tools.docker.socket_group:
    user: zuul
    method: daemon_json
  become: true

- name: Write the configuration only; it applies at the next restart
  ci_tools.docker.socket_group:
    user: zuul
    restart: false
  become: true

- name: Undo it (the socket goes back to root:docker)
  ci_tools.docker.socket_group:
    user: zuul
    state: absent
  become: true
"#;

impl Module for SocketGroup {
    const NAME: &'static str = "socket_group";
    const DOC: ModuleDoc = ModuleDoc {
        short_description: "Give the Docker (or Podman) API socket to a CI user's primary group",
        description: &[
            "Makes the container engine's API socket belong to a group that the user's already open sessions have: by default the user's primary group. Adding the user to group C(docker) does not help a session (or an SSH ControlPersist connection) opened before, because a process's groups are fixed at login.",
            "With a socket-activated engine (C(docker.socket), C(podman.socket)) it writes a systemd drop-in that sets C(SocketGroup) and C(SocketMode), which survives package upgrades (unlike a modified copy of the unit in C(/etc/systemd/system)), then stops the service and the socket, reloads systemd and starts them again, which a socket needs for a new group to apply.",
            "With a dockerd that creates its own socket it sets C(group) in daemon.json, keeping every other key and the file's formatting, and restarts the service.",
            "Before changing anything it fails on what would defeat the change: a full copy of the socket unit under C(/etc/systemd/system) that hides the package's unit, a masked unit, C(-G)/C(--group) in dockerd's options or C(DOCKER_OPTS), C(hosts) or a different C(group) in daemon.json, a later drop-in that sets the socket's group or mode, a group that does not exist or that the user is not a member of.",
            "After the restart it checks, as the user, that the API answers. If the restart or that check fails, the previous configuration is put back and the engine restarted, and the task fails saying what went wrong and what was restored.",
        ],
        notes: &[
            "Needs root: use C(become: true).",
            "Whoever can use the socket is root on the node. A group shared by many users (C(users), C(staff), C(adm), C(sudo), C(wheel), C(root)) draws a warning.",
            "Restarting dockerd stops running containers unless C(live-restore) is enabled.",
            "Users and groups are read from C(/etc/passwd) and C(/etc/group) (the module is a static binary without NSS).",
        ],
        requirements: &["systemd (for O(restart) and O(method=systemd_dropin))"],
        check_mode: Support::Full,
        diff_mode: Support::Full,
        examples: EXAMPLES,
    };
    const CONSTRAINTS: Constraints = Constraints {
        mutually_exclusive: &[],
        required_one_of: &[&["user", "group"]],
        required_together: &[],
    };
    type Params = Params;
    type Output = Output;

    fn run(params: Params, ctx: &mut Context) -> Result<Outcome<Output>, Failure> {
        let job = Job::new(params, ctx)?;
        if ctx.check_mode() {
            if let Some(outcome) = dropin::predict_without_engine(&job, ctx)? {
                return Ok(outcome);
            }
        }
        match job.method()? {
            Method::SystemdDropin => dropin::run(&job, ctx),
            _ => daemon::run(&job, ctx),
        }
    }
}

/// The validated options and who the socket is for.
pub(crate) struct Job {
    pub p: Params,
    /// The group; `None` only with `state: absent` when it no longer exists.
    pub group: Option<GroupInfo>,
    pub account: Option<Account>,
    pub mode: u32,
    pub dropin_file: String,
    pub timeout: Duration,
}

impl Job {
    fn new(p: Params, ctx: &mut Context) -> Result<Job, Failure> {
        let mode = checks::parse_mode(&p.socket_mode)?;
        let dropin_file = checks::dropin_file_name(&p.dropin_name)?;
        for (option, value) in [("unit", Some(&p.unit)), ("service", p.service.as_ref())] {
            if let Some(value) = value {
                if value.is_empty() || value.contains('/') {
                    return Err(Failure::new(format!(
                        "{option} must be a unit name like docker.socket, not {value:?}"
                    )));
                }
            }
        }
        if p.timeout == 0 {
            return Err("timeout must be at least 1 second".into());
        }
        if !users::is_root() {
            return Err(Failure::new(format!(
                "socket_group must run as root to change {} and restart the engine: use `become: true`",
                if p.method == Method::DaemonJson { p.daemon_json_path.as_str() } else { p.unit.as_str() }
            )));
        }
        let absent = p.state == State::Absent;
        let account = match &p.user {
            Some(name) => match users::user(name)? {
                Some(account) => Some(account),
                None if absent => None,
                None => return Err(Failure::new(format!("user {name} does not exist"))),
            },
            None => None,
        };
        let group = match (&p.group, &account) {
            (Some(spec), _) => match users::group(spec)? {
                Some(group) => Some(group),
                None if absent => None,
                None => {
                    return Err(Failure::new(format!(
                        "group {spec} does not exist; create it first, or leave `group` out to use the primary group of `user`"
                    )))
                }
            },
            (None, Some(account)) => match users::group(&account.gid.to_string())? {
                Some(group) => Some(group),
                None if absent => None,
                None => {
                    return Err(Failure::new(format!(
                        "the primary group (gid {}) of user {} has no entry in /etc/group",
                        account.gid, account.name
                    )))
                }
            },
            (None, None) => None,
        };
        if let (Some(group), Some(account), false) = (&group, &account, absent) {
            if account.gid != group.gid {
                if !account.groups.contains(&group.gid) {
                    return Err(Failure::new(format!(
                        "user {} is not a member of group {}: add it first, or leave `group` out to use its primary group (a membership added now is not seen by sessions that are already open)",
                        account.name, group.name
                    )));
                }
                ctx.warn(format!(
                    "group {} is a supplementary group of user {}: sessions opened before {} joined it do not have it; its primary group would work for every session",
                    group.name, account.name, account.name
                ));
            }
        }
        if let (Some(group), false) = (&group, absent) {
            if checks::SHARED_GROUPS.contains(&group.name.as_str()) {
                ctx.warn(format!(
                    "group {} is shared: every member can use the API socket, which makes them root on this node",
                    group.name
                ));
            }
        }
        if mode & 0o006 != 0 {
            ctx.warn(format!(
                "socket_mode {:04o} lets every user on the node use the API socket, which makes them all root",
                mode
            ));
        }
        let timeout = Duration::from_secs(p.timeout);
        Ok(Job {
            p,
            group,
            account,
            mode,
            dropin_file,
            timeout,
        })
    }

    fn method(&self) -> Result<Method, Failure> {
        match self.p.method {
            Method::Auto => {
                if !system::systemd::is_running() {
                    return Ok(Method::DaemonJson);
                }
                let props = system::systemd::show(&self.p.unit, &["LoadState"])
                    .map_err(|e| e.to_failure(format!("cannot inspect {}", self.p.unit)))?;
                Ok(if props.value("LoadState") == "loaded" {
                    Method::SystemdDropin
                } else {
                    Method::DaemonJson
                })
            }
            method => Ok(method),
        }
    }

    /// The group's name for messages and config (the gid when it has no name).
    pub fn group_label(&self) -> String {
        match (&self.group, &self.p.group) {
            (Some(g), _) => g.name.clone(),
            (None, Some(spec)) => spec.clone(),
            (None, None) => String::new(),
        }
    }

    /// Who to verify access as.
    pub fn identity(&self) -> Option<Identity> {
        match (&self.account, &self.group) {
            (Some(account), _) => Some(Identity::of(account)),
            (None, Some(group)) => Some(Identity {
                uid: NOBODY,
                gid: group.gid,
                groups: vec![group.gid],
            }),
            (None, None) => None,
        }
    }

    /// How long a systemctl start/stop may take.
    pub fn command_timeout(&self) -> Duration {
        self.timeout.max(system::systemd::DEFAULT_TIMEOUT)
    }

    /// The output's common part.
    pub fn output(&self, method: Method) -> Output {
        Output {
            group: (!self.group_label().is_empty()).then(|| self.group_label()),
            gid: self.group.as_ref().map(|g| g.gid),
            user: self.p.user.clone(),
            method: match method {
                Method::DaemonJson => "daemon_json",
                _ => "systemd_dropin",
            }
            .into(),
            ..Output::default()
        }
    }
}

/// The uid that checks access when only a group is given.
const NOBODY: u32 = 65534;

/// Fills the output's live socket fields.
pub(crate) fn record_socket(out: &mut Output, socket: &Path) {
    out.socket = socket.display().to_string();
    if let Some(state) = access::socket_state(socket) {
        out.socket_owner = Some(state.owner.unwrap_or_else(|| state.uid.to_string()));
        out.socket_group = Some(state.group.unwrap_or_else(|| state.gid.to_string()));
        out.socket_mode = Some(format!("{:04o}", state.mode));
    }
}

/// Waits until the API on `socket` answers `/_ping` (as root), up to `timeout`; the
/// error says what the socket looks like then.
pub(crate) fn wait_for_api(socket: &Path, timeout: Duration) -> Result<(), String> {
    docker_engine::wait_for_api(socket, timeout)
        .map(|_| ())
        .map_err(|e| {
            let state = access::socket_state(socket)
                .map(|s| format!("the socket is {}", s.describe()))
                .unwrap_or_else(|| "the socket does not exist".into());
            format!(
                "the API on {} did not answer within {} s: {e}; {state}",
                socket.display(),
                timeout.as_secs()
            )
        })
}

/// Checks the live socket against the group (and mode) it should have now.
pub(crate) fn check_socket(
    socket: &Path,
    gid: u32,
    mode: Option<u32>,
    group_label: &str,
) -> Result<SocketState, String> {
    let state = access::socket_state(socket)
        .ok_or_else(|| format!("{} does not exist after the restart", socket.display()))?;
    let group_ok = state.gid == gid;
    let mode_ok = mode.is_none_or(|m| m == state.mode);
    if group_ok && mode_ok {
        return Ok(state);
    }
    let wanted = match mode {
        Some(mode) => format!("group {group_label} and mode {mode:04o}"),
        None => format!("group {group_label}"),
    };
    Err(format!(
        "{} came up as {} instead of with {wanted}: something else sets its group or mode",
        socket.display(),
        state.describe()
    ))
}

/// Connects as the job's user and pings; the failure message names the socket's owner,
/// group and mode.
pub(crate) fn verify(job: &Job, socket: &Path) -> Result<bool, String> {
    if !job.p.verify_access || !job.p.restart {
        return Ok(false);
    }
    let Some(identity) = job.identity() else {
        return Ok(false);
    };
    let who = match &job.account {
        Some(account) => format!("user {} (uid {})", account.name, account.uid),
        None => format!(
            "uid {} with primary group {}",
            identity.uid,
            job.group_label()
        ),
    };
    access::ping_as(&identity, socket, job.timeout.min(Duration::from_secs(30)))
        .map(|()| true)
        .map_err(|e| {
            let state = access::socket_state(socket)
                .map(|s| s.describe())
                .unwrap_or_else(|| "missing".into());
            let mut msg = format!(
                "access check failed: {who} cannot use the API on {}: {e}; the socket is {state}",
                socket.display()
            );
            if let Some(why) = blocked_path(job, socket) {
                msg.push_str(&format!("; {why}"));
            }
            msg
        })
}

/// Why the user cannot even reach `socket`: a directory on the way it may not enter.
pub(crate) fn blocked_path(job: &Job, socket: &Path) -> Option<String> {
    let identity = job.identity()?;
    let (dir, state) = access::blocking_directory(socket, &identity)?;
    let who = match &job.account {
        Some(account) => format!("user {}", account.name),
        None => format!("group {}", job.group_label()),
    };
    Some(format!(
        "the directory {} ({}) does not let {who} through, whatever the socket's group; make it searchable first (e.g. `chmod 0711 {}`, kept across reboots with a tmpfiles.d rule)",
        dir.display(),
        state.describe(),
        dir.display()
    ))
}

/// Before anything changes: fails (or warns, without `verify_access`) when a directory on
/// the way to the socket would keep the user out anyway.
pub(crate) fn check_reachable(job: &Job, ctx: &mut Context, socket: &Path) -> Result<(), Failure> {
    let Some(why) = blocked_path(job, socket) else {
        return Ok(());
    };
    let msg = format!("{} would stay unusable: {why}", socket.display());
    if job.p.verify_access {
        Err(Failure::new(msg))
    } else {
        ctx.warn(msg);
        Ok(())
    }
}

/// A path as text.
pub(crate) fn show(path: &Path) -> String {
    path.display().to_string()
}

/// The default socket of a dockerd that creates its own.
pub(crate) fn default_docker_socket() -> PathBuf {
    PathBuf::from("/var/run/docker.sock")
}

/// `cause` extended with what the rollback did: in the message (then the last journal
/// lines, when the cause has them) and as the `restored` result key.
pub(crate) fn rolled_back(cause: Failure, restored: Vec<String>) -> Failure {
    let mut failure = cause;
    let mut msg = format!(
        "{}. Rolled back: {}.",
        failure.msg.trim_end().trim_end_matches('.'),
        restored.join("; ")
    );
    if let Some(serde_json::Value::Array(lines)) = failure.extra.get("journal") {
        let tail: Vec<&str> = lines
            .iter()
            .filter_map(serde_json::Value::as_str)
            .map(system::systemd::journal_message)
            .collect();
        let tail = &tail[tail.len().saturating_sub(5)..];
        if !tail.is_empty() {
            msg.push_str(&format!(" Last journal lines: {}", tail.join(" | ")));
        }
    }
    failure.msg = msg;
    failure.with("restored", restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_message() {
        let cause = Failure::new("cannot start docker.socket and docker.service: it failed.").with(
            "journal",
            vec![
                "2026-12-04T20:32:43+0000 n1 systemd[1]: Starting docker.service...",
                "2026-12-04T20:32:43+0000 n1 systemd[1]: Failed to start docker.service.",
            ],
        );
        let failure = rolled_back(
            cause,
            vec![
                "removed /x.conf (there was none before)".into(),
                "restarted a and b".into(),
            ],
        );
        assert_eq!(
            failure.msg,
            "cannot start docker.socket and docker.service: it failed. Rolled back: removed /x.conf (there was none before); restarted a and b. Last journal lines: systemd[1]: Starting docker.service... | systemd[1]: Failed to start docker.service."
        );
        assert_eq!(failure.extra["restored"][1], "restarted a and b");
        // Without journal lines the message ends after what was restored.
        let plain = rolled_back(Failure::new("access check failed"), vec!["x".into()]);
        assert_eq!(plain.msg, "access check failed. Rolled back: x.");
    }
}
