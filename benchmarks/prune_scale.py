"""Section 4: prune at scale on the private daemon.

State, rebuilt identically before every measured prune: IMAGES dangling images and
CONTAINERS stopped containers (state `created`), plus one tagged image the containers were
created from (it must survive). The images come from one `docker load` of a generated
archive: IMAGES untagged image configs (distinct labels, so distinct IDs, the same IDs in
every rebuild) over one shared one-file layer, which takes about a second instead of the
minutes that IMAGES `docker build`s take. The containers are created through the Engine
API, four at a time. Preparation is timed separately and not included.

Each method must leave exactly the tagged image and nothing else (checked after each run).
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import json
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any, Callable

from .common import Artifacts, localhost_inventory, log, playbook, summary

BASE_TAG = "bench/base:latest"


def _tar(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_archive(images: int) -> bytes:
    """A `docker save`-format archive: `images` untagged images + BASE_TAG, one shared layer."""
    layer = _tar([("token", b"ci-tools-docker benchmark\n")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    files = [("layer/layer.tar", layer)]
    manifest = []
    for i in range(images + 1):
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Labels": {"ci-tools-bench": str(i)}, "Cmd": ["/token"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ci-tools-docker bench"}],
        }, sort_keys=True).encode()
        name = hashlib.sha256(config).hexdigest() + ".json"
        files.append((name, config))
        manifest.append({"Config": name, "RepoTags": [BASE_TAG] if i == images else None,
                         "Layers": ["layer/layer.tar"]})
    files.append(("manifest.json", json.dumps(manifest).encode()))
    return _tar(files)


class Scale:
    def __init__(self, daemon, art: Artifacts, workdir: Path, images: int, containers: int):
        self.daemon, self.art, self.workdir = daemon, art, workdir
        self.images, self.containers = images, containers
        workdir.mkdir(parents=True, exist_ok=True)
        self.archive = workdir / "images.tar"
        self.archive.write_bytes(image_archive(images))
        self.inventory = localhost_inventory(workdir / "localhost.yml", art.target_python)
        self.args = {"containers": True, "images": True, "docker_host": daemon.host}
        self.args_file = workdir / "prune-args.json"
        self.args_file.write_text(json.dumps(self.args))

    # -- state ---------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        d = self.daemon
        lines = lambda *a: len([x for x in d.docker(*a).stdout.split() if x])  # noqa: E731
        return {"containers": lines("ps", "-aq"), "images": lines("images", "-aq"),
                "dangling": lines("images", "-q", "--filter", "dangling=true")}

    def prepare(self) -> dict[str, float]:
        d = self.daemon
        t0 = time.monotonic()
        d.docker("load", "-q", "-i", str(self.archive), timeout=600)
        t1 = time.monotonic()

        def create(i: int) -> None:
            status, body = d.api("POST", f"/containers/create?name=bench-stopped-{i}", {
                "Image": BASE_TAG, "Cmd": ["/token"], "Labels": {"ci-tools-bench": "1"},
                "HostConfig": {"NetworkMode": "none"}})
            if status != 201:
                raise RuntimeError(f"container create: {status} {body[:300]!r}")

        with cf.ThreadPoolExecutor(4) as pool:
            list(pool.map(create, range(self.containers)))
        t2 = time.monotonic()
        got = self.counts()
        want = {"containers": self.containers, "images": self.images + 1, "dangling": self.images}
        if got != want:
            raise RuntimeError(f"prepared state {got}, expected {want}")
        return {"images": t1 - t0, "containers": t2 - t1}

    def check_pruned(self, method: str) -> None:
        got = self.counts()
        if got != {"containers": 0, "images": 1, "dangling": 0}:
            raise RuntimeError(f"{method} left {got}; expected only {BASE_TAG}")

    # -- methods: each returns seconds (and extra figures) --------------------------------
    def docker_cli(self) -> dict[str, float]:
        t0 = time.monotonic()
        self.daemon.docker("container", "prune", "-f", timeout=600)
        self.daemon.docker("image", "prune", "-f", timeout=600)
        return {"seconds": time.monotonic() - t0}

    def ours_direct(self) -> dict[str, float]:
        t0 = time.monotonic()
        proc = subprocess.run([str(self.art.binary("docker_prune")), str(self.args_file)],
                              capture_output=True, text=True, timeout=600)
        seconds = time.monotonic() - t0
        result = json.loads(proc.stdout)
        if result.get("failed") or not result.get("changed"):
            raise RuntimeError(f"docker_prune: {proc.stdout[-2000:]}")
        return {"seconds": seconds, "reported_containers": len(result.get("containers") or []),
                "reported_images": len(result.get("images") or [])}

    def _ansible(self, module: str, extra_vars: dict[str, Any]) -> dict[str, float]:
        book = [{"hosts": "all", "gather_facts": False, "vars": extra_vars, "tasks": [
            {"name": "prune", module: self.args}]}]
        run = playbook(book, self.inventory, self.workdir, check_ok=False,
                       env={"ANSIBLE_COLLECTIONS_PATH": self.art.collections_path})
        if not run.tasks or run.tasks[-1]["end"] is None:
            raise RuntimeError(f"ansible-playbook rc={run.rc}: {run.stderr[-300:]}")
        [task] = run.tasks
        if task["status"] != "ok":
            raise RuntimeError(f"{module} {task['status']}: {task.get('msg', '')}")
        if not task["changed"]:
            raise RuntimeError(f"{module} reported no change")
        return {"seconds": (task["end"] - task["start"]) / 1e9, "wall": run.wall}

    def ours_fast(self) -> dict[str, float]:
        return self._ansible("ci_tools.docker.docker_prune", {"ci_tools_docker_fast_transport": True})

    def ours_plain(self) -> dict[str, float]:
        return self._ansible("ci_tools.docker.docker_prune", {"ci_tools_docker_fast_transport": False})

    def community(self) -> dict[str, float]:
        return self._ansible("community.docker.docker_prune", {})


METHODS: list[tuple[str, str]] = [
    ("docker_cli", "`docker container prune -f` + `docker image prune -f`"),
    ("ours_direct", "ci_tools.docker.docker_prune, binary run directly (args file)"),
    ("ours_fast", "ci_tools.docker.docker_prune via ansible-playbook (fast path)"),
    ("ours_plain", "ci_tools.docker.docker_prune via ansible-playbook (plain path)"),
    ("community", "community.docker.docker_prune via ansible-playbook"),
]


def run(daemon, art: Artifacts, workdir: Path, *, images: int, containers: int, reps: int) -> dict[str, Any]:
    log(f"prune at scale: {images} dangling images + {containers} stopped containers, {reps} reps")
    daemon.reset()
    scale = Scale(daemon, art, workdir, images, containers)
    prep: list[dict[str, float]] = []
    results: dict[str, list[dict[str, float]]] = {m: [] for m, _ in METHODS}
    errors: dict[str, str] = {}
    for rep in range(reps):
        # Rotate the order so that no method always runs first (or right after another).
        order = METHODS[rep % len(METHODS):] + METHODS[:rep % len(METHODS)]
        for key, _ in order:
            if key in errors:
                continue
            prep.append(scale.prepare())
            method: Callable[[], dict[str, float]] = getattr(scale, key)
            try:
                results[key].append(method())
                scale.check_pruned(key)
            except Exception as exc:  # reported, and the state is rebuilt from scratch
                errors[key] = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
                log(f"  {key} failed: {errors[key]}")
                daemon.reset()
        log(f"  rep {rep + 1}/{reps} done")
    daemon.reset()
    return {
        "images": images, "containers": containers, "reps": reps,
        "methods": [{"key": k, "label": label, "errors": errors.get(k),
                     "seconds": summary([r["seconds"] for r in results[k]]) if results[k] else None,
                     "wall": summary([r["wall"] for r in results[k]]) if results[k] and "wall" in results[k][0] else None,
                     "runs": results[k]}
                    for k, label in METHODS],
        "prep": {"images": summary([p["images"] for p in prep]),
                 "containers": summary([p["containers"] for p in prep])},
    }
