"""Prepared root filesystems for CI nodes, cached on the machine between runs.

Layout under CACHE_DIR (default /var/cache/ci-tools-docker):

    roots/<suite>-<variant>-<hash>/rootfs/       the prepared tree (copied per node)
    roots/<suite>-<variant>-<hash>/id_ed25519    key whose .pub is zuul's authorized_keys
    roots/<suite>-<variant>-<hash>/recipe.json   what was built (written last)
    roots/.tmp-*                                 builds in progress (renamed when done)
    apt/<suite>/                                 apt archives, bind-mounted into nodes
    debootstrap/<suite>/                         debootstrap's own .deb cache

The hash covers the whole recipe (suite, package lists, setup script text,
and for a variant the recipe of its base), so editing any of it builds a new
cache entry instead of silently reusing a stale one.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from .util import CACHE_DIR, HarnessError, ensure_dir, pid_alive, remove_tree, run

SUITES = ("bullseye", "bookworm", "trixie")
DEFAULT_SUITE = "bookworm"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "sudo", "openssh-server", "python3")
MIRROR = os.environ.get("CI_TOOLS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Cached roots older than this are rebuilt: their apt lists go stale as the
# mirror moves on, and `apt-get install` in a node would then hit 404s.
MAX_AGE_DAYS = float(os.environ.get("CI_TOOLS_ROOT_MAX_AGE_DAYS", "7"))
# Bump to invalidate every cache entry after a change the recipes don't show.
RECIPE_FORMAT = 1

ROOTS_DIR = CACHE_DIR / "roots"
USER = "zuul"


# Runs once inside a freshly debootstrapped root (systemd-nspawn, not booted),
# with /var/lib/harness-setup/authorized_keys provided by the builder
# (not /tmp: nspawn mounts a fresh tmpfs there).
BASE_SETUP = r"""#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive

# The CI user: its own primary group, NOT in group docker, passwordless sudo
# through a sudoers.d file (Node.revoke_sudo() deletes it, as CI systems do
# before the run phase).
useradd --create-home --shell /bin/bash --user-group zuul
printf 'zuul ALL=(ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/zuul
chmod 0440 /etc/sudoers.d/zuul
visudo -cf /etc/sudoers.d/zuul
install -d -m 0700 -o zuul -g zuul /home/zuul/.ssh
install -m 0600 -o zuul -g zuul /var/lib/harness-setup/authorized_keys /home/zuul/.ssh/authorized_keys

# sshd: key-only logins. The port and listen address are chosen per node at
# boot (00-harness-listen.conf); sshd keeps the first value it reads, so the
# drop-in directory must be included before anything else.
mkdir -p /etc/ssh/sshd_config.d
grep -q '^Include /etc/ssh/sshd_config.d/\*.conf' /etc/ssh/sshd_config \
    || sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config
cat > /etc/ssh/sshd_config.d/10-harness.conf <<'EOF_SSHD'
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF_SSHD
ls /etc/ssh/ssh_host_*_key >/dev/null

# systemd-nspawn mounts the cgroup v1 controller hierarchies read-only, and
# runc (docker run) must create cgroups in them. Remount them writable early
# in boot, before docker/containerd can start. Harness-only: real CI VMs have
# writable cgroups. On a unified (v2-only) node there is nothing to do.
cat > /usr/local/sbin/harness-cgroup-rw <<'EOF_CG'
#!/bin/sh
awk '$3 == "cgroup" && $4 ~ /(^|,)ro(,|$)/ {print $2}' /proc/mounts | while read -r mnt; do
    ctrl=$(basename "$mnt")
    case "$ctrl" in systemd|unified) continue ;; esac
    umount "$mnt" && mount -t cgroup -o "$ctrl" cgroup "$mnt"
done
EOF_CG
chmod 0755 /usr/local/sbin/harness-cgroup-rw
cat > /etc/systemd/system/harness-cgroup-rw.service <<'EOF_UNIT'
[Unit]
Description=Harness: remount cgroup v1 controllers writable (systemd-nspawn test node only)
DefaultDependencies=no
Before=sysinit.target containerd.service docker.service docker.socket
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/harness-cgroup-rw
[Install]
WantedBy=sysinit.target
EOF_UNIT
systemctl enable harness-cgroup-rw.service

