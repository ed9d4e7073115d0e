"""ci_tools.docker.docker_prune through real ansible-core against a real private dockerd.

Every kind is pruned in check mode first (nothing may go, and the prediction must equal
what the following real run removes), then for real (what it reports must be what
`docker` no longer lists), then again (nothing left: unchanged). Errors must fail with a
message that says what to do, with nothing removed. Last, the reference module
community.docker.docker_prune (from the `ansible` package, in a throwaway venv) and ours
must remove the same things from identically prepared engines.
"""
from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.harness.ansible_run import TaskResult, run_adhoc, run_playbook
from tests.harness.dockerd import PrivateDockerd

from moduletools import REPO

pytestmark = pytest.mark.dockerd

MODULE = "docker_prune"
REF_ANSIBLE = "ansible==12.3.0"
REF_VENV = Path(os.environ.get("CI_TOOLS_CACHE", "/var/cache/ci-tools-docker")) / "ref-venv"

LIST_KEYS = {
    "containers": ["containers"],
    "images": ["images"],
    "networks": ["networks"],
    "volumes": ["volumes"],
    "builder_cache": ["builder_cache_caches_deleted"],
}
SPACE_KEYS = ["containers_space_reclaimed", "images_space_reclaimed", "volumes_space_reclaimed",
              "builder_cache_space_reclaimed", "space_reclaimed"]


@pytest.fixture(scope="session")
def prune_library(built, tmp_path_factory) -> Path:
    """ANSIBLE_LIBRARY holding only the freshly built docker_prune binary."""
    library = tmp_path_factory.mktemp("prune-library")
    shutil.copy2(built.plugins_dir / MODULE, library / MODULE)
    return library


def prune(library: Path, daemon: PrivateDockerd | None, args: dict | str, *, check: bool = False,
          host: str | None = None) -> TaskResult:
    """One ad-hoc `ansible localhost -m docker_prune` run; returns its result."""
    if isinstance(args, dict):
        args = {"docker_host": host or daemon.host, **args}
    run = run_adhoc("localhost", MODULE, args, env={"ANSIBLE_LIBRARY": str(library)}, check=check)
    assert run.results, f"no task result\n{run.output}"
    return run.last


def state(daemon: PrivateDockerd) -> dict[str, set[str]]:
    """What the engine holds now, per kind."""
    lines = lambda *a: {line for line in daemon.docker(*a).stdout.split() if line}  # noqa: E731
    return {
        "containers": lines("ps", "-aq", "--no-trunc"),
        "images": lines("images", "-aq", "--no-trunc"),
        "tags": lines("images", "--format", "{{.Repository}}:{{.Tag}}") - {"<none>:<none>"},
        "networks": lines("network", "ls", "--format", "{{.Name}}"),
        "volumes": lines("volume", "ls", "-q"),
        "builder_cache": set(daemon.build_cache_ids()),
    }


def removed(before: dict, after: dict) -> dict[str, set[str]]:
    return {k: before[k] - after[k] for k in before}


def comparable(result: TaskResult) -> dict:
    """The result's lists as sorted lists (the daemon's order is random) and its sizes."""
    out = {}
    for keys in LIST_KEYS.values():
        for key in keys:
            if key in result.result:
                out[key] = sorted(json.dumps(x, sort_keys=True) for x in result[key] or [])
    for key in SPACE_KEYS:
        if key in result.result:
            out[key] = result[key]
    return out


def assert_check_then_real(library, daemon, args) -> tuple[TaskResult, dict[str, set[str]]]:
    """Check mode predicts and removes nothing; the real run removes exactly that."""
    before = state(daemon)
    predicted = prune(library, daemon, args, check=True)
    assert predicted.status == "ok", predicted.result
    assert state(daemon) == before, "check mode removed something"
    real = prune(library, daemon, args)
    assert real.status == "ok", real.result
    assert comparable(predicted) == comparable(real), (predicted.result, real.result)
    assert predicted.changed == real.changed
    gone = removed(before, state(daemon))
    # What the module reports is what docker no longer lists.
    if "containers" in real.result:
        assert set(real["containers"]) == gone["containers"]
    if "images" in real.result:
        deleted = {e["Deleted"] for e in real["images"] if "Deleted" in e}
        assert gone["images"] <= deleted and deleted & before["images"] == gone["images"]
        untagged = {e["Untagged"] for e in real["images"] if "Untagged" in e}
        assert {t if ":" in t else t + ":latest" for t in untagged} == gone["tags"]
    if "networks" in real.result:
        assert set(real["networks"]) == gone["networks"]
    if "volumes" in real.result:
        assert set(real["volumes"]) == gone["volumes"]
    if "builder_cache_caches_deleted" in real.result:
        assert set(real["builder_cache_caches_deleted"]) == gone["builder_cache"]
    assert real["space_reclaimed"] == sum(real.get(k, 0) or 0 for k in SPACE_KEYS[:-1])
    return real, gone


