//! `method: systemd_dropin`: a drop-in for the socket unit sets `SocketGroup`/`SocketMode`.

use std::path::{Path, PathBuf};

use module_runtime::{Context, Diff, Failure, Outcome};
use system::access;
use system::files;
use system::systemd::{self, Properties};

use crate::checks;
use crate::{record_socket, show, Job, Method, Output, State};

/// The first line of every drop-in this module writes; how it recognizes its own files.
pub const MARKER: &str = "# Managed by ci_tools.docker.socket_group";

/// The drop-in's text.
pub fn render(unit: &str, service: &str, group: &str, mode: u32) -> String {
    format!(
        "{MARKER}: the API socket of {unit} belongs to group {group}.\n\
         # Remove it with state=absent, or delete this file and run:\n\
         #   systemctl stop {service} {unit} && systemctl daemon-reload && systemctl start {unit} {service}\n\
         [Socket]\n\
         SocketGroup={group}\n\
         SocketMode={mode:04o}\n"
    )
}

/// True when the drop-in's text was written by this module.
pub fn is_ours(text: &str) -> bool {
    text.starts_with(MARKER)
}

const SOCKET_PROPERTIES: &[&str] = &[
    "LoadState",
    "LoadError",
    "ActiveState",
    "FragmentPath",
    "DropInPaths",
    "Listen",
    "Triggers",
    "SocketGroup",
    "NeedDaemonReload",
];

/// The facts gathered before anything changes.
struct Unit {
    name: String,
    service: String,
    service_active: bool,
    socket: PathBuf,
    path: PathBuf,
    before: Option<String>,
}

pub(crate) fn run(job: &Job, ctx: &mut Context) -> Result<Outcome<Output>, Failure> {
    let name = job.p.unit.as_str();
    let path = systemd::dropin_dir(name).join(&job.dropin_file);
    let mut out = job.output(Method::SystemdDropin);
    out.unit = Some(name.to_string());
    out.path = show(&path);
    if !systemd::is_running() {
        return Err(Failure::new(format!(
            "systemd is not running on this host, so {name} cannot be configured with a drop-in; use method: daemon_json for a dockerd that creates its own socket"
        )));
    }
    let props = systemd::show(name, SOCKET_PROPERTIES)
        .map_err(|e| e.to_failure(format!("cannot inspect {name}")))?;
    let before = files::read_optional(&path)?;
    let absent = job.p.state == State::Absent;
    match props.value("LoadState") {
        "loaded" => {}
        _ if absent => return remove_without_unit(job, ctx, out, &path, before.as_deref()),
        "masked" => {
            return Err(Failure::new(format!(
                "{name} is masked, so no socket is created from it: unmask it (`systemctl unmask {name}`), or use method: daemon_json if dockerd creates its own socket"
            )))
        }
        "not-found" => {
            return Err(Failure::new(format!(
                "unit {name} does not exist: is the engine installed? For a dockerd without socket activation use method: daemon_json; for Podman use unit: podman.socket"
            )))
        }
        other => {
            return Err(Failure::new(format!(
                "unit {name} cannot be used (LoadState={other}): {}",
                props.value("LoadError")
            )))
        }
    }
    let fragment = props.value("FragmentPath");
    let vendor = systemd::vendor_unit_files(name);
    if !absent && systemd::is_shadowing_copy(fragment, &vendor) {
        return Err(Failure::new(format!(
            "{fragment} is a full copy of {name} that hides the package's unit {} (the classic way to change the socket's group); it keeps package updates of the unit from applying, and this module configures the socket with a drop-in instead. Remove the copy first (`rm {fragment} && systemctl daemon-reload`), then run this module again: it restarts the socket and its service the way a socket needs",
            vendor[0].display()
        )));
    }
    let service = match (&job.p.service, props.list("Triggers").first()) {
        (Some(service), _) => service.clone(),
        (None, Some(service)) => service.to_string(),
        (None, None) => {
            return Err(Failure::new(format!(
                "{name} triggers no service (Triggers is empty); name it with `service`"
            )))
        }
    };
    let service_props = systemd::show(&service, &["LoadState", "ActiveState", "ExecStart"])
        .map_err(|e| e.to_failure(format!("cannot inspect {service}")))?;
    let socket = match &job.p.socket {
        Some(socket) => PathBuf::from(socket),
        None => systemd::listen_path(&props.all("Listen")).ok_or_else(|| {
            Failure::new(format!(
                "cannot tell the API socket's path from {name} (Listen={}); name it with `socket`",
                props.value("Listen")
            ))
        })?,
    };
    out.service = Some(service.clone());
    let unit = Unit {
        name: name.to_string(),
        service_active: service_props.value("ActiveState") == "active",
        service,
        socket,
        path,
        before,
    };
    if let Some(text) = &unit.before {
        if !is_ours(text) {
            let msg = format!(
                "{} exists and was not written by ci_tools.docker.socket_group; choose another dropin_name or remove it",
                show(&unit.path)
            );
            if absent {
                ctx.warn(format!("{msg}; left alone"));
                record_socket(&mut out, &unit.socket);
                return Ok(Outcome::new(false, out));
            }
            return Err(Failure::new(msg));
        }
    }
    if absent {
        absent_run(job, ctx, out, &unit, &props)
    } else {
        preflight(job, &unit, &props, &service_props)?;
        crate::check_reachable(job, ctx, &unit.socket)?;
        present_run(job, ctx, out, &unit)
    }
}

