"""Disposable CI nodes: a real Debian systemd host in a systemd-nspawn container.

A node looks like a CI VM to the code under test: systemd as PID 1, user
`zuul` (own primary group, not in group docker) with passwordless sudo, sshd
on 127.0.0.1:<free port> with key login, python3, no Docker (unless the node
was booted from a variant with docker.io/podman preinstalled).

Ansible reaches it over a real `ssh` connection with ControlPersist
multiplexing and a per-node ControlPath, so the master connection (and the
group list zuul got when it logged in) survives between separate
ansible-playbook runs of one test, exactly like a CI executor's connection.

Lifecycle: boot() copies the cached root, starts `systemd-nspawn -b`, waits
for systemd and sshd; stop() SIGKILLs the container's init (the whole PID
namespace dies with it), waits for nspawn, removes the copy. Nodes are
recorded in the registry (registry.py) so that a crashed run can be cleaned
up by `python -m tests.harness.cleanup`.
"""
from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from . import registry
from .ansible_run import AnsibleRun, run_adhoc, run_playbook
from .rootfs import DEFAULT_SUITE, USER, CachedRoot, ensure_root, harvest_apt_archives, private_apt_archives
from .util import (
    WORK_DIR, HarnessError, HarnessFatal, HarnessTimeout, ensure_dir, free_port, iter_pids,
    kill_pid, kill_referencing, pid_alive, proc_start_time, proc_status, remove_tree, run, wait_for,
)

# Long enough to outlive any test: a CI executor keeps its master for the
# whole job, and the point is that it does NOT go away between playbooks.
CONTROL_PERSIST = "30m"
NSPAWN_SYSCALL_FILTER = "@keyring bpf"  # docker/runc need these inside the node
BUSYBOX = os.environ.get("CI_TOOLS_BUSYBOX", "/bin/busybox")  # static (busybox-static)
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Wall-clock boot timings of every node of this process, for the pytest summary.
BOOT_TIMINGS: list[dict[str, Any]] = []

# Nodes alive in this process, stopped by atexit/signal handlers (lifecycle.py).
LIVE_NODES: set["Node"] = set()


