"""The module runtime through real ansible-core, with the test-only `example` module.

Runs against the pinned ansible-core from the venv and against Debian's packaged 2.14,
the oldest release the collection supports.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.ansible_run import AnsibleRun, _execute, ansible_env, write_localhost_inventory

from moduletools import REPO, ansible_bins, core_version

pytestmark = pytest.mark.parametrize("ansible_bin", ansible_bins(), ids=lambda p: f"ansible-{p}")


def adhoc(ansible_bin: Path, args: str, library: Path, tmp_path: Path, *flags: str,
          module: str = "example", env: dict | None = None) -> AnsibleRun:
    """`ansible localhost -m MODULE -a ARGS` with the given ansible-core installation."""
    inventory = write_localhost_inventory(tmp_path / "inventory.yml")
    results = tmp_path / "results.json"
    argv = [str(ansible_bin / "ansible"), "localhost", "-i", str(inventory), "-m", module,
            "-a", args, *flags]
    extra = {"ANSIBLE_LIBRARY": str(library), **(env or {})}
    return _execute(argv, ansible_env(extra, results), results, tmp_path, 300)


def playbook(ansible_bin: Path, text: str, library: Path, tmp_path: Path, *flags: str) -> AnsibleRun:
    inventory = write_localhost_inventory(tmp_path / "inventory.yml")
    book = tmp_path / "playbook.yml"
    book.write_text(text)
    results = tmp_path / "results.json"
    argv = [str(ansible_bin / "ansible-playbook"), "-i", str(inventory), str(book), *flags]
    return _execute(argv, ansible_env({"ANSIBLE_LIBRARY": str(library)}, results), results,
                    tmp_path, 300)


def test_adhoc_string_arguments_are_coerced(ansible_bin, example_library, tmp_path):
    target = tmp_path / "file.txt"
    args = (f"path={target} content=hi count=3 enabled=YES ratio=0.5 names=a,b "
            "labels=k=v secret=hunter2")
    first = adhoc(ansible_bin, args, example_library, tmp_path).last
    assert first.status == "ok", first.result
    assert first.changed is True
    assert first["echo"] == {
        "content": "hi", "count": 3, "enabled": True, "ratio": 0.5, "names": ["a", "b"],
        "labels": {"k": "v"}, "secret": "********",
    }
    assert target.read_text() == "hihihihunter2"
    # The secret never shows in the result, not even inside other values.
    assert "hunter2" not in json.dumps(first.result)
    second = adhoc(ansible_bin, args, example_library, tmp_path).last
    assert second.status == "ok" and second.changed is False


def test_unknown_option_message(ansible_bin, example_library, tmp_path):
    result = adhoc(ansible_bin, f"path={tmp_path}/x colour=red", example_library, tmp_path).last
    assert result.status == "failed"
    assert result["msg"] == (
        "Unsupported parameters for (example) module: colour. Supported parameters include: "
        "content, count, crash, enabled, fail, labels, names, path (dest), ratio, secret, "
        "state, token, warn.")


def test_wrong_type_and_choice_messages(ansible_bin, example_library, tmp_path):
    bad_int = adhoc(ansible_bin, f"path={tmp_path}/x count=many", example_library, tmp_path).last
    assert bad_int.status == "failed"
    assert bad_int["msg"] == ("argument 'count' is of type str and we were unable to convert "
                              "to int: 'many' is not an integer")
    bad_choice = adhoc(ansible_bin, f"dest={tmp_path}/x state=gone", example_library, tmp_path).last
    assert bad_choice["msg"] == "value of state must be one of: present, absent, got: gone"
    missing = adhoc(ansible_bin, "content=x", example_library, tmp_path).last
    assert missing["msg"] == "missing required arguments: path"


def test_failure_warning_and_crash_reach_the_controller(ansible_bin, example_library, tmp_path):
    failed = adhoc(ansible_bin, f"path={tmp_path}/x fail=nope", example_library, tmp_path).last
    assert failed.status == "failed" and failed["msg"] == "nope" and failed["rc"] == 3
    warned = adhoc(ansible_bin, f"path={tmp_path}/x warn=careful", example_library, tmp_path)
    assert warned.last.status == "ok"
    assert "careful" in warned.stdout + warned.stderr + json.dumps(warned.last.result)
    crashed = adhoc(ansible_bin, f"path={tmp_path}/x crash=kaboom", example_library, tmp_path).last
    assert crashed.status == "failed"
    assert crashed["msg"].startswith("module example crashed: kaboom.")
    assert "exception" not in crashed.result or "panicked at" not in str(crashed.get("exception"))


def test_crash_location_only_with_tracebacks(ansible_bin, example_library, tmp_path):
    if not core_version(ansible_bin).startswith("2.19"):
        pytest.skip("_ansible_tracebacks_for exists from ansible-core 2.19")
    crashed = adhoc(ansible_bin, f"path={tmp_path}/x crash=kaboom", example_library, tmp_path,
                    env={"ANSIBLE_DISPLAY_TRACEBACK": "error"}).last
    assert crashed.status == "failed"
    assert "panicked at modules/example/src/lib.rs" in json.dumps(crashed.result)


CHECK_DIFF_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: manage the file
      example:
        path: {path}
        content: "hello\\n"
        secret: topsecret
      register: managed
    - name: report
      ansible.builtin.assert:
        that:
          - managed.changed == {changed}
          - managed.path == "{path}"
          - managed.echo.secret == "********"
"""


