"""ci_tools.docker.docker_install on real systemd CI nodes, through ansible-core over SSH.

One plain node (no Docker) per suite from $CI_TOOLS_SUITES is shared by this file's
tests, in file order: the first installs docker.io into it (after a check-mode run that
must change nothing and predict the installation exactly); the later ones configure the
daemon, wait for a held dpkg lock, switch to Docker's "upstream" repository (a local one
this file builds and signs: Debian's docker.io re-packaged as docker-ce) and remove the
packages again. A test that needs Docker installs it first through the module (a no-op
when it is there), so a failure earlier in the file does not cascade.
"""
from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.harness import Node, selected_suites
from tests.harness.util import free_port, run, wait_for

FQCN = "ci_tools.docker.docker_install"
IMAGE = "harness/busybox:latest"
DAEMON_JSON = "/etc/docker/daemon.json"
SOURCES = "/etc/apt/sources.list.d/docker.sources"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (systemd-nspawn)"),
]


# -- fixtures and helpers ------------------------------------------------------

@pytest.fixture(scope="module", params=selected_suites())
def plain_node(request) -> Node:
    """A node without Docker, shared by this file's tests (per selected suite)."""
    node = Node(request.param)
    request.addfinalizer(node.stop)
    return node.boot()


@pytest.fixture(scope="module")
def collections(installed_collection):
    return {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}


def module(node: Node, env, args: dict | None = None, *, become=True, check=False, diff=False):
    """Runs one docker_install task; returns (its TaskResult, the AnsibleRun)."""
    book = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "docker_install", FQCN: args or {}, "become": become},
    ]}]
    result = node.playbook(book, env=env, check=check, diff=diff)
    return result.task("docker_install"), result


def ensure_docker(node: Node, env):
    result, out = module(node, env)
    assert result.status == "ok", out.output
    return result


def sh(node: Node, cmd: str) -> str:
    return node.root_sh(cmd).stdout


def start_time(node: Node) -> str:
    return sh(node, "systemctl show docker.service -p ExecMainStartTimestampMonotonic --value").strip()


def installed(node: Node, *names: str) -> dict[str, str]:
    out = node.root_sh(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Status}\n", *names],
                       check=False).stdout
    return {p: v for p, v, s in (line.split("\t") for line in out.splitlines())
            if s.endswith(" installed")}


def daemon_json(node: Node) -> dict | None:
    text = node.root_sh(f"cat {DAEMON_JSON}", check=False)
    return json.loads(text.stdout) if text.returncode == 0 else None


# Everything a check-mode run must leave alone: /etc (content, mode, owner), dpkg's
# database and apt's lists.
SNAPSHOT = r"""
import hashlib, json, os, subprocess
out = {}
for root, dirs, files in os.walk("/etc"):
    for name in dirs + files:
        p = os.path.join(root, name)
        st = os.lstat(p)
        if os.path.islink(p):
            v = "link:" + os.readlink(p)
        elif os.path.isdir(p):
            v = "dir"
        else:
            with open(p, "rb") as f:
                v = hashlib.sha256(f.read()).hexdigest()
        out[p] = "%s %o %d:%d" % (v, st.st_mode, st.st_uid, st.st_gid)
out["dpkg"] = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n"],
                             capture_output=True, text=True).stdout
with open("/var/lib/dpkg/status", "rb") as f:
    out["dpkg-status"] = hashlib.sha256(f.read()).hexdigest()
out["apt-lists"] = sorted(os.listdir("/var/lib/apt/lists"))
print(json.dumps(out))
"""


def snapshot(node: Node) -> dict:
    return json.loads(node.root_sh(["python3", "-c", SNAPSHOT]).stdout)


# -- fresh node ----------------------------------------------------------------