# Fresh package lists, so apt tasks in a node work without an update first.
apt-get update -qq
"""

# Only for trixie nodes (docker.io 26.x). Harness-only property of the test
# node, never of the product: in a systemd-nspawn container /proc/sys is
# read-only, so dockerd cannot disable IPv6 on a container's interface in the
# (IPv4-only) default bridge network and `docker run` fails. This variable makes
# dockerd tolerate that. Real CI VMs have writable sysctls and need nothing.
TRIXIE_SETUP = r"""
mkdir -p /etc/systemd/system/docker.service.d
cat > /etc/systemd/system/docker.service.d/harness-ipv6.conf <<'EOF_DOCKER'
# Harness-only: see tests/harness/rootfs.py (read-only /proc/sys in nspawn).
[Service]
Environment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1
EOF_DOCKER
"""

# Extra packages of a variant are installed into a copy of the base root.
VARIANT_SETUP = r"""#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q -o Dpkg::Options::=--force-confold {packages}
"""


@dataclass(frozen=True)
class Recipe:
    suite: str = DEFAULT_SUITE
    packages: tuple[str, ...] = ()  # extra packages (the variant); () is the base

    def __post_init__(self):
        if self.suite not in SUITES:
            raise HarnessError(f"unknown suite {self.suite!r}; known: {', '.join(SUITES)}")
        object.__setattr__(self, "packages", tuple(sorted(set(self.packages))))

    @property
    def variant(self) -> str:
        return "+".join(self.packages) if self.packages else "base"

    @property
    def base(self) -> "Recipe":
        return Recipe(self.suite)

    def setup_script(self) -> str:
        if self.packages:
            return VARIANT_SETUP.format(packages=" ".join(self.packages))
        script = BASE_SETUP
        if self.suite == "trixie":
            script += TRIXIE_SETUP
        return script

    def describe(self) -> dict:
        desc = {
            "format": RECIPE_FORMAT,
            "suite": self.suite,
            "include": list(BASE_PACKAGES),
            "packages": list(self.packages),
            "setup": self.setup_script(),
        }
        if self.packages:
            desc["base"] = self.base.describe()
        return desc

    @property
    def hash(self) -> str:
        blob = json.dumps(self.describe(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def name(self) -> str:
        return f"{self.suite}-{self.variant}-{self.hash}"


@dataclass
class CachedRoot:
    recipe: Recipe
    path: Path
    built_now: bool = False       # True if this call built it (cold)
    build_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def key(self) -> Path:
        return self.path / "id_ed25519"


def apt_archives_dir(suite: str) -> Path:
    """Per-suite apt archive cache shared by builds and nodes."""
    path = ensure_dir(CACHE_DIR / "apt" / suite)
    ensure_dir(path / "partial")
    return path


PRIVATE_APT_DIR = CACHE_DIR / "apt" / ".private"


def private_apt_archives(suite: str, ident: str) -> Path:
    """A private /var/cache/apt/archives for one node or build, pre-seeded with
    hard links to every .deb of the shared cache.

    Not the shared directory itself: apt takes an exclusive lock on its
    archives directory and fails at once ("Could not get lock
    /var/cache/apt/archives/lock") if two nodes install at the same time.
    Hard links cost nothing, and apt never rewrites a downloaded .deb in place
    (it downloads into partial/ and renames), so sharing the files is safe.
    harvest_apt_archives() links new downloads back into the shared cache.
    """
    shared = apt_archives_dir(suite)
    private = PRIVATE_APT_DIR / f"{suite}-{ident}"
    remove_tree(private)
    ensure_dir(private / "partial")
    for deb in shared.glob("*.deb"):
        os.link(deb, private / deb.name)
    return private


def harvest_apt_archives(private: str | os.PathLike) -> None:
    """Share the .debs a node/build downloaded, then remove its private dir."""
    private = Path(private)
    if not private.is_dir():
        return
    suite = private.name.split("-", 1)[0]
    shared = apt_archives_dir(suite)
    for deb in private.glob("*.deb"):  # complete downloads only (partial/ is skipped)
        if deb.is_file() and not (shared / deb.name).exists():
            try:
                os.link(deb, shared / deb.name)
            except FileExistsError:  # another node shared the same file meanwhile
                pass
    remove_tree(private)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive lock so two test processes never build the same root at once."""
    ensure_dir(path.parent)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _is_complete(path: Path) -> bool:
    marker = path / "recipe.json"
    if not marker.is_file():
        return False
    age_days = (time.time() - marker.stat().st_mtime) / 86400
    return age_days < MAX_AGE_DAYS


def remove_stale_builds() -> list[Path]:
    """Remove .tmp-* build dirs and private apt dirs whose builder process is gone."""
    removed = []
    if PRIVATE_APT_DIR.is_dir():
        for private in PRIVATE_APT_DIR.glob("*-build*"):
            pid = private.name.rsplit("-build", 1)[1]
            if not pid.isdigit() or not pid_alive(int(pid)):
                harvest_apt_archives(private)
                removed.append(private)
    if not ROOTS_DIR.is_dir():
        return removed
    for tmp in ROOTS_DIR.glob(".tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
        except ValueError:
            pid = -1
        if pid <= 0 or not pid_alive(pid):
            remove_tree(tmp)
            removed.append(tmp)
    return removed


def nspawn_run(rootfs: Path, suite: str, argv: Sequence[str], *, timeout: float = 1800) -> None:
    """Run a command inside rootfs without booting it (a better chroot).

    --register=no/--keep-unit: the machine's PID 1 is not systemd, so nspawn
    must not try to talk to machined or create a scope unit.
    """
    archives = private_apt_archives(suite, f"build{os.getpid()}")
    try:
        run(
            ["systemd-nspawn", "--quiet", "-D", rootfs, "--register=no", "--keep-unit", "--pipe",
             f"--bind={archives}:/var/cache/apt/archives",
             "--setenv=DEBIAN_FRONTEND=noninteractive", "--setenv=LANG=C.UTF-8",
             "--", *argv],
            timeout=timeout,
        )
    finally:
        harvest_apt_archives(archives)


def ensure_root(suite: str = DEFAULT_SUITE, packages: Sequence[str] = ()) -> CachedRoot:
    """Return the cached prepared root for (suite, packages), building it if needed."""
    recipe = Recipe(suite, tuple(packages))
    final = ROOTS_DIR / recipe.name
    if _is_complete(final):
        return CachedRoot(recipe, final)
    # A variant starts from its base; get that first (outside our lock).
    base = ensure_root(suite) if recipe.packages else None
    with _locked(ROOTS_DIR / f".lock-{recipe.name}"):
        if _is_complete(final):  # another process built it while we waited
            return CachedRoot(recipe, final)
        remove_stale_builds()
        if final.exists():  # too old (or incomplete): rebuild from scratch
            remove_tree(final)
        started = time.monotonic()
        tmp = ROOTS_DIR / f".tmp-{recipe.name}-{os.getpid()}"
        remove_tree(tmp)
        ensure_dir(tmp)
        try:
            _build(recipe, tmp, base)
            (tmp / "recipe.json").write_text(json.dumps(recipe.describe(), indent=2))
            # rename() is atomic: the cache entry appears complete or not at all.
            os.rename(tmp, final)
        except BaseException:
            remove_tree(tmp)
            raise
        return CachedRoot(recipe, final, built_now=True, build_seconds=time.monotonic() - started)


def _build(recipe: Recipe, tmp: Path, base: CachedRoot | None) -> None:
    rootfs = tmp / "rootfs"
    if base is not None:
        run(["cp", "-a", "--reflink=auto", base.rootfs, rootfs], timeout=600)
        for name in ("id_ed25519", "id_ed25519.pub"):
            shutil.copy2(base.path / name, tmp / name)
    else:
        debootstrap_cache = ensure_dir(CACHE_DIR / "debootstrap" / recipe.suite)
        run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             f"--cache-dir={debootstrap_cache}", recipe.suite, rootfs, MIRROR], timeout=1800)
        # One key per cache entry: nodes copied from it accept exactly this key.
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ci-tools-docker {recipe.name}",
             "-f", tmp / "id_ed25519"])
    # Not under /tmp: nspawn mounts an empty tmpfs there.
    stage = ensure_dir(rootfs / "var" / "lib" / "harness-setup")
    shutil.copy2(tmp / "id_ed25519.pub", stage / "authorized_keys")
    (stage / "setup.sh").write_text(recipe.setup_script())
    nspawn_run(rootfs, recipe.suite, ["/bin/sh", "/var/lib/harness-setup/setup.sh"])
    remove_tree(stage)
