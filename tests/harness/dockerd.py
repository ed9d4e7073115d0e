"""A private Docker daemon for tests that only need an engine.

It runs from the machine's docker.io package with its own socket, data root,
exec root and pidfile under a short temp dir, no bridge and no iptables, so
it cannot collide with (or change) anything else on the machine. Clients
reach it with DOCKER_HOST=unix://<dir>/docker.sock (also exercising a
non-default docker_host).

Helpers create real engine state (dangling images, stopped containers,
unused networks, volumes, build cache) and return what they created.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Mapping

from . import registry
from .util import (
    HarnessError, HarnessFatal, kill_pid, kill_referencing, pid_alive, proc_start_time, remove_tree, run, wait_for,
)

DOCKERD = os.environ.get("CI_TOOLS_DOCKERD") or shutil.which("dockerd") or "/usr/sbin/dockerd"
# The docker.io 20.10 client: it speaks the daemon's API 1.41 and has BuildKit
# built in. /usr/local/bin/docker (if any, newer) needs the buildx plugin for
# BuildKit and is not what Debian's CI nodes have.
DOCKER_CLI = os.environ.get("CI_TOOLS_DOCKER_CLI", "/usr/bin/docker")
BUSYBOX = os.environ.get("CI_TOOLS_BUSYBOX", "/bin/busybox")
BASE_IMAGE = "harness/busybox:latest"

LIVE_DAEMONS: set["PrivateDockerd"] = set()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _dockerd_supports(flag: str) -> bool:
    proc = subprocess.run([DOCKERD, "--help"], capture_output=True, text=True, check=False)
    return flag in proc.stdout + proc.stderr


class PrivateDockerd:
    def __init__(self) -> None:
        self.id = secrets.token_hex(3)
        # Bridges this daemon creates get this name prefix (<= 15 chars in
        # total), so a crashed run's leftovers can be found and deleted.
        self.bridge_prefix = f"cth{self.id}"
        self._bridge_count = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._start_time: int | None = None

    # -- paths / env -------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def host(self) -> str:
        """Value for DOCKER_HOST / docker_host."""
        return f"unix://{self.socket_path}"

    @property
    def env(self) -> dict[str, str]:
        """Environment additions that point a docker client at this daemon."""
        return {"DOCKER_HOST": self.host}

    @property
    def log(self) -> Path:
        return self.dir / "dockerd.log"

    def __repr__(self) -> str:
        return f"<PrivateDockerd {self.host}>"

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout: float = 60) -> "PrivateDockerd":
        ip6tables = _dockerd_supports("--ip6tables")  # only a flag of newer dockerds
        # Short, under /tmp: the socket path (and containerd's, below it)
        # must fit in a unix socket address (~108 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))
        registry.register("dockerd", self.id, dir=str(self.dir), bridge_prefix=self.bridge_prefix)
        LIVE_DAEMONS.add(self)
        config = self.dir / "daemon.json"
        config.write_text("{}\n")  # never read the machine's /etc/docker/daemon.json
        argv = [
            DOCKERD,
            "--host", self.host,
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "docker.pid"),
            "--config-file", str(config),
            "--bridge", "none",
            "--iptables=false",
        ]
        if ip6tables:
            argv.append("--ip6tables=false")
        try:
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
            self._start_time = proc_start_time(self.proc.pid)
            registry.update("dockerd", self.id, pid=self.proc.pid, start=self._start_time)

            def ping() -> bool:
                if self.proc.poll() is not None:
                    raise HarnessFatal(f"dockerd exited with rc={self.proc.returncode}; log: {self._log_tail()}")
                status, body = self.api("GET", "/_ping", timeout=2)
                return status == 200 and body == b"OK"

            wait_for(ping, timeout=timeout, what=f"private dockerd on {self.host} did not answer /_ping",
                     details=lambda: f"log: {self._log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _log_tail(self, limit: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop the daemon and its containerd, remove all its files. Idempotent."""
        if self.dir is None:
            return
        try:
            if self.running:
                # Networks persist across daemon restarts, i.e. their bridges
                # stay on the machine: remove them while the daemon can.
                self.docker("network", "prune", "-f", check=False, timeout=30)
                self.proc.send_signal(signal.SIGTERM)  # dockerd stops its containerd too
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            _cleanup_leftovers(self.dir, self.bridge_prefix)
        finally:
            registry.unregister("dockerd", self.id)
            LIVE_DAEMONS.discard(self)
            self.dir = None
            self.proc = None

    def __enter__(self) -> "PrivateDockerd":
        return self if self.running else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, bytes]:
        """One raw Engine API request over the socket: (status, body bytes)."""
        conn = _UnixHTTPConnection(str(self.socket_path), timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def api_json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.api(method, path, body)
        if status >= 300:
            raise HarnessError(f"{method} {path} -> {status}: {data[:500]!r}")
        return json.loads(data) if data else None

    def docker(self, *args: str, check: bool = True, timeout: float = 120, buildkit: bool = False,
               input: str | None = None, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
        """Run the docker CLI against this daemon."""
        env = {**os.environ, **self.env, "DOCKER_BUILDKIT": "1" if buildkit else "0",
               # A private client config dir: no credentials/contexts of the machine.
               "DOCKER_CONFIG": str(self.dir / "client")}
        env.pop("DOCKER_CONTEXT", None)
        return run([DOCKER_CLI, *args], check=check, timeout=timeout, env=env, input=input, cwd=cwd)

    def _lines(self, *args: str) -> list[str]:
        return [line for line in self.docker(*args).stdout.splitlines() if line.strip()]

    # -- state helpers -----------------------------------------------------
    def reset(self) -> None:
        """Remove every container, image, network, volume and the build cache."""
        if ids := self._lines("ps", "-aq"):
            self.docker("rm", "-f", "-v", *ids)
        # prune -a, not rmi: the classic builder leaves intermediate parent
        # images that rmi refuses to delete before their children.
        self.docker("image", "prune", "-a", "-f")
        if leftover := self._lines("images", "-aq"):
            raise HarnessError(f"images left after reset: {leftover}")
        nets = [n for n in self._lines("network", "ls", "--format", "{{.Name}}")
                if n not in ("none", "host", "bridge")]
        if nets:
            self.docker("network", "rm", *nets)
        if vols := self._lines("volume", "ls", "-q"):
            self.docker("volume", "rm", "-f", *vols)
        self.docker("builder", "prune", "-a", "-f", buildkit=True)

    def _context(self, token: str, dockerfile: str) -> Path:
        ctx = Path(tempfile.mkdtemp(prefix="ctx-", dir=self.dir))
        shutil.copy2(BUSYBOX, ctx / "busybox")
        (ctx / "token").write_text(token + "\n")
        (ctx / "Dockerfile").write_text(dockerfile)
        return ctx

    def _build(self, tag: str, *, labels: Mapping[str, str] | None = None, buildkit: bool = False,
               token: str | None = None) -> str:
        """Build FROM scratch + static busybox (no registry needed); return the image ID."""
        token = token or uuid.uuid4().hex
        ctx = self._context(token, "FROM scratch\nCOPY busybox /bin/busybox\nCOPY token /token\n"
                                   'CMD ["/bin/busybox", "true"]\n')
        try:
            label_args = [a for k, v in (labels or {}).items() for a in ("--label", f"{k}={v}")]
            self.docker("build", "-q", "-t", tag, *label_args, str(ctx), buildkit=buildkit, timeout=300)
        finally:
            remove_tree(ctx)
        return self.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()

    def base_image(self) -> str:
        """The busybox image containers are made from (built once); returns its tag."""
        if self.docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
            self._build(BASE_IMAGE, token="base")
        return BASE_IMAGE

    def make_dangling_images(self, n: int = 1, *, labels: Mapping[str, str] | None = None,
                             tag: str = "harness/dangling:latest") -> list[str]:
        """Build `tag` n+1 times with different content: returns the n image IDs left dangling.

        The last build keeps the tag (a tagged, unused image stays behind).
        """
        ids = [self._build(tag, labels=labels) for _ in range(n + 1)]
        return ids[:-1]

    def make_stopped_containers(self, n: int = 1, *, labels: Mapping[str, str] | None = None,
                                state: str = "exited") -> list[str]:
        """n containers of the busybox image running `true`; state 'exited' (ran) or 'created'."""
        image = self.base_image()
        label_args = [a for k, v in (labels or {}).items() for a in ("--label", f"{k}={v}")]
        ids = []
        for _ in range(n):
            if state == "exited":
                # --network none: the daemon runs without a default bridge.
                self.docker("run", "--network", "none", *label_args, "--name", f"stopped-{uuid.uuid4().hex[:10]}",
                            image, "/bin/busybox", "true")
                cid = self.docker("ps", "-lq", "--no-trunc").stdout.strip()
            elif state == "created":
                cid = self.docker("create", "--network", "none", *label_args, image,
                                  "/bin/busybox", "true").stdout.strip()
            else:
                raise ValueError(f"state must be 'exited' or 'created', not {state!r}")
            ids.append(cid)
        return ids

    def make_networks(self, n: int = 1, *, labels: Mapping[str, str] | None = None) -> list[str]:
        """n unused user-defined bridge networks; returns their names."""
        label_args = [a for k, v in (labels or {}).items() for a in ("--label", f"{k}={v}")]
        names = []
        for _ in range(n):
            self._bridge_count += 1
            bridge = f"{self.bridge_prefix}{self._bridge_count}"
            name = f"net-{uuid.uuid4().hex[:10]}"
            # --internal: no gateway routing or NAT, nothing reaches beyond the bridge.
            self.docker("network", "create", "--driver", "bridge", "--internal",
                        "-o", f"com.docker.network.bridge.name={bridge}", *label_args, name)
            names.append(name)
        return names

    def make_volumes(self, n: int = 1, *, anonymous: bool = False,
                     labels: Mapping[str, str] | None = None) -> list[str]:
        """n unused volumes; returns their names.

        Named: `docker volume create`. Anonymous: created the way users get
        them, by a container with an unnamed volume that is then removed
        without -v (engines >= 23 tag those com.docker.volume.anonymous).
        """
        names = []
        for _ in range(n):
            if not anonymous:
                label_args = [a for k, v in (labels or {}).items() for a in ("--label", f"{k}={v}")]
                name = f"vol-{uuid.uuid4().hex[:10]}"
                self.docker("volume", "create", *label_args, name)
            else:
                mount = "type=volume,destination=/data" + "".join(
                    f",volume-label={k}={v}" for k, v in (labels or {}).items())
                cid = self.docker("create", "--network", "none", "--mount", mount, self.base_image(),
                                  "/bin/busybox", "true").stdout.strip()
                mounts = json.loads(self.docker("inspect", "--format", "{{json .Mounts}}", cid).stdout)
                name = mounts[0]["Name"]
                self.docker("rm", cid)  # no -v: the volume stays, unused
            names.append(name)
        return names

    def build_cache_ids(self) -> list[str]:
        return [rec["ID"] for rec in (self.api_json("GET", "/system/df").get("BuildCache") or [])]

    def make_build_cache(self, *, tag: str | None = None) -> list[str]:
        """A BuildKit build, so /build/prune has something to remove; returns the new cache record IDs.

        The built image keeps its tag (harness/buildcache:<random> by default).
        """
        before = set(self.build_cache_ids())
        self._build(tag or f"harness/buildcache:{uuid.uuid4().hex[:8]}", buildkit=True)
        new = [i for i in self.build_cache_ids() if i not in before]
        if not new:
            raise HarnessError("BuildKit build left no build cache records")
        return new


def _cleanup_leftovers(directory: str | os.PathLike, bridge_prefix: str | None) -> None:
    # A SIGKILLed dockerd leaves its containerd (and shims): all of them have
    # our directory on their command line.
    kill_referencing(directory)
    remove_tree(directory)  # also detaches overlay/netns mounts below it
    if bridge_prefix:
        out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
            if name.startswith(bridge_prefix):
                subprocess.run(["ip", "link", "delete", name], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cleanup_dockerd_record(rec: Mapping[str, Any]) -> None:
    """Remove what a (possibly crashed) private dockerd left, from its registry record."""
    if rec.get("pid"):
        pid, start = int(rec["pid"]), rec.get("start")
        if pid_alive(pid, start):
            kill_pid(pid, signal.SIGTERM, start)
            try:
                wait_for(lambda: not pid_alive(pid, start), timeout=20, what=f"dockerd {pid} did not stop")
            except HarnessError:
                kill_pid(pid, signal.SIGKILL, start)
    if rec.get("dir"):
        _cleanup_leftovers(rec["dir"], rec.get("bridge_prefix"))
    registry.unregister("dockerd", rec["id"])


def start_private_dockerd(timeout: float = 60) -> PrivateDockerd:
    return PrivateDockerd().start(timeout)
