//! `ci_tools.docker.docker_prune`: removes unused containers, images, networks, volumes
//! and build cache through the Engine API, like community.docker.docker_prune (same
//! options and return values), plus check mode, a default job, validation of every
//! filter before anything is removed and errors that say what to do.

mod filters;
mod parse;
mod predict;
mod sha256;

use std::collections::BTreeMap;
use std::time::Duration;

use docker_engine::{ApiVersion, Client, ErrorKind, Filters};
use module_runtime::{Context, Failure, Module, ModuleDoc, Outcome, Support};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use filters::Kind;

pub struct DockerPrune;

/// A filter dict: each value a string, a bool, a number or a list of them.
pub type FilterDict = BTreeMap<String, Value>;

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Params {
    /// Whether to prune stopped containers (state created, exited or dead).
    ///
    /// When none of O(containers), O(images), O(networks), O(volumes) and
    /// O(builder_cache) is given, the module prunes dangling images, like
    /// C(docker image prune -f).
    pub containers: Option<bool>,
    /// Filters selecting the containers to prune: C(until) (a duration such as C(24h),
    /// a date/time or a Unix timestamp), C(label) and C(label!) (C(key) or C(key=value)).
    ///
    /// Values may be strings, booleans, numbers or lists of them.
    pub containers_filters: Option<FilterDict>,
    /// Whether to prune images. Without filters only dangling images (untagged and not
    /// the parent of another image) go; set C(dangling: false) in O(images_filters) to
    /// prune every image no container uses.
    pub images: Option<bool>,
    /// Filters selecting the images to prune: C(dangling) (V(true) or V(false); a YAML
    /// boolean is fine), C(until), C(label) and C(label!).
    pub images_filters: Option<FilterDict>,
    /// Whether to prune networks no container is connected to (never C(bridge), C(host)
    /// or C(none)).
    pub networks: Option<bool>,
    /// Filters selecting the networks to prune: C(until), C(label) and C(label!).
    pub networks_filters: Option<FilterDict>,
    /// Whether to prune local volumes no container (running or stopped) uses.
    ///
    /// From Docker API 1.42 (Engine 23) the daemon then removes only anonymous volumes
    /// unless O(volumes_all) is set; older daemons remove named volumes too.
    pub volumes: Option<bool>,
    /// Filters selecting the volumes to prune: C(label) and C(label!), and from API 1.42
    /// C(all).
    pub volumes_filters: Option<FilterDict>,
    /// Also prune named volumes, not only anonymous ones (sends the C(all=true) filter).
    ///
    /// Needs API 1.42; below it the daemon prunes named volumes anyway, so the option
    /// changes nothing there.
    #[serde(default)]
    pub volumes_all: bool,
    /// Whether to prune the build cache (BuildKit).
    pub builder_cache: Option<bool>,
    /// Whether to remove all types of build cache, including internal and frontend
    /// records and cache shared with images.
    #[serde(default)]
    pub builder_cache_all: bool,
    /// Filters selecting the build cache records to prune: C(until) or C(unused-for) (a
    /// duration such as C(24h)), C(id), C(parent), C(type), C(description), C(inuse),
    /// C(shared), C(private).
    pub builder_cache_filters: Option<FilterDict>,
    /// Amount of build cache to keep: bytes (V(1073741824)) or a number with a unit,
    /// V(B), V(K)/V(KB)/V(KiB), V(M)/V(MB)/V(MiB), V(G)/V(GB)/V(GiB), V(T), V(P), all
    /// powers of 1024 as in the reference module and the docker CLI (V(1GB) = 1024^3).
    pub builder_cache_keep_storage: Option<String>,
    /// The Docker daemon's socket as V(unix:///path/to/docker.sock). Defaults to the
    /// E(DOCKER_HOST) environment variable, else V(unix:///var/run/docker.sock).
    ///
    /// Only local Unix sockets are supported (no C(tcp://) or C(ssh://)).
    #[schemars(extend("x-aliases" = ["docker_url"]))]
    pub docker_host: Option<String>,
    /// The Engine API version to speak. V(auto) (the default) uses the lower of the
    /// daemon's version and the newest this module knows (1.47). A forced version must be
    /// one the daemon accepts.
    #[serde(default = "auto")]
    #[schemars(extend("x-aliases" = ["docker_api_version"]))]
    pub api_version: String,
    /// Seconds to wait for each answer of the daemon (a prune of many images can take a
    /// while).
    #[serde(default = "sixty")]
    pub timeout: i64,
    /// Accepted for compatibility with community.docker; ignored (only the local Unix
    /// socket is supported, which needs no TLS). A warning says so when set to true.
    #[schemars(extend("x-aliases" = ["tls_verify"]))]
    pub validate_certs: Option<bool>,
    /// Accepted for compatibility with community.docker; ignored (see O(validate_certs)).
    pub tls: Option<bool>,
    /// Accepted for compatibility with community.docker; ignored (see O(validate_certs)).
    #[schemars(extend("x-aliases" = ["ca_cert", "tls_ca_cert", "cacert_path"]))]
    pub ca_path: Option<String>,
    /// Accepted for compatibility with community.docker; ignored (see O(validate_certs)).
    #[schemars(extend("x-aliases" = ["tls_client_cert", "cert_path"]))]
    pub client_cert: Option<String>,
    /// Accepted for compatibility with community.docker; ignored (see O(validate_certs)).
    #[schemars(extend("x-aliases" = ["tls_client_key", "key_path"]))]
    pub client_key: Option<String>,
    /// Accepted for compatibility with community.docker; ignored (see O(validate_certs)).
    pub tls_hostname: Option<String>,
    /// Accepted for compatibility with community.docker; ignored (see O(validate_certs)).
    pub use_ssh_client: Option<bool>,
    /// Accepted for compatibility with community.docker; ignored.
    pub debug: Option<bool>,
}

