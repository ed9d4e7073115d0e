"""Tests that prove the harness itself: nodes, ssh/sudo, ansible plumbing,
the group-membership negative control, the private Docker daemon, cleanup."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.harness import registry, run_adhoc
from tests.harness.util import pids_referencing

REPO = Path(__file__).resolve().parents[2]
DENIED = "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"


# -- nodes ------------------------------------------------------------------

def test_node_is_a_ci_node(node, suite):
    """zuul logs in over ssh, has passwordless sudo until it is revoked."""
    ident = node.ssh("id -un; id -gn; id -Gn", check=True).stdout.split("\n")
    assert ident[:2] == ["zuul", "zuul"]
    assert "docker" not in ident[2].split()
    assert node.ssh("python3 -c 'print(42)'", check=True).stdout == "42\n"
    assert node.root_sh("command -v docker dockerd", check=False).returncode != 0, "docker must not be installed"
    assert node.root_sh("cat /etc/os-release", check=True).stdout.count(f"({suite})") >= 1
    # sshd only on loopback, on the port the harness picked.
    assert node.root_sh("cat /etc/ssh/sshd_config.d/00-harness-listen.conf").stdout == \
        f"Port {node.port}\nListenAddress 127.0.0.1\n"

    assert node.ssh("sudo -n true").returncode == 0
    assert node.ssh("sudo -n id -un", check=True).stdout == "root\n"

    master = node.master_pid()
    assert master, "the ssh helper leaves a ControlPersist master behind"
    node.revoke_sudo()
    denied = node.ssh("sudo -n true")
    assert denied.returncode == 1
    assert "sudo:" in denied.stderr
    assert node.master_pid() == master, "still the same multiplexed connection"


def test_ansible_over_ssh_shares_the_master(node, localhost_inventory):
    """ansible-playbook runs ride the node's one ControlMaster; results are parsed."""
    node.ssh("true", check=True)
    master = node.master_pid()

    first = node.playbook(textwrap.dedent("""
        - hosts: all
          gather_facts: false
          tasks:
            - name: who
              ansible.builtin.command: id -un
              changed_when: false
            - name: become root
              ansible.builtin.command: id -un
              become: true
              changed_when: false
            - name: write a file
              ansible.builtin.copy:
                dest: /tmp/harness-file
                content: "one\\n"
    """)).assert_ok()
    assert first.task("who")["stdout"] == "zuul"
    assert first.task("become root")["stdout"] == "root"
    assert first.task("write a file").changed
    assert first.stats[node.name]["changed"] == 1

    # A second, separate ansible-playbook process: check + diff mode flags.
    second = node.playbook([{"hosts": "nodes", "gather_facts": False, "tasks": [
        {"name": "change it", "ansible.builtin.copy": {"dest": "/tmp/harness-file", "content": "two\n"}},
    ]}], check=True, diff=True).assert_ok()
    change = second.task("change it")
    assert change.changed
    assert change["diff"][0]["after"] == "two\n"
    assert node.ssh("cat /tmp/harness-file", check=True).stdout == "one\n", "check mode changed nothing"

    adhoc = node.adhoc("ansible.builtin.command", "id -un", become=True).assert_ok()
    assert adhoc.last["stdout"] == "root"
    assert node.master_pid() == master, "every run reused the same ssh master"

    local = run_adhoc("localhost", "ansible.builtin.ping", {"data": "hi"}, localhost_inventory).assert_ok()
    assert local.last["ping"] == "hi"
    failing = run_adhoc("localhost", "ansible.builtin.command", "false", localhost_inventory)
    assert failing.rc != 0 and failing.last.status == "failed"


def test_open_connection_does_not_see_new_group(node, suite):
    """Negative control, on purpose permanent: this is the problem the collection solves.

    zuul is added to group docker over the open (multiplexed) connection; that
    connection keeps its login-time groups, so docker is denied on it, while a
    brand-new login sees the group.
    """
    node.ssh("true", check=True)  # the CI executor's connection is open from the start
    master = node.master_pid()

    setup = node.playbook(textwrap.dedent("""
        - hosts: all
          gather_facts: false
          become: true
          tasks:
            - name: install docker
              ansible.builtin.apt:
                name: docker.io
                update_cache: true
                cache_valid_time: 86400
            - name: add zuul to group docker
              ansible.builtin.user:
                name: zuul
                groups: docker
                append: true
            - name: docker is up
              ansible.builtin.command: docker version --format '{{ "{{" }}.Server.Version{{ "}}" }}'
              changed_when: false
    """), timeout=1200).assert_ok()
    assert setup.task("install docker").changed
    assert setup.task("add zuul to group docker").changed
    assert setup.task("docker is up")["stdout"]
    assert "zuul" in node.root_sh("getent group docker").stdout
    assert node.master_pid() == master

    # Same open connection: old group list, docker denied.
    assert "docker" not in node.ssh("id -Gn", check=True).stdout.split()
    old = node.ssh("docker version")
    assert old.returncode != 0
    assert DENIED in old.stderr, old.stderr
    # ... and so is a later ansible run as zuul, which rides the same master.
    later = node.adhoc("ansible.builtin.command", "docker version")
    assert later.last.status == "failed"
    assert DENIED in later.last.get("stderr", "") + later.last.get("stdout", "")
    assert node.master_pid() == master

    # A brand-new login sees the group and may use docker.
    assert "docker" in node.ssh("id -Gn", new_login=True, check=True).stdout.split()
    fresh = node.ssh("docker version --format '{{.Server.Version}}'", new_login=True)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip()