def test_fresh_node_check_mode_then_install(plain_node, collections):
    """Check mode changes nothing and predicts the installation; the real run installs
    exactly that, enables and starts the engine, and `docker run` works."""
    node = plain_node
    assert not installed(node, "docker.io")
    before = snapshot(node)
    predicted, out = module(node, collections, check=True, diff=True)
    assert predicted.status == "ok", out.output
    assert predicted.changed
    assert snapshot(node) == before, "check mode changed the node"
    r = predicted.result
    names = {p["name"] for p in r["packages_installed"]}
    assert "docker.io" in names and all(p["version"] for p in r["packages_installed"])
    assert r["packages_removed"] == [] and r["packages"] == {}
    assert r["started"] is True and r["daemon_json_changed"] is False

    result, out = module(node, collections)
    assert result.status == "ok", out.output
    r = result.result
    assert result.changed
    assert {p["name"] for p in r["packages_installed"]} == names
    # Debian 13 splits the CLI out of docker.io; it is managed with it.
    assert r["packages"] == installed(node, "docker.io", "docker-cli")
    assert "docker.io" in r["packages"]
    assert r["packages_removed"] == []
    assert sh(node, "systemctl is-enabled docker.service docker.socket").split() == ["enabled", "enabled"]
    assert sh(node, "systemctl is-active docker.service").strip() == "active"
    version = json.loads(sh(node, "docker version --format '{{json .Server}}'"))
    assert r["engine_version"] == version["Version"]
    assert r["api_version"] == version["ApiVersion"]

    node.build_busybox_image(IMAGE)
    net = " --network none" if node.suite == "trixie" else ""
    assert sh(node, f"docker run --rm{net} {IMAGE} /bin/busybox echo hello").strip() == "hello"


def test_second_run_changes_nothing(plain_node, collections):
    node = plain_node
    ensure_docker(node, collections)
    started = start_time(node)
    result, out = module(node, collections, diff=True)
    assert result.status == "ok", out.output
    assert not result.changed
    r = result.result
    assert (r["packages_installed"], r["packages_removed"]) == ([], [])
    assert (r["restarted"], r["started"], r["daemon_json_changed"]) == (False, False, False)
    assert r["engine_version"] and r["api_version"]
    assert start_time(node) == started, "the daemon was restarted"


def test_needs_root(plain_node, collections):
    result, out = module(plain_node, collections, become=False)
    assert result.status == "failed", out.output
    assert result["msg"].endswith("but runs as zuul (uid %s): use become: true"
                                  % sh(plain_node, "id -u zuul").strip())


# -- daemon.json -----------------------------------------------------------------

def test_daemon_options_added_changed_removed(plain_node, collections):
    node = plain_node
    ensure_docker(node, collections)
    node.root_sh(f"rm -f {DAEMON_JSON}")
    node.root_sh("systemctl restart docker.service")

    # Added: the file is created, the daemon restarted with it, diff shown.
    started = start_time(node)
    options = {"mtu": 1400, "log-opts": {"max-size": "10m", "max-file": "3"}}
    result, out = module(node, collections, {"daemon_options": options}, diff=True)
    assert result.status == "ok", out.output
    assert result.changed and result["daemon_json_changed"] and result["restarted"]
    assert result["diff"]["after"] == sh(node, f"cat {DAEMON_JSON}")
    assert result["diff"]["before_header"] == f"{DAEMON_JSON} (absent)"
    assert daemon_json(node) == options
    assert start_time(node) != started
    assert json.loads(sh(node, "docker info --format '{{json .}}'"))["ServerVersion"]

    # Same options again: unchanged, no restart, the file untouched.
    started, mtime = start_time(node), sh(node, f"stat -c %Y.%i {DAEMON_JSON}")
    result, out = module(node, collections, {"daemon_options": options})
    assert result.status == "ok" and not result.changed, out.output
    assert (start_time(node), sh(node, f"stat -c %Y.%i {DAEMON_JSON}")) == (started, mtime)

    # A key set by hand (and a 4-space layout) survives a change and a removal.
    node.root_sh(["python3", "-c", (
        "import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); d['debug']=False; "
        "open(p,'w').write(json.dumps(d, indent=4)+'\\n')")])
    result, out = module(node, collections, {"daemon_options": {
        "mtu": 1450, "registry-mirrors": ["http://127.0.0.1:5000"]}}, diff=True)
    assert result.status == "ok" and result.changed and result["restarted"], out.output
    text = sh(node, f"cat {DAEMON_JSON}")
    assert text == ('{\n    "mtu": 1450,\n    "log-opts": {\n        "max-size": "10m",\n'
                    '        "max-file": "3"\n    },\n    "debug": false,\n'
                    '    "registry-mirrors": [\n        "http://127.0.0.1:5000"\n    ]\n}\n')
    assert '"mtu": 1400' in result["diff"]["before"] and '"mtu": 1450' in result["diff"]["after"]
    info = json.loads(sh(node, "docker info --format '{{json .RegistryConfig.Mirrors}}'"))
    assert info == ["http://127.0.0.1:5000/"]

    result, out = module(node, collections, {"daemon_options": {"mtu": None, "log-opts": None}})
    assert result.status == "ok" and result.changed and result["restarted"], out.output
    assert daemon_json(node) == {"debug": False, "registry-mirrors": ["http://127.0.0.1:5000"]}


