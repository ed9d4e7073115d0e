"""Small process/filesystem helpers shared by the harness modules.

Everything here is deliberately dependency-free (stdlib only) so that the
cleanup command can run even when the rest of the test environment is broken.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

T = TypeVar("T")

# Where prepared root filesystems, apt caches and ssh keys live between runs.
CACHE_DIR = Path(os.environ.get("CI_TOOLS_CACHE_DIR", "/var/cache/ci-tools-docker"))
# Per-scenario scratch space (node root copies). /var/tmp, not /tmp: it is on
# disk on every Debian install, while /tmp may be a small tmpfs.
WORK_DIR = Path(os.environ.get("CI_TOOLS_WORK_DIR", "/var/tmp/ci-tools-docker"))
# Registry of live resources; /run is wiped on reboot, exactly like the
# resources it describes (processes, mounts).
REGISTRY_DIR = Path(os.environ.get("CI_TOOLS_REGISTRY_DIR", "/run/ci-tools-docker/registry"))


class HarnessError(RuntimeError):
    """Raised when the harness itself (not the code under test) fails."""


class HarnessTimeout(HarnessError):
    """Raised by wait_for() when a condition is not met in time."""


class HarnessFatal(HarnessError):
    """Raised inside a wait_for() predicate to stop polling at once
    (e.g. the process being waited for has exited)."""


def fmt_cmd(cmd: str | Sequence[str]) -> str:
    return cmd if isinstance(cmd, str) else shlex.join(str(c) for c in cmd)


def run(
    cmd: Sequence[str | os.PathLike],
    *,
    check: bool = True,
    timeout: float | None = 600,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    cwd: str | os.PathLike | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess:
    """subprocess.run with text I/O and an error message that shows the output.

    CalledProcessError's default message hides stdout/stderr, which is exactly
    what one needs when a harness step fails in CI.
    """
    cmd = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            cmd,
            check=False,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input,
            cwd=cwd,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessTimeout(
            f"command timed out after {timeout} s: {fmt_cmd(cmd)}\n"
            f"stdout: {_tail(exc.stdout)}\nstderr: {_tail(exc.stderr)}"
        ) from None
    if check and proc.returncode != 0:
        raise HarnessError(
            f"command failed (rc={proc.returncode}): {fmt_cmd(cmd)}\n"
            f"stdout: {_tail(proc.stdout)}\nstderr: {_tail(proc.stderr)}"
        )
    return proc


def _tail(text: str | bytes | None, limit: int = 4000) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text if len(text) <= limit else "..." + text[-limit:]


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    max_interval: float = 1.0,
    details: Callable[[], str] | None = None,
) -> T:
    """Poll predicate() until it returns a truthy value, with backoff.

    On timeout raise HarnessTimeout("<what> within N s; <details()>"), so
    callers phrase `what` as the thing that did not happen, e.g.
    "node bookworm: sshd on 127.0.0.1:2301 did not answer".
    """
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except HarnessFatal:
            raise
        except Exception as exc:  # keep polling; report the last error
            last_exc = exc
        if time.monotonic() >= deadline:
            msg = f"{what} within {timeout:g} s"
            if last_exc is not None:
                msg += f"; last error: {last_exc}"
            if details is not None:
                try:
                    msg += f"; {details()}"
                except Exception as exc:  # details are best effort
                    msg += f"; (could not collect details: {exc})"
            raise HarnessTimeout(msg)
        time.sleep(interval)
        interval = min(interval * 1.5, max_interval)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on host (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --- processes -------------------------------------------------------------

def proc_start_time(pid: int) -> int | None:
    """Start time (clock ticks since boot) of pid, or None if it is gone.

    Stored next to PIDs in the registry so that cleanup never kills an
    unrelated process that reused the PID.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may contain spaces/parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])  # field 22 overall: starttime


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    st = proc_start_time(pid)
    if st is None:
        return False
    if start_time is not None and st != start_time:
        return False
    # A zombie is dead for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def kill_pid(pid: int, sig: int = signal.SIGKILL, start_time: int | None = None) -> bool:
    """Send sig to pid if it is still the process we recorded."""
    if not pid_alive(pid, start_time):
        return False
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def iter_pids() -> Iterable[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def pids_referencing(path: str | os.PathLike) -> list[int]:
    """PIDs whose command line mentions path (a unique per-resource directory).

    Used to find processes a resource left behind (ssh ControlMaster,
    containerd, shims) without ever matching by a broad program name.
    """
    needle = str(path)
    me = os.getpid()
    return [pid for pid in iter_pids()
            if pid != me and any(needle in arg for arg in proc_cmdline(pid))]


def kill_referencing(path: str | os.PathLike, timeout: float = 10) -> list[int]:
    """SIGKILL every process whose command line mentions path; wait until gone."""
    pids = pids_referencing(path)
    starts = {pid: proc_start_time(pid) for pid in pids}
    for pid in pids:
        kill_pid(pid, signal.SIGKILL, starts[pid])
    wait_for(lambda: not any(pid_alive(p, starts[p]) for p in pids),
             timeout=timeout, what=f"processes referencing {path} did not exit")
    return pids


# --- mounts and files ------------------------------------------------------

def mounts_under(path: str | os.PathLike) -> list[str]:
    """Mount points at or below path in our mount namespace, deepest first."""
    root = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == root or mnt.startswith(root.rstrip("/") + "/"):
                found.append(mnt)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def unmount_under(path: str | os.PathLike) -> None:
    for mnt in mounts_under(path):
        # Lazy unmount: a busy mount must not make teardown fail; the
        # processes keeping it busy have been killed already.
        subprocess.run(["umount", "-l", mnt], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def remove_tree(path: str | os.PathLike) -> None:
    """rm -rf that first detaches any mount below path.

    Never follows a mount into another filesystem: removing a copy must not
    reach through a leftover bind mount into the shared apt cache.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    unmount_under(path)
    if mounts_under(path):
        raise HarnessError(f"refusing to remove {path}: still has mounts {mounts_under(path)}")
    # shutil.rmtree is slow on big trees and chokes on odd permissions
    # (e.g. chattr or read-only dirs created by tests); rm -rf handles both.
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def ensure_dir(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def which(name: str, fallback: str | None = None) -> str:
    found = shutil.which(name) or fallback
    if not found:
        raise HarnessError(f"{name} not found in PATH; see tests/harness/README.md for the apt packages")
    return found
