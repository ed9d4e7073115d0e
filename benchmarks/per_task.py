"""Section 1 (and the issue 9 rows): per-task cost through ansible-playbook.

One ansible-playbook run holds every row: after a warm-up round (one task of each row, not
counted: first uploads into the fast-transport cache, AnsiballZ payload builds, ...), N
tasks of each row, each row once without and once with pipelining (the `ansible_pipelining`
variable on the row's block). Every module is in its converged state, so every measured
task reports `changed: false` (checked). The cost of a task is the time from its start to
the next task's start on the controller's clock (callback bench_timer): everything
ansible-playbook spends on it, controller work included. Per run a row's figure is the mean
of its N tasks; the table shows the median over the runs and the spread (min-max) of the
runs.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import Artifacts, PlaybookRun, localhost_inventory, log, median, playbook, summary

ROOT_CACHE_CVT = 30 * 24 * 3600  # docker_install: the package lists count as fresh (no apt-get update)


@dataclass
class Row:
    key: str
    label: str
    kind: str                  # ours-fast | ours-plain | floor-fast | floor-plain | alt | ref
    job: str | None            # prune | socket_group | install | None
    module: str
    args: dict[str, Any] = field(default_factory=dict)
    become: bool = False
    fast: bool | None = None   # ci_tools_docker_fast_transport (our modules and the floor)

    def task(self, name: str) -> dict[str, Any]:
        # ignore_errors: a row that fails is reported as failing, the others still run.
        task: dict[str, Any] = {"name": name, self.module: dict(self.args), "ignore_errors": True}
        if self.become:
            task["become"] = True
        return task


def rows_for(target: str, *, docker_host: str | None, dropin: dict[str, Any] | None) -> list[Row]:
    prune_args: dict[str, Any] = {"images": True}
    if docker_host:
        prune_args["docker_host"] = docker_host
    rows = []
    for fast in (True, False):
        path = "fast" if fast else "plain"
        rows.append(Row(f"prune_{path}", f"ci_tools.docker.docker_prune ({path} path)",
                        f"ours-{path}", "prune", "ci_tools.docker.docker_prune", prune_args,
                        fast=fast))
        if target == "ssh":
            rows.append(Row(f"socket_group_{path}", f"ci_tools.docker.socket_group ({path} path)",
                            f"ours-{path}", "socket_group", "ci_tools.docker.socket_group",
                            {"user": "zuul"}, become=True, fast=fast))
            rows.append(Row(f"install_{path}", f"ci_tools.docker.docker_install ({path} path)",
                            f"ours-{path}", "install", "ci_tools.docker.docker_install",
                            {"cache_valid_time": ROOT_CACHE_CVT}, become=True, fast=fast))
        rows.append(Row(f"floor_{path}", f"floor: trivial static binary ({path} path)",
                        f"floor-{path}", None, "bench.floor.floor", {}, fast=fast))
    rows.append(Row("community_prune", "community.docker.docker_prune", "alt", "prune",
                    "community.docker.docker_prune", prune_args))
    if target == "ssh":
        rows += [
            Row("apt", "ansible.builtin.apt (docker.io present)", "alt", "install",
                "ansible.builtin.apt", {"name": "docker.io", "state": "present"}, become=True),
            Row("systemd_docker", "ansible.builtin.systemd_service (docker.service started+enabled)",
                "alt", "install", "ansible.builtin.systemd_service",
                {"name": "docker.service", "state": "started", "enabled": True}, become=True),
            Row("copy_dropin", "ansible.builtin.copy (the socket drop-in)", "alt", "socket_group",
                "ansible.builtin.copy", dropin or {}, become=True),
            Row("systemd_socket", "ansible.builtin.systemd_service (docker.socket started)", "alt",
                "socket_group", "ansible.builtin.systemd_service",
                {"name": "docker.socket", "state": "started"}, become=True),
        ]
    rows += [
        Row("ping", "ansible.builtin.ping (trivial Python module)", "ref", None, "ansible.builtin.ping"),
        Row("raw", "ansible.builtin.raw `true` (one remote command, no module)", "ref", None,
            "ansible.builtin.raw", {"_raw_params": "true"}),
        Row("debug", "ansible.builtin.debug (controller only, no remote command)", "ref", None,
            "ansible.builtin.debug", {"msg": "x"}),
    ]
    return rows


PIPES = (False, True)


def _block(row: Row, pipelining: bool, names: list[str]) -> dict[str, Any]:
    block_vars: dict[str, Any] = {"ansible_pipelining": pipelining}
    if row.fast is not None:
        block_vars["ci_tools_docker_fast_transport"] = row.fast
    return {"name": f"{row.key} pipelining={pipelining}", "vars": block_vars,
            "block": [row.task(n) for n in names]}


def measurement_book(rows: list[Row], n: int) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for row in rows:
        for pipe in PIPES:
            tasks.append(_block(row, pipe, [f"W|{row.key}|{int(pipe)}|0"]))
    for row in rows:
        for pipe in PIPES:
            tasks.append(_block(row, pipe, [f"M|{row.key}|{int(pipe)}|{i}" for i in range(n)]))
    tasks.append({"name": "END", "ansible.builtin.debug": {"msg": "end"}})
    # Facts once per run (min subset): the plain path takes the target's architecture from
    # them, as it would in most plays; not part of any measured task.
    return [{"name": "per-task cost", "hosts": "all", "gather_facts": True,
             "gather_subset": ["!all"], "tasks": tasks}]


def intervals(run: PlaybookRun, prefix: str = "M|") -> dict[tuple[str, bool], list[float]]:
    """(row, pipelining) -> seconds per measured task (start to the next task's start)."""
    out: dict[tuple[str, bool], list[float]] = {}
    tasks = run.tasks
    for i, t in enumerate(tasks):
        if not t["name"].startswith(prefix):
            continue
        _, key, pipe, _ = t["name"].split("|")
        nxt = tasks[i + 1]["start"] if i + 1 < len(tasks) else run.end
        out.setdefault((key, pipe == "1"), []).append((nxt - t["start"]) / 1e9)
    return out


def unconverged(run: PlaybookRun) -> list[str]:
    # raw always reports changed: it has no state to converge.
    return sorted({t["name"].split("|")[1] for t in run.tasks
                   if t["name"].startswith("M|") and t["changed"] and t["action"] != "ansible.builtin.raw"})


def failures(run: PlaybookRun) -> dict[str, str]:
    """(row|pipelining) -> the first failure message of its tasks (warm-up included)."""
    out: dict[str, str] = {}
    for t in run.tasks:
        if t["name"][:2] in ("W|", "M|") and t["status"] in ("failed", "unreachable"):
            _, key, pipe, _ = t["name"].split("|")
            out.setdefault(f"{key}|{pipe}", t.get("msg", "failed"))
    return out


def measure(rows: list[Row], inventory: Path, workdir: Path, env: dict[str, str], *, n: int,
            runs: int) -> dict[str, Any]:
    per_run: dict[tuple[str, bool], list[float]] = {}
    raw: dict[tuple[str, bool], list[float]] = {}
    walls, changed, failed = [], set(), {}
    book = measurement_book(rows, n)
    first: dict[str, float] = {}
    for r in range(runs):
        run = playbook(book, inventory, workdir, env=env)
        walls.append(run.wall)
        if r == 0:  # the warm-up round of the first run: caches as the caller left them
            first = {f"{k}|{int(p)}": xs[0] * 1000 for (k, p), xs in intervals(run, "W|").items()}
        changed |= set(unconverged(run))
        for key, msg in failures(run).items():
            failed.setdefault(key, msg)
        for key, xs in intervals(run).items():
            per_run.setdefault(key, []).append(sum(xs) / len(xs))
            raw.setdefault(key, []).extend(xs)
        log(f"  run {r + 1}/{runs}: {run.wall:.1f} s")
    result = {}
    for row in rows:
        for pipe in PIPES:
            runs_ms = [x * 1000 for x in per_run[(row.key, pipe)]]
            tasks_ms = [x * 1000 for x in raw[(row.key, pipe)]]
            cell = f"{row.key}|{int(pipe)}"
            result[cell] = {
                "median": median(runs_ms), "min": min(runs_ms), "max": max(runs_ms),
                "runs": runs_ms, "tasks": summary(tasks_ms)}
            if cell in failed:
                result[cell]["failed"] = failed[cell]
    return {"rows": [row.__dict__ for row in rows], "cells": result, "n": n, "runs": runs,
            "walls": walls, "changed": sorted(changed), "failed": failed,
            "first_task": first}


# -- the targets ---------------------------------------------------------------------------

def bare_ssh(node, samples: int) -> dict[str, Any]:
    """`ssh ... zuul@127.0.0.1 true` over the ControlPersist master ansible uses, with
    ansible's ssh arguments for the node (ssh_args, key, port)."""
    argv = ["ssh", *shlex.split(node.ansible_ssh_args()), "-i", str(node.key), "-p", str(node.port),
            "-o", "BatchMode=yes", "zuul@127.0.0.1", "true"]
    if node.master_pid() is None:
        raise RuntimeError("no ControlPersist master to measure against")
    times = []
    for _ in range(samples + 3):
        t0 = time.perf_counter_ns()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return {"argv": argv, **summary(times[3:])}


def fast_commands(node, art: Artifacts, workdir: Path, rows: list[Row], samples: int) -> dict[str, Any]:
    """The one SSH command the fast path runs for a warm task, taken from ansible's -vvv
    output and run by hand over the same master (args on stdin): the transport and the
    module without the controller's per-task work."""
    env = {"ANSIBLE_COLLECTIONS_PATH": art.collections_path}
    out = {}
    for row in rows:
        if row.kind != "ours-fast":
            continue
        run = playbook([{"hosts": "all", "gather_facts": False,
                         "tasks": [row.task("warm"), row.task("traced")]}],
                       node.inventory, workdir, env=env, verbosity=3)
        # The command spans lines (the script); shlex-quoted, so it ends where it parses.
        lines = run.stdout.rsplit("SSH: EXEC ", 1)[1].splitlines()
        for end in range(1, len(lines) + 1):
            try:
                argv = shlex.split("\n".join(lines[:end]))
                break
            except ValueError:
                continue
        else:
            raise RuntimeError(f"cannot parse the fast path's ssh command from -vvv output")
        data = json.dumps(row.args)
        times = []
        for i in range(samples + 3):
            t0 = time.perf_counter_ns()
            proc = subprocess.run(argv, input=data, capture_output=True, text=True)
            t1 = time.perf_counter_ns()
            result = json.loads(proc.stdout[proc.stdout.index("{"):])
            if result.get("changed") or result.get("failed"):
                raise RuntimeError(f"{row.key} by hand: {proc.stdout[-1000:]}")
            if i >= 3:
                times.append((t1 - t0) / 1e6)
        out[row.key] = summary(times)
    return out


def ssh_operations(node, art: Artifacts, workdir: Path, rows: list[Row]) -> list[dict[str, Any]]:
    """How many ssh/sftp invocations one warm task makes, and how many uploads, per row and
    pipelining setting (counted in ansible's -vvv output, one playbook, each row twice and
    the second task counted)."""
    env = {"ANSIBLE_COLLECTIONS_PATH": art.collections_path}
    cases = [(row, pipe) for row in rows for pipe in PIPES
             if row.key != "debug" and not (row.kind.endswith(("fast", "plain")) and pipe)]
    tasks = [_block(row, pipe, [f"first {row.key} {int(pipe)}", f"counted {row.key} {int(pipe)}"])
             for row, pipe in cases]
    tasks.append({"name": "END", "ansible.builtin.debug": {"msg": "end"}})
    run = playbook([{"hosts": "all", "gather_facts": True, "gather_subset": ["!all"],
                     "tasks": tasks}], node.inventory, workdir, env=env, verbosity=3)
    out = []
    for row, pipe in cases:
        text = run.stdout.split(f"TASK [counted {row.key} {int(pipe)}]", 1)[1].split("TASK [", 1)[0]
        out.append({"row": row.key, "label": row.label, "pipelining": pipe,
                    "ssh": text.count("SSH: EXEC "), "uploads": text.count("PUT ")})
    return out


def converge_node(node, art: Artifacts, workdir: Path) -> dict[str, Any]:
    """Everything into the state the measured tasks find: Docker installed and running,
    the socket given to zuul's group, nothing to prune. Returns the copy task's args."""
    env = {"ANSIBLE_COLLECTIONS_PATH": art.collections_path}
    book = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "install", "become": True,
         "ci_tools.docker.docker_install": {"cache_valid_time": ROOT_CACHE_CVT}},
        {"name": "socket group", "become": True, "ci_tools.docker.socket_group": {"user": "zuul"},
         "register": "sg"},
        {"name": "prune", "ci_tools.docker.docker_prune": {"images": True}},
    ]}]
    playbook(book, node.inventory, workdir, env=env)
    out = node.root_sh("for f in /etc/systemd/system/docker.socket.d/*.conf; do "
                       "stat -c '%n %a %U %G' \"$f\"; done").stdout.split()
    if len(out) != 4:
        raise RuntimeError(f"expected one drop-in for docker.socket, found: {out}")
    path, mode, owner, group = out
    content = node.root_sh(["cat", path]).stdout
    # The alternative writes exactly what ours wrote: both stay converged side by side.
    return {"dest": path, "content": content, "mode": "0" + mode, "owner": owner, "group": group}


