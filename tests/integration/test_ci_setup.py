"""The ci_setup role: the CI-node scenario end to end, on real systemd nodes over SSH.

bookworm in the fast suite; bullseye and trixie too in the full one ($CI_TOOLS_SUITES).
The negative control (docker group membership over the open connection is denied) runs
beside it in test_harness.py.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.harness.story import CLEANUP_PLAYBOOK, SETUP_PLAYBOOK, run_story

from moduletools import REPO


def collection_env(installed_collection: Path) -> dict[str, str]:
    return {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}


def test_ci_story(node, suite, installed_collection):
    """Pre-run role, sudo revoked, zuul runs containers over the same connection, cleanup
    prunes, second run changes nothing: with the collection installed, by FQCN."""
    report = run_story(node, collection_env(installed_collection))
    print(report.summary())

    setup = report.setup
    assert setup.task("Install Docker Engine and merge the daemon options").changed
    socket = setup.task("Give the Docker socket to the group of zuul")
    assert socket.changed and socket["socket_group"] == "zuul" and socket["verified"]
    version = setup.task("Ask the Docker API for its version as zuul")
    assert version.changed is False and version["json"]["Version"]

    assert report.sudo_denied
    assert report.container_output == "hello from the CI user"
    assert report.docker_version_as_zuul
    assert len(report.dangling_before) == 1

    deleted = {entry.get("Deleted") for entry in report.pruned_images}
    assert report.dangling_before[0] in deleted
    assert report.dangling_after == []
    assert report.space_reclaimed_human

    assert report.rerun.stats and all(h["changed"] == 0 for h in report.rerun.stats.values())
    assert report.changed_tasks(report.rerun) == []
    # The whole story rode one SSH master: nothing reconnected, nothing re-logged in.
    assert report.master_pid_before and report.master_pid_before == report.master_pid_after


@pytest.mark.suites("bookworm")
def test_check_mode_on_a_fresh_node_changes_nothing(node, installed_collection):
    snapshot = ("dpkg-query -W -f '${Package} ${Version} ${Status}\\n' | sort | sha256sum; "
                "find /etc -xdev -printf '%p %s %T@\\n' | sort | sha256sum")
    before = node.root_sh(snapshot).stdout
    run = node.playbook(SETUP_PLAYBOOK, env=collection_env(installed_collection), check=True)
    run.assert_ok()
    install = run.task("Install Docker Engine and merge the daemon options")
    assert install.changed, "check mode must predict the installation"
    assert "docker.io" in str(install.get("packages_installed"))
    assert node.root_sh(snapshot).stdout == before
    assert node.root_sh("command -v dockerd", check=False).returncode != 0


@pytest.mark.suites("bookworm")
def test_role_from_a_roles_path_without_the_collection(node, built, tmp_path):
    """As Zuul uses a repository's roles/ directory: the bundle's role carries its modules."""
    subprocess.run(["cargo", "xtask", "bundle"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    roles = REPO / "build" / "bundle" / "roles"
    assert (roles / "ci_setup" / "library" / "socket_group").is_file()
    playbook = tmp_path / "pre.yml"
    playbook.write_text("- hosts: all\n  roles:\n    - role: ci_setup\n")
    env = {"ANSIBLE_ROLES_PATH": str(roles), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "none")}
    first = node.playbook(playbook, env=env).assert_ok()
    assert first.task("Give the Docker socket to the group of zuul")["socket_group"] == "zuul"
    assert node.ssh("docker version --format '{{.Server.Version}}'").returncode == 0
    second = node.playbook(playbook, env=env).assert_ok()
    assert [r.task for r in second.results if r.changed] == []


@pytest.mark.suites("bookworm")
def test_plain_playbooks_from_the_checkout(node, built):
    """playbooks/ in this repository, with the checkout as the collection (build/collections)."""
    env = {"ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections")}
    node.playbook(SETUP_PLAYBOOK, env=env).assert_ok()
    cleanup = node.playbook(CLEANUP_PLAYBOOK, env=env).assert_ok()
    assert cleanup.task("Prune unused Docker data").changed is False