class Node:
    def __init__(self, suite: str = DEFAULT_SUITE, packages: Sequence[str] = (), *,
                 boot_timeout: float = 120, name: str | None = None):
        self.suite = suite
        self.packages = tuple(packages)
        self.boot_timeout = boot_timeout
        self.id = secrets.token_hex(3)
        self.name = name or f"{suite}-{self.id}"
        self.cached: CachedRoot | None = None
        self.dir: Path | None = None
        self.port: int | None = None
        self.nspawn: subprocess.Popen | None = None
        self.pid: int | None = None          # the container's systemd (PID 1 inside)
        self._pid_start: int | None = None
        self.timings: dict[str, float] = {}
        self.failed_units: list[str] = []
        self._inventory: Path | None = None
        self._net_snapshot: dict[str, Any] | None = None
        self.apt_dir: Path | None = None

    # -- paths -------------------------------------------------------------
    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def control_path(self) -> Path:
        # Short on purpose: unix socket paths are limited to ~108 bytes and
        # ssh appends a 17-character suffix while creating the socket.
        return self.dir / "cm"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    def __repr__(self) -> str:
        return f"<Node {self.name} port={self.port} pid={self.pid}>"

    # -- lifecycle ---------------------------------------------------------
    def boot(self) -> "Node":
        t0 = time.monotonic()
        self.cached = ensure_root(self.suite, self.packages)
        t_cache = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.suite[:4]}-", dir=ensure_dir(WORK_DIR)))
        # Registered before anything is started, so an interruption at any
        # later point still leaves a record for the cleanup command.
        registry.register("node", self.id, name=self.name, dir=str(self.dir))
        LIVE_NODES.add(self)
        try:
            self._prepare_copy()
            self._net_snapshot = host_net_snapshot()
            registry.update("node", self.id, net_snapshot=self._net_snapshot)
            t_copy = time.monotonic()
            self._start_container()
            self._wait_systemd()
            self._wait_sshd()
        except BaseException:
            self.stop()
            raise
        t_end = time.monotonic()
        self.timings = {
            "cache": t_cache - t0, "copy": t_copy - t_cache, "boot": t_end - t_copy,
            "total": t_end - t0,
        }
        BOOT_TIMINGS.append({
            "node": self.name, "variant": self.cached.recipe.variant,
            "cold": self.cached.built_now, "build": self.cached.build_seconds, **self.timings,
        })
        return self

    def _prepare_copy(self) -> None:
        size = _tmpfs_size()
        if size:
            # Copying ~0.4-0.9 GB of small files to ext4 takes 5-10 s and as
            # long again to delete; into tmpfs it takes < 1 s and teardown is
            # one umount. (Docker's overlay2 inside the node works on tmpfs.)
            run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "ci-tools-node", self.dir])
        # --reflink=auto: free on btrfs/xfs, a plain copy on ext4.
        run(["cp", "-a", "--reflink=auto", self.cached.rootfs, self.rootfs], timeout=600)
        for name in ("id_ed25519", "id_ed25519.pub"):
            (self.dir / name).write_bytes((self.cached.path / name).read_bytes())
        self.key.chmod(0o600)
        ensure_dir(self.dir / "ansible")
        # Hostname resolvable, or every sudo prints "unable to resolve host".
        (self.rootfs / "etc/hostname").write_text(self.name + "\n")
        (self.rootfs / "etc/hosts").write_text(
            f"127.0.0.1 localhost\n127.0.1.1 {self.name}\n::1 localhost ip6-localhost ip6-loopback\n")
        # The node shares the machine's network namespace: sshd listens on a
        # free loopback port chosen now, and on nothing else.
        self.port = free_port()
        (self.rootfs / "etc/ssh/sshd_config.d/00-harness-listen.conf").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\n")
        registry.update("node", self.id, port=self.port)

    def _start_container(self) -> None:
        self.apt_dir = private_apt_archives(self.suite, self.id)
        registry.update("node", self.id, apt_dir=str(self.apt_dir))
        argv = [
            "systemd-nspawn", "--quiet", "-D", str(self.rootfs), "-b",
            f"--machine={self.name}",
            # PID 1 of this machine is not systemd: no machined, no scope unit.
            "--register=no", "--keep-unit",
            "--capability=all", f"--system-call-filter={NSPAWN_SYSCALL_FILTER}",
            # Output goes to a log file; no interactive console.
            "--console=read-only",
            # apt archives pre-seeded from the per-suite cache: repeated apt
            # installs in nodes don't re-download (rootfs.private_apt_archives).
            f"--bind={self.apt_dir}:/var/cache/apt/archives",
        ]
        log = open(self.console_log, "wb")
        # Own session: a Ctrl-C in the terminal reaches pytest (which tears the
        # node down in order), not nspawn directly.
        self.nspawn = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        log.close()
        registry.update("node", self.id, nspawn_pid=self.nspawn.pid,
                        nspawn_start=proc_start_time(self.nspawn.pid), argv=argv)

        def init_pid() -> int | None:
            if self.nspawn.poll() is not None:
                raise HarnessFatal(f"node {self.name}: systemd-nspawn exited with rc={self.nspawn.returncode}; "
                                   f"console: {self._console_tail()}")
            for pid in iter_pids():
                st = proc_status(pid)
                # nspawn's direct child whose PID in its own namespace is 1.
                if st.get("PPid") == str(self.nspawn.pid) and st.get("NSpid", "").split()[-1:] == ["1"]:
                    return pid
            return None

        self.pid = wait_for(init_pid, timeout=30, what=f"node {self.name}: container init did not appear",
                            details=lambda: f"console: {self._console_tail()}")
        self._pid_start = proc_start_time(self.pid)
        registry.update("node", self.id, init_pid=self.pid, init_start=self._pid_start)

    def _wait_systemd(self) -> None:
        def state() -> str | None:
            if self.nspawn.poll() is not None:
                raise HarnessFatal(f"node {self.name}: container exited during boot (rc={self.nspawn.returncode}); "
                                   f"console: {self._console_tail()}")
            out = self.root_sh(["systemctl", "is-system-running"], check=False, timeout=15).stdout.strip()
            return out if out in ("running", "degraded") else None

        result = wait_for(state, timeout=self.boot_timeout,
                          what=f"node {self.name}: systemd did not reach running/degraded",
                          details=self._boot_details)
        if result == "degraded":
            # Expected on trixie (systemd-modules-load cannot work in a
            # container); recorded so tests can look, never fatal.
            self.failed_units = self.root_sh(
                ["systemctl", "list-units", "--failed", "--plain", "--no-legend"], check=False
            ).stdout.split("\n")
            self.failed_units = [line.split()[0] for line in self.failed_units if line.strip()]

    def _wait_sshd(self) -> None:
        def banner() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                return s.recv(64).startswith(b"SSH-")

        wait_for(banner, timeout=60, what=f"node {self.name}: sshd on 127.0.0.1:{self.port} did not answer",
                 details=lambda: "journal: " + self.journal("ssh.service", lines=20))

    def _console_tail(self, limit: int = 3000) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except (OSError, TypeError):
            return "(no console log)"
        return text[-limit:]

    def _boot_details(self) -> str:
        jobs = self.root_sh(["systemctl", "list-jobs", "--no-pager"], check=False, timeout=15).stdout
        return f"jobs:\n{jobs}\njournal:\n{self.journal(lines=30)}"

    def journal(self, unit: str | None = None, lines: int = 50) -> str:
        argv = ["journalctl", "--no-pager", "-n", str(lines)]
        if unit:
            argv += ["-u", unit]
        try:
            return self.root_sh(argv, check=False, timeout=15).stdout
        except Exception as exc:  # best effort, used in error messages
            return f"(journal unavailable: {exc})"

    @property
    def running(self) -> bool:
        return self.pid is not None and pid_alive(self.pid, self._pid_start)

    def stop(self) -> None:
        """Kill the container and remove everything it left. Idempotent."""
        if self.dir is None:
            return
        try:
            if self.port is not None and self.control_path.exists():
                # Polite first: end the ssh master so it does not linger.
                subprocess.run(self._ssh_base() + ["-O", "exit", f"{USER}@127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=False)
            if self.pid is not None:
                # SIGKILL to the PID-namespace init kills every process in it.
                kill_pid(self.pid, signal.SIGKILL, self._pid_start)
            if self.nspawn is not None:
                try:
                    self.nspawn.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.nspawn.kill()
                    self.nspawn.wait(timeout=10)
            # Anything else mentioning our directory (an ssh master that
            # ignored -O exit, an nsenter'd process) goes too.
            kill_referencing(self.dir)
            if self._net_snapshot is not None and not _other_nodes_alive(self.id):
                undo_host_net(self._net_snapshot)
            remove_tree(self.dir)
            if self.apt_dir is not None:
                harvest_apt_archives(self.apt_dir)
            _remove_propagate_dir(self.name)
        finally:
            registry.unregister("node", self.id)
            LIVE_NODES.discard(self)
            self.dir = None
            self.pid = None

    def __enter__(self) -> "Node":
        return self if self.pid else self.boot()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- commands as root (no ssh involved) --------------------------------
    def root_sh(self, cmd: str | Sequence[str], *, check: bool = True, timeout: float = 300,
                input: str | None = None, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run cmd as root inside the node (nsenter into all its namespaces).

        A string runs through /bin/sh -c; a list is exec'd as is. The host
        environment is not leaked: the command gets a clean root environment.
        """
        if self.pid is None:
            raise HarnessError(f"node {self.name} is not running")
        argv = ["nsenter", "-t", str(self.pid), "-a", "--", "/usr/bin/env", "-i",
                f"PATH={ROOT_PATH}", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb",
                *[f"{k}={v}" for k, v in (env or {}).items()]]
        argv += ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return run(argv, check=check, timeout=timeout, input=input)

    # -- commands as zuul over ssh -----------------------------------------
    def _ssh_base(self, new_login: bool = False) -> list[str]:
        argv = ["ssh", "-F", "/dev/null", "-i", str(self.key), "-p", str(self.port),
                *self._ssh_options(), "-o", "BatchMode=yes"]
        if new_login:
            # A separate, brand-new login: no master, not riding one either.
            argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        else:
            argv += ["-o", "ControlMaster=auto", "-o", f"ControlPersist={CONTROL_PERSIST}",
                     "-o", f"ControlPath={self.control_path}"]
        return argv

    @staticmethod
    def _ssh_options() -> list[str]:
        return ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
                "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes"]

    def ssh(self, cmd: str, *, new_login: bool = False, check: bool = False, timeout: float = 300,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run cmd as zuul over ssh.

        By default it rides the node's multiplexed master connection (the one
        ansible uses; created if none exists yet), so it sees the group list
        zuul had when that connection logged in. new_login=True makes a fresh
        login that bypasses the master.
        """
        return run(self._ssh_base(new_login) + [f"{USER}@127.0.0.1", "--", cmd],
                   check=check, timeout=timeout, input=input)

    def master_pid(self) -> int | None:
        """PID of the ssh ControlMaster for this node, or None if there is none."""
        proc = subprocess.run(self._ssh_base() + ["-O", "check", f"{USER}@127.0.0.1"],
                              capture_output=True, text=True, timeout=10, check=False)
        m = re.search(r"pid=(\d+)", proc.stderr + proc.stdout)
        return int(m.group(1)) if proc.returncode == 0 and m else None

    def close_master(self) -> None:
        """End the multiplexed connection (like ansible's meta: reset_connection)."""
        subprocess.run(self._ssh_base() + ["-O", "exit", f"{USER}@127.0.0.1"],
                       capture_output=True, timeout=10, check=False)

    def build_busybox_image(self, tag: str = "harness/busybox:latest") -> str:
        """Build a FROM-scratch image with the machine's static busybox inside the
        node's docker (no registry is reachable); returns the tag.

        Needs docker installed in the node (e.g. packages=["docker.io"]).
        """
        ctx = ensure_dir(self.rootfs / "root" / "harness-busybox")
        (ctx / "busybox").write_bytes(Path(BUSYBOX).read_bytes())
        (ctx / "busybox").chmod(0o755)
        (ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "true"]\n')
        self.root_sh(f"cd /root/harness-busybox && docker build -q -t {tag} .", timeout=300)
        return tag

    def revoke_sudo(self) -> None:
        """Take sudo away from zuul, as CI systems do before the run phase."""
        self.root_sh("rm -f /etc/sudoers.d/zuul")

    # -- ansible -----------------------------------------------------------
    def ansible_ssh_args(self) -> str:
        return " ".join(["-C", "-o", "ControlMaster=auto", "-o", f"ControlPersist={CONTROL_PERSIST}",
                         "-o", f"ControlPath={self.control_path}", *self._ssh_options()])

    def host_vars(self) -> dict[str, Any]:
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.port,
            "ansible_user": USER,
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": str(self.key),
            # Our ControlPath in ssh_args: ansible then uses it instead of its
            # own, so ansible and Node.ssh() share one master connection.
            "ansible_ssh_args": self.ansible_ssh_args(),
            "ansible_become_method": "sudo",
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def write_inventory(self, path: str | os.PathLike | None = None, *, groups: Sequence[str] = ("nodes",),
                        host_vars: Mapping[str, Any] | None = None) -> Path:
        """Write a YAML inventory with this node (host name = node name)."""
        path = Path(path) if path else self.dir / "inventory.yml"
        hv = {**self.host_vars(), **(host_vars or {})}
        children = {g: {"hosts": {self.name: None}} for g in groups}
        inventory = {"all": {"hosts": {self.name: hv}, "children": children}}
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        return path

    @property
    def inventory(self) -> Path:
        if self._inventory is None or not self._inventory.exists():
            self._inventory = self.write_inventory()
        return self._inventory

    def playbook(self, playbook: str | os.PathLike | list | dict, **kwargs: Any) -> AnsibleRun:
        """ansible-playbook against this node (hosts: all / nodes / its name)."""
        kwargs.setdefault("workdir", self.dir / "ansible")
        return run_playbook(playbook, self.inventory, **kwargs)

    def adhoc(self, module: str, args: str | Mapping[str, Any] = "", **kwargs: Any) -> AnsibleRun:
        """ansible <node> -m MODULE -a ARGS (become=True for sudo)."""
        kwargs.setdefault("workdir", self.dir / "ansible")
        return run_adhoc(self.name, module, args, self.inventory, **kwargs)


# -- host network hygiene -----------------------------------------------------
# A node shares the machine's network namespace (that is how apt reaches the
# mirror and how ssh reaches the node on loopback). So a dockerd started in a
# node creates docker0/br-*/veth* links and DOCKER* iptables chains on the
# machine itself, and they outlive the node. Undo exactly what appeared while
# the node lived and looks like Docker's, and only when no other node is
# running (its dockerd may own them); leave everything else alone.
DOCKER_LINK_PREFIXES = ("docker0", "docker_gwbridge", "br-", "veth")


def _host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


def _iptables_rules(binary: str, table: str) -> list[str]:
    proc = subprocess.run([binary, "-w", "-t", table, "-S"], capture_output=True, text=True, check=False)
    return proc.stdout.splitlines() if proc.returncode == 0 else []


def _firewall_tools() -> list[str]:
    return [b for b in ("iptables", "ip6tables") if shutil.which(b)]


def host_net_snapshot() -> dict[str, Any]:
    return {
        "links": sorted(_host_links()),
        "rules": {f"{b}:{t}": _iptables_rules(b, t) for b in _firewall_tools() for t in ("filter", "nat")},
    }


def _other_nodes_alive(my_id: str) -> bool:
    """Is another node (of any test process) running? Then the Docker links and
    rules that appeared meanwhile may be its own: leave them to whoever stops last."""
    for rec in registry.entries():
        if rec.get("kind") != "node" or rec.get("id") == my_id:
            continue
        if rec.get("init_pid") and pid_alive(int(rec["init_pid"]), rec.get("init_start")):
            return True
        if rec.get("nspawn_pid") and pid_alive(int(rec["nspawn_pid"]), rec.get("nspawn_start")):
            return True
    return False


def undo_host_net(snapshot: Mapping[str, Any]) -> None:
    """Remove Docker-made links and iptables rules/chains that are not in snapshot."""
    before_links = set(snapshot.get("links", ()))
    for link in sorted(_host_links() - before_links):
        if link.startswith(DOCKER_LINK_PREFIXES):
            subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)
    for key, before in snapshot.get("rules", {}).items():
        binary, table = key.split(":")
        before_set = set(before)
        new = [r for r in _iptables_rules(binary, table) if r not in before_set and "DOCKER" in r.upper()]
        # Rules first (-A -> -D), then the chains they lived in (-N -> -F, -X).
        for rule in (r for r in new if r.startswith("-A ")):
            subprocess.run([binary, "-w", "-t", table, "-D", *shlex.split(rule)[1:]], capture_output=True, check=False)
        for chain in (r.split()[1] for r in new if r.startswith("-N ")):
            subprocess.run([binary, "-w", "-t", table, "-F", chain], capture_output=True, check=False)
            subprocess.run([binary, "-w", "-t", table, "-X", chain], capture_output=True, check=False)


def _remove_propagate_dir(machine: str) -> None:
    # nspawn creates /run/systemd/nspawn/propagate/<machine> and, when /run is
    # not a tmpfs (as on this machine), refuses to delete it on exit.
    path = Path("/run/systemd/nspawn/propagate") / machine
    if path.is_dir():
        remove_tree(path)


def _tmpfs_size() -> str | None:
    """Size limit for a node's tmpfs, or None to keep the copy on disk.

    $CI_TOOLS_NODE_TMPFS: "auto" (default: tmpfs if the machine has more than
    4 GiB available, limited to half of it, at most 8 GiB), "0" (disk), or a
    size such as "6g".
    """
    setting = os.environ.get("CI_TOOLS_NODE_TMPFS", "auto").strip().lower()
    if setting in ("0", "no", "false", "off"):
        return None
    if setting != "auto":
        return setting
    avail_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                avail_kib = int(line.split()[1])
    if avail_kib < 4 * 1024 * 1024:
        return None
    return f"{min(avail_kib // 2, 8 * 1024 * 1024)}k"


def boot_node(suite: str = DEFAULT_SUITE, packages: Sequence[str] = (), **kwargs: Any) -> Node:
    """Boot a fresh node (building/reusing the cached root) and return it."""
    return Node(suite, packages, **kwargs).boot()


def cleanup_node_record(rec: Mapping[str, Any]) -> None:
    """Remove what a (possibly crashed) node left, from its registry record."""
    if rec.get("init_pid"):
        kill_pid(int(rec["init_pid"]), signal.SIGKILL, rec.get("init_start"))
    if rec.get("nspawn_pid"):
        pid, start = int(rec["nspawn_pid"]), rec.get("nspawn_start")
        try:
            wait_for(lambda: not pid_alive(pid, start), timeout=30,
                     what=f"systemd-nspawn (pid {pid}) of node {rec.get('name')} did not exit")
        except HarnessTimeout:
            kill_pid(pid, signal.SIGKILL, start)
    if rec.get("dir"):
        kill_referencing(rec["dir"])
        remove_tree(rec["dir"])
    if rec.get("net_snapshot") and not _other_nodes_alive(rec["id"]):
        undo_host_net(rec["net_snapshot"])
    if rec.get("apt_dir"):
        harvest_apt_archives(rec["apt_dir"])
    if rec.get("name"):
        _remove_propagate_dir(rec["name"])
    registry.unregister("node", rec["id"])