fn auto() -> String {
    "auto".into()
}

fn sixty() -> i64 {
    60
}

/// What the module returns. Each kind's keys are present only when that kind was pruned.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Output {
    /// IDs of the removed (in check mode: to be removed) containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "O(containers=true)", "x-sample" = []))]
    pub containers: Option<Vec<String>>,
    /// Bytes freed by removing containers (their writable layers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "O(containers=true)", "x-sample" = 0))]
    pub containers_space_reclaimed: Option<u64>,
    /// What the image prune did, as the daemon reports it: one C(Untagged) (a removed
    /// tag or digest) or C(Deleted) (a removed image or layer ID) entry each.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "x-returned" = "O(images=true), or when no kind is selected",
        "x-sample" = [{"Untagged": "app:old"}, {"Deleted": "sha256:5d0da3dc9764..."}]
    ))]
    pub images: Option<Vec<Value>>,
    /// Bytes freed by removing images (their layers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "x-returned" = "O(images=true), or when no kind is selected",
        "x-sample" = 0
    ))]
    pub images_space_reclaimed: Option<u64>,
    /// Names of the removed networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "O(networks=true)", "x-sample" = []))]
    pub networks: Option<Vec<String>>,
    /// Names of the removed volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "O(volumes=true)", "x-sample" = []))]
    pub volumes: Option<Vec<String>>,
    /// Bytes freed by removing volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "O(volumes=true)", "x-sample" = 0))]
    pub volumes_space_reclaimed: Option<u64>,
    /// Bytes freed by removing build cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "O(builder_cache=true)", "x-sample" = 0))]
    pub builder_cache_space_reclaimed: Option<u64>,
    /// IDs of the removed build cache records.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-returned" = "O(builder_cache=true)", "x-sample" = []))]
    pub builder_cache_caches_deleted: Option<Vec<String>>,
    /// Bytes freed in all (the sum of the C(*_space_reclaimed) values).
    #[schemars(extend("x-returned" = "success", "x-sample" = 1234567))]
    pub space_reclaimed: u64,
    /// O(space_reclaimed) for humans, in decimal units as the docker CLI prints it.
    #[schemars(extend("x-returned" = "success", "x-sample" = "1.235 MB"))]
    pub space_reclaimed_human: String,
    /// The Engine API version the module spoke.
    #[schemars(extend("x-returned" = "success", "x-sample" = "1.41"))]
    pub api_version: String,
}

