//! `method: daemon_json`: `group` in daemon.json, for a dockerd that creates its own
//! socket. What this module wrote is recorded in a small state file, so that
//! `state: absent` undoes only that.

use std::path::PathBuf;

use module_runtime::{Context, Diff, Failure, Outcome};
use serde_json::{json, Map, Value};
use system::access;
use system::daemon_json::{self, DaemonJson};
use system::files;
use system::systemd;

use crate::checks;
use crate::{record_socket, show, Job, Method, Output, State};

/// Where the module records what it wrote into daemon.json files.
pub const STATE_FILE: &str = "/var/lib/ci-tools-docker/socket_group.json";

/// What the module wrote into one daemon.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The group it set.
    pub group: String,
    /// The `group` value before (None: the key was absent).
    pub previous: Option<Value>,
    /// True when the module created the file.
    pub created: bool,
}

/// The state file's records, by daemon.json path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Records {
    entries: Map<String, Value>,
}

impl Records {
    pub fn parse(text: Option<&str>) -> Records {
        let entries = text
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| v.get("daemon_json").and_then(Value::as_object).cloned())
            .unwrap_or_default();
        Records { entries }
    }

    pub fn get(&self, path: &str) -> Option<Record> {
        let entry = self.entries.get(path)?;
        Some(Record {
            group: entry.get("group")?.as_str()?.to_string(),
            previous: entry.get("previous").filter(|v| !v.is_null()).cloned(),
            created: entry
                .get("created")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    pub fn set(&mut self, path: &str, record: &Record) {
        self.entries.insert(
            path.to_string(),
            json!({"group": record.group, "previous": record.previous, "created": record.created}),
        );
    }

    pub fn remove(&mut self, path: &str) {
        self.entries.shift_remove(path);
    }

    /// The state file's text; `None` when no record is left (the file goes away).
    pub fn render(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        let doc = json!({
            "comment": "Written by ci_tools.docker.socket_group: what it changed in daemon.json, so that state=absent undoes only that.",
            "daemon_json": self.entries,
        });
        serde_json::to_string_pretty(&doc).ok().map(|t| t + "\n")
    }
}

struct Setup {
    service: Option<String>,
    socket: PathBuf,
    path: PathBuf,
    state_path: PathBuf,
    before: Option<String>,
    state_before: Option<String>,
}

pub(crate) fn run(job: &Job, ctx: &mut Context) -> Result<Outcome<Output>, Failure> {
    let path = PathBuf::from(&job.p.daemon_json_path);
    let path_text = show(&path);
    let state_path = PathBuf::from(STATE_FILE);
    let mut out = job.output(Method::DaemonJson);
    out.path = path_text.clone();
    out.state_file = Some(STATE_FILE.into());
    let absent = job.p.state == State::Absent;

    let service_name = job
        .p
        .service
        .clone()
        .unwrap_or_else(|| "docker.service".into());
    let (service, argv) = if systemd::is_running() {
        let props = systemd::show(&service_name, &["LoadState", "ExecStart"])
            .map_err(|e| e.to_failure(format!("cannot inspect {service_name}")))?;
        let argv = systemd::exec_argvs(props.value("ExecStart"))
            .into_iter()
            .find(|a| checks::is_dockerd(a))
            .unwrap_or_default();
        let loaded = props.value("LoadState") == "loaded";
        (loaded.then_some(service_name.clone()), argv)
    } else {
        (None, Vec::new())
    };
    let mut flags = argv.clone();
    flags.extend(crate::dropin::docker_opts(&argv)?);

    let before = files::read_optional(&path)?;
    let mut doc = DaemonJson::parse(&path_text, before.as_deref())?;
    if !absent {
        if checks::uses_socket_activation(&flags) {
            return Err(Failure::new(format!(
                "{service_name} starts dockerd with -H fd://: its socket comes from {} (systemd socket activation), where `group` in daemon.json has no effect; use method: systemd_dropin",
                job.p.unit
            )));
        }
        if let Some(group) = checks::group_flag(&flags) {
            return Err(Failure::new(format!(
                "dockerd is started with `--group {group}` ({service_name} or DOCKER_OPTS); dockerd refuses `group` both as a flag and in {path_text}: remove the flag"
            )));
        }
        if doc.get("hosts").is_some() && checks::has_host_flag(&flags) {
            return Err(Failure::new(format!(
                "{path_text} sets `hosts` while dockerd is started with -H: dockerd refuses to start when both are set; remove one of them"
            )));
        }
        if job.p.restart && service.is_none() {
            let why = if systemd::is_running() {
                format!("there is no {service_name} (is Docker installed?)")
            } else {
                "systemd is not running".to_string()
            };
            return Err(Failure::new(format!(
                "cannot restart dockerd: {why}, and this module restarts dockerd only through a systemd service (name it with `service`). Set restart: false to only write {path_text}, then restart dockerd yourself so that it reads it"
            )));
        }
        if job.mode != 0o660 {
            ctx.warn(format!(
                "socket_mode {:04o} is not applied with method daemon_json: dockerd creates its socket with mode 0660",
                job.mode
            ));
        }
    }
    let socket = match &job.p.socket {
        Some(socket) => PathBuf::from(socket),
        None => daemon_json::unix_hosts(&doc)
            .into_iter()
            .chain(checks::unix_host_paths(&flags))
            .next()
            .map(PathBuf::from)
            .unwrap_or_else(crate::default_docker_socket),
    };
    if !absent {
        crate::check_reachable(job, ctx, &socket)?;
    }
    out.service = service.clone();
    let state_before = files::read_optional(&state_path)?;
    let mut records = Records::parse(state_before.as_deref());
    let setup = Setup {
        service,
        socket,
        path,
        state_path,
        before,
        state_before,
    };

    // Plan: the new daemon.json text and records.
    let record = records.get(&path_text);
    let current = doc.get("group").cloned();
    let restart_needed;
    if absent {
        match &record {
            None => {
                if let Some(group) = &current {
                    ctx.warn(format!(
                        "{path_text} sets group {group}, which this module did not write: left alone"
                    ));
                }
                restart_needed = false;
            }
            Some(rec) if current.as_ref().and_then(Value::as_str) == Some(rec.group.as_str()) => {
                match &rec.previous {
                    Some(previous) => {
                        doc.set("group", previous.clone());
                    }
                    None => {
                        doc.remove("group");
                    }
                }
                records.remove(&path_text);
                restart_needed = true;
            }
            Some(rec) => {
                ctx.warn(format!(
                    "{path_text} no longer sets the group {} this module wrote: left alone, only the record is removed",
                    rec.group
                ));
                records.remove(&path_text);
                restart_needed = false;
            }
        }
    } else {
        let group = job
            .group
            .as_ref()
            .ok_or_else(|| Failure::new("no group to give the socket"))?;
        if current.as_ref().and_then(Value::as_str) != Some(group.name.as_str()) {
            doc.set("group", json!(group.name));
            // Re-pointing our own earlier write keeps what was there before us.
            let previous = match &record {
                Some(rec) if current.as_ref().and_then(Value::as_str) == Some(&rec.group) => {
                    rec.previous.clone()
                }
                _ => current.clone(),
            };
            let created = match &record {
                Some(rec) => rec.created,
                None => setup.before.is_none(),
            };
            records.set(
                &path_text,
                &Record {
                    group: group.name.clone(),
                    previous,
                    created,
                },
            );
        }
        let live_ok = access::socket_state(&setup.socket).is_some_and(|s| s.gid == group.gid);
        restart_needed = !live_ok;
    }
    // A file this module created and that is empty again goes away.
    let remove_file = absent
        && record.as_ref().is_some_and(|r| r.created)
        && doc.map.is_empty()
        && setup.before.is_some();
    let new_text = if remove_file { None } else { doc.new_text() };
    let write = remove_file || new_text.is_some();
    let new_state = records.render();
    let write_state = new_state != setup.state_before;
    let restart_needed = restart_needed || write;
    let restart = restart_needed && job.p.restart && setup.service.is_some();

    if write {
        let after = if remove_file {
            None
        } else {
            new_text.as_deref()
        };
        out.actions.push(match after {
            Some(_) => format!("write {path_text}"),
            None => format!("remove {path_text}"),
        });
        ctx.add_diff(Diff::file(&path_text, setup.before.as_deref(), after));
    }
    if write_state {
        out.actions.push(match &new_state {
            Some(_) => format!("write {STATE_FILE}"),
            None => format!("remove {STATE_FILE}"),
        });
    }
    if restart {
        out.actions.push(format!(
            "restart {}",
            setup.service.as_deref().unwrap_or_default()
        ));
    } else if restart_needed {
        ctx.warn(format!(
            "the group of {} changes only when dockerd is restarted (e.g. `systemctl restart {service_name}`)",
            show(&setup.socket)
        ));
    }
    let changed = write || write_state || restart;
    if ctx.check_mode() || !changed {
        if !changed && !absent {
            out.verified = crate::verify(job, &setup.socket)?;
        }
        record_socket(&mut out, &setup.socket);
        return Ok(Outcome::new(changed, out));
    }

    if write {
        match &new_text {
            Some(text) if !remove_file => {
                if let Some(dir) = setup.path.parent() {
                    files::ensure_dir(dir)?;
                }
                files::write_atomic(&setup.path, text.as_bytes(), 0o644)?;
            }
            _ => {
                files::remove_optional(&setup.path)?;
            }
        }
    }
    if write_state {
        let written = match &new_state {
            Some(text) => setup
                .state_path
                .parent()
                .map_or(Ok(()), files::ensure_dir)
                .and_then(|()| files::write_atomic(&setup.state_path, text.as_bytes(), 0o644)),
            None => files::remove_optional(&setup.state_path).map(|_| ()),
        };
        if let Err(e) = written {
            let _ = files::restore(&setup.path, setup.before.as_deref(), 0o644);
            return Err(Failure::new(format!(
                "{e}; {path_text} was put back as it was"
            )));
        }
    }
    if restart {
        let applied = restart_service(job, &setup).and_then(|()| {
            if absent {
                return Ok(false);
            }
            let verified = crate::verify(job, &setup.socket).map_err(Failure::new)?;
            if let Some(group) = &job.group {
                crate::check_socket(&setup.socket, group.gid, None, &group.name)
                    .map_err(Failure::new)?;
            }
            Ok(verified)
        });
        match applied {
            Ok(verified) => {
                out.restarted = true;
                out.verified = verified;
            }
            Err(cause) => return Err(rollback(job, &setup, cause)),
        }
    }
    record_socket(&mut out, &setup.socket);
    Ok(Outcome::new(true, out))
}

fn restart_service(job: &Job, setup: &Setup) -> Result<(), Failure> {
    let Some(service) = setup.service.as_deref() else {
        return Ok(());
    };
    let _ = systemd::reset_failed(&[service]);
    systemd::restart(&[service], job.command_timeout())
        .map_err(|e| e.to_failure(format!("cannot restart {service}")))?;
    crate::wait_for_api(&setup.socket, job.timeout).map_err(|e| {
        let journal = systemd::journal_of(&[service], 20);
        let mut failure = Failure::new(e);
        if !journal.is_empty() {
            failure = failure.with("journal", journal.lines().collect::<Vec<_>>());
        }
        failure
    })
}

fn rollback(job: &Job, setup: &Setup, cause: Failure) -> Failure {
    let mut restored = Vec::new();
    let path = show(&setup.path);
    match files::restore(&setup.path, setup.before.as_deref(), 0o644) {
        Ok(()) if setup.before.is_some() => restored.push(format!("put the previous {path} back")),
        Ok(()) => restored.push(format!("removed {path} (there was none before)")),
        Err(e) => restored.push(format!("could not restore {path}: {e}")),
    }
    if let Err(e) = files::restore(&setup.state_path, setup.state_before.as_deref(), 0o644) {
        restored.push(format!("could not restore {STATE_FILE}: {e}"));
    }
    let service = setup.service.as_deref().unwrap_or_default();
    match restart_service(job, setup) {
        Ok(()) => {
            let state = access::socket_state(&setup.socket)
                .map(|s| s.describe())
                .unwrap_or_default();
            restored.push(format!(
                "restarted {service}: the API answers again, {} is {state}",
                show(&setup.socket)
            ));
        }
        Err(e) => restored.push(format!(
            "restarting {service} with the previous configuration failed too: {}",
            e.msg
        )),
    }
    crate::rolled_back(cause, restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut records = Records::parse(None);
        assert_eq!(records.render(), None);
        records.set(
            "/etc/docker/daemon.json",
            &Record {
                group: "zuul".into(),
                previous: None,
                created: true,
            },
        );
        let text = records.render().unwrap();
        let again = Records::parse(Some(&text));
        assert_eq!(
            again.get("/etc/docker/daemon.json"),
            Some(Record {
                group: "zuul".into(),
                previous: None,
                created: true
            })
        );
        assert_eq!(again.get("/other.json"), None);
        let mut again = again;
        again.remove("/etc/docker/daemon.json");
        assert_eq!(again.render(), None);
        // A broken state file is treated as empty (nothing recorded, nothing undone).
        assert_eq!(Records::parse(Some("{not json")), Records::default());
    }
}
