//! docker_install: installs, configures and starts the Docker Engine, idempotently.
//!
//! The order of work is chosen so that a failure never leaves the host worse off:
//! repository files first (put back when `apt-get update` rejects them), then one package
//! transaction (installs and conflicting removals together, so a failed download never
//! leaves the host without an engine), then daemon.json (written atomically after the
//! packages, so a bad option never breaks a package's postinst), then the service
//! (restarted only when daemon.json or the packages changed; on a daemon that will not
//! start with the new daemon.json, the old file comes back and the daemon is restarted).

pub mod apt;
pub mod fetch;
pub mod packages;
pub mod repo;
pub mod service;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use module_runtime::{Context, Diff, Failure, Module, ModuleDoc, Outcome, Support};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use system::daemon_json::{self, DaemonJson};

use packages::{PackageChange, PackageManager, Plan, RepoChange, Transaction};
use repo::{KeySource, OsRelease, Repository};
use service::{UnitState, SERVICE, SOCKET};

pub struct DockerInstall;

/// Where the engine's packages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackageSource {
    /// The distribution's own packages (`docker.io` on Debian and Ubuntu).
    #[default]
    Distro,
    /// Docker's `docker-ce` apt repository (download.docker.com or a mirror of it).
    Upstream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The packages are installed (at `version` when given); installed ones are not upgraded.
    #[default]
    Present,
    /// The packages are installed and upgraded to the newest version the repositories offer.
    Latest,
    /// The packages are removed (their configuration files and /var/lib/docker stay).
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// docker.service runs and its API answers.
    #[default]
    Started,
    /// docker.service and docker.socket are stopped.
    Stopped,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Params {
    /// Where the packages come from. `distro` installs the distribution's `docker.io`;
    /// `upstream` configures Docker's apt repository (a deb822 source with `Signed-By`)
    /// and installs `docker-ce`, removing the distribution's conflicting packages
    /// (docker.io, docker-cli, docker-doc, docker-compose, docker-compose-v2,
    /// podman-docker, containerd, runc) in the same transaction.
    #[serde(default)]
    pub source: PackageSource,
    /// The state of the packages.
    #[serde(default)]
    pub state: State,
    /// The packages to manage instead of the source's default list (`docker.io`, plus
    /// `docker-cli` where the distribution splits the CLI out (Debian 13), for `distro`;
    /// `docker-ce`, `docker-ce-cli`, `containerd.io` for `upstream`).
    pub packages: Option<Vec<String>>,
    /// The version to install (and downgrade to): the exact apt version, or a prefix
    /// such as `24.0.7` or `20.10`, or a `*` pattern. It pins every listed package that
    /// offers a matching version (the engine and CLI); the others are installed
    /// unpinned. Fails, listing what is available, when no package offers it.
    pub version: Option<String>,
    /// `upstream` only: the repository's base URL. Default:
    /// `https://download.docker.com/linux/<debian|ubuntu|raspbian>` after /etc/os-release.
    pub repo_url: Option<String>,
    /// `upstream` only: the repository's signing key, as an `http://` or `https://` URL,
    /// a `file://` URL or absolute path on the target, or the armored key itself
    /// (`-----BEGIN PGP PUBLIC KEY BLOCK-----...`). Default: `<repo_url>/gpg`.
    /// `http://` is fetched by the module itself; `https://` needs `curl` or `wget` on the
    /// target (the module has no TLS stack). The key is written to
    /// /etc/apt/keyrings/docker.asc (armored) or docker.gpg (binary) and named by the
    /// source's `Signed-By`.
    pub repo_key: Option<String>,
    /// `upstream` only: the release name in the repository. Default: the host's codename
    /// (`UBUNTU_CODENAME` on Ubuntu derivatives, else `VERSION_CODENAME`).
    pub repo_suite: Option<String>,
    /// `upstream` only: the repository channel (its component), e.g. `stable` or `test`.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Settings merged into /etc/docker/daemon.json (`registry-mirrors`,
    /// `insecure-registries`, `mtu`, `userland-proxy`, `log-driver`, `log-opts`, ...).
    /// Each key replaces the file's value; a key set to null is removed. Keys not named
    /// here are kept, with the file's key order and indentation. A file whose content
    /// would not change is not rewritten.
    pub daemon_options: Option<Map<String, Value>>,
    /// Whether docker.service (and docker.socket) start at boot.
    #[serde(default = "yes")]
    pub service_enabled: bool,
    /// Whether the daemon runs. It is restarted only when daemon.json or the packages
    /// changed.
    #[serde(default)]
    pub service_state: ServiceState,
    /// Seconds to wait for the API to answer `/_ping` after a start or restart.
    #[serde(default = "default_wait_timeout")]
    pub wait_timeout: u64,
    /// Seconds the package lists may be old before they are refreshed (`apt-get update`).
    /// A new or changed repository, or a package apt cannot find, refreshes them anyway.
    #[serde(default = "default_cache_valid_time")]
    pub cache_valid_time: u64,
    /// Seconds to wait for another package manager (unattended-upgrades, a parallel
    /// apt-get) to release the dpkg and package-list locks.
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: u64,
    /// Whether the packages' recommended packages are installed too (apt's default).
    /// Recommended are e.g. apparmor (needed by containers on AppArmor hosts),
    /// ca-certificates, git, xz-utils.
    #[serde(default = "yes")]
    pub install_recommends: bool,
}

