"""The fast-transport action plugin over real SSH to a CI node.

The test-only `example` module is routed through plugins/action/fast_binary.py in a
throwaway copy of the collection, so these tests need no Docker. The real modules' results
through both paths are compared in their own test files' scenarios.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from moduletools import REPO

ROOT_CACHE = "/var/cache/ci-tools-docker/bin"
USER_CACHE = "/home/zuul/.cache/ci-tools-docker/bin"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fast_collection(tmp_path_factory, built) -> Path:
    """A collection path holding ci_tools.docker with `example` routed through the plugin."""
    root = tmp_path_factory.mktemp("fastcoll")
    coll = root / "ansible_collections" / "ci_tools" / "docker"
    (coll / "plugins" / "modules").mkdir(parents=True)
    shutil.copytree(REPO / "plugins" / "action", coll / "plugins" / "action")
    (coll / "meta").mkdir()
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    runtime["plugin_routing"]["modules"]["example"] = {
        "action_plugin": "ci_tools.docker.fast_binary"}
    (coll / "meta" / "runtime.yml").write_text(yaml.safe_dump(runtime))
    (coll / "galaxy.yml").write_text((REPO / "galaxy.yml").read_text())
    for arch, triple in (("x86_64", "x86_64-unknown-linux-musl"),
                         ("aarch64", "aarch64-unknown-linux-musl")):
        binary = REPO / "target" / triple / "release" / "example"
        assert binary.is_file(), f"{binary} missing; run `cargo xtask build`"
        (coll / "bin" / arch).mkdir(parents=True)
        shutil.copy2(binary, coll / "bin" / arch / "example")
    shutil.copy2(coll / "bin" / "x86_64" / "example", coll / "plugins" / "modules" / "example")
    return root


@pytest.fixture(scope="module")
def shared_node(request):
    """One bookworm node for the whole module: the cache states are set up per test."""
    from tests.harness import Node
    node = Node("bookworm")
    node.boot()
    request.addfinalizer(node.stop)
    return node


def hashes(fast_collection: Path) -> dict[str, str]:
    bin_dir = fast_collection / "ansible_collections" / "ci_tools" / "docker" / "bin"
    return {arch: sha256(bin_dir / arch / "example") for arch in ("x86_64", "aarch64")}


def play(node, fast_collection, tasks, *, become=False, check=False, diff=False, extra_vars=None):
    book = [{"hosts": "all", "gather_facts": False, "become": become, "tasks": tasks}]
    run = node.playbook(book, env={"ANSIBLE_COLLECTIONS_PATH": str(fast_collection)},
                        check=check, diff=diff, verbosity=3, extra_vars=extra_vars)
    return run


def example_task(name, path, **extra):
    return {"name": name, "ci_tools.docker.example": {"path": path, "content": "x", **extra}}


def uploads(run, digest: str) -> int:
    """Binary uploads seen in -vvv output (ssh logs `PUT <local> TO <remote>`)."""
    return len(re.findall(rf"PUT \S+ TO \S+example-{digest}", run.stdout))


def execs(run) -> int:
    return len(re.findall(r"SSH: EXEC ssh ", run.stdout))


def test_first_task_uploads_later_tasks_run_in_one_command(shared_node, fast_collection):
    node = shared_node
    node.root_sh(f"rm -rf {USER_CACHE}")
    digest = hashes(fast_collection)["x86_64"]
    first = play(node, fast_collection, [example_task("first", "/tmp/fast-1")]).assert_ok()
    assert uploads(first, digest) == 1, first.output
    assert first.task("first").changed is True
    warm = play(node, fast_collection, [example_task(f"t{i}", f"/tmp/fast-{i}")
                                        for i in range(2, 5)]).assert_ok()
    assert uploads(warm, digest) == 0, warm.output
    # One remote command per task on the warm path.
    assert execs(warm) == 3, warm.output
    assert node.root_sh(f"stat -c %U:%a {USER_CACHE}/example-{digest}").stdout.strip() == "zuul:755"


def test_results_identical_to_the_plain_path(shared_node, fast_collection):
    node = shared_node
    tasks = [example_task("write", "/tmp/same", labels={"a": "1"}, names=["p", "q"]),
             example_task("again", "/tmp/same"),
             {**example_task("fail", "/tmp/same", fail="nope"), "ignore_errors": True}]
    results = {}
    for fast in (True, False):
        node.root_sh("rm -f /tmp/same")
        run = play(node, fast_collection, tasks,
                   extra_vars={"ci_tools_docker_fast_transport": fast})
        if not fast:
            assert "ci_tools_docker_fast_transport is false" in run.stdout
        results[fast] = [(r.task, r.status, r.changed, r.result) for r in run.results]
    assert results[True] == results[False]


def test_check_diff_and_no_log_through_the_fast_path(shared_node, fast_collection):
    node = shared_node
    node.root_sh("rm -f /tmp/checked")
    checked = play(node, fast_collection, [example_task("c", "/tmp/checked")],
                   check=True, diff=True).assert_ok().task("c")
    assert checked.changed is True
    assert checked["diff"]["after"] == "x"
    assert node.root_sh("test -e /tmp/checked", check=False).returncode != 0
    hidden = play(node, fast_collection,
                  [{**example_task("h", "/tmp/hidden", secret="s3cr3t"), "no_log": True}])
    assert "s3cr3t" not in hidden.stdout


def test_become_uses_the_root_owned_cache(shared_node, fast_collection):
    node = shared_node
    digest = hashes(fast_collection)["x86_64"]
    node.root_sh(f"rm -rf {ROOT_CACHE}")
    run = play(node, fast_collection, [example_task("root", "/root/fast")],
               become=True).assert_ok()
    assert uploads(run, digest) == 1
    assert node.root_sh(f"stat -c %U:%G:%a {ROOT_CACHE} {ROOT_CACHE}/example-{digest}"
                        ).stdout.split() == ["root:root:755", "root:root:755"]
    assert node.root_sh("cat /root/fast").stdout == "x"


def test_tampered_cache_is_replaced_never_run(shared_node, fast_collection):
    node = shared_node
    digest = hashes(fast_collection)["x86_64"]
    play(node, fast_collection, [example_task("warm", "/root/t")], become=True).assert_ok()
    cached = f"{ROOT_CACHE}/example-{digest}"
    node.root_sh(f"printf '#!/bin/sh\\ntouch /tmp/pwned\\necho {{}}\\n' > {cached}; "
                 f"chmod 755 {cached}; rm -f /tmp/pwned")
    run = play(node, fast_collection, [example_task("after", "/root/t2")], become=True).assert_ok()
    assert uploads(run, digest) == 1, "a tampered binary must be replaced"
    assert node.root_sh("test -e /tmp/pwned", check=False).returncode != 0
    assert node.root_sh(f"sha256sum {cached}").stdout.split()[0] == digest


def test_cache_the_user_could_tamper_with_is_not_used_with_become(shared_node, fast_collection):
    node = shared_node
    node.root_sh(f"rm -rf {ROOT_CACHE} && mkdir -p {ROOT_CACHE} && chown zuul {ROOT_CACHE}")
    try:
        run = play(node, fast_collection, [example_task("u", "/root/u")], become=True).assert_ok()
        assert "untrusted-cache" in run.stdout
        assert "using the normal binary-module path" in run.stdout
        assert node.root_sh(f"ls -A {ROOT_CACHE}").stdout.strip() == ""
        assert node.root_sh("cat /root/u").stdout == "x"
    finally:
        node.root_sh(f"rm -rf {ROOT_CACHE}")


def fake_uname(node, machine: str) -> None:
    node.root_sh("printf '#!/bin/sh\\nif [ \"$1\" = -m ]; then echo %s; else exec /bin/uname \"$@\"; fi\\n'"
                 " > /usr/local/bin/uname && chmod 755 /usr/local/bin/uname" % machine)


def test_aarch64_target_gets_the_aarch64_binary(shared_node, fast_collection):
    """`uname -m` says aarch64: the aarch64 binary is uploaded and runs (qemu-user through
    the machine's binfmt_misc), with the same result as the x86_64 one."""
    node = shared_node
    digests = hashes(fast_collection)
    node.root_sh(f"rm -rf {USER_CACHE}")
    native = play(node, fast_collection, [example_task("n", "/tmp/arch", count=2)]).assert_ok()
    fake_uname(node, "aarch64")
    try:
        node.root_sh("rm -f /tmp/arch")
        emulated = play(node, fast_collection, [example_task("n", "/tmp/arch", count=2)]).assert_ok()
        assert uploads(emulated, digests["aarch64"]) == 1
        assert emulated.task("n").result == native.task("n").result
        assert node.root_sh(f"ls {USER_CACHE}").stdout.split() == [f"example-{digests['aarch64']}"]
    finally:
        node.root_sh("rm -f /usr/local/bin/uname")


def test_unsupported_architecture_fails_clearly(shared_node, fast_collection):
    node = shared_node
    fake_uname(node, "riscv64")
    try:
        run = play(node, fast_collection, [example_task("r", "/tmp/r")])
        result = run.task("r")
        assert result.failed
        assert result["msg"] == ("ci_tools.docker: no example binary for architecture riscv64 "
                                 "(built for: aarch64, x86_64)")
    finally:
        node.root_sh("rm -f /usr/local/bin/uname")


def test_normal_path_also_picks_the_targets_architecture(shared_node, fast_collection):
    """With the cache unusable, the fallback still sends the aarch64 build to an aarch64
    target (Ansible alone would send plugins/modules' x86_64 file)."""
    node = shared_node
    digests = hashes(fast_collection)
    fake_uname(node, "aarch64")
    try:
        run = play(node, fast_collection, [example_task("n", "/tmp/normal-arch", count=3)],
                   extra_vars={"ci_tools_docker_fast_transport": False}).assert_ok()
        assert uploads(run, digests["aarch64"]) == 0  # no cache involved
        assert re.search(r"PUT \S+/bin/aarch64/example TO ", run.stdout), run.output
        assert run.task("n")["echo"]["count"] == 3
    finally:
        node.root_sh("rm -f /usr/local/bin/uname")


@pytest.mark.node_packages("docker.io")
def test_real_modules_same_results_fast_plain_and_aarch64(node, installed_collection):
    """Every shipped module gives the same result through the fast path, Ansible's plain
    binary path, and as the aarch64 build (qemu-user via binfmt_misc)."""
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}
    tasks = [
        {"name": "install", "become": True,
         "ci_tools.docker.docker_install": {"daemon_options": {"log-driver": "journald"}}},
        {"name": "socket", "become": True, "ci_tools.docker.socket_group": {"user": "zuul"}},
        {"name": "prune", "ci_tools.docker.docker_prune": {"images": True, "containers": True}},
    ]
    book = [{"hosts": "all", "gather_facts": False, "tasks": tasks}]
    # Converge first, so that the compared runs are all idempotent ones.
    node.playbook(book, env=env).assert_ok()

    def results(extra_vars):
        run = node.playbook(book, env=env, check=True, diff=True, extra_vars=extra_vars)
        run.assert_ok()
        return {r.task: (r.changed, r.result) for r in run.results}

    fast = results({})
    plain = results({"ci_tools_docker_fast_transport": False})
    assert fast == plain
    fake_uname(node, "aarch64")
    try:
        emulated = results({})
    finally:
        node.root_sh("rm -f /usr/local/bin/uname")
    assert emulated == fast
    # The caches now hold exactly the aarch64 builds (a new hash replaces the old one).
    arch_bin = installed_collection / "ansible_collections" / "ci_tools" / "docker" / "bin"
    expected_root = sorted(f"{m}-{sha256(arch_bin / 'aarch64' / m)}"
                           for m in ("docker_install", "socket_group"))
    assert node.root_sh(f"ls {ROOT_CACHE}").stdout.split() == expected_root
    assert node.root_sh(f"ls {USER_CACHE}").stdout.split() == [
        f"docker_prune-{sha256(arch_bin / 'aarch64' / 'docker_prune')}"]
    assert all(not changed for changed, _ in fast.values()), fast
