"""Section 3: what gets uploaded per task, and the collection tarball.

Our modules: the binary (per architecture) that Ansible's normal path uploads on every task
and the fast transport uploads once per host and content hash. The floor module. The
Python alternatives: the AnsiballZ payload Ansible builds for them, which it uploads per
module run when pipelining is off (and pipes through the connection when it is on);
measured by running each once (check mode; copy onto an identical file) over the local
connection with
ANSIBLE_KEEP_REMOTE_FILES=1 and measuring what was left in the remote temp dir.
"""
from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from .common import ARCHES, MODULES, Artifacts, localhost_inventory, log, playbook

ALTERNATIVES = [
    ("community.docker.docker_prune", {"images": True, "docker_host": "unix:///nonexistent/bench.sock"}),
    ("ansible.builtin.apt", {"name": "docker.io", "state": "present"}),
    ("ansible.builtin.systemd_service", {"name": "docker.service", "state": "started"}),
    ("ansible.builtin.copy", {"dest": "@converged@", "content": "x\n"}),
    ("ansible.builtin.ping", {}),
]


def payloads(art: Artifacts, workdir: Path) -> dict[str, list[dict[str, Any]]]:
    """module -> the AnsiballZ files one run of it left behind (name, bytes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    inventory = localhost_inventory(workdir / "localhost.yml", art.target_python)
    out = {}
    converged = workdir / "converged.conf"
    converged.write_text("x\n")  # what the copy task would write: stat + file, no transfer
    for module, args in ALTERNATIVES:
        args = {k: (str(converged) if v == "@converged@" else v) for k, v in args.items()}
        remote_tmp = workdir / ("remote-" + module.replace(".", "-"))
        remote_tmp.mkdir()
        book = [{"hosts": "all", "gather_facts": False, "tasks": [
            {"name": module, module: args, "check_mode": True, "ignore_errors": True}]}]
        playbook(book, inventory, workdir, env={
            "ANSIBLE_COLLECTIONS_PATH": art.collections_path, "ANSIBLE_KEEP_REMOTE_FILES": "1",
            "ANSIBLE_REMOTE_TMP": str(remote_tmp), "ANSIBLE_PIPELINING": "0"})
        files = sorted(remote_tmp.rglob("AnsiballZ_*.py"))
        out[module] = [{"name": f.name, "bytes": f.stat().st_size} for f in files]
    return out


def run(art: Artifacts, workdir: Path) -> dict[str, Any]:
    log("sizes")
    binaries = {m: {a: art.binary(m, a).stat().st_size for a in ARCHES} for m in MODULES}
    with tarfile.open(art.tarball) as t:
        members = t.getmembers()
    return {
        "binaries": binaries,
        "floor": art.floor_binary.stat().st_size,
        "tarball": {"name": art.tarball.name, "bytes": art.tarball.stat().st_size,
                    "files": sum(1 for m in members if m.isfile()),
                    "unpacked": sum(m.size for m in members if m.isfile())},
        "ansiballz": payloads(art, workdir),
    }