/// What one kind's prune removed (or would remove).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KindResult {
    /// Container IDs, network or volume names, build cache record IDs.
    pub ids: Vec<String>,
    /// Image prune entries ({Untagged} / {Deleted}).
    pub images: Vec<Value>,
    pub space: u64,
}

impl KindResult {
    fn removed_anything(&self) -> bool {
        !self.ids.is_empty() || !self.images.is_empty() || self.space > 0
    }

    fn from_daemon(kind: Kind, report: &Value) -> KindResult {
        let list =
            |key: &str| -> Vec<Value> { report[key].as_array().cloned().unwrap_or_default() };
        let ids = |key: &str| -> Vec<String> {
            list(key)
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        };
        let space = report["SpaceReclaimed"].as_u64().unwrap_or(0);
        match kind {
            Kind::Containers => KindResult {
                ids: ids("ContainersDeleted"),
                space,
                ..Default::default()
            },
            Kind::Images => KindResult {
                images: list("ImagesDeleted"),
                space,
                ..Default::default()
            },
            Kind::Networks => KindResult {
                ids: ids("NetworksDeleted"),
                ..Default::default()
            },
            Kind::Volumes => KindResult {
                ids: ids("VolumesDeleted"),
                space,
                ..Default::default()
            },
            Kind::BuilderCache => KindResult {
                ids: ids("CachesDeleted"),
                space,
                ..Default::default()
            },
        }
    }
}

impl Output {
    fn record(&mut self, kind: Kind, r: KindResult) {
        self.space_reclaimed += r.space;
        match kind {
            Kind::Containers => {
                self.containers = Some(r.ids);
                self.containers_space_reclaimed = Some(r.space);
            }
            Kind::Images => {
                self.images = Some(r.images);
                self.images_space_reclaimed = Some(r.space);
            }
            Kind::Networks => self.networks = Some(r.ids),
            Kind::Volumes => {
                self.volumes = Some(r.ids);
                self.volumes_space_reclaimed = Some(r.space);
            }
            Kind::BuilderCache => {
                self.builder_cache_caches_deleted = Some(r.ids);
                self.builder_cache_space_reclaimed = Some(r.space);
            }
        }
        self.space_reclaimed_human = docker_engine::human_size(self.space_reclaimed);
    }
}