@pytest.mark.node_packages("docker.io")
def test_docker_variant_runs_containers(node, suite):
    """The cached docker.io variant: docker preinstalled, `docker run` works inside the node."""
    assert "zuul" not in node.root_sh("getent group docker").stdout
    image = node.build_busybox_image()
    # Default bridge network (needs the trixie drop-in on trixie) and no network.
    bridge = node.root_sh(f"docker run --rm {image} /bin/busybox echo bridge-ok", timeout=120)
    assert bridge.stdout == "bridge-ok\n"
    none = node.root_sh(f"docker run --rm --network none {image} /bin/busybox echo none-ok", timeout=120)
    assert none.stdout == "none-ok\n"


# -- private dockerd --------------------------------------------------------

def test_private_dockerd_state(clean_dockerd):
    d = clean_dockerd
    labels = {"ci_tools.test": "yes"}

    dangling = d.make_dangling_images(2, labels=labels)
    listed = d.docker("images", "-q", "--no-trunc", "-f", "dangling=true").stdout.split()
    assert sorted(listed) == sorted(dangling)

    containers = d.make_stopped_containers(2, labels=labels)
    created = d.make_stopped_containers(1, state="created")
    exited = d.docker("ps", "-aq", "--no-trunc", "-f", "status=exited", "-f", "label=ci_tools.test=yes").stdout.split()
    assert sorted(exited) == sorted(containers)
    assert d.docker("ps", "-aq", "--no-trunc", "-f", "status=created").stdout.split() == created

    networks = d.make_networks(2, labels=labels)
    listed = d.docker("network", "ls", "--format", "{{.Name}}", "-f", "label=ci_tools.test=yes").stdout.split()
    assert sorted(listed) == sorted(networks)

    named = d.make_volumes(1, labels=labels)
    anonymous = d.make_volumes(1, anonymous=True, labels=labels)
    listed = d.docker("volume", "ls", "-q", "-f", "dangling=true", "-f", "label=ci_tools.test=yes").stdout.split()
    assert sorted(listed) == sorted(named + anonymous)

    cache = d.make_build_cache()
    df = d.api_json("GET", "/system/df")
    assert set(cache) <= {rec["ID"] for rec in df["BuildCache"]}

    # Clients find it through DOCKER_HOST only; the machine's default socket is not involved.
    env = {**os.environ, **d.env}
    out = subprocess.run(["/usr/bin/docker", "info", "--format", "{{.DockerRootDir}}"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(d.dir / "data")

    d.reset()
    df = d.api_json("GET", "/system/df")
    assert not df["Images"] and not df["Containers"] and not df["Volumes"] and not df["BuildCache"]


# -- cleanup after a hard crash ----------------------------------------------

CRASHER = """
import sys, time
from tests.harness import {factory}
r = {factory}()
print(r.dir, flush=True)
time.sleep(600)
"""


def _start_and_kill(factory: str, sig: int, handlers: bool = False) -> Path:
    code = CRASHER.format(factory=factory)
    if handlers:
        code = "from tests.harness import install_handlers; install_handlers()\n" + code
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    directory = Path(proc.stdout.readline().strip())
    assert directory.is_dir()
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return directory


@pytest.mark.parametrize("factory", [
    pytest.param("start_private_dockerd", marks=pytest.mark.dockerd),
    pytest.param("boot_node", marks=pytest.mark.node),
])
def test_cleanup_after_sigkill(factory):
    directory = _start_and_kill(factory, signal.SIGKILL)
    assert pids_referencing(directory), "SIGKILL left the resource running (that is the point)"
    assert any(rec.get("dir") == str(directory) for rec in registry.entries())

    out = subprocess.run([sys.executable, "-m", "tests.harness.cleanup"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert str(directory) in out
    assert not directory.exists()
    assert not pids_referencing(directory)
    assert not any(rec.get("dir") == str(directory) for rec in registry.entries())


@pytest.mark.node
def test_sigterm_stops_node():
    directory = _start_and_kill("boot_node", signal.SIGTERM, handlers=True)
    assert not directory.exists()
    assert not pids_referencing(directory)
    assert not any(rec.get("dir") == str(directory) for rec in registry.entries())
