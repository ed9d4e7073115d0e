//! Check mode: what each prune would remove, worked out from the list and inspect
//! endpoints with the daemon's own rules (moby's daemon/prune.go, images/image_prune.go,
//! volume/service, BuildKit's cache manager). The kinds are simulated in the order they
//! are pruned, so that containers about to go no longer hold their images and volumes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use docker_engine::{ApiVersion, Client, Error, Filters};
use serde_json::{json, Value};

use crate::filters::labels_match;
use crate::parse::{self, UnixNanos};
use crate::sha256;
use crate::KindResult;

const NANOS: i128 = 1_000_000_000;

/// What the daemon's clock and zone are (for `until`), read once from `/info`.
pub struct Clock {
    pub now: UnixNanos,
    pub offset: i64,
}

impl Clock {
    pub fn of(info: &Value) -> Clock {
        let system_time = info.get("SystemTime").and_then(Value::as_str).unwrap_or("");
        let local_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        Clock {
            now: parse::rfc3339(system_time).unwrap_or(local_now),
            offset: parse::rfc3339_offset(system_time).unwrap_or(0),
        }
    }

    fn cutoff(&self, filters: &Filters) -> Option<UnixNanos> {
        let value = filters.get("until")?.first()?;
        parse::until_cutoff(value, self.now, self.offset).ok()
    }
}

fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn id_path(id: &str) -> String {
    docker_engine::query::percent_encode(id)
}

/// `created` (whole seconds from a list endpoint) is after `cutoff`; when it falls in the
/// cut-off's own second, `precise` fetches the nanosecond timestamp to decide exactly.
fn created_after(
    created_secs: i64,
    cutoff: UnixNanos,
    precise: impl FnOnce() -> Result<Option<UnixNanos>, Error>,
) -> Result<bool, Error> {
    let secs = created_secs as i128;
    if secs * NANOS > cutoff {
        return Ok(true);
    }
    if (secs + 1) * NANOS <= cutoff {
        return Ok(false);
    }
    Ok(precise()?.map(|t| t > cutoff).unwrap_or(false))
}

/// A container as far as pruning cares.
pub struct Container {
    pub id: String,
    pub image_id: String,
    pub running: bool,
    pub volumes: Vec<String>,
}

/// The world before the first prune, updated as each kind's prediction removes things.
pub struct World {
    pub containers: Vec<Container>,
}

impl World {
    pub fn load(client: &Client) -> Result<(World, Vec<Value>), Error> {
        let listed = client.get(
            "/containers/json",
            &[("all", "1".into()), ("size", "1".into())],
        )?;
        let raw: Vec<Value> = listed.as_array().cloned().unwrap_or_default();
        let containers = raw
            .iter()
            .map(|c| Container {
                id: c["Id"].as_str().unwrap_or_default().to_string(),
                image_id: c["ImageID"].as_str().unwrap_or_default().to_string(),
                // Paused and restarting containers count as running for prune.
                running: matches!(
                    c["State"].as_str(),
                    Some("running" | "paused" | "restarting" | "removing")
                ),
                volumes: c["Mounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["Type"].as_str() == Some("volume"))
                    .filter_map(|m| m["Name"].as_str().map(String::from))
                    .collect(),
            })
            .collect();
        Ok((World { containers }, raw))
    }
}

pub fn containers(
    client: &Client,
    world: &mut World,
    raw: &[Value],
    filters: &Filters,
    clock: &Clock,
) -> Result<KindResult, Error> {
    let cutoff = clock.cutoff(filters);
    let mut result = KindResult::default();
    for c in raw {
        let state = c["State"].as_str().unwrap_or_default();
        if !matches!(state, "created" | "exited" | "dead") {
            continue;
        }
        let id = c["Id"].as_str().unwrap_or_default();
        if let Some(cutoff) = cutoff {
            let after = created_after(c["Created"].as_i64().unwrap_or(0), cutoff, || {
                let inspected = client.get(&format!("/containers/{}/json", id_path(id)), &[])?;
                Ok(inspected["Created"].as_str().and_then(parse::rfc3339))
            })?;
            if after {
                continue;
            }
        }
        if !labels_match(filters, &labels(&c["Labels"])) {
            continue;
        }
        result.ids.push(id.to_string());
        result.space += c["SizeRw"].as_u64().unwrap_or(0);
    }
    let removed: BTreeSet<&String> = result.ids.iter().collect();
    world.containers.retain(|c| !removed.contains(&c.id));
    Ok(result)
}

/// One image of the (graphdriver) image store.
struct Image {
    parent: String,
    /// Tags ("repo:tag") and digests ("repo@sha256:...").
    refs: Vec<String>,
    created_secs: i64,
    labels: BTreeMap<String, String>,
    /// Chain ID of its top layer, if it has layers.
    top_layer: Option<String>,
}

fn is_digest(reference: &str) -> bool {
    reference.contains('@')
}

fn repo_of(reference: &str) -> &str {
    if let Some((repo, _)) = reference.split_once('@') {
        return repo;
    }
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => &reference[..i],
        _ => reference,
    }
}