/// One kind to prune, with what to send.
struct Plan {
    kind: Kind,
    filters: Filters,
    params: Vec<(&'static str, String)>,
}

fn selected(params: &Params) -> Vec<Kind> {
    let flags = [
        params.containers,
        params.images,
        params.networks,
        params.volumes,
        params.builder_cache,
    ];
    if flags.iter().all(Option::is_none) {
        return vec![Kind::Images];
    }
    Kind::ALL
        .into_iter()
        .zip(flags)
        .filter(|(_, flag)| *flag == Some(true))
        .map(|(kind, _)| kind)
        .collect()
}

fn filter_option(params: &Params, kind: Kind) -> Option<&FilterDict> {
    match kind {
        Kind::Containers => params.containers_filters.as_ref(),
        Kind::Images => params.images_filters.as_ref(),
        Kind::Networks => params.networks_filters.as_ref(),
        Kind::Volumes => params.volumes_filters.as_ref(),
        Kind::BuilderCache => params.builder_cache_filters.as_ref(),
    }
}

/// Everything to send, checked before the first prune.
fn plans(
    params: &Params,
    api: ApiVersion,
    keep_storage: Option<u64>,
) -> Result<Vec<Plan>, Failure> {
    let mut plans = Vec::new();
    for kind in selected(params) {
        let option = format!("{}_filters", kind.option());
        let mut filters = match filter_option(params, kind) {
            Some(dict) => filters::to_filters(&option, dict)?,
            None => Filters::new(),
        };
        let mut extra = Vec::new();
        if kind == Kind::Volumes {
            if api < ApiVersion(1, 42) {
                // Old daemons prune named volumes already; "all=true" is what they do.
                if filters
                    .get("all")
                    .is_some_and(|v| v.len() == 1 && filters::is_true(&v[0]))
                {
                    filters.remove("all");
                }
            } else if params.volumes_all {
                filters.insert("all".into(), vec!["true".into()]);
            }
        }
        let filters = filters::validate(kind, &option, filters, api)?;
        if kind == Kind::BuilderCache {
            if params.builder_cache_all {
                extra.push(("all", "true".to_string()));
            }
            if let Some(bytes) = keep_storage {
                if api < ApiVersion(1, 39) {
                    return Err(Failure::new(format!(
                        "builder_cache_keep_storage needs Docker API 1.39 or later, this daemon speaks {api}"
                    )));
                }
                // API 1.48 renamed it reserved-space; we never speak above 1.47.
                extra.push(("keep-storage", bytes.to_string()));
            }
            if params.builder_cache_all && api < ApiVersion(1, 39) {
                return Err(Failure::new(format!(
                    "builder_cache_all needs Docker API 1.39 or later, this daemon speaks {api}"
                )));
            }
        }
        plans.push(Plan {
            kind,
            filters,
            params: extra,
        });
    }
    Ok(plans)
}

/// The daemon refuses a second prune while one runs (409); wait a little for it.
const BUSY_RETRIES: [u64; 6] = [500, 1000, 1500, 2000, 2500, 2500];

fn prune(client: &Client, plan: &Plan) -> Result<Value, docker_engine::Error> {
    let mut query = plan.params.clone();
    if let Some(param) = docker_engine::query::filters_param(&plan.filters) {
        query.push(param);
    }
    let mut waits = BUSY_RETRIES.iter();
    loop {
        match client.post(plan.kind.endpoint(), &query, None) {
            Err(e) if e.status() == Some(409) => match waits.next() {
                Some(ms) => std::thread::sleep(Duration::from_millis(*ms)),
                None => {
                    return Err(docker_engine::Error::new(
                        e.kind.clone(),
                        format!(
                            "another prune is still running on the Docker daemon after waiting 10 s ({}); try again later",
                            e.daemon_message().unwrap_or("409 Conflict")
                        ),
                    ))
                }
            },
            other => return other,
        }
    }
}

fn engine_failure(e: docker_engine::Error) -> Failure {
    let failure = Failure::new(e.msg.clone());
    match e.kind {
        ErrorKind::Http { status, .. } => failure.with("status", status),
        _ => failure,
    }
}

impl Module for DockerPrune {
    const NAME: &'static str = "docker_prune";
    const DOC: ModuleDoc = ModuleDoc {
        short_description: "Prune unused Docker containers, images, networks, volumes and build cache",
        description: &[
            "Removes what C(docker container prune), C(docker image prune), C(docker network prune), C(docker volume prune) and C(docker builder prune) remove, through the Docker Engine API on the local socket.",
            "A drop-in for M(community.docker.docker_prune): the same options and return values, so a playbook switches by changing the module name. Unlike it, this module needs no Python Docker SDK on the target, supports check mode, prunes dangling images when no kind is selected, validates all filters before removing anything, retries briefly while another prune runs, and returns the total space reclaimed.",
        ],
        notes: &[
            "Check mode lists exactly what each prune would remove with the daemon's own rules, simulating the kinds in order (containers first, so their images and volumes count as unused afterwards). It models the classic image store; build cache predictions with O(builder_cache_keep_storage), or an C(id) filter that is a regular expression, are estimates and say so in a warning.",
            "Swarm-scoped networks are pruned by the daemon on manager nodes only and are not part of the check mode prediction.",
            "Only the local Unix socket is supported. The TLS and SSH options of M(community.docker.docker_prune) are accepted and ignored.",
            "Permission denied on the socket: add the user to the group owning it with M(ci_tools.docker.socket_group), or use C(become: true).",
        ],
        requirements: &["A Docker daemon reachable over its Unix socket (Docker API 1.25 or later)."],
        check_mode: Support::Full,
        diff_mode: Support::None,
        examples: r#"- name: Prune dangling images (the default job)
  ci_tools.docker.docker_prune:

- name: Prune containers stopped for more than 24 hours
  ci_tools.docker.docker_prune:
    containers: true
    containers_filters:
      until: 24h

- name: Prune everything unused, including images that are tagged but unused
  ci_tools.docker.docker_prune:
    containers: true
    images: true
    images_filters:
      dangling: false
    networks: true
    volumes: true
    volumes_all: true
    builder_cache: true

- name: Keep 5 GiB of build cache, drop the rest
  ci_tools.docker.docker_prune:
    builder_cache: true
    builder_cache_keep_storage: 5GB

- name: See what a full prune would remove
  ci_tools.docker.docker_prune:
    containers: true
    images: true
    networks: true
    volumes: true
  check_mode: true
  register: would_prune
"#,
    };
    type Params = Params;
    type Output = Output;

