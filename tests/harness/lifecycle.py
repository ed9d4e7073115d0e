"""Make sure harness resources die with the test process.

Three layers, from normal to worst case:
1. pytest fixture finalizers stop nodes/daemons (also on failures and Ctrl-C).
2. install_handlers(): SIGTERM/SIGHUP become KeyboardInterrupt, so a CI
   timeout that sends SIGTERM still unwinds through the finalizers; atexit
   stops whatever is still alive in this process.
3. Registry records (registry.py) + cleanup_stale(): a SIGKILLed run leaves
   records whose owner PID is gone; the next session start (or
   `python -m tests.harness.cleanup`) removes their leftovers.
"""
from __future__ import annotations

import atexit
import signal
import sys
import threading

from . import registry
from .dockerd import LIVE_DAEMONS, cleanup_dockerd_record
from .node import LIVE_NODES, cleanup_node_record
from .rootfs import remove_stale_builds
from .util import pid_alive

_installed = False


def stop_all() -> None:
    """Stop every node and daemon started by this process."""
    for resource in list(LIVE_NODES) + list(LIVE_DAEMONS):
        try:
            resource.stop()
        except Exception as exc:  # keep going: stop as much as possible
            print(f"harness: could not stop {resource!r}: {exc}", file=sys.stderr)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def install_handlers() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _raise_interrupt)


def cleanup_records(*, include_live_owners: bool = False) -> list[str]:
    """Clean up resources whose registry record's owner process is gone.

    include_live_owners=True also takes resources of running test processes
    (only for a manual cleanup when you know nothing is running).
    """
    done = []
    for rec in registry.entries():
        owner = rec.get("owner_pid")
        if not include_live_owners and owner and pid_alive(int(owner)):
            continue
        kind = rec.get("kind")
        if kind == "node":
            cleanup_node_record(rec)
        elif kind == "dockerd":
            cleanup_dockerd_record(rec)
        else:
            continue
        done.append(f"{kind} {rec.get('name') or rec.get('id')} ({rec.get('dir')})")
    return done


def cleanup_stale() -> list[str]:
    done = cleanup_records()
    done += [f"unfinished root build {p}" for p in remove_stale_builds()]
    return done