/// Fails on what would defeat the drop-in or keep the engine from starting with it.
fn preflight(
    job: &Job,
    unit: &Unit,
    props: &Properties,
    service_props: &Properties,
) -> Result<(), Failure> {
    let ours = job.dropin_file.as_str();
    let mut dropins = Vec::new();
    for path in props.list("DropInPaths") {
        if Path::new(path) == unit.path {
            continue;
        }
        if let Some(text) = files::read_optional(Path::new(path))? {
            dropins.push((path.to_string(), text));
        }
    }
    if let Some(found) = checks::overriding_dropins(&dropins, ours).first() {
        return Err(Failure::new(format!(
            "{} sets {} for {}, which overrides this module's drop-in {ours} (drop-ins apply in the order of their file names); remove that setting, or choose a dropin_name that sorts after it",
            found.path,
            found.settings.join(", "),
            unit.name
        )));
    }
    let argvs = systemd::exec_argvs(service_props.value("ExecStart"));
    let Some(argv) = argvs.iter().find(|a| checks::is_dockerd(a)) else {
        return Ok(());
    };
    let mut flags = argv.clone();
    let opts = docker_opts(argv)?;
    flags.extend(opts.iter().cloned());
    if let Some(group) = checks::group_flag(&flags) {
        let place = if checks::group_flag(argv).is_some() {
            format!("the ExecStart of {}", unit.service)
        } else {
            format!("DOCKER_OPTS in {DEFAULT_DOCKER}")
        };
        return Err(Failure::new(format!(
            "{place} gives dockerd `--group {group}`; remove it: with socket activation the socket's group comes from {}, and this module sets it there",
            unit.name
        )));
    }
    let daemon_json = job.p.daemon_json_path.as_str();
    let doc = system::daemon_json::DaemonJson::parse(
        daemon_json,
        files::read_optional(Path::new(daemon_json))?.as_deref(),
    )
    .map_err(|e| {
        Failure::new(format!(
            "{e}; dockerd cannot start with it either, fix it first"
        ))
    })?;
    if doc.get("hosts").is_some() && checks::has_host_flag(&flags) {
        return Err(Failure::new(format!(
            "{daemon_json} sets `hosts` while {} starts dockerd with -H: dockerd refuses to start when both are set, so the restart would fail; remove `hosts` from {daemon_json}",
            unit.service
        )));
    }
    if let Some(group) = doc.get("group") {
        let wanted = job.group_label();
        let same = group.as_str() == Some(wanted.as_str())
            || job
                .group
                .as_ref()
                .is_some_and(|g| group.as_str() == Some(&g.gid.to_string()));
        if !same {
            return Err(Failure::new(format!(
                "{daemon_json} sets `group` to {group}, which conflicts with giving {}'s socket to group {wanted}; remove `group` from {daemon_json}",
                unit.name
            )));
        }
    }
    Ok(())
}