struct Layer {
    parent: Option<String>,
    refs: usize,
}

struct ImageStore {
    images: BTreeMap<String, Image>,
    layers: HashMap<String, Layer>,
    /// Container image IDs with whether that container runs.
    used: Vec<(String, bool)>,
    records: Vec<Value>,
    removed_layers: Vec<String>,
}

impl ImageStore {
    fn children(&self, id: &str) -> usize {
        self.images.values().filter(|i| i.parent == id).count()
    }

    fn dangling(&self, id: &str) -> bool {
        self.images.get(id).is_some_and(|i| i.refs.is_empty()) && self.children(id) == 0
    }

    /// checkImageDeleteConflict with hard + soft conflicts: Some(used) on conflict.
    fn conflict(&self, id: &str) -> Option<bool> {
        if self.children(id) > 0 {
            return Some(false);
        }
        if self
            .used
            .iter()
            .any(|(image, running)| image == id && *running)
        {
            return Some(true);
        }
        if self.images.get(id).is_some_and(|i| !i.refs.is_empty()) {
            return Some(false);
        }
        if self.used.iter().any(|(image, _)| image == id) {
            return Some(true);
        }
        None
    }

    fn single_reference(refs: &[String]) -> bool {
        if refs.len() <= 1 {
            return refs.len() == 1;
        }
        let mut single: Option<&str> = None;
        let mut canonical = BTreeSet::new();
        for r in refs {
            if is_digest(r) {
                canonical.insert(repo_of(r));
            } else if single.is_none() {
                single = Some(r);
            } else {
                return false;
            }
        }
        let single = single.unwrap_or(&refs[0]);
        canonical.len() == 1 && canonical.contains(repo_of(single))
    }

    /// ImageDelete(reference, force=false, prune=true) for a tag or digest reference.
    fn delete_reference(&mut self, id: &str, reference: &str) {
        let Some(image) = self.images.get(id) else {
            return;
        };
        if !image.refs.iter().any(|r| r == reference) {
            return; // already removed along with another reference
        }
        let refs = image.refs.clone();
        if Self::single_reference(&refs) && self.used.iter().any(|(image, _)| image == id) {
            return; // conflict: a container uses the image this reference names
        }
        let mut remaining: Vec<String> = refs.iter().filter(|r| *r != reference).cloned().collect();
        self.records.push(json!({ "Untagged": reference }));
        if !is_digest(reference) {
            let repo = repo_of(reference);
            let tag_left = remaining
                .iter()
                .any(|r| !is_digest(r) && repo_of(r) == repo);
            if !tag_left {
                let (same_repo, others): (Vec<String>, Vec<String>) = remaining
                    .into_iter()
                    .partition(|r| is_digest(r) && repo_of(r) == repo);
                for digest in same_repo {
                    self.records.push(json!({ "Untagged": digest }));
                }
                remaining = others;
            }
        }
        let has_refs = !remaining.is_empty();
        if let Some(image) = self.images.get_mut(id) {
            image.refs = remaining;
        }
        if has_refs {
            return;
        }
        let _ = self.delete_helper(id, true);
    }