def test_invalid_daemon_option_restores_the_previous_file(plain_node, collections):
    node = plain_node
    ensure_docker(node, collections)
    good = '{\n  "debug": false\n}\n'
    node.root_sh(f"printf '%s' '{good}' > {DAEMON_JSON} && systemctl restart docker.service")
    result, out = module(node, collections, {"daemon_options": {"bogus-option": True}})
    assert result.status == "failed", out.output
    msg = result["msg"]
    assert msg.startswith(f"restart docker.service with the new {DAEMON_JSON}: the daemon failed: "), msg
    # The daemon's own words, from the journal.
    assert "bogus-option" in msg and "don't match any configuration option" in msg, msg
    assert msg.endswith(f"The previous {DAEMON_JSON} was restored and the daemon runs with it again")
    assert result["daemon_json_restored"] is True
    assert any("bogus-option" in line for line in result["journal"])
    assert sh(node, f"cat {DAEMON_JSON}") == good
    assert sh(node, "systemctl is-active docker.service").strip() == "active"
    assert sh(node, "docker version --format '{{.Server.Version}}'").strip()


# -- the dpkg lock -------------------------------------------------------------------

HOLD_LOCKS = r"""
import fcntl, sys, time
held = []
for path in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock"):
    f = open(path, "w")
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.append(f)
open("/run/hold-locks.ready", "w").close()
time.sleep(float(sys.argv[1]))
"""


def test_waits_for_the_dpkg_lock(plain_node, collections):
    """Another process holds dpkg's and apt's locks for a while (as unattended-upgrades
    does): the task waits, then installs."""
    node = plain_node
    ensure_docker(node, collections)
    hold = 20
    node.root_sh("rm -f /run/hold-locks.ready")
    node.root_sh(["systemd-run", "--unit=hold-dpkg-lock", "--collect", "python3", "-c", HOLD_LOCKS, str(hold)])
    wait_for(lambda: node.root_sh("test -e /run/hold-locks.ready", check=False).returncode == 0,
             timeout=30, what="the lock holder did not take the locks")
    t0 = time.monotonic()
    # cache_valid_time 0: apt-get update must wait for the lists lock too.
    result, out = module(node, collections, {"packages": ["docker.io", "hello"], "cache_valid_time": 0})
    elapsed = time.monotonic() - t0
    assert result.status == "ok", out.output
    assert result.changed and result["cache_updated"]
    assert [p["name"] for p in result["packages_installed"]] == ["hello"]
    assert "hello" in installed(node, "hello")
    assert elapsed >= hold - 3, f"finished after {elapsed:.1f} s while the lock was held {hold} s"
    # Installing an unrelated package does not restart the daemon.
    assert result["restarted"] is False

    removed, out = module(node, collections, {"packages": ["hello"], "state": "absent"})
    assert removed.status == "ok" and removed.changed, out.output
    assert [(p["name"], p["version"]) for p in removed["packages_removed"]] == \
        [("hello", result["packages"]["hello"])]
    assert not installed(node, "hello")


# -- Docker's repository ("upstream") ------------------------------------------------

def control_fields(text: str) -> list[list[str]]:
    """A deb control file as [name, value] pairs (continuation lines kept in value)."""
    fields: list[list[str]] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1] += "\n" + line
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append([name, value.strip()])
    return fields


def edit_control(path: Path, set_: dict[str, str], drop=(), depends_map=None) -> None:
    fields = control_fields(path.read_text())
    out = []
    for name, value in fields:
        if name in drop or name in set_:
            continue
        if name in ("Depends", "Pre-Depends") and depends_map is not None:
            deps = []
            for dep in (d.strip() for d in value.split(",")):
                base = re.split(r"[\s(:]", dep, maxsplit=1)[0]
                new = depends_map.get(base, dep)
                if new:
                    deps.append(new)
            value = ", ".join(deps)
        out.append(f"{name}: {value}")
    out += [f"{k}: {v}" for k, v in set_.items()]
    path.write_text("\n".join(out) + "\n")