def assert_idempotent(library, daemon, args) -> None:
    again = prune(library, daemon, args)
    assert again.status == "ok" and again.changed is False, again.result
    assert again["msg"] == "nothing to prune"


YES = {"prune": "yes"}
NO = {"prune": "no"}


def prepare(daemon: PrivateDockerd, kind: str) -> tuple[set[str], set[str]]:
    """Objects of `kind` labelled prune=yes and prune=no: returns (yes, no) identifiers."""
    if kind == "containers":
        return (set(daemon.make_stopped_containers(2, labels=YES))
                | set(daemon.make_stopped_containers(1, labels=YES, state="created")),
                set(daemon.make_stopped_containers(1, labels=NO)))
    if kind == "images":
        return (set(daemon.make_dangling_images(2, labels=YES, tag="prune/yes:1")),
                set(daemon.make_dangling_images(1, labels=NO, tag="prune/no:1")))
    if kind == "networks":
        return set(daemon.make_networks(2, labels=YES)), set(daemon.make_networks(1, labels=NO))
    if kind == "volumes":
        return (set(daemon.make_volumes(2, labels=YES)) | set(daemon.make_volumes(1, anonymous=True, labels=YES)),
                set(daemon.make_volumes(1, labels=NO)))
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["containers", "images", "networks", "volumes"])
def test_kind_with_label_filter(prune_library, clean_dockerd, kind):
    daemon = clean_dockerd
    yes, no = prepare(daemon, kind)
    args = {kind: True, f"{kind}_filters": {"label": "prune=yes"}}
    real, gone = assert_check_then_real(prune_library, daemon, args)
    assert real.changed is True
    if kind == "images":  # intermediate images of the classic builder go along
        assert gone[kind] >= yes
    else:
        assert gone[kind] == yes
    assert not gone[kind] & no
    assert set(LIST_KEYS) & set(real.result) == {kind}, "only the requested kind is returned"
    assert real["api_version"] == "1.41"
    assert_idempotent(prune_library, daemon, args)


@pytest.mark.parametrize("kind", ["containers", "images", "networks", "volumes"])
def test_kind_without_filters(prune_library, clean_dockerd, kind):
    daemon = clean_dockerd
    yes, no = prepare(daemon, kind)
    args = {kind: True}
    if kind == "images":
        args["images_filters"] = {"dangling": False}  # a YAML bool: sent as "false"
    real, gone = assert_check_then_real(prune_library, daemon, args)
    assert gone[kind] >= yes | no
    if kind == "images":
        assert gone["tags"] >= {"prune/yes:1", "prune/no:1"}
    assert_idempotent(prune_library, daemon, args)


def test_default_job_prunes_dangling_images_only(prune_library, clean_dockerd):
    daemon = clean_dockerd
    dangling = set(daemon.make_dangling_images(2))
    real, gone = assert_check_then_real(prune_library, daemon, {})
    # The classic builder's intermediate images of a dangling image go with it.
    assert gone["images"] >= dangling
    assert gone["tags"] == set(), "the tagged image stays"
    assert set(LIST_KEYS) & set(real.result) == {"images"}
    assert real["images_space_reclaimed"] > 0 and real["space_reclaimed_human"].endswith("B")
    assert_idempotent(prune_library, daemon, {})


@pytest.mark.parametrize("args", [
    {"builder_cache": True},
    {"builder_cache": True, "builder_cache_all": True},
    {"builder_cache": True, "builder_cache_filters": {"type": "regular"}},
    {"builder_cache": True, "builder_cache_filters": {"until": "1h"}},
], ids=["default", "all", "type", "until"])
def test_builder_cache(prune_library, clean_dockerd, args):
    daemon = clean_dockerd
    records = set(daemon.make_build_cache())
    real, gone = assert_check_then_real(prune_library, daemon, args)
    assert gone["builder_cache"] <= records
    if args.get("builder_cache_filters", {}).get("until") == "1h":
        assert not gone["builder_cache"], "all records were used just now"
    elif "builder_cache_filters" not in args:
        assert gone["builder_cache"], "a fresh build leaves prunable records"
    assert_idempotent(prune_library, daemon, args)


def test_all_kinds_at_once_in_order(prune_library, clean_dockerd):
    """Containers go first, so the image and volume they held go in the same run."""
    daemon = clean_dockerd
    image = daemon._build("held/image:1")
    cid = daemon.docker("create", "--network", "none", "--mount", "type=volume,source=held-vol,destination=/d",
                        image, "/bin/busybox", "true").stdout.strip()
    daemon.make_networks(1)
    daemon.make_build_cache()
    args = {"containers": True, "images": True, "images_filters": {"dangling": False},
            "networks": True, "volumes": True, "builder_cache": True}
    real, gone = assert_check_then_real(prune_library, daemon, args)
    assert cid in gone["containers"] and image in gone["images"] and "held-vol" in gone["volumes"]
    assert {k for keys in LIST_KEYS.values() for k in keys} <= set(real.result)
    assert_idempotent(prune_library, daemon, args)