    /// imageDeleteHelper(force=false, prune=true). Err = a conflict the caller sees.
    fn delete_helper(&mut self, id: &str, quiet: bool) -> Result<(), ()> {
        if let Some(used) = self.conflict(id) {
            if quiet && (!self.dangling(id) || used) {
                return Ok(());
            }
            return Err(());
        }
        let Some(image) = self.images.remove(id) else {
            return Err(());
        };
        self.records.push(json!({ "Deleted": id }));
        let mut next = image.top_layer.clone();
        while let Some(chain) = next.take() {
            let Some(layer) = self.layers.get_mut(&chain) else {
                break;
            };
            layer.refs = layer.refs.saturating_sub(1);
            if layer.refs == 0 {
                let parent = layer.parent.clone();
                self.layers.remove(&chain);
                self.records.push(json!({ "Deleted": chain }));
                self.removed_layers.push(chain);
                next = parent;
            }
        }
        if !image.parent.is_empty() {
            let _ = self.delete_helper(&image.parent, true);
        }
        Ok(())
    }
}

/// The sizes of an image's layers by chain ID, from its history (oldest first: each
/// entry that made a layer has that layer's size).
fn layer_sizes(client: &Client, id: &str, chains: &[String]) -> Result<Option<Vec<u64>>, Error> {
    let history = client.get(&format!("/images/{}/history", id_path(id)), &[])?;
    let mut entries: Vec<&Value> = history.as_array().into_iter().flatten().collect();
    entries.reverse();
    let sizes: Vec<u64> = entries
        .iter()
        .map(|e| e["Size"].as_u64().unwrap_or(0))
        .collect();
    let nonzero = sizes.iter().filter(|s| **s > 0).count();
    if entries.len() == chains.len() {
        return Ok(Some(sizes));
    }
    if nonzero == chains.len() {
        return Ok(Some(sizes.into_iter().filter(|s| *s > 0).collect()));
    }
    // Entries that only set metadata were made by the classic builder as "#(nop)"
    // steps (except ADD/COPY); drop them and see whether the rest lines up.
    let layered: Vec<u64> = entries
        .iter()
        .filter(|e| {
            let by = e["CreatedBy"].as_str().unwrap_or_default();
            e["Size"].as_u64().unwrap_or(0) > 0
                || !(by.contains("#(nop)") && !by.contains("ADD") && !by.contains("COPY"))
        })
        .map(|e| e["Size"].as_u64().unwrap_or(0))
        .collect();
    Ok((layered.len() == chains.len()).then_some(layered))
}

/// Whether an image was built by BuildKit (its history says so). In the classic image
/// store BuildKit keeps its own reference on the layers of the images it built while
/// their build cache records exist (`/system/df` marks those records `Shared`).
fn built_by_buildkit(client: &Client, id: &str) -> Result<bool, Error> {
    let history = client.get(&format!("/images/{}/history", id_path(id)), &[])?;
    Ok(history.as_array().into_iter().flatten().any(|e| {
        e["Comment"]
            .as_str()
            .is_some_and(|c| c.starts_with("buildkit"))
    }))
}

/// What the image prediction learnt about BuildKit-built images, for the build cache
/// prediction that follows it.
#[derive(Debug, Default)]
pub struct BuildkitImages {
    pub deleted: usize,
    pub remaining: usize,
}