def dpkg_deb_build(tree: Path, deb: Path) -> None:
    (tree / "DEBIAN" / "md5sums").unlink(missing_ok=True)
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "-b", tree, deb], timeout=600)
    shutil.rmtree(tree)


class UpstreamRepo:
    """A signed apt repository laid out like download.docker.com, with Debian's
    docker.io, containerd and runc re-packaged as docker-ce, docker-ce-cli and
    containerd.io, served over loopback HTTP from inside the node."""

    def __init__(self, node: Node):
        self.node = node
        self.suite = node.suite
        self.root = node.rootfs / "srv/upstream-repo"
        self.work = node.dir / "upstream-work"
        self.gnupg = node.dir / "gnupg"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def build(self) -> "UpstreamRepo":
        node = self.node
        # Debian 13 ships the CLI as docker-cli: it becomes docker-ce-cli.
        names = ["docker.io", "containerd", "runc"]
        if node.root_sh("apt-cache show docker-cli", check=False).returncode == 0:
            names.append("docker-cli")
        node.root_sh("rm -rf /root/upstream-src && mkdir /root/upstream-src && cd /root/upstream-src "
                     "&& apt-get download -q " + " ".join(names), timeout=600)
        src = node.rootfs / "root/upstream-src"
        debs = {name: next(src.glob(f"{name}_*.deb")) for name in names}
        version = lambda deb: run(["dpkg-deb", "-f", deb, "Version"]).stdout.strip()  # noqa: E731
        pool = self.root / "pool"
        pool.mkdir(parents=True)
        self.work.mkdir()

        ce_version = "5:" + version(debs["docker.io"])
        tree = self.work / "docker-ce"
        run(["dpkg-deb", "-R", debs["docker.io"], tree], timeout=600)
        edit_control(tree / "DEBIAN/control",
                     {"Package": "docker-ce", "Version": ce_version,
                      "Conflicts": "docker.io", "Replaces": "docker.io"},
                     drop=("Conflicts", "Breaks", "Replaces", "Built-Using", "Source", "Recommends"),
                     depends_map={"containerd": "containerd.io", "runc": ""})
        dpkg_deb_build(tree, pool / "docker-ce.deb")

        tree = self.work / "containerd.io"
        run(["dpkg-deb", "-R", debs["containerd"], tree], timeout=600)
        run(["dpkg-deb", "-x", debs["runc"], tree], timeout=600)
        edit_control(tree / "DEBIAN/control",
                     {"Package": "containerd.io", "Version": "1:" + version(debs["containerd"]),
                      "Conflicts": "containerd, runc", "Replaces": "containerd, runc"},
                     drop=("Breaks", "Built-Using", "Source", "Provides"),
                     depends_map={"runc": ""})
        dpkg_deb_build(tree, pool / "containerd.io.deb")

        tree = self.work / "docker-ce-cli"
        if "docker-cli" in debs:
            run(["dpkg-deb", "-R", debs["docker-cli"], tree], timeout=600)
            edit_control(tree / "DEBIAN/control",
                         {"Package": "docker-ce-cli", "Version": ce_version,
                          "Conflicts": "docker-cli", "Replaces": "docker-cli"},
                         drop=("Conflicts", "Breaks", "Replaces", "Built-Using", "Source", "Recommends"))
        else:  # the CLI is in docker.io, now docker-ce
            (tree / "DEBIAN").mkdir(parents=True)
            (tree / "DEBIAN/control").write_text(
                f"Package: docker-ce-cli\nVersion: {ce_version}\nArchitecture: amd64\n"
                "Maintainer: ci_tools tests <tests@ci-tools.invalid>\n"
                "Description: test stand-in for Docker's CLI package\n")
        dpkg_deb_build(tree, pool / "docker-ce-cli.deb")
        shutil.rmtree(self.work)

        binary = self.root / f"dists/{self.suite}/stable/binary-amd64"
        binary.mkdir(parents=True)
        packages = run(["dpkg-scanpackages", "--multiversion", "pool", "/dev/null"],
                       cwd=self.root).stdout.encode()
        (binary / "Packages").write_bytes(packages)
        (binary / "Packages.gz").write_bytes(gzip.compress(packages))
        self._release()
        self._sign()
        return self

    def _release(self) -> None:
        dist = self.root / f"dists/{self.suite}"
        lines = [f"Origin: ci-tools-test", "Label: ci-tools-test", f"Suite: {self.suite}",
                 f"Codename: {self.suite}", "Architectures: amd64", "Components: stable",
                 f"Date: {email.utils.formatdate(usegmt=True)}"]
        files = sorted(p for p in dist.rglob("*") if p.is_file())
        for title, algo in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
            lines.append(f"{title}:")
            for p in files:
                data = p.read_bytes()
                lines.append(f" {algo(data).hexdigest()} {len(data)} {p.relative_to(dist)}")
        (dist / "Release").write_text("\n".join(lines) + "\n")

    def gpg(self, *args: str, home: Path | None = None) -> str:
        return run(["gpg", "--homedir", home or self.gnupg, "--batch", "--pinentry-mode", "loopback",
                    "--passphrase", "", *args], timeout=120).stdout

    def new_key(self, home: Path, uid: str) -> None:
        home.mkdir(mode=0o700)
        self.gpg("--quick-gen-key", uid, "ed25519", "sign", "never", home=home)

    def _sign(self) -> None:
        self.new_key(self.gnupg, "ci-tools upstream test <upstream@ci-tools.invalid>")
        dist = self.root / f"dists/{self.suite}"
        self.gpg("--clearsign", "-o", str(dist / "InRelease"), str(dist / "Release"))
        self.gpg("-abs", "-o", str(dist / "Release.gpg"), str(dist / "Release"))
        (self.root / "key.asc").write_text(self.gpg("--armor", "--export"))
        run(["gpg", "--homedir", self.gnupg, "--batch", "--output", self.root / "key.gpg", "--export"])
        run(["gpgconf", "--homedir", self.gnupg, "--kill", "all"], check=False)

    def other_armored_key(self) -> str:
        """A valid key that did not sign the repository."""
        home = self.node.dir / "gnupg-other"
        self.new_key(home, "someone else <other@ci-tools.invalid>")
        key = self.gpg("--armor", "--export", home=home)
        run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
        return key

    def serve(self) -> "UpstreamRepo":
        self.node.root_sh(["systemd-run", "--unit=upstream-repo", "--collect",
                           "--property=WorkingDirectory=/srv/upstream-repo",
                           "python3", "-m", "http.server", "--bind", "127.0.0.1", str(self.port)])
        wait_for(lambda: self._answers(), timeout=30, what=f"the repository at {self.url} did not answer")
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/key.asc", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


