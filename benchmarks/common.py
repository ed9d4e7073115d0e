"""Shared pieces of the benchmarks: paths, the build, the collections, ansible runs, stats."""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from tests.harness.ansible_run import ansible_env

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "benchmarks"
VENV_BIN = REPO / ".venv" / "bin"
CALLBACK_DIR = BENCH_DIR / "callback_plugins"
FLOOR_SRC = BENCH_DIR / "floor" / "floor.rs"
MODULES = ("docker_prune", "socket_group", "docker_install")
ARCHES = ("x86_64", "aarch64")
# The reference venv of tests/integration/test_docker_prune.py: the `ansible` package
# (community.docker among its collections) on the same ansible-core as .venv.
REF_ANSIBLE = "ansible==12.3.0"
REF_VENV = Path(os.environ.get("CI_TOOLS_CACHE", "/var/cache/ci-tools-docker")) / "ref-venv"
MUSL = "x86_64-unknown-linux-musl"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(argv: Sequence[str | os.PathLike], *, check: bool = True, timeout: float = 1800,
       env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
       input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                          env=dict(env) if env is not None else None, cwd=cwd, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError(f"command failed (rc={proc.returncode}): {' '.join(map(str, argv))}\n"
                           f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}")
    return proc


# -- statistics -----------------------------------------------------------------------------

def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def quantile(xs: Sequence[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(xs: Sequence[float]) -> dict[str, float]:
    xs = list(xs)
    return {"n": len(xs), "median": median(xs), "min": min(xs) if xs else float("nan"),
            "max": max(xs) if xs else float("nan"), "p10": quantile(xs, 0.1),
            "p90": quantile(xs, 0.9),
            "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0}


# -- what the run is made of -----------------------------------------------------------------

@dataclass
class Artifacts:
    work: Path                      # scratch dir of this run
    tarball: Path                   # ansible-galaxy collection build output
    collections: Path               # the tarball installed (ANSIBLE_COLLECTIONS_PATH entry)
    floor_collections: Path         # bench.floor: the floor module + a copy of the action plugin
    floor_binary: Path
    ref_site: Path                  # ref venv site-packages
    ref_collections: Path           # a collections dir with only community.docker (linked)
    ref_python: Path
    target_python: Path             # the local connection's interpreter (needs requests)
    build_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def installed(self) -> Path:
        return self.collections / "ansible_collections" / "ci_tools" / "docker"

    def binary(self, module: str, arch: str = "x86_64") -> Path:
        return self.installed / "bin" / arch / module

    @property
    def collections_path(self) -> str:
        # Ours, the floor, community.docker from the `ansible` package (alone: searching
        # all of that package's ~100 collections would slow every task down a little).
        return os.pathsep.join(str(p) for p in (self.collections, self.floor_collections,
                                                self.ref_collections))


def build_modules() -> float:
    log("cargo xtask build (static x86_64 + aarch64 binaries)")
    t0 = time.monotonic()
    sh(["cargo", "xtask", "build"], cwd=REPO, timeout=3600)
    return time.monotonic() - t0


def build_floor(out: Path) -> Path:
    """The floor module: rustc, musl, opt-level=z, as small and static as std allows."""
    binary = out / "floor"
    sh(["rustc", "--edition", "2021", "--target", MUSL, "-C", "opt-level=z", "-C", "panic=abort",
        "-C", "lto", "-C", "codegen-units=1", "-C", "strip=symbols", "-o", binary, FLOOR_SRC])
    if sh([binary]).stdout != '{"changed": false}\n':
        raise RuntimeError("the floor module printed something unexpected")
    return binary


def floor_collection(root: Path, binary: Path) -> Path:
    """Collection bench.floor: the floor binary routed through a copy of our action plugin
    (so it has the same fast and plain paths as our modules), plain binary in plugins/modules."""
    coll = root / "ansible_collections" / "bench" / "floor"
    (coll / "plugins" / "modules").mkdir(parents=True)
    shutil.copytree(REPO / "plugins" / "action", coll / "plugins" / "action")
    (coll / "meta").mkdir()
    (coll / "meta" / "runtime.yml").write_text(yaml.safe_dump({
        "requires_ansible": ">=2.14",
        "plugin_routing": {"modules": {"floor": {"action_plugin": "bench.floor.fast_binary"}}}}))
    (coll / "galaxy.yml").write_text(yaml.safe_dump({
        "namespace": "bench", "name": "floor", "version": "1.0.0", "readme": "README.md",
        "authors": ["bench"]}))
    (coll / "bin" / "x86_64").mkdir(parents=True)
    shutil.copy2(binary, coll / "bin" / "x86_64" / "floor")
    shutil.copy2(binary, coll / "plugins" / "modules" / "floor")
    return root


def ensure_ref_venv() -> Path:
    """Same venv, same marker as tests/integration/test_docker_prune.py (shared cache)."""
    marker = REF_VENV / f".installed-{REF_ANSIBLE}"
    if not marker.exists():
        log(f"creating the reference venv {REF_VENV} ({REF_ANSIBLE}, requests)")
        shutil.rmtree(REF_VENV, ignore_errors=True)
        REF_VENV.parent.mkdir(parents=True, exist_ok=True)
        sh([VENV_BIN / "python", "-m", "venv", REF_VENV])
        sh([REF_VENV / "bin" / "pip", "install", "-q", REF_ANSIBLE, "requests"], timeout=900)
        marker.write_text("ok\n")
    return REF_VENV


def local_python(venv: Path) -> Path:
    """The local connection's interpreter: Debian's python3 with python3-requests, as on
    the node; the reference venv's when the machine's python3 has no requests."""
    system = Path("/usr/bin/python3")
    if system.exists() and sh([system, "-c", "import requests"], check=False).returncode == 0:
        return system
    return venv / "bin" / "python"


def prepare(work: Path, *, build: bool = True) -> Artifacts:
    build_seconds = build_modules() if build else 0.0
    missing = [f"bin/{a}/{m}" for a in ARCHES for m in MODULES if not (REPO / "bin" / a / m).is_file()]
    if missing:
        raise RuntimeError(f"missing module binaries {missing}: run `cargo xtask build`")
    log("ansible-galaxy collection build / install")
    collections = work / "collections"
    for attempt in range(3):
        # cwd outside the checkout: its ansible.cfg is for running playbooks from there.
        dist = work / f"dist{attempt}"
        dist.mkdir()
        sh([VENV_BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", dist, REPO],
           cwd=work)
        [tarball] = dist.glob("ci_tools-docker-*.tar.gz")
        proc = sh([VENV_BIN / "ansible-galaxy", "collection", "install", "--force", "-p", collections,
                   tarball], cwd=work, check=False)
        if proc.returncode == 0:
            break
        # A build running beside us replaced a binary while the tarball was written.
        log(f"collection install failed, building the tarball again: {proc.stderr.strip()[-300:]}")
        time.sleep(30)
    else:
        raise RuntimeError(f"ansible-galaxy collection install failed: {proc.stderr[-2000:]}")
    log("floor module (rustc, musl, opt-level=z)")
    floor_dir = work / "floor"
    floor_dir.mkdir()
    floor = build_floor(floor_dir)
    floor_coll = floor_collection(work / "floor-collections", floor)
    venv = ensure_ref_venv()
    [site] = (venv / "lib").glob("python3*/site-packages")
    ref_collections = work / "ref-collections"
    (ref_collections / "ansible_collections" / "community").mkdir(parents=True)
    (ref_collections / "ansible_collections" / "community" / "docker").symlink_to(
        site / "ansible_collections" / "community" / "docker")
    return Artifacts(work=work, tarball=tarball, collections=collections,
                     floor_collections=floor_coll, floor_binary=floor, ref_site=site,
                     ref_collections=ref_collections,
                     ref_python=venv / "bin" / "python", target_python=local_python(venv),
                     build_seconds=build_seconds)


# -- ansible-playbook with task timings -----------------------------------------------------

@dataclass
class PlaybookRun:
    rc: int
    wall: float                  # seconds, the whole ansible-playbook process
    tasks: list[dict[str, Any]]  # from the bench_timer callback (ns, controller clock)
    end: int                     # ns, v2_playbook_on_stats
    stdout: str
    stderr: str

    def failed(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks
                if t["status"] in ("failed", "unreachable") and not t.get("ignored")]

    def changed(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t["changed"]]

    def recap(self) -> str:
        m = re.findall(r"^\S+\s+:\s+ok=.*$", self.stdout, re.M)
        return m[-1] if m else ""


def playbook(book: list | str, inventory: Path, workdir: Path, *, env: Mapping[str, str] | None = None,
             timeout: float = 1800, check_ok: bool = True, verbosity: int = 0) -> PlaybookRun:
    """ansible-playbook with the default stdout callback (what users see) plus bench_timer."""
    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="book-", suffix=".yml", dir=workdir)
    with os.fdopen(fd, "w") as f:
        f.write(book if isinstance(book, str) else yaml.safe_dump(book, sort_keys=False))
    times = Path(name).with_suffix(".times.json")
    full_env = ansible_env({
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
        "BENCH_TIMES_FILE": str(times),
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        **(env or {}),
    })
    full_env.pop("HARNESS_RESULTS_FILE", None)
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), name]
    if verbosity:
        argv.append("-" + "v" * verbosity)
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=workdir,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    doc = json.loads(times.read_text()) if times.exists() else {"tasks": [], "end": 0}
    run = PlaybookRun(rc=proc.returncode, wall=wall, tasks=doc["tasks"], end=doc["end"],
                      stdout=proc.stdout, stderr=proc.stderr)
    if check_ok and (proc.returncode != 0 or run.failed()):
        raise RuntimeError(f"ansible-playbook {name} failed (rc={proc.returncode}):\n"
                           f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    return run


def localhost_inventory(path: Path, python: Path) -> Path:
    path.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": str(python)}}}}))
    return path


# -- the machine ---------------------------------------------------------------------------

def loadavg() -> tuple[float, float, float]:
    a, b, c = open("/proc/loadavg").read().split()[:3]
    return float(a), float(b), float(c)


def wait_for_load(limit: float, max_wait: float) -> float:
    """Wait until the 1-minute load average is below `limit` (at most max_wait s)."""
    deadline = time.monotonic() + max_wait
    while True:
        load = loadavg()[0]
        if load < limit or time.monotonic() >= deadline:
            return load
        log(f"load {load:.2f} >= {limit}: waiting")
        time.sleep(20)


def _first(cmd: Sequence[str], pattern: str | None = None) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout + out.stderr).strip()
    if pattern:
        m = re.search(pattern, text)
        return m.group(1) if m else "?"
    return text.splitlines()[0] if text else "?"


def machine_info(art: Artifacts) -> dict[str, Any]:
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
    os_name = "?"
    if Path("/etc/os-release").exists():
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
        os_name = m.group(1) if m else "?"
    community_docker = "?"
    manifest = art.ref_site / "ansible_collections" / "community" / "docker" / "MANIFEST.json"
    if manifest.exists():
        community_docker = json.loads(manifest.read_text())["collection_info"]["version"]
    commit = _first(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True,
                           text=True).stdout.strip()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(), "os": os_name,
        "python": platform.python_version(),
        "ansible_core": _first([str(VENV_BIN / "ansible"), "--version"], r"core ([0-9.]+)"),
        "ansible_package": REF_ANSIBLE.split("==")[1],
        "community_docker": community_docker,
        "rustc": _first(["rustc", "--version"]),
        "openssh": _first(["ssh", "-V"]),
        "docker_machine": _first(["dockerd", "--version"]),
        "target_python": f"{art.target_python} ("
                         + _first([str(art.target_python), "--version"]) + ")",
        "git": commit + (" (with uncommitted changes)" if dirty else ""),
    }