pub fn images(
    client: &Client,
    world: &World,
    filters: &Filters,
    clock: &Clock,
    df: &Value,
    buildkit: &mut BuildkitImages,
    warnings: &mut Vec<String>,
) -> Result<KindResult, Error> {
    let cache_shares_layers = df["BuildCache"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["Shared"].as_bool() == Some(true));
    let dangling_only = filters
        .get("dangling")
        .and_then(|v| v.first())
        .is_none_or(|v| v == "true");
    let listed = client.get("/images/json", &[("all", "1".into())])?;
    let mut store = ImageStore {
        images: BTreeMap::new(),
        layers: HashMap::new(),
        used: world
            .containers
            .iter()
            .map(|c| (c.image_id.clone(), c.running))
            .collect(),
        records: Vec::new(),
        removed_layers: Vec::new(),
    };
    let mut chains_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut created_precise: BTreeMap<String, Option<UnixNanos>> = BTreeMap::new();
    for summary in listed.as_array().into_iter().flatten() {
        let id = summary["Id"].as_str().unwrap_or_default().to_string();
        let inspected = client.get(&format!("/images/{}/json", id_path(&id)), &[])?;
        let diffs = strings(&inspected["RootFS"]["Layers"]);
        let chains = sha256::chain_ids(&diffs);
        for (i, chain) in chains.iter().enumerate() {
            store.layers.entry(chain.clone()).or_insert(Layer {
                parent: i.checked_sub(1).map(|p| chains[p].clone()),
                refs: 0,
            });
        }
        let refs: Vec<String> = strings(&summary["RepoTags"])
            .into_iter()
            .chain(strings(&summary["RepoDigests"]))
            .filter(|r| r != "<none>:<none>" && r != "<none>@<none>")
            .collect();
        created_precise.insert(
            id.clone(),
            inspected["Created"].as_str().and_then(parse::rfc3339),
        );
        store.images.insert(
            id.clone(),
            Image {
                parent: summary["ParentId"].as_str().unwrap_or_default().to_string(),
                refs,
                created_secs: summary["Created"].as_i64().unwrap_or(0),
                labels: labels(&inspected["Config"]["Labels"]),
                top_layer: chains.last().cloned(),
            },
        );
        chains_of.insert(id, chains);
    }
    // Layer references: each image holds its top layer, each layer its parent, each
    // container's read-write layer its image's top layer.
    let tops: Vec<String> = store
        .images
        .values()
        .filter_map(|i| i.top_layer.clone())
        .collect();
    let parents: Vec<String> = store
        .layers
        .values()
        .filter_map(|l| l.parent.clone())
        .collect();
    let container_tops: Vec<String> = world
        .containers
        .iter()
        .filter_map(|c| {
            store
                .images
                .get(&c.image_id)
                .and_then(|i| i.top_layer.clone())
        })
        .collect();
    let mut buildkit_ids = BTreeSet::new();
    if cache_shares_layers {
        for id in store.images.keys() {
            if built_by_buildkit(client, id)? {
                buildkit_ids.insert(id.clone());
            }
        }
    }
    let held: Vec<String> = buildkit_ids
        .iter()
        .flat_map(|id| chains_of.get(id).cloned().unwrap_or_default())
        .collect();
    for chain in tops
        .iter()
        .chain(&parents)
        .chain(&container_tops)
        .chain(&held)
    {
        if let Some(layer) = store.layers.get_mut(chain) {
            layer.refs += 1;
        }
    }

    let cutoff = clock.cutoff(filters);
    let mut top_images = Vec::new();
    for (id, image) in &store.images {
        let children = store.children(id);
        if dangling_only && children > 0 {
            continue; // not a head
        }
        if image.refs.is_empty() && children > 0 {
            continue; // an intermediate image
        }
        if let Some(cutoff) = cutoff {
            let after = created_after(image.created_secs, cutoff, || {
                Ok(created_precise.get(id).copied().flatten())
            })?;
            if after {
                continue;
            }
        }
        if !labels_match(filters, &image.labels) {
            continue;
        }
        top_images.push((id.clone(), image.refs.clone()));
    }
    for (id, refs) in top_images {
        if !store.images.contains_key(&id) {
            continue;
        }
        if refs.is_empty() {
            let _ = store.delete_helper(&id, false);
        } else if !dangling_only || refs.iter().all(|r| is_digest(r)) {
            for reference in refs {
                store.delete_reference(&id, &reference);
            }
        }
    }

    buildkit.deleted += buildkit_ids
        .iter()
        .filter(|id| !store.images.contains_key(*id))
        .count();
    buildkit.remaining = buildkit_ids
        .iter()
        .filter(|id| store.images.contains_key(*id))
        .count();

    // Space: the diff sizes of the freed layers, read from the history of an image that
    // had each of them.
    let removed: BTreeSet<&String> = store.removed_layers.iter().collect();
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut unknown = false;
    for (id, chains) in &chains_of {
        if !chains
            .iter()
            .any(|c| removed.contains(c) && !sizes.contains_key(c))
        {
            continue;
        }
        match layer_sizes(client, id, chains)? {
            Some(found) => {
                for (chain, size) in chains.iter().zip(found) {
                    sizes.insert(chain.clone(), size);
                }
            }
            None => unknown = true,
        }
    }
    if unknown {
        warnings.push(
            "check mode: the space some image layers would free could not be read from their history; images_space_reclaimed is a lower bound".into(),
        );
    }
    Ok(KindResult {
        space: store
            .removed_layers
            .iter()
            .map(|c| sizes.get(c).copied().unwrap_or(0))
            .sum(),
        images: store.records,
        ..KindResult::default()
    })
}

