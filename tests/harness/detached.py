"""A node that outlives the command that boots it, for tools that create and destroy in
separate processes (molecule's create/destroy playbooks).

    python -m tests.harness.detached boot --state FILE [--suite bookworm] [--packages p,q]
    python -m tests.harness.detached stop --state FILE

`boot` forks a keeper process that boots the node, writes FILE (JSON: host, port, user,
key, ssh args, ...) and then waits; it exits once FILE says "ready" or "failed". The
keeper owns the node exactly like a test process does (registry record, atexit and signal
handlers), so `stop` only has to SIGTERM it, and a SIGKILLed keeper's node is removed by
the next session's stale cleanup.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from .lifecycle import install_handlers
from .node import Node
from .rootfs import DEFAULT_SUITE


def _write(state: Path, data: dict) -> None:
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, state)


def _keep(state: Path, suite: str, packages: list[str]) -> None:
    """The keeper: boot, publish, wait for SIGTERM (turned into KeyboardInterrupt)."""
    install_handlers()
    node = Node(suite, packages)
    try:
        node.boot()
        _write(state, {
            "status": "ready", "keeper_pid": os.getpid(), "name": node.name,
            "suite": suite, "host": "127.0.0.1", "port": node.port, "user": "zuul",
            "identity_file": str(node.key), "ssh_args": node.ansible_ssh_args(),
            "host_vars": node.host_vars(), "rootfs": str(node.rootfs), "pid": node.pid,
        })
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        _write(state, {"status": "failed", "error": str(exc)})
    finally:
        node.stop()


def boot(state: Path, suite: str, packages: list[str], timeout: float) -> int:
    state.unlink(missing_ok=True)
    if os.fork() == 0:
        # Detach from the caller's session and output so its pipes can close.
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            _keep(state, suite, packages)
        finally:
            os._exit(0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.exists():
            data = json.loads(state.read_text())
            if data["status"] == "ready":
                print(json.dumps(data))
                return 0
            print(f"node boot failed: {data.get('error')}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"node did not boot within {timeout:.0f} s", file=sys.stderr)
    return 1


def stop(state: Path, timeout: float) -> int:
    if not state.exists():
        return 0
    data = json.loads(state.read_text())
    pid = data.get("keeper_pid")
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid = None
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        if pid:
            print(f"keeper {pid} still alive after {timeout:.0f} s", file=sys.stderr)
            return 1
    state.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.detached")
    parser.add_argument("action", choices=["boot", "stop"])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--suite", default=DEFAULT_SUITE)
    parser.add_argument("--packages", default="")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    if args.action == "boot":
        packages = [p for p in args.packages.split(",") if p]
        return boot(args.state, args.suite, packages, args.timeout)
    return stop(args.state, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