def test_adhoc_string_arguments(prune_library, clean_dockerd):
    daemon = clean_dockerd
    containers = set(daemon.make_stopped_containers(1))
    daemon.make_dangling_images(1)
    result = prune(prune_library, None, f"images=yes containers=true docker_url={daemon.host}")
    assert result.status == "ok" and result.changed, result.result
    assert set(result["containers"]) == containers
    assert set(LIST_KEYS) & set(result.result) == {"containers", "images"}


# -- errors: one JSON failure each, nothing removed ---------------------------------------

def test_daemon_not_running(prune_library, tmp_path):
    sock = tmp_path / "docker.sock"
    result = prune(prune_library, None, {"containers": True}, host=f"unix://{sock}")
    assert result.failed
    assert result["msg"] == f"the Docker daemon is not running (no socket at {sock})"


def test_unsupported_docker_host(prune_library):
    result = prune(prune_library, None, {"images": True}, host="tcp://127.0.0.1:2375")
    assert result.failed
    assert "docker_host \"tcp://127.0.0.1:2375\" is not supported" in result["msg"]


def test_permission_denied_names_user_group_and_fix(built, private_dockerd):
    """As an unprivileged user (the module binary run directly: ansible's become needs sudo)."""
    tmp_path = Path(tempfile.mkdtemp(prefix="prune-perm-", dir="/tmp"))
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"docker_host": private_dockerd.host, "containers": True}))
    args.chmod(0o644)
    tmp_path.chmod(0o755)
    binary = tmp_path / MODULE
    shutil.copy2(built.plugins_dir / MODULE, binary)
    binary.chmod(0o755)
    sock_dir = private_dockerd.socket_path.parent
    mode = sock_dir.stat().st_mode
    sock_dir.chmod(mode | 0o011)  # let nobody reach the socket file itself
    try:
        proc = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               str(binary), str(args)], capture_output=True, text=True, timeout=60)
    finally:
        sock_dir.chmod(mode)
        shutil.rmtree(tmp_path, ignore_errors=True)
    result = json.loads(proc.stdout)
    assert result["failed"] is True and proc.stderr == ""
    msg = result["msg"]
    assert msg.startswith(f"permission denied on the Docker socket {private_dockerd.socket_path}: "), msg
    assert "user nobody (uid 65534)" in msg and "ci_tools.docker.socket_group" in msg, msg
    st = private_dockerd.socket_path.stat()
    assert f"nor in its group {grp.getgrgid(st.st_gid).gr_name} (gid {st.st_gid})" in msg, msg


def test_invalid_filter_on_a_later_kind_prunes_nothing(prune_library, clean_dockerd):
    daemon = clean_dockerd
    daemon.make_stopped_containers(1)
    daemon.make_dangling_images(1)
    before = state(daemon)
    result = prune(prune_library, daemon, {"containers": True, "images": True, "networks": True,
                                            "networks_filters": {"dangling": True}})
    assert result.failed
    assert 'networks_filters: invalid filter "dangling"' in result["msg"]
    assert state(daemon) == before


@pytest.mark.parametrize("args,message", [
    ({"images": True, "images_filters": {"until": "last tuesday"}}, 'invalid value for filter "until"'),
    ({"images": True, "images_filters": {"dangling": "perhaps"}}, "must be true or false"),
    ({"volumes": True, "volumes_filters": {"all": False}}, "needs Docker API 1.42"),
    ({"builder_cache": True, "builder_cache_keep_storage": "lots"},
     "Error while parsing value of builder_cache_keep_storage"),
    ({"builder_cache": True, "builder_cache_filters": {"until": "2024-01-01"}}, "expects a duration"),
    ({"containers": True, "api_version": "1.99"}, "api_version 1.99 is not supported by the Docker daemon"),
])
def test_bad_options_fail_before_anything_is_removed(prune_library, clean_dockerd, args, message):
    daemon = clean_dockerd
    daemon.make_stopped_containers(1)
    before = state(daemon)
    result = prune(prune_library, daemon, {"containers": True, **args})
    assert result.failed and message in result["msg"], result.result
    assert state(daemon) == before


class BusyDaemon:
    """A fake daemon on a socket: /version answers, every prune is refused with 409."""

    def __init__(self, path: Path):
        self.path = path
        self.prunes = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                path = head.split(b" ")[1].decode() if b" " in head else ""
                if path.startswith("/version"):
                    status, body = "200 OK", b'{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}'
                else:
                    self.prunes += 1
                    status, body = "409 Conflict", b'{"message":"a prune operation is already running"}'
                conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def close(self):
        self.sock.close()