/// Networks the daemon creates and never prunes.
const PREDEFINED_NETWORKS: [&str; 4] = ["bridge", "host", "none", "default"];

pub fn networks(client: &Client, filters: &Filters, clock: &Clock) -> Result<KindResult, Error> {
    let cutoff = clock.cutoff(filters);
    let listed = client.get("/networks", &[])?;
    let mut result = KindResult::default();
    for network in listed.as_array().into_iter().flatten() {
        let name = network["Name"].as_str().unwrap_or_default();
        if PREDEFINED_NETWORKS.contains(&name)
            || network["ConfigOnly"].as_bool() == Some(true)
            || network["Scope"].as_str().is_some_and(|s| s != "local")
        {
            continue;
        }
        if let Some(cutoff) = cutoff {
            let created = network["Created"]
                .as_str()
                .and_then(parse::rfc3339)
                .unwrap_or(0);
            if created > cutoff {
                continue;
            }
        }
        if !labels_match(filters, &labels(&network["Labels"])) {
            continue;
        }
        let id = network["Id"].as_str().unwrap_or_default();
        let inspected = client.get(&format!("/networks/{}", id_path(id)), &[])?;
        if inspected["Containers"]
            .as_object()
            .is_some_and(|c| !c.is_empty())
        {
            continue;
        }
        result.ids.push(name.to_string());
    }
    Ok(result)
}

/// The label the daemon puts on volumes created without a name.
const ANONYMOUS: &str = "com.docker.volume.anonymous";