fn default_channel() -> String {
    "stable".into()
}

fn yes() -> bool {
    true
}

fn default_wait_timeout() -> u64 {
    60
}

fn default_cache_valid_time() -> u64 {
    3600
}

fn default_lock_timeout() -> u64 {
    300
}

/// What docker_install did (in check mode: would do).
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Output {
    /// The managed packages that are installed, with their versions (in check mode: as
    /// before the run).
    pub packages: BTreeMap<String, String>,
    /// Packages installed, upgraded or downgraded (dependencies included), as apt's
    /// simulation predicted and the run then did: name, version and the previous version
    /// for upgrades. In check mode with a repository that is not configured yet, the
    /// versions are null.
    pub packages_installed: Vec<PackageChange>,
    /// Packages removed (with the version removed).
    pub packages_removed: Vec<PackageChange>,
    /// Whether the apt source or key of Docker's repository was written (`upstream`).
    pub repository_changed: bool,
    /// Whether the package lists were refreshed.
    pub cache_updated: bool,
    /// Whether /etc/docker/daemon.json was (or would be) changed.
    pub daemon_json_changed: bool,
    /// Whether docker.service was (or would be) restarted.
    pub restarted: bool,
    /// Whether a stopped docker.service was (or would be) started.
    pub started: bool,
    /// The running engine's version (from the API); null when it is not running.
    pub engine_version: Option<String>,
    /// The newest API version the running engine speaks; null when it is not running.
    pub api_version: Option<String>,
    /// The package manager used (`apt`).
    pub package_manager: String,
}

/// Packages of each source, and the other source's packages that conflict with them.
const DISTRO_PACKAGES: &[&str] = &["docker.io"];
const UPSTREAM_PACKAGES: &[&str] = &["docker-ce", "docker-ce-cli", "containerd.io"];
/// Debian 13 moved the docker CLI out of docker.io into this package (only recommended
/// by docker.io): managed with docker.io wherever the repositories offer it.
const DISTRO_CLI: &str = "docker-cli";
/// Docker's guide removes these before installing docker-ce (plus Debian 13's docker-cli,
/// which conflicts with docker-ce-cli).
const DISTRO_CONFLICTS: &[&str] = &[
    "docker.io",
    "docker-cli",
    "docker-doc",
    "docker-compose",
    "docker-compose-v2",
    "podman-docker",
    "containerd",
    "runc",
];
const UPSTREAM_CONFLICTS: &[&str] = &[
    "docker-ce",
    "docker-ce-cli",
    "containerd.io",
    "docker-ce-rootless-extras",
];

impl Params {
    fn validate(&self) -> Result<(), Failure> {
        if self.source == PackageSource::Distro {
            for (name, value) in [
                ("repo_url", &self.repo_url),
                ("repo_key", &self.repo_key),
                ("repo_suite", &self.repo_suite),
            ] {
                if value.is_some() {
                    return Err(Failure::new(format!(
                        "{name} is only used with source: upstream (source is distro)"
                    )));
                }
            }
        }
        if let Some(packages) = &self.packages {
            if packages.iter().all(|p| p.trim().is_empty()) {
                return Err(Failure::new(
                    "packages must name at least one package (or be left out for the default)",
                ));
            }
            if let Some(bad) = packages
                .iter()
                .find(|p| p.contains(['=', ' ']) || p.starts_with('-') || p.ends_with('-'))
            {
                return Err(Failure::new(format!(
                    "packages: {bad:?} is not a package name; give versions with the version option"
                )));
            }
        }
        if self.version.is_some() && self.state == State::Latest {
            return Err(Failure::new(
                "version and state: latest contradict each other: use state: present to pin a version",
            ));
        }
        Ok(())
    }