@pytest.fixture(scope="module")
def upstream_repo(plain_node) -> UpstreamRepo:
    return UpstreamRepo(plain_node).build().serve()


def test_upstream_repository(plain_node, collections, upstream_repo):
    """source: upstream writes a deb822 source with Signed-By and the key, removes the
    distribution's packages and installs docker-ce in one transaction."""
    node, repo = plain_node, upstream_repo
    ensure_docker(node, collections)
    assert set(installed(node, "docker.io", "containerd", "runc")) == {"docker.io", "containerd", "runc"}
    args = {"source": "upstream", "repo_url": repo.url, "repo_key": f"{repo.url}/key.asc"}

    result, out = module(node, collections, args, diff=True)
    assert result.status == "ok", out.output
    r = result.result
    assert result.changed and r["repository_changed"] and r["cache_updated"]
    assert sh(node, f"cat {SOURCES}") == (
        "# Managed by ci_tools.docker.docker_install: Docker's apt repository.\n"
        "Types: deb\n"
        f"URIs: {repo.url}\n"
        f"Suites: {node.suite}\n"
        "Components: stable\n"
        "Architectures: amd64\n"
        "Signed-By: /etc/apt/keyrings/docker.asc\n")
    assert (node.rootfs / "etc/apt/keyrings/docker.asc").read_text() == (repo.root / "key.asc").read_text()
    assert sh(node, f"stat -c '%U:%G %a' {SOURCES} /etc/apt/keyrings/docker.asc").split("\n")[:2] == \
        ["root:root 644", "root:root 644"]
    removed = {p["name"] for p in r["packages_removed"]}
    assert {"docker.io", "containerd", "runc"} <= removed
    assert {"docker-ce", "docker-ce-cli", "containerd.io"} <= {p["name"] for p in r["packages_installed"]}
    now = installed(node, "docker-ce", "docker-ce-cli", "containerd.io", "docker.io", "containerd", "runc",
                    "docker-cli")
    assert set(now) == {"docker-ce", "docker-ce-cli", "containerd.io"}
    assert r["packages"] == now
    assert sh(node, "systemctl is-active docker.service").strip() == "active"
    assert r["engine_version"] == sh(node, "docker version --format '{{.Server.Version}}'").strip()

    # Again: nothing to do, also with the installed version pinned by its prefix.
    again, out = module(node, collections, args)
    assert again.status == "ok" and not again.changed, out.output
    prefix = now["docker-ce"].split(":", 1)[1].split("+")[0]  # "5:20.10.24+dfsg1-1" -> "20.10.24"
    pinned, out = module(node, collections, {**args, "version": prefix})
    assert pinned.status == "ok" and not pinned.changed, out.output
    missing, out = module(node, collections, {**args, "version": "99.0.1"})
    assert missing.status == "failed", out.output
    assert missing["msg"].startswith('version "99.0.1" is not available for docker-ce, docker-ce-cli, '
                                     f'containerd.io; available: docker-ce: {now["docker-ce"]}'), missing["msg"]

    # The same key as a binary file on the target: written dearmored as docker.gpg.
    binary = {**args, "repo_key": "/srv/upstream-repo/key.gpg"}
    started = start_time(node)
    result, out = module(node, collections, binary)
    assert result.status == "ok" and result.changed and result["repository_changed"], out.output
    assert result["packages_installed"] == [] and result["restarted"] is False
    assert (node.rootfs / "etc/apt/keyrings/docker.gpg").read_bytes() == (repo.root / "key.gpg").read_bytes()
    assert "Signed-By: /etc/apt/keyrings/docker.gpg\n" in sh(node, f"cat {SOURCES}")
    assert not (node.rootfs / "etc/apt/keyrings/docker.asc").exists(), "the replaced key is left behind"
    assert start_time(node) == started

    # A key that did not sign the repository: apt refuses it, the previous source and key
    # come back, and the task says why.
    sources_before = sh(node, f"cat {SOURCES}")
    result, out = module(node, collections, {**args, "repo_key": repo.other_armored_key()})
    assert result.status == "failed", out.output
    assert "update the package lists" in result["msg"], result["msg"]
    # gpgv (bullseye, bookworm) and sqv (trixie) say it differently.
    assert any(why in result["msg"] for why in ("NO_PUBKEY", "not signed", "Missing key")), result["msg"]
    assert result["msg"].endswith("The previous Docker repository configuration was restored")
    assert sh(node, f"cat {SOURCES}") == sources_before
    assert not (node.rootfs / "etc/apt/keyrings/docker.asc").exists()
    assert node.root_sh("apt-get update -q", check=False).returncode == 0


def test_absent_removes_the_packages(plain_node, collections, upstream_repo):
    node = plain_node
    args = {"source": "upstream", "repo_url": upstream_repo.url,
            "repo_key": "/srv/upstream-repo/key.gpg", "state": "absent"}
    packages = installed(node, "docker-ce", "docker-ce-cli", "containerd.io")
    assert packages, "test_upstream_repository left no docker-ce to remove"
    predicted, out = module(node, collections, args, check=True)
    assert predicted.status == "ok" and predicted.changed, out.output
    assert installed(node, "docker-ce", "docker-ce-cli", "containerd.io") == packages

    result, out = module(node, collections, args)
    assert result.status == "ok" and result.changed, out.output
    removed = {p["name"]: p["version"] for p in result["packages_removed"]}
    assert removed == packages
    assert result["packages_removed"] == predicted["packages_removed"]
    assert result["packages_installed"] == [] and result["packages"] == {}
    assert installed(node, "docker-ce", "docker-ce-cli", "containerd.io") == {}

    again, out = module(node, collections, args)
    assert again.status == "ok" and not again.changed, out.output