def run_ssh(node, art: Artifacts, workdir: Path, *, n: int, runs: int, ssh_samples: int) -> dict[str, Any]:
    log("per-task cost over SSH: converging the node")
    dropin = converge_node(node, art, workdir)
    rows = rows_for("ssh", docker_host=None, dropin=dropin)
    # Empty fast-transport caches: the first run's warm-up tasks show what the first task
    # on a host costs (the upload into the cache).
    node.root_sh("rm -rf /var/cache/ci-tools-docker/bin /home/zuul/.cache/ci-tools-docker")
    log(f"per-task cost over SSH: {len(rows)} rows x 2 pipelining settings x {n} tasks x {runs} runs")
    env = {"ANSIBLE_COLLECTIONS_PATH": art.collections_path}
    result = measure(rows, node.inventory, workdir, env, n=n, runs=runs)
    result["bare_ssh"] = bare_ssh(node, ssh_samples)
    result["by_hand"] = fast_commands(node, art, workdir, rows, ssh_samples)
    result["ssh_operations"] = ssh_operations(node, art, workdir, rows)
    result["dropin"] = {k: v for k, v in dropin.items() if k != "content"}
    return result


def run_local(daemon, art: Artifacts, workdir: Path, *, n: int, runs: int) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    inventory = localhost_inventory(workdir / "localhost.yml", art.target_python)
    rows = rows_for("local", docker_host=daemon.host, dropin=None)
    log(f"per-task cost over the local connection: {len(rows)} rows x 2 x {n} tasks x {runs} runs")
    env = {"ANSIBLE_COLLECTIONS_PATH": art.collections_path}
    return measure(rows, inventory, workdir, env, n=n, runs=runs)