def test_playbook_check_and_diff(ansible_bin, example_library, tmp_path):
    target = tmp_path / "managed.txt"
    checked = playbook(ansible_bin, CHECK_DIFF_PLAY.format(path=target, changed=True),
                       example_library, tmp_path, "--check", "--diff").assert_ok()
    managed = checked.task("manage the file")
    assert managed.changed is True
    assert not target.exists(), "check mode must not write"
    assert managed["diff"] == {"before": "", "after": "hello\n********",
                               "before_header": f"{target} (absent)", "after_header": str(target)}
    assert "+hello" in checked.stdout or "hello" in json.dumps(managed.result)
    assert set(managed.result) >= {"changed", "diff", "echo", "path"}

    playbook(ansible_bin, CHECK_DIFF_PLAY.format(path=target, changed=True),
             example_library, tmp_path, "--diff").assert_ok()
    assert target.read_text() == "hello\ntopsecret"
    again = playbook(ansible_bin, CHECK_DIFF_PLAY.format(path=target, changed=False),
                     example_library, tmp_path, "--check", "--diff").assert_ok()
    assert again.task("manage the file").changed is False
    assert "diff" not in again.task("manage the file").result


def test_ansible_doc_reads_generated_sidecar(ansible_bin, built, tmp_path):
    """A generated sidecar doc is what ansible-doc shows for a binary module."""
    collection = tmp_path / "ansible_collections" / "ci_tools" / "probe"
    (collection / "plugins" / "modules").mkdir(parents=True)
    (collection / "meta").mkdir()
    (collection / "meta" / "runtime.yml").write_text("requires_ansible: '>=2.14'\n")
    (collection / "galaxy.yml").write_text(
        "namespace: ci_tools\nname: probe\nversion: 0.1.0\nauthors: [x]\nreadme: README.md\n")
    shutil.copy2(built.binary("example"), collection / "plugins" / "modules" / "example")
    sidecar = subprocess.run(["cargo", "xtask", "sidecar", "example"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
    (collection / "plugins" / "modules" / "example.yml").write_text(sidecar)
    doc = subprocess.run([str(ansible_bin / "ansible-doc"), "--json", "ci_tools.probe.example"],
                         capture_output=True, text=True,
                         env={**ansible_env({"ANSIBLE_COLLECTIONS_PATH": str(tmp_path)})})
    assert doc.returncode == 0, doc.stderr
    data = json.loads(doc.stdout)["ci_tools.probe.example"]
    options = data["doc"]["options"]
    assert options["path"]["required"] is True and options["path"]["aliases"] == ["dest"]
    assert options["state"]["choices"] == ["present", "absent"]
    assert options["count"]["default"] == 1
    assert options["names"]["elements"] == "str"
    assert "path" in data["return"]
    assert "example:" in data["examples"]


@pytest.mark.parametrize("module", ["docker_prune", "socket_group", "docker_install"])
def test_installed_collection_documents_and_runs_each_module(ansible_bin, module,
                                                             installed_collection, tmp_path):
    """From the tarball installed with ansible-galaxy: ansible-doc shows the generated
    sidecar, and the module runs by FQCN (an unknown option is rejected by the module
    itself, naming its FQCN)."""
    env = ansible_env({"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)})
    doc = subprocess.run([str(ansible_bin / "ansible-doc"), "--json", f"ci_tools.docker.{module}"],
                         capture_output=True, text=True, env=env)
    assert doc.returncode == 0, doc.stderr
    data = json.loads(doc.stdout)[f"ci_tools.docker.{module}"]
    assert data["doc"]["short_description"] and data["doc"]["options"] and data["return"]
    assert data["examples"].strip()
    ran = adhoc(ansible_bin, "bogus_option=1", tmp_path, tmp_path, module=f"ci_tools.docker.{module}",
                env={"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}).last
    assert ran.status == "failed"
    assert ran["msg"].startswith(
        f"Unsupported parameters for (ci_tools.docker.{module}) module: bogus_option.")
