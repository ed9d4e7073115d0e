"""Section 2: each module's own run time, executed directly with an args file (no Ansible).

Inside the converged node, as root: `MODULE ARGS_FILE`, the way Ansible's normal binary
path runs it, timed by a small Python loop on the node (time.perf_counter_ns around
fork+exec+wait), after a few warm-up runs. Every run must report changed=false.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .common import Artifacts, log
from .per_task import ROOT_CACHE_CVT

NODE_DIR = "/root/bench-direct"

TIMER = r'''
import json, subprocess, sys, time, statistics
spec = json.loads(sys.argv[1])
out = {}
for name, argv, expect_json in spec["commands"]:
    times = []
    for i in range(spec["warmup"] + spec["samples"]):
        t0 = time.perf_counter_ns()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t1 = time.perf_counter_ns()
        if p.returncode != 0 and not expect_json:
            raise SystemExit(f"{name}: rc={p.returncode} {p.stderr[-500:]!r}")
        if expect_json:
            r = json.loads(p.stdout)
            if r.get("failed") or r.get("changed"):
                raise SystemExit(f"{name}: not an idempotent run: {p.stdout[-1500:]!r}")
        if i >= spec["warmup"]:
            times.append((t1 - t0) / 1e6)
    out[name] = times
print(json.dumps(out))
'''

MODULE_ARGS = {
    "docker_prune": {"images": True},
    "socket_group": {"user": "zuul"},
    "docker_install": {"cache_valid_time": ROOT_CACHE_CVT},
}


def run(node, art: Artifacts, *, samples: int, warmup: int = 3) -> dict[str, Any]:
    host_dir = node.rootfs / NODE_DIR.lstrip("/")
    host_dir.mkdir(parents=True, exist_ok=True)
    commands = []
    for module, args in MODULE_ARGS.items():
        shutil.copy2(art.binary(module), host_dir / module)
        (host_dir / f"{module}.json").write_text(json.dumps(args))
        commands.append([module, [f"{NODE_DIR}/{module}", f"{NODE_DIR}/{module}.json"], True])
    shutil.copy2(art.floor_binary, host_dir / "floor")
    (host_dir / "floor.json").write_text("{}")
    commands.append(["floor", [f"{NODE_DIR}/floor", f"{NODE_DIR}/floor.json"], True])
    commands.append(["docker image prune -f (Docker's CLI)",
                     ["docker", "image", "prune", "-f"], False])
    commands.append(["python3 -c pass (interpreter start)", ["python3", "-c", "pass"], False])
    (host_dir / "timer.py").write_text(TIMER)
    spec = {"commands": commands, "samples": samples, "warmup": warmup}
    log(f"direct module runs in the node: {len(commands)} commands x {samples} runs")
    out = node.root_sh(["python3", f"{NODE_DIR}/timer.py", json.dumps(spec)], timeout=1800).stdout
    times = json.loads(out)
    node.root_sh(["rm", "-rf", NODE_DIR])
    return {"samples": samples, "warmup": warmup, "args": MODULE_ARGS, "times": times}
