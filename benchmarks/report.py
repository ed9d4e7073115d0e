"""BENCHMARKS.md from the results of a run (benchmarks/__main__.py)."""
from __future__ import annotations

import math
from typing import Any

MODULE_LABEL = {"prune": "docker_prune", "socket_group": "socket_group", "install": "docker_install"}
ALTERNATIVE = {
    "prune": (["community_prune"], "community.docker.docker_prune"),
    "socket_group": (["copy_dropin", "systemd_socket"],
                     "ansible.builtin.copy (drop-in) + ansible.builtin.systemd_service (docker.socket)"),
    "install": (["apt", "systemd_docker"],
                "ansible.builtin.apt (docker.io) + ansible.builtin.systemd_service (docker.service)"),
}
CONFIGS = [("per_task_local", "0", "local"), ("per_task_local", "1", "local, pipelining"),
           ("per_task_ssh", "0", "SSH"), ("per_task_ssh", "1", "SSH, pipelining")]


def ms(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def secs(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "–"
    return f"{a / b:.2f}x"


def size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


class Cells:
    """Per-task medians of section 1, addressed by (result key, row, pipelining)."""

    def __init__(self, results: dict[str, Any]):
        self.r = results

    def cell(self, where: str, row: str, pipe: str) -> dict[str, Any] | None:
        sec = self.r.get(where)
        return sec["cells"].get(f"{row}|{pipe}") if sec else None

    def med(self, where: str, row: str, pipe: str) -> float | None:
        c = self.cell(where, row, pipe)
        return None if c is None or c.get("failed") else c["median"]

    def job(self, where: str, rows: list[str], pipe: str) -> float | None:
        vals = [self.med(where, row, pipe) for row in rows]
        return None if any(v is None for v in vals) else sum(vals)


def _footnotes() -> tuple[list[str], Any]:
    notes: list[str] = []

    def mark(msg: str) -> str:
        if msg not in notes:
            notes.append(msg)
        return f"fails[^f{notes.index(msg) + 1}]"
    return notes, mark


def machine(results: dict[str, Any]) -> list[str]:
    m = results.get("machine", {})
    node = results.get("node", {})
    la, le = results.get("load_start", [0, 0, 0]), results.get("load_end", [0, 0, 0])
    out = [
        "## Machine and versions", "",
        "| | |", "|---|---|",
        f"| run | {results.get('started', '?')}, {results.get('total_seconds', 0) / 60:.1f} min "
        f"(plus `cargo xtask build`: {results.get('build_seconds', 0):.1f} s){' — QUICK smoke run, small N' if results.get('quick') else ''} |",
        f"| command | `{' '.join(results.get('argv', ['benchmarks/run']))}` |",
        f"| commit | {m.get('git', '?')} |",
        f"| CPU | {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB |",
        f"| load average (1/5/15 min) | at start {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}; "
        f"at end {le[0]:.2f} / {le[1]:.2f} / {le[2]:.2f} |",
        f"| OS, kernel | {m.get('os', '?')}, Linux {m.get('kernel', '?')} |",
        f"| controller | Python {m.get('python', '?')}, ansible-core {m.get('ansible_core', '?')} "
        f"(`.venv`); community.docker {m.get('community_docker', '?')} from the `ansible` "
        f"{m.get('ansible_package', '?')} package (its ansible-core is the same release) |",
        f"| Rust | {m.get('rustc', '?')} (static musl binaries) |",
        f"| SSH | {m.get('openssh', '?')}, ControlPersist master, ansible's default `-C` |",
        f"| machine's dockerd (private daemon) | {m.get('docker_machine', '?')} |",
        f"| local connection's Python (modules' interpreter) | {m.get('target_python', '?')} |",
    ]
    if node:
        out.append(f"| node | Debian {node.get('suite')} in systemd-nspawn (tests/harness), "
                   f"docker.io {node.get('docker', '?')}, openssh-server {node.get('openssh', '?')}, "
                   f"{node.get('python', '?')}, sshd on 127.0.0.1 |")
    out.append("")
    return out


def section1(results: dict[str, Any], cells: Cells) -> list[str]:
    if "per_task_ssh" not in results and "per_task_local" not in results:
        return []
    src = results.get("per_task_ssh") or results.get("per_task_local")
    notes, mark = _footnotes()
    out = ["## 1. Per-task cost through ansible-playbook", "",
           f"N = {src['n']} tasks of each row per run, {src['runs']} runs of ansible-playbook per "
           "connection; milliseconds per task: the median over the runs of each run's mean, and "
           "the range of the run means. Every module is in its converged state (each measured "
           "task reported `changed: false`"
           + (f"; **not** converged: {', '.join(sorted(set(results.get('per_task_ssh', {}).get('changed', []) + results.get('per_task_local', {}).get('changed', []))))}"
              if (results.get('per_task_ssh', {}).get('changed') or results.get('per_task_local', {}).get('changed')) else "")
           + "). Over the local connection, only the rows that can run on this machine (it has "
           "no systemd as PID 1 and must not be changed): docker_prune against the private "
           "daemon, the floor, the references.", "",
           "| row | " + " | ".join(label for _, _, label in CONFIGS) + " |",
           "|---|" + "---:|" * len(CONFIGS)]
    seen = []
    for where in ("per_task_ssh", "per_task_local"):
        for row in (results.get(where) or {}).get("rows", []):
            if row["key"] not in [r["key"] for r in seen]:
                seen.append(row)
    order = ["ours-fast", "ours-plain", "floor-fast", "floor-plain", "alt", "ref"]
    seen.sort(key=lambda r: order.index(r["kind"]))
    for row in seen:
        line = [row["label"]]
        for where, pipe, _ in CONFIGS:
            c = cells.cell(where, row["key"], pipe)
            if c is None:
                line.append("n/a")
            elif c.get("failed"):
                line.append(mark(c["failed"]))
            else:
                line.append(f"**{ms(c['median'])}** ({ms(c['min'])}–{ms(c['max'])})")
        out.append("| " + " | ".join(line) + " |")
    out.append("")
    ssh = results.get("per_task_ssh")
    if ssh and ssh.get("bare_ssh"):
        b = ssh["bare_ssh"]
        out += [f"One bare SSH command round trip over the same ControlPersist master "
                f"(`ssh <ansible's ssh args for the node> zuul@127.0.0.1 true`, {b['n']} samples): "
                f"median **{ms(b['median'])} ms** (p10–p90 {ms(b['p10'])}–{ms(b['p90'])}).", ""]

    if ssh and ssh.get("ssh_operations"):
        out += ["SSH invocations of one warm task (counted in ansible's `-vvv` output; uploads "
                "are sftp invocations and counted in both columns):", "",
                "| row | pipelining | ssh invocations | of them uploads |", "|---|---|---:|---:|"]
        for op in ssh["ssh_operations"]:
            pipe = "on" if op["pipelining"] else ("off" if not op["row"].endswith(("_fast", "_plain")) else "either")
            out.append(f"| {op['label']} | {pipe} | {op['ssh']} | {op['uploads']} |")
        out.append("")
    if ssh and ssh.get("first_task"):
        ft = ssh["first_task"]
        parts = []
        for job in ("prune", "socket_group", "install", "floor"):
            v = ft.get(f"{job}_fast|0")
            if v is not None:
                parts.append(f"{MODULE_LABEL.get(job, 'floor')} {ms(v)} ms")
        if parts:
            out += ["The first fast-path task of a module on a host uploads the binary into the "
                    "cache (over SSH, pipelining off, caches emptied before the first run; one "
                    "sample each): " + ", ".join(parts) + ". Later tasks cost the figures above.", ""]

    # Per job, ratios.
    out += ["### Per job: ours against the floor and against what a user would write instead", "",
            "A job is one converged run of the module, or of the tasks a user would write for it "
            "(their per-task costs added). fast = through the fast-transport action plugin "
            "(the installed collection's default); plain = Ansible's own binary-module path "
            "(`ci_tools_docker_fast_transport: false`). The floor is the trivial static binary "
            "through the same path.", "",
            "| job | connection | ours fast | ours plain | floor fast / plain | alternative | "
            "ours fast / floor | ours plain / floor | ours fast / alternative | ours plain / alternative |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for job in ("prune", "socket_group", "install"):
        alt_rows, _ = ALTERNATIVE[job]
        for where, pipe, label in CONFIGS:
            fast = cells.med(where, f"{job}_fast", pipe)
            plain = cells.med(where, f"{job}_plain", pipe)
            if cells.cell(where, f"{job}_plain", pipe) is None:
                continue
            ff, fp = cells.med(where, "floor_fast", pipe), cells.med(where, "floor_plain", pipe)
            alt = cells.job(where, alt_rows, pipe)

            def shown(where=where, row=f"{job}_fast", v=fast):
                c = cells.cell(where, row, pipe)
                return mark(c["failed"]) if c and c.get("failed") else ms(v)
            out.append(f"| {MODULE_LABEL[job]} | {label} | {shown()} | {ms(plain)} | {ms(ff)} / {ms(fp)} | "
                       f"{ms(alt)} | {ratio(fast, ff)} | {ratio(plain, fp)} | {ratio(fast, alt)} | "
                       f"{ratio(plain, alt)} |")
    out.append("")
    out.append("Alternatives: " + "; ".join(f"{MODULE_LABEL[j]}: {ALTERNATIVE[j][1]}"
                                            for j in ALTERNATIVE) + ".")
    out.append("")
    for i, n in enumerate(notes, 1):
        out.append(f"[^f{i}]: {n}")
    if notes:
        out.append("")
    return out


def issue9(results: dict[str, Any], cells: Cells) -> list[str]:
    ssh = results.get("per_task_ssh")
    if not ssh:
        return []
    b = ssh["bare_ssh"]["median"]
    ping = cells.med("per_task_ssh", "ping", "1")
    debug = cells.med("per_task_ssh", "debug", "1")
    raw = cells.med("per_task_ssh", "raw", "1")
    floor_fast = cells.med("per_task_ssh", "floor_fast", "1")
    out = ["## Issue 9 goals (fast transport), over SSH", "",
           "Goals: the per-task cost of our modules (fast path) is (a) at most half that of a "
           "pipelined Python module doing the same job, and (b) within 1.5x of one bare SSH "
           "command round trip. Figures from section 1, the pipelining column (the Python "
           "modules' best case; our paths do not depend on it).", "",
           "| row | ms per task |", "|---|---:|",
           f"| one bare SSH command round trip (`ssh ... true` over the master, no Ansible) | {ms(b)} |",
           f"| ansible.builtin.debug: a task that runs nothing on the target | {ms(debug)} |",
           f"| ansible.builtin.raw `true`: a task that is one remote command, no module | {ms(raw)} |",
           f"| ansible.builtin.ping, pipelined (trivial Python module) | {ms(ping)} |",
           f"| floor binary, fast path | {ms(floor_fast)} |"]
    by_hand = ssh.get("by_hand") or {}
    for job in ("prune", "socket_group", "install"):
        if f"{job}_fast" in by_hand:
            out.append(f"| {MODULE_LABEL[job]}: the fast path's one SSH command, run by hand (no Ansible) | "
                       f"{ms(by_hand[f'{job}_fast']['median'])} |")
        out.append(f"| {MODULE_LABEL[job]}, fast path | {ms(cells.med('per_task_ssh', f'{job}_fast', '1'))} |")
        out.append(f"| {MODULE_LABEL[job]}, plain path | {ms(cells.med('per_task_ssh', f'{job}_plain', '1'))} |")
        out.append(f"| {MODULE_LABEL[job]}: the alternative, pipelined | "
                   f"{ms(cells.job('per_task_ssh', ALTERNATIVE[job][0], '1'))} |")
    out += ["", "| module | (a) fast / pipelined alternative | goal ≤ 0.5 | (b) fast / bare SSH | "
            "goal ≤ 1.5 | fast / raw task | its command by hand / bare SSH |",
            "|---|---:|---|---:|---|---:|---:|"]
    verdicts = {"a": [], "b": []}
    for job in ("prune", "socket_group", "install"):
        fast = cells.med("per_task_ssh", f"{job}_fast", "1")
        alt = cells.job("per_task_ssh", ALTERNATIVE[job][0], "1")
        ra = fast / alt if fast and alt else None
        rb = fast / b if fast else None
        verdicts["a"].append(ra is not None and ra <= 0.5)
        verdicts["b"].append(rb is not None and rb <= 1.5)
        out.append(f"| {MODULE_LABEL[job]} | {ratio(fast, alt)} | "
                   f"{'met' if ra is not None and ra <= 0.5 else '**not met**'} | {ratio(fast, b)} | "
                   f"{'met' if rb is not None and rb <= 1.5 else '**not met**'} | {ratio(fast, raw)} | "
                   f"{ratio((by_hand.get(f'{job}_fast') or {}).get('median'), b)} |")
    out.append("")
    a_all, b_all = all(verdicts["a"]), all(verdicts["b"])
    text = [f"Goal (a) is {'met for all three modules' if a_all else '**not met** for every module'}. "
            f"Goal (b) is {'met' if b_all else '**not met**'}"]
    if not b_all and raw is not None and debug is not None:
        text.append(
            f". Through ansible-playbook no task gets near one bare round trip ({ms(b)} ms): "
            f"the controller spends {ms(debug)} ms on a task that runs nothing on the target "
            f"(`debug`), and {ms(raw)} ms ({raw / b:.1f}x the bare round trip) on a task that "
            f"is exactly one remote command (`raw`), which is the least any module can cost. "
            f"The goal as written cannot be met by any module through Ansible on this "
            f"machine. The last two columns split the fast path's cost: against that real "
            f"minimum (a `raw` task), and, outside Ansible, its one SSH command (cache check, "
            f"sha256 of the cached binary, the module's own run, become where the task has it) "
            f"against a bare `true`")
        if floor_fast:
            text.append(f". The trivial floor binary on the fast path costs {floor_fast / raw:.2f}x "
                        f"a `raw` task: that is the transport's own share, the rest is the "
                        f"module's work (section 2)")
    out += ["".join(text) + ".", ""]
    return out


def slower(results: dict[str, Any], cells: Cells) -> list[str]:
    """Where ours is slower than something else in this run, and why."""
    found = []
    for where, pipe, label in CONFIGS:
        for job in ("prune", "socket_group", "install"):
            alt = cells.job(where, ALTERNATIVE[job][0], pipe)
            for path in ("fast", "plain"):
                v = cells.med(where, f"{job}_{path}", pipe)
                if v is not None and alt is not None and v > alt:
                    found.append(f"- {MODULE_LABEL[job]}, {path} path, {label}: {ms(v)} ms per task "
                                 f"against {ms(alt)} ms for the alternative ({v / alt:.2f}x).")
        ping = cells.med(where, "ping", pipe)
        for job in ("prune", "socket_group", "install"):
            for path in ("fast", "plain"):
                v = cells.med(where, f"{job}_{path}", pipe)
                if v is not None and ping is not None and v > ping:
                    found.append(f"- {MODULE_LABEL[job]}, {path} path, {label}: {ms(v)} ms per task, "
                                 f"more than a trivial Python module (ping, {ms(ping)} ms).")
    for where, pipe, label in CONFIGS:
        for job in ("prune", "socket_group", "install"):
            c = cells.cell(where, f"{job}_fast", pipe)
            if c and c.get("failed"):
                found.append(f"- {MODULE_LABEL[job]}, fast path, {label}: does not work "
                             f"(`{c['failed']}`).")
    scale = results.get("prune_scale")
    if scale:
        by = {m["key"]: m for m in scale["methods"]}
        cli = by.get("docker_cli", {}).get("seconds")
        for key in ("ours_direct",):
            m = by.get(key, {}).get("seconds")
            if cli and m and m["median"] > cli["median"]:
                overlap = m["min"] <= cli["max"] and cli["min"] <= m["max"]
                found.append(f"- Prune at scale: our binary, run directly, takes {secs(m['median'])} s "
                             f"against {secs(cli['median'])} s for Docker's CLI "
                             f"({m['median'] / cli['median']:.2f}x"
                             + ("; the ranges overlap" if overlap else "") + "). Both send the "
                             "daemon the same two prune requests (containers, then images); "
                             "nearly all of the time is the daemon's.")
    direct = results.get("direct")
    out = ["## Where ours is slower, and why", ""]
    out += found or ["- Nowhere in this run."]
    out += ["",
            "Why, in general:",
            "",
            "- **The plain path** (Ansible's own binary-module handling, and the only one for a "
            "role that ships the binaries in `library/`): Ansible never pipelines a binary "
            "module. Every task creates a remote temp dir, uploads the whole binary "
            "(0.8–1 MB, section 3) and an args file, chmods, runs and removes them: seven ssh "
            "invocations, two of them uploads, against one for a pipelined Python module (the "
            "table in section 1). Over the local connection those steps are cheap, over SSH "
            "they dominate, and between real machines each costs a network round trip. The "
            "fast-transport action plugin removes this: after the first task per host and "
            "binary it is one remote command with the arguments on stdin.",
            "- **What is left on the fast path** is the controller's own per-task work (the "
            "`debug` and `raw` rows) plus one SSH command that checks the cached binary's "
            "owner, mode and sha256 before it runs it (a few forks and hashing ~1 MB on every "
            "task), and sudo for the tasks with become.",
            "- **The modules do more than their alternatives**: socket_group proves after every "
            "run that the user reaches the API (it connects as that user), and docker_install "
            "checks that the API answers; the builtin alternatives only compare files and unit "
            "states. That work is most of what socket_group and docker_install cost above the "
            "floor (their run times in section 2)."]
    if direct:
        out.append("- **Module run time itself** is small either way (section 2): the binaries "
                   "start in a few milliseconds; the Python modules' cost is the interpreter and "
                   "AnsiballZ start-up on the target.")
    out.append("")
    return out


def section2(results: dict[str, Any]) -> list[str]:
    d = results.get("direct")
    if not d:
        return []
    from .common import summary
    out = ["## 2. Each module's own run time (no Ansible)", "",
           f"In the converged node, as root: `MODULE ARGS_FILE` exactly as Ansible's plain path "
           f"runs it, {d['samples']} timed runs after {d['warmup']} warm-up runs, timed on the node "
           f"by a Python loop (perf_counter_ns around fork+exec+wait); every run reported "
           f"`changed: false`. Arguments: "
           + "; ".join(f"{m} `{a}`" for m, a in d["args"].items()) + ".", "",
           "| command | median ms | p10–p90 | min–max | stdev |", "|---|---:|---:|---:|---:|"]
    for name, times in d["times"].items():
        s = summary(times)
        out.append(f"| {name} | **{ms(s['median'])}** | {ms(s['p10'])}–{ms(s['p90'])} | "
                   f"{ms(s['min'])}–{ms(s['max'])} | {ms(s['stdev'])} |")
    out += ["", "The floor and `python3 -c pass` show the cost of starting a static binary and "
            "a Python interpreter; `docker image prune -f` is Docker's own CLI doing the prune "
            "job against the same daemon.", ""]
    return out


def section3(results: dict[str, Any]) -> list[str]:
    s = results.get("sizes")
    if not s:
        return []
    out = ["## 3. Sizes", "",
           "What is uploaded per task on the plain path (the fast path uploads it once per host "
           "and content hash, then sends only the arguments):", "",
           "| module | x86_64 | aarch64 |", "|---|---:|---:|"]
    for m, by in s["binaries"].items():
        out.append(f"| {m} | {size(by['x86_64'])} ({by['x86_64']:,} B) | {size(by['aarch64'])} ({by['aarch64']:,} B) |")
    out.append(f"| floor (benchmarks/floor/floor.rs) | {size(s['floor'])} ({s['floor']:,} B) | – |")
    t = s["tarball"]
    out += ["", f"Collection tarball (`ansible-galaxy collection build`): `{t['name']}` "
            f"**{size(t['bytes'])}** ({t['bytes']:,} B), {t['files']} files, {size(t['unpacked'])} "
            f"unpacked (both architectures' binaries, plus the x86_64 ones again in "
            f"plugins/modules for Ansible's plain path).", "",
            "For comparison, the AnsiballZ payload Ansible builds for each Python alternative "
            "(uploaded per module run without pipelining, piped through the connection with "
            "it):", "", "| module | AnsiballZ payload |", "|---|---:|"]
    for module, files in s["ansiballz"].items():
        if files:
            out.append(f"| {module} | " + " + ".join(f"{size(f['bytes'])} ({f['name']})" for f in files) + " |")
        else:
            out.append(f"| {module} | (not captured) |")
    out.append("")
    return out


def section4(results: dict[str, Any]) -> list[str]:
    sc = results.get("prune_scale")
    if not sc:
        return []
    by = {m["key"]: m for m in sc["methods"]}
    cli = (by.get("docker_cli") or {}).get("seconds")
    out = ["## 4. Prune at scale", "",
           f"{sc['images']} dangling images and {sc['containers']} stopped containers on the "
           f"private daemon, rebuilt identically before every measured prune; {sc['reps']} "
           "repetitions per method, the order rotated between repetitions. All prune containers "
           "and dangling images (`containers: true, images: true`); each must leave only the "
           "one tagged image (checked). Through Ansible: the local connection, no pipelining; "
           "the figure is the task's own duration (task start to result), the whole "
           "ansible-playbook process beside it.", "",
           "| method | median s | min–max | / Docker CLI | ansible-playbook wall, median s |",
           "|---|---:|---:|---:|---:|"]
    for m in sc["methods"]:
        if m["errors"]:
            out.append(f"| {m['label']} | fails: `{m['errors']}` | | | |")
            continue
        s = m["seconds"]
        wall = secs(m["wall"]["median"]) if m.get("wall") else "–"
        out.append(f"| {m['label']} | **{secs(s['median'])}** | {secs(s['min'])}–{secs(s['max'])} | "
                   f"{ratio(s['median'], cli['median'] if cli else None)} | {wall} |")
    p = sc["prep"]
    out += ["", f"Preparation, not included above (median per rebuild): {secs(p['images']['median'])} s "
            f"for the images (one `docker load` of a generated archive: {sc['images']} untagged "
            f"image configs over one shared one-file layer, plus the tagged image), "
            f"{secs(p['containers']['median'])} s for the containers (created through the Engine "
            "API, four at a time; state `created`, which `docker container prune` removes like "
            "`exited`). Sharing one layer keeps the preparation under a second (500 `docker "
            "build`s take minutes); it also means the daemon deletes image records, not 500 "
            "layers, so the figures weigh the tools' own overhead more than the disk work.", ""]
    return out


def section5(results: dict[str, Any]) -> list[str]:
    ro = results.get("role")
    if not ro:
        return []
    from .common import summary
    out = ["## 5. The whole role on a fresh node", "",
           f"A fresh bookworm node (no Docker) for every cold run, {ro['reps']} cold runs per "
           "variant; then the same playbook again on the same node (idempotent run). Wall time "
           "of the whole ansible-playbook process, over SSH with the ControlPersist master "
           "already open (as a CI executor has it), pipelining off (Ansible's default). Both "
           "variants install docker.io, give the socket to zuul's primary group with a systemd "
           "drop-in, restart what needs it, and check as zuul over the same connection that the "
           "API answers (also checked afterwards by a raw `GET /_ping` as zuul).", "",
           "| variant | cold, median s | cold min–max | idempotent run, median s | changed (cold / again) | package lists refreshed | zuul's `GET /_ping` |",
           "|---|---:|---:|---:|---|---|---|"]
    for v in ro["variants"]:
        runs = ro["results"][v["key"]]
        if not runs:
            continue
        cold = summary([r["cold"]["wall"] for r in runs])
        warm = summary([r["warm"]["wall"] for r in runs])
        changed = ", ".join(f"{r['cold']['changed']} / {r['warm']['changed']}" for r in runs)
        refreshed = ", ".join("yes" if r.get("lists_refreshed") else "no" for r in runs)
        ping = ", ".join(sorted({r["zuul_ping"] for r in runs}))
        out.append(f"| {v['label']} | **{secs(cold['median'])}** | {secs(cold['min'])}–{secs(cold['max'])} | "
                   f"**{secs(warm['median'])}** | {changed} | {refreshed} | {ping} |")
    refreshed = {v["key"]: [bool(r.get("lists_refreshed")) for r in ro["results"][v["key"]]]
                 for v in ro["variants"]}
    if len({tuple(x) for x in refreshed.values() if x}) > 1:
        out += ["", "The two variants did not do the same apt work: both ask for a refresh of the "
                "package lists when they are older than an hour (`cache_valid_time: 3600`, "
                "docker_install's default), and the node's lists came from the cached root. The "
                "column above shows who ran `apt-get update` (each module's own "
                "`cache_updated` result); a refresh costs a round of mirror requests."]
    out += ["", "Where the time goes (first cold run of each variant, seconds per task):", ""]
    for v in ro["variants"]:
        runs = ro["results"][v["key"]]
        if not runs:
            continue
        out.append(f"- {v['label']}: " + "; ".join(
            f"{t['name'].split(' : ', 1)[-1]} {t['seconds']:.2f}" for t in runs[0]["cold"]["tasks"]
            if t["seconds"] >= 0.05))
    out += ["", "<details><summary>The builtin playbook</summary>", "", "```yaml",
            ro["builtin_playbook"].rstrip(), "```", "", "</details>", ""]
    return out


def summary_lines(results: dict[str, Any], cells: Cells) -> list[str]:
    out = ["## Summary", ""]
    ssh = results.get("per_task_ssh")
    if ssh:
        for job in ("prune", "socket_group", "install"):
            fast = cells.med("per_task_ssh", f"{job}_fast", "0")
            plain = cells.med("per_task_ssh", f"{job}_plain", "0")
            alt0 = cells.job("per_task_ssh", ALTERNATIVE[job][0], "0")
            alt1 = cells.job("per_task_ssh", ALTERNATIVE[job][0], "1")
            out.append(f"- {MODULE_LABEL[job]} over SSH, converged: **{ms(fast)} ms** a task on the "
                       f"fast path, {ms(plain)} ms on the plain path; the alternative "
                       f"{ms(alt0)} ms ({ms(alt1)} ms pipelined).")
        b = ssh["bare_ssh"]["median"]
        fasts = [cells.med("per_task_ssh", f"{j}_fast", "1") for j in ALTERNATIVE]
        alts = [cells.job("per_task_ssh", ALTERNATIVE[j][0], "1") for j in ALTERNATIVE]
        raw = cells.med("per_task_ssh", "raw", "1")
        if all(fasts) and all(alts) and raw:
            ra = [f / a for f, a in zip(fasts, alts)]
            rb = [f / b for f in fasts]
            out.append(f"- Issue 9: (a) fast path at most half a pipelined Python module doing the "
                       f"same job: {'met' if max(ra) <= 0.5 else '**not met**'} "
                       f"({min(ra):.2f}–{max(ra):.2f}x); (b) within 1.5x of one bare SSH round trip "
                       f"({ms(b)} ms): {'met' if max(rb) <= 1.5 else '**not met**'} "
                       f"({min(rb):.1f}–{max(rb):.1f}x; a `raw` task, one remote command and no "
                       f"module, is already {raw / b:.1f}x).")
    sc = results.get("prune_scale")
    if sc:
        by = {m["key"]: m for m in sc["methods"]}
        parts = [f"{m['label']} {secs(m['seconds']['median'])} s" for m in sc["methods"] if m.get("seconds")]
        out.append(f"- Pruning {sc['images']} images + {sc['containers']} containers: " + "; ".join(parts) + ".")
    ro = results.get("role")
    if ro:
        from .common import median
        parts = []
        for v in ro["variants"]:
            runs = ro["results"][v["key"]]
            if runs:
                parts.append(f"{v['label']}: cold {secs(median(r['cold']['wall'] for r in runs))} s, "
                             f"again {secs(median(r['warm']['wall'] for r in runs))} s")
        out.append("- Whole job on a fresh node: " + "; ".join(parts) + ".")
    s = results.get("sizes")
    if s:
        out.append(f"- Binaries {size(min(b['x86_64'] for b in s['binaries'].values()))}–"
                   f"{size(max(b['x86_64'] for b in s['binaries'].values()))} (x86_64); "
                   f"collection tarball {size(s['tarball']['bytes'])}.")
    out.append("")
    return out


def method() -> list[str]:
    return ["## Method", "",
            "- Everything runs on one machine, all traffic on loopback (the nodes' apt reaches "
            "the Debian mirror, as in the test suite). Nodes are real Debian systemd hosts in "
            "systemd-nspawn from the test harness (`tests/harness`), reached as `zuul` over a "
            "real `ssh` connection with a ControlPersist master, exactly as the integration "
            "tests and a CI executor do. The private dockerd is the harness's (own socket, data "
            "and exec root).",
            "- Our modules come from the collection tarball (`ansible-galaxy collection build`, "
            "then `install`), so the fast-transport action plugin routes them as for users. "
            "The plain path is the same collection with `ci_tools_docker_fast_transport: false`. "
            "The floor module is benchmarks/floor/floor.rs (`rustc --target "
            "x86_64-unknown-linux-musl -C opt-level=z`, static), in a throwaway collection that "
            "routes it through a copy of the same action plugin.",
            "- One ansible-core for every row (the pinned `.venv` release); community.docker from "
            "the `ansible` package's collections. The Python modules run under the target's "
            "Debian python3 with python3-requests (community.docker needs `requests`): on the "
            "node, and over the local connection on the machine (interpreter: see above).",
            "- Per-task cost (section 1): a callback records every task's start on the "
            "controller's monotonic clock; a task's cost is the time to the next task's start. "
            "All rows run in the same ansible-playbook process, interleaved, after a warm-up "
            "round; pipelining is switched per block with `ansible_pipelining`. The play "
            "gathers the minimal fact subset once (the plain path takes the target's "
            "architecture from facts). docker_install runs with `cache_valid_time` of 30 days, "
            "so a converged run does not refresh the package lists.",
            "- Benchmarks print figures; nothing here fails on speed. A run fails only when "
            "something does not work (a failing module, a measured task that is not "
            "idempotent, a prune that leaves something behind).",
            ""]


def reproduce() -> list[str]:
    return ["## How to reproduce", "",
            "As root on a Debian 12 machine, after `tests/setup.sh` (toolchain, `.venv`):", "",
            "    benchmarks/run                 # builds (cargo xtask build), runs all sections, writes BENCHMARKS.md",
            "    benchmarks/run --quick         # smoke run with small N (a minute or two)",
            "    benchmarks/run --sections 1,3  # some sections only; --help for N, repetitions, --wait-load",
            "",
            "Raw results (every run of every row) are written to `target/benchmarks/latest.json`; "
            "`benchmarks/run --report-only target/benchmarks/latest.json` rewrites this file "
            "from them. The first run builds the node root with docker.io and python3-requests "
            "(cached under /var/cache/ci-tools-docker) and the reference venv "
            "(`ansible` package) if the test suite has not already; the figures do not include "
            "that. Check the load first (`uptime`): with other work on a 2-core machine the "
            "figures scatter (`--wait-load 1.0` waits for a quiet machine).", ""]


def not_measured(results: dict[str, Any]) -> list[str]:
    out = ["## Not measured", "",
           "- socket_group and docker_install over the local connection: they need systemd as "
           "PID 1 and would change the machine; they are measured over SSH on the node only.",
           "- Targets other than bookworm/x86_64 (the aarch64 binaries' sizes are listed; "
           "they were not timed).",
           "- Real networks: loopback only, so SSH round trips are far cheaper than between "
           "machines, which flatters every per-round-trip cost (the plain path and "
           "non-pipelined Python modules most)."]
    for key, err in (results.get("errors") or {}).items():
        out.append(f"- Section {key} did not complete in this run: `{err.splitlines()[0][:300]}`")
    out.append("")
    return out


def render(results: dict[str, Any]) -> str:
    cells = Cells(results)
    out = ["# Benchmarks", "",
           "Per-task cost, run time, size and scale of the ci_tools.docker modules against "
           "what users would use instead, measured side by side in one run by "
           "`benchmarks/run` (generated file; do not edit by hand).", ""]
    out += summary_lines(results, cells)
    out += machine(results)
    out += method()
    out += section1(results, cells)
    out += issue9(results, cells)
    out += section2(results)
    out += section3(results)
    out += section4(results)
    out += section5(results)
    out += slower(results, cells)
    out += not_measured(results)
    out += reproduce()
    return "\n".join(out).rstrip() + "\n"