    fn package_list(&self) -> Vec<String> {
        match &self.packages {
            Some(list) => list
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            None => match self.source {
                PackageSource::Distro => DISTRO_PACKAGES,
                PackageSource::Upstream => UPSTREAM_PACKAGES,
            }
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }

    fn conflicts(&self, wanted: &[String]) -> Vec<String> {
        match self.source {
            PackageSource::Distro => UPSTREAM_CONFLICTS,
            PackageSource::Upstream => DISTRO_CONFLICTS,
        }
        .iter()
        .filter(|c| !wanted.iter().any(|w| w == *c))
        .map(|s| s.to_string())
        .collect()
    }
}

impl Module for DockerInstall {
    const NAME: &'static str = "docker_install";
    const DOC: ModuleDoc = ModuleDoc {
        short_description: "Install, configure and start the Docker Engine, idempotently",
        description: &[
            "Installs the Docker Engine from the distribution (docker.io) or from Docker's own apt repository (docker-ce), merges settings into /etc/docker/daemon.json, and makes docker.service enabled and running with its API answering.",
            "Package work goes through apt-get: noninteractive, waiting for a dpkg lock held by another process, refreshing the package lists only when they are older than cache_valid_time or a repository changed. Installs and conflicting removals happen in one apt transaction.",
            "The daemon is restarted only when daemon.json or the packages really changed. When it does not start with a changed daemon.json, the previous file is restored, the daemon restarted with it, and the task fails with the daemon's own error from the journal.",
            "Check mode reports exactly which packages would be installed and removed (apt-get's simulation) and the daemon.json diff, and changes nothing.",
        ],
        notes: &[
            "Needs root: run it with become: true.",
            "Supports Debian and Ubuntu (apt) with systemd. On hosts with another package manager (dnf, zypper, pacman, ...) it fails with \"not supported yet\" before changing anything.",
            "The module carries no TLS stack: a repo_key given as an https:// URL is fetched with the target's curl or wget (the task fails with a clear message when neither is installed); http:// URLs, files on the target and inline keys need nothing.",
            "In check mode, when source=upstream and Docker's repository is not configured yet, apt cannot simulate the installation: packages_installed then lists the requested packages without versions and dependencies, with a warning.",
            "state=absent removes the packages (not their dependencies, configuration files, the repository configuration or /var/lib/docker).",
        ],
        requirements: &["apt-get and dpkg (Debian, Ubuntu)", "systemd"],
        check_mode: Support::Full,
        diff_mode: Support::Full,
        examples: r#"- name: Install Debian's docker.io, enabled and running
  ci_tools.docker.docker_install:
  become: true

- name: Docker CE from Docker's repository, with a registry mirror and a smaller MTU
  ci_tools.docker.docker_install:
    source: upstream
    daemon_options:
      registry-mirrors: ["https://mirror.example.org"]
      mtu: 1400
      log-driver: json-file
      log-opts: {max-size: 10m, max-file: "3"}
  become: true

- name: A pinned version from an internal mirror whose key is served over plain HTTP
  ci_tools.docker.docker_install:
    source: upstream
    repo_url: http://apt-mirror.internal/docker/debian
    repo_key: http://apt-mirror.internal/docker/gpg
    version: "24.0.7"
  become: true

- name: Drop a daemon.json setting again (other keys stay)
  ci_tools.docker.docker_install:
    daemon_options:
      mtu: null
  become: true

- name: Remove the engine
  ci_tools.docker.docker_install:
    state: absent
  become: true
"#,
    };
    type Params = Params;
    type Output = Output;

    fn run(params: Params, ctx: &mut Context) -> Result<Outcome<Output>, Failure> {
        require_root()?;
        params.validate()?;
        if params.state != State::Absent && !system::systemd::is_running() {
            return Err(Failure::new(
                "manage docker.service: systemd is not running on this host (no \
                 /run/systemd/system); docker_install needs systemd to run the engine",
            ));
        }
        let pm = packages::detect(Duration::from_secs(params.lock_timeout))?;
        Run::new(params, &*pm, ctx).execute()
    }
}

/// Fails unless the module runs as root.
fn require_root() -> Result<(), Failure> {
    let me = docker_engine::access::current_identity();
    if me.uid == 0 {
        return Ok(());
    }
    let who = me
        .user
        .map(|u| format!("{u} (uid {})", me.uid))
        .unwrap_or_else(|| format!("uid {}", me.uid));
    Err(Failure::new(format!(
        "docker_install must run as root to install packages and configure the daemon, \
         but runs as {who}: use become: true"
    )))
}

/// One run of the module.
struct Run<'a> {
    params: Params,
    pm: &'a dyn PackageManager,
    ctx: &'a mut Context,
    check: bool,
    out: Output,
    refreshed: bool,
    /// The packages managed in this run.
    wanted: Vec<String>,
}

/// daemon.json as it was and as it is to be.
struct DaemonJsonEdit {
    path: &'static str,
    before: Option<String>,
    after: Option<String>,
    mode: u32,
    doc: DaemonJson,
}