pub fn volumes(
    client: &Client,
    world: &World,
    filters: &Filters,
    api: ApiVersion,
    df: &Value,
) -> Result<KindResult, Error> {
    let mut filters = filters.clone();
    let all = filters
        .remove("all")
        .is_some_and(|v| v.iter().any(|x| x == "true"));
    if api >= ApiVersion(1, 42) && !all {
        filters
            .entry("label".into())
            .or_default()
            .push(ANONYMOUS.into());
    }
    let referenced: BTreeSet<&String> = world.containers.iter().flat_map(|c| &c.volumes).collect();
    let sizes: HashMap<&str, i64> = df["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["Name"].as_str()?, v["UsageData"]["Size"].as_i64()?)))
        .collect();
    let listed = client.get("/volumes", &[])?;
    let mut result = KindResult::default();
    for volume in listed["Volumes"].as_array().into_iter().flatten() {
        let name = volume["Name"].as_str().unwrap_or_default().to_string();
        let has_options = volume["Options"].as_object().is_some_and(|o| !o.is_empty());
        if volume["Driver"].as_str() != Some("local")
            || has_options
            || referenced.contains(&name)
            || !labels_match(&filters, &labels(&volume["Labels"]))
        {
            continue;
        }
        result.space += sizes.get(name.as_str()).copied().unwrap_or(0).max(0) as u64;
        result.ids.push(name);
    }
    Ok(result)
}

/// BuildKit's prune over the records `/system/df` lists. Exact for the common cases
/// (`all`, `until`/`unused-for`, `type`, `description`, literal `id`); BuildKit keeps
/// some of its choices internal (the order `keep_storage` deletes in, records sharing
/// data), which is said in a warning when it matters.
pub fn builder_cache(
    filters: &Filters,
    all: bool,
    keep_storage: Option<u64>,
    clock: &Clock,
    df: &Value,
    buildkit: &BuildkitImages,
    warnings: &mut Vec<String>,
) -> KindResult {
    // Records shared with images the image prune removed are no longer shared. The API
    // does not say which record belongs to which image: exact when all or none of the
    // BuildKit-built images go, an estimate otherwise.
    let unshared = buildkit.deleted > 0 && buildkit.remaining == 0;
    if buildkit.deleted > 0 && buildkit.remaining > 0 {
        warnings.push("check mode: the image prune would remove some BuildKit-built images but not all; which build cache records that frees is an estimate".into());
    }
    let shared = |r: &Value| !unshared && r["Shared"].as_bool() == Some(true);
    let records: Vec<&Value> = df["BuildCache"].as_array().into_iter().flatten().collect();
    let keep_for = filters
        .get("until")
        .or_else(|| filters.get("unused-for"))
        .and_then(|v| v.first())
        .and_then(|v| parse::go_duration(v));
    let field = |key: &str| filters.get(key).and_then(|v| v.first().cloned());
    let matches = |r: &Value| -> bool {
        let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
        let flag = |k: &str| r[k].as_bool().unwrap_or(false);
        if let Some(id) = field("id") {
            if !text("ID").contains(&id) {
                return false;
            }
        }
        if let Some(t) = field("type") {
            if text("Type") != t {
                return false;
            }
        }
        if let Some(d) = field("description") {
            if text("Description") != d {
                return false;
            }
        }
        if let Some(p) = field("parent") {
            let parents = r["Parents"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(";")
                })
                .unwrap_or_else(|| text("Parent"));
            if parents != p {
                return false;
            }
        }
        // BuildKit's boolean fields match only as bare keys: "inuse==true" compares the
        // field's empty value with "true" and never matches.
        for (key, value) in [
            ("inuse", flag("InUse")),
            ("shared", shared(r)),
            ("private", !shared(r)),
        ] {
            if let Some(given) = filters.get(key) {
                if !(value && given.first().is_none_or(String::is_empty)) {
                    return false;
                }
            }
        }
        true
    };
    if field("id")
        .is_some_and(|id| id.contains(['.', '*', '+', '?', '[', '(', '|', '^', '$', '\\']))
    {
        warnings.push("check mode: the builder cache filter id is a regular expression for the daemon; the prediction matched it as plain text".into());
    }
    let eligible = |r: &Value| -> bool {
        if r["InUse"].as_bool() == Some(true) {
            return false;
        }
        let kind = r["Type"].as_str().unwrap_or("regular");
        if !all && (kind == "internal" || kind == "frontend" || shared(r)) {
            return false;
        }
        if let Some(keep) = keep_for {
            if let Some(last) = r["LastUsedAt"].as_str().and_then(parse::rfc3339) {
                if last > clock.now - keep {
                    return false;
                }
            }
        }
        matches(r)
    };
    // A record goes once nothing that is kept still has it as parent.
    let id_of = |r: &Value| r["ID"].as_str().unwrap_or_default().to_string();
    let parents_of = |r: &Value| -> Vec<String> {
        let mut p = strings(&r["Parents"]);
        if let Some(one) = r["Parent"].as_str().filter(|s| !s.is_empty()) {
            p.push(one.to_string());
        }
        p
    };
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    loop {
        let before = deleted.len();
        for r in &records {
            let id = id_of(r);
            if deleted.contains(&id) || !eligible(r) {
                continue;
            }
            let has_kept_child = records
                .iter()
                .any(|c| !deleted.contains(&id_of(c)) && parents_of(c).contains(&id));
            if !has_kept_child {
                deleted.insert(id);
            }
        }
        if deleted.len() == before {
            break;
        }
    }
    let mut chosen: Vec<&Value> = records
        .iter()
        .copied()
        .filter(|r| deleted.contains(&id_of(r)))
        .collect();
    if let Some(keep) = keep_storage.filter(|k| *k > 0) {
        let total: u64 = records
            .iter()
            .filter(|r| !shared(r))
            .map(|r| r["Size"].as_u64().unwrap_or(0))
            .sum();
        if total <= keep {
            chosen.clear();
        } else {
            chosen.sort_by_key(|r| {
                (
                    r["LastUsedAt"]
                        .as_str()
                        .and_then(parse::rfc3339)
                        .unwrap_or(0),
                    r["UsageCount"].as_u64().unwrap_or(0),
                )
            });
            let mut remaining = total;
            let before = chosen.len();
            chosen.retain(|r| {
                if remaining <= keep {
                    return false;
                }
                remaining = remaining.saturating_sub(r["Size"].as_u64().unwrap_or(0));
                true
            });
            if chosen.len() != before && !chosen.is_empty() {
                warnings.push("check mode: with builder_cache_keep_storage BuildKit picks the records to delete by its own least-recently-used order; the predicted builder cache records are an estimate".into());
            }
        }
    }
    KindResult {
        space: chosen.iter().map(|r| r["Size"].as_u64().unwrap_or(0)).sum(),
        ids: chosen.iter().map(|r| id_of(r)).collect(),
        ..KindResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_of_references() {
        assert_eq!(repo_of("app:1"), "app");
        assert_eq!(repo_of("localhost:5000/app:1"), "localhost:5000/app");
        assert_eq!(repo_of("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(repo_of("app@sha256:abc"), "app");
        assert!(ImageStore::single_reference(&["a:1".into()]));
        assert!(!ImageStore::single_reference(&["a:1".into(), "b:1".into()]));
        assert!(ImageStore::single_reference(&[
            "a:1".into(),
            "a@sha256:x".into()
        ]));
        assert!(!ImageStore::single_reference(&[]));
    }

    #[test]
    fn build_cache_parents_go_after_their_children() {
        let df = json!({"BuildCache": [
            {"ID": "child", "Parent": "base", "Type": "regular", "InUse": false, "Shared": false, "Size": 10},
            {"ID": "base", "Parent": "", "Type": "regular", "InUse": false, "Shared": false, "Size": 5},
            {"ID": "fe", "Parent": "", "Type": "frontend", "InUse": false, "Shared": false, "Size": 1},
            {"ID": "busy", "Parent": "", "Type": "regular", "InUse": true, "Shared": false, "Size": 7},
        ]});
        let clock = Clock { now: 0, offset: 0 };
        let mut warnings = Vec::new();
        let bk = BuildkitImages::default();
        let r = builder_cache(
            &Filters::new(),
            false,
            None,
            &clock,
            &df,
            &bk,
            &mut warnings,
        );
        assert_eq!(r.ids, vec!["child", "base"]);
        assert_eq!(r.space, 15);
        let r = builder_cache(&Filters::new(), true, None, &clock, &df, &bk, &mut warnings);
        assert_eq!(r.ids, vec!["child", "base", "fe"]);
        let mut only_child = Filters::new();
        only_child.insert("id".into(), vec!["base".into()]);
        let r = builder_cache(&only_child, false, None, &clock, &df, &bk, &mut warnings);
        assert!(
            r.ids.is_empty(),
            "base is still the parent of a kept record"
        );
    }
}