def test_busy_daemon_is_retried_then_fails_clearly(prune_library, tmp_path):
    busy = BusyDaemon(tmp_path / "busy.sock")
    try:
        started = time.monotonic()
        result = prune(prune_library, None, {"containers": True}, host=f"unix://{busy.path}")
        elapsed = time.monotonic() - started
    finally:
        busy.close()
    assert result.failed
    assert "another prune is still running" in result["msg"], result["msg"]
    assert "a prune operation is already running" in result["msg"]
    assert busy.prunes == 7 and elapsed >= 10


# -- side by side with community.docker.docker_prune --------------------------------------

@pytest.fixture(scope="session")
def reference_venv() -> Path:
    """A venv with the community `ansible` package (community.docker) and requests, pinned,
    created once per machine."""
    marker = REF_VENV / f".installed-{REF_ANSIBLE}"
    if not marker.exists():
        shutil.rmtree(REF_VENV, ignore_errors=True)
        REF_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "venv", str(REF_VENV)], check=True)
        subprocess.run([str(REF_VENV / "bin" / "pip"), "install", "-q", REF_ANSIBLE, "requests"],
                       check=True, timeout=900)
        marker.write_text("ok\n")
    return REF_VENV


def shape(daemon: PrivateDockerd) -> dict:
    """The engine's contents by name (IDs differ between identically prepared engines)."""
    s = state(daemon)
    containers = set(daemon.docker("ps", "-a", "--format", "{{.Names}}").stdout.split())
    return {"containers": containers, "images": len(s["images"]), "tags": s["tags"],
            "networks": s["networks"], "volumes": s["volumes"], "builder_cache": len(s["builder_cache"])}


def prepare_named(daemon: PrivateDockerd) -> None:
    """The same state every time, with fixed names."""
    daemon.make_dangling_images(1, tag="ref/kept:1")
    image = daemon.base_image()
    for name, labels in (("c-yes", YES), ("c-no", NO)):
        label_args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
        daemon.docker("create", "--network", "none", "--name", name, *label_args, image, "/bin/busybox", "true")
    daemon.docker("create", "--network", "none", "--name", "c-vol", "--mount",
                  "type=volume,source=used-vol,destination=/d", image, "/bin/busybox", "true")
    for name in ("net-a", "net-b"):
        daemon.docker("network", "create", "--internal", "-o",
                      f"com.docker.network.bridge.name={daemon.bridge_prefix}{name[-1]}", name)
    for name in ("vol-a", "vol-b"):
        daemon.docker("volume", "create", name)
    daemon.make_build_cache(tag="ref/buildcache:1")


REFERENCE_ARGS = {
    "containers": True, "containers_filters": {"label": ["prune=yes"]},
    "images": True, "images_filters": {"dangling": False},
    "networks": True, "volumes": True, "builder_cache": True,
}


def test_same_removals_as_the_reference_module(prune_library, clean_dockerd, reference_venv, tmp_path):
    daemon = clean_dockerd
    prepare_named(daemon)
    prepared = shape(daemon)

    inventory = tmp_path / "ref.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": str(reference_venv / "bin" / "python")}}}}))
    playbook = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "reference", "community.docker.docker_prune": {"docker_host": daemon.host, **REFERENCE_ARGS}}]}]
    env = {"PATH": f"{reference_venv / 'bin'}:{os.environ['PATH']}"}
    argv_run = run_playbook(playbook, inventory, env=env, workdir=tmp_path)
    # run_playbook uses the project's ansible-playbook; the reference collection comes
    # from the reference venv's site-packages.
    if not argv_run.results or argv_run.last.failed:
        site = next((reference_venv / "lib").glob("python*/site-packages"))
        argv_run = run_playbook(playbook, inventory, env={**env, "ANSIBLE_COLLECTIONS_PATH": str(site)},
                                workdir=tmp_path)
    reference = argv_run.last
    assert reference.status == "ok", argv_run.output
    after_reference = shape(daemon)

    daemon.reset()
    prepare_named(daemon)
    assert shape(daemon) == prepared, "the two preparations differ"
    ours = prune(prune_library, daemon, REFERENCE_ARGS)
    assert ours.status == "ok", ours.result
    assert shape(daemon) == after_reference
    for key in ("containers", "networks", "volumes"):
        assert len(ours[key]) == len(reference[key]), key
    assert len(ours["images"]) == len(reference["images"])
    assert len(ours["builder_cache_caches_deleted"]) == len(reference["builder_cache_caches_deleted"] or [])
    assert ours.changed == reference.changed is True