const DEFAULT_DOCKER: &str = "/etc/default/docker";

/// The DOCKER_OPTS words when the command line uses `$DOCKER_OPTS`.
pub(crate) fn docker_opts(argv: &[String]) -> Result<Vec<String>, Failure> {
    if !argv.iter().any(|a| a.contains("DOCKER_OPTS")) {
        return Ok(Vec::new());
    }
    Ok(files::read_optional(Path::new(DEFAULT_DOCKER))?
        .map(|text| checks::docker_opts(&text))
        .unwrap_or_default())
}

fn present_run(
    job: &Job,
    ctx: &mut Context,
    mut out: Output,
    unit: &Unit,
) -> Result<Outcome<Output>, Failure> {
    let Some(group) = &job.group else {
        return Err("no group to give the socket".into());
    };
    let desired = render(&unit.name, &unit.service, &group.name, job.mode);
    let write = unit.before.as_deref() != Some(desired.as_str());
    let live_ok = access::socket_state(&unit.socket)
        .is_some_and(|s| s.gid == group.gid && s.mode == job.mode);
    let restart_needed = write || !live_ok;
    let restart = restart_needed && job.p.restart;
    if write {
        out.actions.push(format!("write {}", show(&unit.path)));
        ctx.add_diff(Diff::file(
            &show(&unit.path),
            unit.before.as_deref(),
            Some(&desired),
        ));
    }
    if restart {
        out.actions.push(restart_action(unit));
    } else if restart_needed {
        ctx.warn(format!(
            "{} does not have group {} yet: the drop-in takes effect when the socket is recreated: `systemctl stop {} {} && systemctl daemon-reload && systemctl start {} {}` (or a reboot)",
            show(&unit.socket), group.name, unit.service, unit.name, unit.name, unit.service
        ));
    }
    let changed = write || restart;
    if ctx.check_mode() || !changed {
        if !changed {
            out.verified = crate::verify(job, &unit.socket)?;
        }
        record_socket(&mut out, &unit.socket);
        return Ok(Outcome::new(changed, out));
    }
    if write {
        files::ensure_dir(&systemd::dropin_dir(&unit.name))?;
        files::write_atomic(&unit.path, desired.as_bytes(), 0o644)?;
    }
    if restart {
        // Access as the user first: its failure names the socket's owner, group and mode.
        let applied = restart_units(job, unit).and_then(|()| {
            let verified = crate::verify(job, &unit.socket).map_err(Failure::new)?;
            crate::check_socket(&unit.socket, group.gid, Some(job.mode), &group.name)
                .map_err(Failure::new)?;
            Ok(verified)
        });
        match applied {
            Ok(verified) => {
                out.restarted = true;
                out.verified = verified;
            }
            Err(cause) => return Err(rollback(job, unit, write, cause)),
        }
    }
    record_socket(&mut out, &unit.socket);
    Ok(Outcome::new(true, out))
}