impl<'a> Run<'a> {
    fn new(params: Params, pm: &'a dyn PackageManager, ctx: &'a mut Context) -> Run<'a> {
        let check = ctx.check_mode();
        Run {
            params,
            pm,
            ctx,
            check,
            out: Output {
                package_manager: pm.name().to_string(),
                ..Output::default()
            },
            refreshed: false,
            wanted: Vec::new(),
        }
    }

    fn execute(mut self) -> Result<Outcome<Output>, Failure> {
        let mut wanted = self.params.package_list();
        if self.params.packages.is_none()
            && self.params.source == PackageSource::Distro
            && !self.pm.available_versions(DISTRO_CLI)?.is_empty()
        {
            wanted.push(DISTRO_CLI.to_string());
        }
        let conflicts = self.params.conflicts(&wanted);
        self.wanted = wanted.clone();

        // Repository files.
        let mut repo_change = RepoChange::default();
        if self.params.source == PackageSource::Upstream && self.params.state != State::Absent {
            let repo = self.upstream_repository()?;
            repo_change = self.pm.configure_repository(&repo, self.check)?;
            for diff in repo_change.diffs() {
                self.ctx.add_diff(diff);
            }
            self.out.repository_changed = repo_change.changed();
        }
        // In check mode a new repository is not in apt's lists: nothing to simulate with.
        let repo_pending = self.check && repo_change.changed();

        if self.params.state != State::Absent && !self.check {
            let max_age = Duration::from_secs(self.params.cache_valid_time);
            let stale = self.pm.index_age().is_none_or(|age| age > max_age);
            if repo_change.changed() || stale {
                self.refresh(&repo_change)?;
            }
        }

        // Packages.
        let mut known: Vec<String> = wanted.clone();
        known.extend(conflicts.iter().cloned());
        let before = self.pm.installed(&known)?;
        let service_before = self.unit(SERVICE)?;
        let (tx, plan) = match self.plan(&wanted, &conflicts, &before, repo_pending) {
            Ok(result) => result,
            // Lists without the package or version: refresh once and try again.
            Err(_) if !self.check && !self.refreshed => {
                self.refresh(&repo_change)?;
                self.plan(&wanted, &conflicts, &before, repo_pending)?
            }
            Err(e) => return Err(e),
        };
        let packages_changed = !plan.is_empty();
        if packages_changed && !self.check {
            if let Err(e) = self.pm.apply(&tx) {
                // A mirror that moved on since the lists were fetched answers 404.
                if self.refreshed || !e.msg.contains("Failed to fetch") {
                    return Err(e);
                }
                self.refresh(&repo_change)?;
                self.pm.apply(&tx)?;
            }
        }
        self.out.packages = if packages_changed && !self.check {
            self.pm.installed(&wanted)?
        } else {
            before
                .into_iter()
                .filter(|(name, _)| wanted.contains(name))
                .collect()
        };
        self.out.packages_installed = plan.installed;
        self.out.packages_removed = plan.removed;

        if self.params.state == State::Absent {
            if self.params.daemon_options.is_some() {
                self.ctx
                    .warn("daemon_options is ignored with state: absent");
            }
            let changed = packages_changed;
            let msg = self.summary(changed);
            return Ok(Outcome::new(changed, self.out).msg(msg));
        }

        // daemon.json, then the service.
        let edit = self.daemon_json()?;
        let json_changed = edit.as_ref().is_some_and(|e| e.after.is_some());
        self.out.daemon_json_changed = json_changed;
        if let Some(edit) = edit.as_ref().filter(|e| e.after.is_some()) {
            self.ctx.add_diff(Diff::file(
                edit.path,
                edit.before.as_deref(),
                edit.after.as_deref(),
            ));
            if !self.check {
                write_daemon_json(edit)?;
            }
        }
        let service_changed = self.service(packages_changed, &service_before, edit.as_ref())?;

        let changed = repo_change.changed() || packages_changed || json_changed || service_changed;
        let msg = self.summary(changed);
        Ok(Outcome::new(changed, self.out).msg(msg))
    }

    fn summary(&self, changed: bool) -> String {
        if !changed {
            return "Docker is as requested".into();
        }
        let verb = |done: &str, would: &str| -> String {
            if self.check { would } else { done }.to_string()
        };
        let mut parts = Vec::new();
        if self.out.repository_changed {
            parts.push(verb(
                "configured Docker's apt repository",
                "would configure Docker's apt repository",
            ));
        }
        // The managed packages by name, the dependencies as a count.
        let wanted = &self.wanted;
        let conflicts = self.params.conflicts(wanted);
        let names = |list: &[PackageChange]| {
            let (main, deps): (Vec<&PackageChange>, Vec<&PackageChange>) = list
                .iter()
                .partition(|p| wanted.contains(&p.name) || conflicts.contains(&p.name));
            let mut text = main
                .iter()
                .map(|p| match &p.version {
                    Some(v) => format!("{} {v}", p.name),
                    None => p.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            match (text.is_empty(), deps.len()) {
                (_, 0) => {}
                (true, n) => text = format!("{n} package{}", if n == 1 { "" } else { "s" }),
                (false, n) => text.push_str(&format!(
                    " and {n} dependenc{}",
                    if n == 1 { "y" } else { "ies" }
                )),
            }
            text
        };
        if !self.out.packages_removed.is_empty() {
            parts.push(format!(
                "{} {}",
                verb("removed", "would remove"),
                names(&self.out.packages_removed)
            ));
        }
        if !self.out.packages_installed.is_empty() {
            parts.push(format!(
                "{} {}",
                verb("installed", "would install"),
                names(&self.out.packages_installed)
            ));
        }
        if self.out.daemon_json_changed {
            parts.push(verb("changed daemon.json", "would change daemon.json"));
        }
        if self.out.restarted {
            parts.push(verb(
                "restarted docker.service",
                "would restart docker.service",
            ));
        } else if self.out.started {
            parts.push(verb("started docker.service", "would start docker.service"));
        }
        if parts.is_empty() {
            parts.push(verb(
                "changed the service state",
                "would change the service state",
            ));
        }
        parts.join("; ")
    }

    fn upstream_repository(&self) -> Result<Repository, Failure> {
        let os = OsRelease::read()?;
        let url = match &self.params.repo_url {
            Some(url) => repo::field_value("repo_url", url)?,
            None => {
                let flavour = os.docker_flavour().ok_or_else(|| {
                    Failure::new(format!(
                        "choose Docker's repository: this distribution ({}) has none at \
                         {}; set repo_url",
                        os.id,
                        repo::DOCKER_DOWNLOAD
                    ))
                })?;
                format!("{}/{flavour}", repo::DOCKER_DOWNLOAD)
            }
        };
        let url = url.trim_end_matches('/').to_string();
        let suite = match &self.params.repo_suite {
            Some(suite) => repo::field_value("repo_suite", suite)?,
            None => os.suite().map(str::to_string).ok_or_else(|| {
                Failure::new(
                    "choose Docker's repository: /etc/os-release names no release codename \
                     (VERSION_CODENAME); set repo_suite",
                )
            })?,
        };
        let components = repo::field_value("channel", &self.params.channel)?;
        let key_source = match &self.params.repo_key {
            Some(key) => KeySource::parse(key)?,
            None => KeySource::parse(&format!("{url}/gpg"))?,
        };
        let key = key_source.load()?;
        Ok(Repository {
            url,
            suite,
            components,
            architecture: dpkg_architecture()?,
            key,
        })
    }

    /// apt-get update; a repository configuration just written is put back when apt
    /// rejects it, so that one bad key or URL does not break every later apt run.
    fn refresh(&mut self, repo_change: &RepoChange) -> Result<(), Failure> {
        if let Err(mut e) = self.pm.refresh() {
            if repo_change.changed() && !self.check {
                e.msg = e.msg.trim_end_matches('.').to_string();
                match self.pm.restore_repository(repo_change) {
                    Ok(()) => {
                        e.msg.push_str(
                            ". The previous Docker repository configuration was restored",
                        );
                        e = e.with("repository_restored", true);
                    }
                    Err(restore) => {
                        e.msg.push_str(&format!(
                            ". Restoring the previous repository configuration failed too: {restore}"
                        ));
                    }
                }
            }
            return Err(e);
        }
        self.refreshed = true;
        self.out.cache_updated = true;
        Ok(())
    }

    /// The transaction that brings the packages to the requested state, and what apt
    /// predicts it does.
    fn plan(
        &mut self,
        wanted: &[String],
        conflicts: &[String],
        installed: &BTreeMap<String, String>,
        repo_pending: bool,
    ) -> Result<(Transaction, Plan), Failure> {
        let mut tx = Transaction {
            install_recommends: self.params.install_recommends,
            ..Transaction::default()
        };
        if self.params.state == State::Absent {
            tx.remove = wanted
                .iter()
                .filter(|w| installed.contains_key(*w))
                .cloned()
                .collect();
            let plan = self.pm.simulate(&tx)?;
            return Ok((tx, plan));
        }
        let pins = match (&self.params.version, repo_pending) {
            (Some(pin), false) => self.resolve_pins(wanted, pin)?,
            _ => BTreeMap::new(),
        };
        for name in wanted {
            let pin = pins.get(name).cloned();
            let include = match (installed.get(name), &pin) {
                (None, _) => true,
                (Some(current), Some(pinned)) => current != pinned,
                (Some(_), None) => self.params.state == State::Latest,
            };
            if include {
                tx.install.push((name.clone(), pin));
            }
        }
        tx.remove = conflicts
            .iter()
            .filter(|c| installed.contains_key(*c))
            .cloned()
            .collect();
        if tx.is_empty() {
            return Ok((tx, Plan::default()));
        }
        if repo_pending {
            self.ctx.warn(
                "Docker's apt repository is not configured yet, so apt cannot simulate the \
                 installation in check mode: packages_installed lists the requested packages \
                 without versions or dependencies",
            );
            let plan = Plan {
                installed: tx
                    .install
                    .iter()
                    .map(|(name, _)| PackageChange {
                        name: name.clone(),
                        version: None,
                        previous: installed.get(name).cloned(),
                    })
                    .collect(),
                removed: tx
                    .remove
                    .iter()
                    .map(|name| PackageChange {
                        name: name.clone(),
                        version: installed.get(name).cloned(),
                        previous: None,
                    })
                    .collect(),
            };
            return Ok((tx, plan));
        }
        let plan = self.pm.simulate(&tx)?;
        Ok((tx, plan))
    }

    /// The exact versions `pin` selects, per package that offers one.
    fn resolve_pins(
        &self,
        wanted: &[String],
        pin: &str,
    ) -> Result<BTreeMap<String, String>, Failure> {
        let mut pins = BTreeMap::new();
        let mut offered = Vec::new();
        for name in wanted {
            let versions = self.pm.available_versions(name)?;
            if let Some(found) = versions.iter().find(|v| apt::version_matches(pin, v)) {
                pins.insert(name.clone(), found.clone());
            }
            if offered.is_empty() && !versions.is_empty() {
                offered = versions.iter().take(10).cloned().collect();
                offered.insert(0, format!("{name}:"));
            }
        }
        if pins.is_empty() {
            let available = if offered.is_empty() {
                "the repositories offer none of them at all".to_string()
            } else {
                format!("available: {}", offered.join(" "))
            };
            return Err(Failure::new(format!(
                "version {pin:?} is not available for {}; {available}",
                wanted.join(", ")
            )));
        }
        Ok(pins)
    }

    fn unit(&self, unit: &str) -> Result<Option<UnitState>, Failure> {
        if !system::systemd::is_running() {
            return Ok(None);
        }
        service::unit_state(unit).map(|s| s.loaded.then_some(s))
    }

    fn daemon_json(&self) -> Result<Option<DaemonJsonEdit>, Failure> {
        let path = daemon_json::DEFAULT_PATH;
        let before = system::files::read_optional(Path::new(path)).map_err(Failure::new)?;
        let mut doc = DaemonJson::parse(path, before.as_deref()).map_err(Failure::new)?;
        let Some(options) = &self.params.daemon_options else {
            return Ok(Some(DaemonJsonEdit {
                path,
                before,
                after: None,
                mode: 0o644,
                doc,
            }));
        };
        let after = merge_daemon_options(&mut doc, before.as_deref(), options);
        let mode = std::fs::metadata(path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o644);
        Ok(Some(DaemonJsonEdit {
            path,
            before,
            after,
            mode,
            doc,
        }))
    }

    /// Brings docker.service to the requested state; true when that changed anything.
    fn service(
        &mut self,
        packages_changed: bool,
        before: &Option<UnitState>,
        edit: Option<&DaemonJsonEdit>,
    ) -> Result<bool, Failure> {
        let json_changed = edit.is_some_and(|e| e.after.is_some());
        let socket_path = service::api_socket(edit.map(|e| &e.doc));
        let Some(svc) = self.unit(SERVICE)? else {
            if self.check {
                // Not installed yet: the package installation covers the prediction.
                self.out.started = self.params.service_state == ServiceState::Started;
                return Ok(false);
            }
            return Err(Failure::new(format!(
                "manage docker.service: the unit does not exist after installing {}; do these \
                 packages ship the Docker Engine?",
                self.wanted.join(", ")
            )));
        };
        let sock = self.unit(SOCKET)?;
        let mut units = vec![SERVICE];
        if sock.is_some() {
            units.push(SOCKET);
        }
        let mut changed = false;

        let enabled_now =
            service::is_enabled(&svc) && sock.as_ref().is_none_or(service::is_enabled);
        let any_enabled =
            service::is_enabled(&svc) || sock.as_ref().is_some_and(service::is_enabled);
        if self.params.service_enabled && !enabled_now {
            changed = true;
            if !self.check {
                system::systemd::enable(&units)
                    .map_err(|e| e.to_failure(format!("enable {}", units.join(" "))))?;
            }
        } else if !self.params.service_enabled && any_enabled {
            changed = true;
            if !self.check {
                system::systemd::disable(&units)
                    .map_err(|e| e.to_failure(format!("disable {}", units.join(" "))))?;
            }
        }

        if self.params.service_state == ServiceState::Stopped {
            let socket_active = sock.as_ref().is_some_and(|s| s.active);
            if svc.active || socket_active {
                changed = true;
                if !self.check {
                    // The socket first, or a connection would start the service again.
                    let mut order = units.clone();
                    order.reverse();
                    system::systemd::stop(&order, system::systemd::DEFAULT_TIMEOUT)
                        .map_err(|e| e.to_failure("stop docker.service"))?;
                }
            }
            return Ok(changed);
        }

        // A package transaction normally restarts the daemon in its postinst. A daemon
        // still running since before the transaction whose executable was replaced runs
        // the old code; one whose executable is untouched (only a plugin or a dependency
        // changed) needs no restart.
        let main_start_before = before.as_ref().map_or(0, |b| b.main_start);
        let stale_binary = packages_changed
            && svc.active
            && svc.main_start == main_start_before
            && service::runs_replaced_binary(svc.main_pid);
        let restart = svc.active && (json_changed || stale_binary);
        let start = !svc.active;
        self.out.restarted = restart;
        self.out.started = start;
        if self.check {
            if svc.active {
                if let Some(version) = service::current_version(&socket_path) {
                    self.set_versions(&version);
                }
            }
            return Ok(changed || restart || start);
        }
        if restart || start {
            let verb = if restart { "restart" } else { "start" };
            system::systemd::reset_failed(&[SERVICE])
                .map_err(|e| e.to_failure(format!("reset-failed {SERVICE}")))?;
            let result = if restart {
                system::systemd::restart(&[SERVICE], system::systemd::DEFAULT_TIMEOUT)
            } else {
                system::systemd::start(&[SERVICE], system::systemd::DEFAULT_TIMEOUT)
            };
            if let Err(e) = result {
                return Err(self.start_failure(verb, Some(&e), None, edit));
            }
        }
        let wait = Duration::from_secs(self.params.wait_timeout);
        match service::wait_for_api(&socket_path, wait) {
            Ok(version) => self.set_versions(&version),
            Err(why) => {
                let verb = if restart { "restart" } else { "start" };
                return Err(self.start_failure(verb, None, Some(&why), edit));
            }
        }
        Ok(changed || restart || start)
    }

    fn set_versions(&mut self, version: &docker_engine::DaemonVersion) {
        self.out.engine_version = Some(version.version.clone());
        self.out.api_version = Some(version.api.to_string());
    }

    /// The failure for a daemon that did not come up; with a changed daemon.json the old
    /// file is put back and the daemon restarted with it first.
    fn start_failure(
        &self,
        verb: &str,
        err: Option<&system::command::CommandError>,
        api_error: Option<&str>,
        edit: Option<&DaemonJsonEdit>,
    ) -> Failure {
        let mut journal = err.map(|e| e.journal.clone()).unwrap_or_default();
        let mut daemon_said = service::daemon_error(&journal);
        // journald may lag behind systemctl by a moment.
        for _ in 0..4 {
            if daemon_said.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
            journal = system::systemd::journal_of(&[SERVICE], 30);
            daemon_said = service::daemon_error(&journal);
        }
        let cause = daemon_said
            .or_else(|| {
                api_error.map(|e| {
                    format!(
                        "the API did not answer within {} s (wait_timeout): {e}",
                        self.params.wait_timeout
                    )
                })
            })
            .or_else(|| err.map(|e| e.to_string()))
            .unwrap_or_else(|| "no reason found in the journal".into());
        let mut failure;
        match edit.filter(|e| e.after.is_some()) {
            Some(edit) => {
                let restored = restore_daemon_json(edit).and_then(|()| {
                    system::systemd::reset_failed(&[SERVICE])
                        .map_err(|e| e.to_failure(format!("reset-failed {SERVICE}")))?;
                    system::systemd::restart(&[SERVICE], system::systemd::DEFAULT_TIMEOUT)
                        .map_err(|e| match service::daemon_error(&e.journal) {
                            // The newest error is this start's, the bad option's is older.
                            Some(said) if !journal.contains(&said) => Failure::new(said),
                            _ => e.to_failure("restart docker.service"),
                        })?;
                    service::wait_for_api(
                        &service::api_socket(None),
                        Duration::from_secs(self.params.wait_timeout),
                    )
                    .map_err(Failure::new)
                });
                let outcome = match &restored {
                    Ok(_) => format!(
                        "The previous {} was restored and the daemon runs with it again",
                        edit.path
                    ),
                    Err(e) => format!(
                        "The previous {} was put back, but the daemon did not start with it \
                         either: {}",
                        edit.path, e.msg
                    ),
                };
                failure = Failure::new(format!(
                    "{verb} docker.service with the new {}: the daemon failed: {cause}. {outcome}",
                    edit.path
                ))
                .with("daemon_json_restored", true);
            }
            None => {
                failure = Failure::new(format!("{verb} docker.service: {cause}"));
            }
        }
        if !journal.is_empty() {
            failure = failure.with("journal", system::command::non_empty_lines(&journal));
        }
        failure
            .with("packages_installed", &self.out.packages_installed)
            .with("packages_removed", &self.out.packages_removed)
    }
}

/// Merges `options` into daemon.json (a null value removes the key) and returns the new
/// text, or `None` when the file would not change.
pub fn merge_daemon_options(
    doc: &mut DaemonJson,
    before: Option<&str>,
    options: &Map<String, Value>,
) -> Option<String> {
    for (key, value) in options {
        if value.is_null() {
            doc.remove(key);
        } else {
            doc.set(key, value.clone());
        }
    }
    // Removing keys from a file that does not exist creates nothing.
    if before.is_none() && doc.map.is_empty() {
        None
    } else {
        doc.new_text()
    }
}

fn write_daemon_json(edit: &DaemonJsonEdit) -> Result<(), Failure> {
    let Some(after) = &edit.after else {
        return Ok(());
    };
    let path = Path::new(edit.path);
    if let Some(dir) = path.parent() {
        system::files::ensure_dir(dir).map_err(Failure::new)?;
    }
    system::files::write_atomic(path, after.as_bytes(), edit.mode).map_err(Failure::new)
}

fn restore_daemon_json(edit: &DaemonJsonEdit) -> Result<(), Failure> {
    system::files::restore(Path::new(edit.path), edit.before.as_deref(), edit.mode)
        .map_err(Failure::new)
}

/// dpkg's name for this host's architecture (amd64, arm64, ...).
fn dpkg_architecture() -> Result<String, Failure> {
    let dpkg =
        packages::find_program("dpkg").ok_or_else(|| Failure::new("dpkg is not installed"))?;
    let out = duct::cmd(dpkg, ["--print-architecture"])
        .stdin_null()
        .stderr_null()
        .read()
        .map_err(|e| Failure::new(format!("ask dpkg for the architecture: {e}")))?;
    repo::field_value("the architecture", &out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merge(before: Option<&str>, options: Value) -> Option<String> {
        let mut doc = DaemonJson::parse("daemon.json", before).unwrap();
        let Value::Object(options) = options else {
            panic!("options must be an object")
        };
        merge_daemon_options(&mut doc, before, &options)
    }

    #[test]
    fn daemon_json_is_created_with_the_options() {
        assert_eq!(
            merge(
                None,
                json!({"mtu": 1400, "registry-mirrors": ["http://m:5000"]})
            )
            .unwrap(),
            "{\n  \"mtu\": 1400,\n  \"registry-mirrors\": [\n    \"http://m:5000\"\n  ]\n}\n"
        );
        // Only removals on a missing file: nothing to write.
        assert_eq!(merge(None, json!({"mtu": null})), None);
    }

    #[test]
    fn daemon_json_merge_keeps_other_keys_order_and_indentation() {
        let before =
            "{\n    \"debug\": true,\n    \"mtu\": 1400,\n    \"log-driver\": \"journald\"\n}\n";
        // Changed in place, new keys at the end, removed keys gone, the rest untouched.
        assert_eq!(
            merge(
                Some(before),
                json!({"mtu": 1450, "userland-proxy": false, "log-driver": null})
            )
            .unwrap(),
            "{\n    \"debug\": true,\n    \"mtu\": 1450,\n    \"userland-proxy\": false\n}\n"
        );
        // Same values (in another order, or nested dicts with other key order): unchanged.
        assert_eq!(
            merge(Some(before), json!({"log-driver": "journald", "mtu": 1400})),
            None
        );
        let nested = "{\"log-opts\": {\"max-size\": \"10m\", \"max-file\": \"3\"}}";
        assert_eq!(
            merge(
                Some(nested),
                json!({"log-opts": {"max-file": "3", "max-size": "10m"}})
            ),
            None
        );
        assert_eq!(merge(Some(before), json!({"absent-key": null})), None);
    }

    #[test]
    fn params_are_checked() {
        let params = |v: Value| -> Params { serde_json::from_value(v).unwrap() };
        let err = params(json!({"repo_url": "http://x"}))
            .validate()
            .unwrap_err();
        assert_eq!(
            err.msg,
            "repo_url is only used with source: upstream (source is distro)"
        );
        let err = params(json!({"state": "latest", "version": "20.10"}))
            .validate()
            .unwrap_err();
        assert!(err.msg.contains("contradict"), "{err}");
        let err = params(json!({"packages": ["docker.io=20.10"]}))
            .validate()
            .unwrap_err();
        assert!(err.msg.contains("version option"), "{err}");
        assert!(params(json!({"packages": []})).validate().is_err());
        let upstream =
            params(json!({"source": "upstream", "packages": ["docker-ce", "containerd"]}));
        upstream.validate().unwrap();
        assert_eq!(upstream.package_list(), ["docker-ce", "containerd"]);
        // A wanted package is never removed as a conflict.
        assert_eq!(
            upstream.conflicts(&upstream.package_list()),
            [
                "docker.io",
                "docker-cli",
                "docker-doc",
                "docker-compose",
                "docker-compose-v2",
                "podman-docker",
                "runc"
            ]
        );
        let distro = params(json!({}));
        assert_eq!(distro.package_list(), ["docker.io"]);
        assert!(distro
            .conflicts(&distro.package_list())
            .contains(&"docker-ce".to_string()));
    }
}