    fn run(params: Params, ctx: &mut Context) -> Result<Outcome<Output>, Failure> {
        for (name, set) in [
            ("validate_certs", params.validate_certs == Some(true)),
            ("tls", params.tls == Some(true)),
            ("ca_path", params.ca_path.is_some()),
            ("client_cert", params.client_cert.is_some()),
            ("client_key", params.client_key.is_some()),
            ("tls_hostname", params.tls_hostname.is_some()),
            ("use_ssh_client", params.use_ssh_client == Some(true)),
        ] {
            if set {
                ctx.warn(format!(
                    "{name} is ignored: ci_tools.docker.docker_prune talks to the local Unix socket only"
                ));
            }
        }
        let keep_storage = params
            .builder_cache_keep_storage
            .as_deref()
            .map(|text| {
                parse::human_bytes(text).map_err(|why| {
                    Failure::new(format!(
                        "Error while parsing value of builder_cache_keep_storage: {why}"
                    ))
                })
            })
            .transpose()?;
        if params.timeout < 0 {
            return Err(Failure::new(
                "timeout must be 0 (wait forever) or a number of seconds",
            ));
        }
        let timeout = Some(Duration::from_secs(params.timeout as u64));
        let client = Client::connect(
            params.docker_host.as_deref(),
            Some(&params.api_version),
            timeout,
        )
        .map_err(engine_failure)?;
        let api = client.api_version();
        let plans = plans(&params, api, keep_storage)?;

        let mut output = Output {
            api_version: api.to_string(),
            space_reclaimed_human: docker_engine::human_size(0),
            ..Output::default()
        };
        let mut changed = false;
        if ctx.check_mode() {
            let mut warnings = Vec::new();
            predict_all(
                &client,
                &plans,
                &params,
                keep_storage,
                &mut output,
                &mut changed,
                &mut warnings,
            )
            .map_err(|e| engine_failure(e.context("check mode: list what would be pruned")))?;
            for w in warnings {
                ctx.warn(w);
            }
        } else {
            for plan in &plans {
                let report = match prune(&client, plan) {
                    Ok(report) => report,
                    Err(e) => {
                        let what = format!("prune {}", plan.kind.option().replace('_', " "));
                        let mut failure = engine_failure(e.context(&what));
                        // Say what earlier kinds removed: that did happen.
                        if let Ok(Value::Object(done)) = serde_json::to_value(&output) {
                            for (k, v) in done {
                                failure.extra.insert(k, v);
                            }
                        }
                        return Err(failure);
                    }
                };
                let result = KindResult::from_daemon(plan.kind, &report);
                changed |= result.removed_anything();
                output.record(plan.kind, result);
            }
        }
        let msg = if changed {
            format!(
                "{}pruned, {} reclaimed",
                if ctx.check_mode() { "would be " } else { "" },
                output.space_reclaimed_human
            )
        } else {
            "nothing to prune".to_string()
        };
        Ok(Outcome::new(changed, output).msg(msg))
    }
}

fn predict_all(
    client: &Client,
    plans: &[Plan],
    params: &Params,
    keep_storage: Option<u64>,
    output: &mut Output,
    changed: &mut bool,
    warnings: &mut Vec<String>,
) -> Result<(), docker_engine::Error> {
    let info = client.get("/info", &[])?;
    let clock = predict::Clock::of(&info);
    let needs_df = plans
        .iter()
        .any(|p| matches!(p.kind, Kind::Images | Kind::Volumes | Kind::BuilderCache));
    let df = if needs_df {
        client.get("/system/df", &[])?
    } else {
        Value::Null
    };
    let (mut world, raw) = predict::World::load(client)?;
    let api = client.api_version();
    let mut buildkit = predict::BuildkitImages::default();
    for plan in plans {
        let result = match plan.kind {
            Kind::Containers => {
                predict::containers(client, &mut world, &raw, &plan.filters, &clock)?
            }
            Kind::Images => {
                let driver_type = info["DriverStatus"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|pair| pair[1].as_str().is_some_and(|v| v.contains("snapshotter")));
                if driver_type {
                    warnings.push("check mode: this daemon uses the containerd image store; the image prediction follows the classic store's rules and may differ in detail".into());
                }
                predict::images(
                    client,
                    &world,
                    &plan.filters,
                    &clock,
                    &df,
                    &mut buildkit,
                    warnings,
                )?
            }
            Kind::Networks => predict::networks(client, &plan.filters, &clock)?,
            Kind::Volumes => predict::volumes(client, &world, &plan.filters, api, &df)?,
            Kind::BuilderCache => predict::builder_cache(
                &plan.filters,
                params.builder_cache_all,
                keep_storage,
                &clock,
                &df,
                &buildkit,
                warnings,
            ),
        };
        *changed |= result.removed_anything();
        output.record(plan.kind, result);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Params {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn no_kind_given_means_dangling_images() {
        assert_eq!(selected(&params(json!({}))), vec![Kind::Images]);
        assert_eq!(
            selected(&params(json!({"images_filters": {"until": "1h"}}))),
            vec![Kind::Images]
        );
        assert_eq!(selected(&params(json!({"containers": false}))), vec![]);
        assert_eq!(
            selected(&params(json!({"volumes": true, "containers": true}))),
            vec![Kind::Containers, Kind::Volumes]
        );
    }

    #[test]
    fn every_filter_is_checked_before_pruning() {
        let p = params(json!({
            "containers": true, "images": true, "networks": true,
            "networks_filters": {"dangling": true},
        }));
        let err = plans(&p, ApiVersion(1, 41), None).err().unwrap();
        assert!(
            err.msg
                .contains("networks_filters: invalid filter \"dangling\""),
            "{err}"
        );
    }

    #[test]
    fn volumes_all_follows_the_api_version() {
        let p = params(json!({"volumes": true, "volumes_all": true}));
        let new = plans(&p, ApiVersion(1, 43), None).unwrap();
        assert_eq!(new[0].filters["all"], vec!["true"]);
        let old = plans(&p, ApiVersion(1, 41), None).unwrap();
        assert!(old[0].filters.is_empty());
        let p = params(json!({"volumes": true, "volumes_filters": {"all": true}}));
        assert!(plans(&p, ApiVersion(1, 41), None).unwrap()[0]
            .filters
            .is_empty());
    }

    #[test]
    fn builder_cache_parameters() {
        let p = params(json!({"builder_cache": true, "builder_cache_all": true}));
        let plan = &plans(&p, ApiVersion(1, 41), Some(1 << 30)).unwrap()[0];
        assert_eq!(
            plan.params,
            vec![
                ("all", "true".to_string()),
                ("keep-storage", "1073741824".to_string())
            ]
        );
    }

    #[test]
    fn daemon_reports_are_read_with_nulls() {
        let r = KindResult::from_daemon(
            Kind::Images,
            &json!({"ImagesDeleted": null, "SpaceReclaimed": 0}),
        );
        assert!(!r.removed_anything());
        let r = KindResult::from_daemon(Kind::Networks, &json!({"NetworksDeleted": ["n1"]}));
        assert_eq!(r.ids, vec!["n1"]);
        assert!(r.removed_anything());
    }
}