fn absent_run(
    job: &Job,
    ctx: &mut Context,
    mut out: Output,
    unit: &Unit,
    props: &Properties,
) -> Result<Outcome<Output>, Failure> {
    let remove = unit.before.is_some();
    let restart_needed = if remove {
        true
    } else {
        // No drop-in of ours: the socket should have the unit's own group. If it does not,
        // an earlier removal (restart: false) is not applied yet.
        let configured = match props.value("SocketGroup") {
            "" => Some(0),
            group => system::users::group(group).ok().flatten().map(|g| g.gid),
        };
        match (access::socket_state(&unit.socket), configured) {
            (Some(state), Some(gid)) => state.gid != gid,
            _ => false,
        }
    };
    let restart = restart_needed && job.p.restart;
    if remove {
        out.actions.push(format!("remove {}", show(&unit.path)));
        ctx.add_diff(Diff::file(&show(&unit.path), unit.before.as_deref(), None));
    }
    if restart {
        out.actions.push(restart_action(unit));
    } else if restart_needed {
        ctx.warn(format!(
            "{} keeps its group until the socket is recreated: `systemctl stop {} {} && systemctl daemon-reload && systemctl start {} {}` (or a reboot)",
            show(&unit.socket), unit.service, unit.name, unit.name, unit.service
        ));
    }
    let changed = remove || restart;
    if ctx.check_mode() || !changed {
        record_socket(&mut out, &unit.socket);
        return Ok(Outcome::new(changed, out));
    }
    if remove {
        files::remove_optional(&unit.path)?;
    }
    if restart {
        match restart_units(job, unit) {
            Ok(()) => out.restarted = true,
            Err(cause) => return Err(rollback(job, unit, remove, cause)),
        }
    }
    record_socket(&mut out, &unit.socket);
    Ok(Outcome::new(true, out))
}

/// Check mode before the engine is installed (a play that installs it in an earlier task,
/// run with `--check`): neither the socket unit nor its service exists yet, so nothing can
/// be inspected. The run is predicted as on a freshly installed, socket-activated engine
/// (what Debian's and Docker's packages give), with a warning; a real run still checks
/// everything. `None` when the engine is there (the normal path applies).
pub(crate) fn predict_without_engine(
    job: &Job,
    ctx: &mut Context,
) -> Result<Option<Outcome<Output>>, Failure> {
    if !systemd::is_running() || job.p.method == Method::DaemonJson {
        return Ok(None);
    }
    let name = job.p.unit.as_str();
    let service = job
        .p
        .service
        .clone()
        .unwrap_or_else(|| format!("{}.service", name.strip_suffix(".socket").unwrap_or(name)));
    for unit in [name, service.as_str()] {
        let props = systemd::show(unit, &["LoadState"])
            .map_err(|e| e.to_failure(format!("cannot inspect {unit}")))?;
        if props.value("LoadState") != "not-found" {
            return Ok(None);
        }
    }
    let path = systemd::dropin_dir(name).join(&job.dropin_file);
    let mut out = job.output(Method::SystemdDropin);
    out.unit = Some(name.to_string());
    out.service = Some(service.clone());
    out.path = show(&path);
    out.socket = job.p.socket.clone().unwrap_or_default();
    if job.p.state == State::Absent {
        return Ok(Some(Outcome::new(false, out)));
    }
    let Some(group) = &job.group else {
        return Err("no group to give the socket".into());
    };
    ctx.warn(format!(
        "{name} and {service} do not exist (yet): the engine is not installed, so this check-mode run predicts a drop-in for a socket-activated engine without inspecting anything; a real run needs the engine"
    ));
    let desired = render(name, &service, &group.name, job.mode);
    ctx.add_diff(Diff::file(&out.path, None, Some(&desired)));
    out.actions.push(format!("write {}", out.path));
    if job.p.restart {
        out.actions.push(format!(
            "restart {name} and {service} (stop, daemon-reload, start)"
        ));
    }
    Ok(Some(Outcome::new(true, out)))
}

/// `state: absent` when the unit is gone or masked: only our file is removed.
fn remove_without_unit(
    job: &Job,
    ctx: &mut Context,
    mut out: Output,
    path: &Path,
    before: Option<&str>,
) -> Result<Outcome<Output>, Failure> {
    let ours = before.is_some_and(is_ours);
    if let Some(socket) = &job.p.socket {
        record_socket(&mut out, Path::new(socket));
    }
    if !ours {
        return Ok(Outcome::new(false, out));
    }
    out.actions.push(format!("remove {}", show(path)));
    ctx.add_diff(Diff::file(&show(path), before, None));
    if !ctx.check_mode() {
        files::remove_optional(path)?;
        systemd::daemon_reload(job.command_timeout())
            .map_err(|e| e.to_failure("cannot reload systemd"))?;
    }
    Ok(Outcome::new(true, out))
}

