"""Run the benchmarks and write BENCHMARKS.md: `benchmarks/run` (as root, from anywhere).

    benchmarks/run                      # everything, the published configuration
    benchmarks/run --quick              # small N: checks that every section works
    benchmarks/run --sections 1,3       # some sections only (the report shows those)
    benchmarks/run --report-only FILE   # rewrite BENCHMARKS.md from a saved results JSON

Raw results go to target/benchmarks/results-<time>.json (and latest.json). Benchmarks
print figures; they never fail on speed. They fail only when something does not work
(a module fails, a measured task is not idempotent, a prune leaves something behind).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import common
from .common import REPO, log

SECTIONS = {
    "1": "per-task cost through ansible-playbook",
    "2": "each module's own run time",
    "3": "sizes",
    "4": "prune at scale",
    "5": "the whole role, cold and idempotent",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default="1,2,3,4,5", help="comma list of 1-5 (default: all)")
    p.add_argument("--quick", action="store_true", help="small N everywhere (a smoke run)")
    p.add_argument("--tasks", type=int, help="section 1: tasks per row and run (default 10)")
    p.add_argument("--runs", type=int, help="section 1: ansible-playbook runs (default 3)")
    p.add_argument("--direct-samples", type=int, help="section 2: runs per module (default 40)")
    p.add_argument("--scale-reps", type=int, help="section 4: repetitions (default 5)")
    p.add_argument("--images", type=int, default=500, help="section 4: dangling images (500)")
    p.add_argument("--containers", type=int, default=200, help="section 4: stopped containers (200)")
    p.add_argument("--role-reps", type=int, help="section 5: cold+warm pairs per variant (default 3)")
    p.add_argument("--no-build", action="store_true", help="use the binaries already in bin/")
    p.add_argument("--wait-load", type=float, metavar="LOAD",
                   help="first wait (up to 30 min) until the 1-minute load average is below LOAD")
    p.add_argument("--output", default=str(REPO / "BENCHMARKS.md"), help="report path")
    p.add_argument("--report-only", metavar="RESULTS_JSON", help="only write the report")
    args = p.parse_args(argv)
    quick = args.quick
    args.tasks = args.tasks or (3 if quick else 10)
    args.runs = args.runs or (1 if quick else 3)
    args.direct_samples = args.direct_samples or (5 if quick else 40)
    args.scale_reps = args.scale_reps or (1 if quick else 5)
    args.role_reps = args.role_reps or (1 if quick else 3)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown sections {unknown}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from . import report

    if args.report_only:
        results = json.loads(Path(args.report_only).read_text())
        Path(args.output).write_text(report.render(results))
        log(f"wrote {args.output}")
        return 0
    if os.geteuid() != 0:
        print("benchmarks/run: needs root (systemd-nspawn nodes, a private dockerd)", file=sys.stderr)
        return 2

    from tests.harness import Node, PrivateDockerd, cleanup_stale, install_handlers, stop_all

    install_handlers()  # SIGTERM/SIGHUP unwind through the finally blocks; atexit stops the rest
    for line in cleanup_stale():
        log(f"removed a stale harness leftover: {line}")
    if args.wait_load is not None:
        common.wait_for_load(args.wait_load, 1800)

    started = time.time()
    t0 = time.monotonic()
    results: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
                     "sections": args.sections, "quick": args.quick,
                     "argv": ["benchmarks/run", *argv], "load_start": common.loadavg(),
                     "errors": {}}
    out_dir = REPO / "target" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    work = Path(tempfile.mkdtemp(prefix="ci-tools-bench-"))
    daemon = node = None

    def section(key: str, fn) -> None:
        if key not in args.sections:
            return
        t = time.monotonic()
        try:
            fn()
        except Exception as exc:  # the other sections still run; the report shows the error
            log(f"section {key} failed: {exc}")
            traceback.print_exc()
            results["errors"][key] = f"{type(exc).__name__}: {exc}"[:3000]
        results.setdefault("durations", {})[key] = time.monotonic() - t

    try:
        art = common.prepare(work, build=not args.no_build)
        results["build_seconds"] = art.build_seconds
        results["machine"] = common.machine_info(art)
        needs_daemon = {"1", "4"} & set(args.sections)
        needs_node = {"1", "2"} & set(args.sections)
        if needs_daemon:
            daemon = PrivateDockerd().start()

        from . import direct, per_task, prune_scale, role, sizes

        section("3", lambda: results.__setitem__("sizes", sizes.run(art, work / "sizes")))

        def local() -> None:
            results["per_task_local"] = per_task.run_local(daemon, art, work / "local",
                                                           n=args.tasks, runs=args.runs)
        section("1", local)
        if needs_node:
            node = Node("bookworm", ["docker.io", "python3-requests"])
            node.boot()
            results["node"] = {"suite": "bookworm", "packages": ["docker.io", "python3-requests"],
                               "docker": node.root_sh("dpkg-query -W -f '${Version}' docker.io").stdout,
                               "openssh": node.root_sh("dpkg-query -W -f '${Version}' openssh-server").stdout,
                               "python": node.root_sh("python3 --version").stdout.strip()}

            def ssh() -> None:
                results["per_task_ssh"] = per_task.run_ssh(node, art, work / "ssh", n=args.tasks,
                                                           runs=args.runs,
                                                           ssh_samples=10 if args.quick else 50)
            section("1", ssh)
            if "2" in args.sections and "1" not in args.sections:
                per_task.converge_node(node, art, work / "converge")
            section("2", lambda: results.__setitem__(
                "direct", direct.run(node, art, samples=args.direct_samples)))
            node.stop()
            node = None
        section("4", lambda: results.__setitem__("prune_scale", prune_scale.run(
            daemon, art, work / "scale", images=args.images, containers=args.containers,
            reps=args.scale_reps)))
        if daemon is not None:
            daemon.stop()
            daemon = None
        section("5", lambda: results.__setitem__("role", role.run(art, work / "role",
                                                                   reps=args.role_reps)))
    finally:
        for resource in (node, daemon):
            if resource is not None:
                resource.stop()
        stop_all()
        common.sh(["rm", "-rf", str(work)], check=False)
        # The floor's entries in this machine's fast-transport cache (local connection).
        for cached in (Path.home() / ".cache" / "ci-tools-docker" / "bin").glob("floor-*"):
            cached.unlink(missing_ok=True)

    for where in ("per_task_local", "per_task_ssh"):
        if results.get(where, {}).get("changed"):
            results["errors"][f"1 ({where})"] = ("measured tasks reported changed (not idempotent): "
                                                 + ", ".join(results[where]["changed"]))
    results["load_end"] = common.loadavg()
    results["total_seconds"] = time.monotonic() - t0
    raw = out_dir / f"results-{stamp}.json"
    raw.write_text(json.dumps(results, indent=1, default=str))
    (out_dir / "latest.json").write_text(raw.read_text())
    Path(args.output).write_text(report.render(results))
    log(f"wrote {args.output} and {raw} in {results['total_seconds'] / 60:.1f} min")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