fn restart_action(unit: &Unit) -> String {
    format!(
        "restart {} and {} (stop, daemon-reload, start)",
        unit.name, unit.service
    )
}

/// Stop the service and the socket, reload systemd, start them again (the service only if
/// it was running), wait for the API. A running socket unit does not pick up a new group
/// from a reload alone.
fn restart_units(job: &Job, unit: &Unit) -> Result<(), Failure> {
    let timeout = job.command_timeout();
    let (name, service) = (unit.name.as_str(), unit.service.as_str());
    systemd::stop(&[service, name], timeout)
        .map_err(|e| e.to_failure(format!("cannot stop {service} and {name}")))?;
    systemd::daemon_reload(timeout).map_err(|e| e.to_failure("cannot reload systemd"))?;
    // A deliberate restart must not trip the services' start rate limit.
    let _ = systemd::reset_failed(&[name, service]);
    let mut start = vec![name];
    if unit.service_active {
        start.push(service);
    }
    systemd::start(&start, timeout)
        .map_err(|e| e.to_failure(format!("cannot start {}", start.join(" and "))))?;
    crate::wait_for_api(&unit.socket, job.timeout).map_err(|e| {
        let journal = systemd::journal_of(&[name, service], 20);
        let mut failure = Failure::new(e);
        if !journal.is_empty() {
            failure = failure.with("journal", journal.lines().collect::<Vec<_>>());
        }
        failure
    })
}

/// Puts the previous drop-in back (or removes the new one), restarts, waits for the API,
/// and returns `cause` extended with what was restored.
fn rollback(job: &Job, unit: &Unit, wrote: bool, cause: Failure) -> Failure {
    let mut restored = Vec::new();
    let path = show(&unit.path);
    if wrote {
        match files::restore(&unit.path, unit.before.as_deref(), 0o644) {
            Ok(()) if unit.before.is_some() => {
                restored.push(format!("put the previous {path} back"))
            }
            Ok(()) => restored.push(format!("removed {path} (there was none before)")),
            Err(e) => restored.push(format!("could not restore {path}: {e}")),
        }
    } else {
        restored.push(format!(
            "nothing to restore in {path}: it was the same before this run"
        ));
    }
    match restart_units(job, unit) {
        Ok(()) => {
            let state = access::socket_state(&unit.socket)
                .map(|s| s.describe())
                .unwrap_or_default();
            restored.push(format!(
                "restarted {} and {}: the API answers again, {} is {state}",
                unit.name,
                unit.service,
                show(&unit.socket)
            ))
        }
        Err(e) => restored.push(format!(
            "restarting {} and {} with the previous configuration failed too: {}",
            unit.name, unit.service, e.msg
        )),
    }
    crate::rolled_back(cause, restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_dropin() {
        let text = render("docker.socket", "docker.service", "zuul", 0o660);
        assert_eq!(
            text,
            "# Managed by ci_tools.docker.socket_group: the API socket of docker.socket belongs to group zuul.\n\
             # Remove it with state=absent, or delete this file and run:\n\
             #   systemctl stop docker.service docker.socket && systemctl daemon-reload && systemctl start docker.socket docker.service\n\
             [Socket]\n\
             SocketGroup=zuul\n\
             SocketMode=0660\n"
        );
        assert!(is_ours(&text));
        assert!(!is_ours("[Socket]\nSocketGroup=zuul\n"));
        assert_eq!(
            checks::section_setting(&text, "Socket", "SocketGroup").as_deref(),
            Some("zuul")
        );
        assert!(
            render("podman.socket", "podman.service", "ci", 0o600).ends_with("SocketMode=0600\n")
        );
    }

    #[test]
    fn docker_opts_only_when_used() {
        assert!(
            docker_opts(&["/usr/sbin/dockerd".into(), "-H".into(), "fd://".into()])
                .unwrap()
                .is_empty()
        );
    }
}
