"""Run ansible-playbook / ansible (ad-hoc) from the project venv and parse results.

Results come from the harness_json stdout callback (callback_plugins/), which
writes every task result as JSON to a file; the human-readable stdout stays
available for failure messages.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .util import HarnessError, run

HARNESS_DIR = Path(__file__).resolve().parent
CALLBACK_DIR = HARNESS_DIR / "callback_plugins"
# The venv that runs pytest also holds the pinned ansible-core.
VENV_BIN = Path(sys.executable).parent


@dataclass
class TaskResult:
    play: str | None
    task: str
    action: str
    host: str
    status: str          # ok | failed | skipped | unreachable
    changed: bool
    ignore_errors: bool
    result: dict[str, Any]

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "unreachable")

    def __getitem__(self, key: str) -> Any:
        return self.result[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.result.get(key, default)


@dataclass
class AnsibleRun:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    results: list[TaskResult] = field(default_factory=list)
    stats: dict[str, dict[str, int]] | None = None

    def tasks(self, name: str | None = None, host: str | None = None) -> list[TaskResult]:
        """Results of task `name`; a role's tasks also match without their "role : " prefix."""
        return [r for r in self.results
                if (name is None or r.task == name or r.task.endswith(f" : {name}"))
                and (host is None or r.host == host)]

    def task(self, name: str, host: str | None = None) -> TaskResult:
        """The single result of task `name` (on `host`); error if not exactly one."""
        found = self.tasks(name, host)
        if len(found) != 1:
            raise AssertionError(
                f"expected exactly one result for task {name!r}"
                f"{' on ' + host if host else ''}, got {len(found)}; tasks seen: "
                f"{[r.task for r in self.results]}\n{self.output}")
        return found[0]

    @property
    def last(self) -> TaskResult:
        if not self.results:
            raise AssertionError(f"ansible produced no task result\n{self.output}")
        return self.results[-1]

    @property
    def failed_tasks(self) -> list[TaskResult]:
        return [r for r in self.results if r.failed and not r.ignore_errors]

    @property
    def output(self) -> str:
        return (f"$ {' '.join(self.argv)}\nrc={self.rc}\n--- stdout ---\n{self.stdout}"
                f"\n--- stderr ---\n{self.stderr}")

    def assert_ok(self) -> "AnsibleRun":
        if self.rc != 0 or self.failed_tasks:
            raise AssertionError(f"ansible run failed\n{self.output}")
        return self


def ansible_env(extra: Mapping[str, str] | None = None, results_file: Path | None = None) -> dict[str, str]:
    """Environment for an ansible run: the caller's env plus harness settings.

    `extra` wins over everything (e.g. ANSIBLE_COLLECTIONS_PATH, ANSIBLE_PIPELINING).
    """
    env = dict(os.environ)
    callback_path = str(CALLBACK_DIR)
    if env.get("ANSIBLE_CALLBACK_PLUGINS"):
        callback_path += os.pathsep + env["ANSIBLE_CALLBACK_PLUGINS"]
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_CALLBACK_PLUGINS": callback_path,
        "ANSIBLE_STDOUT_CALLBACK": "harness_json",
        # Without this, ad-hoc `ansible` ignores the configured stdout callback.
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        # Node host keys are throwaway and ports are reused between nodes.
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    if results_file is not None:
        env["HARNESS_RESULTS_FILE"] = str(results_file)
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def _playbook_file(playbook: str | os.PathLike | list | dict, workdir: Path) -> Path:
    """Accept a path, YAML text (anything with a newline) or plays as Python data."""
    if isinstance(playbook, (list, dict)):
        text = yaml.safe_dump(playbook if isinstance(playbook, list) else [playbook], sort_keys=False)
    elif isinstance(playbook, os.PathLike) or "\n" not in playbook:
        path = Path(playbook)
        if not path.is_file():
            raise HarnessError(f"playbook {path} does not exist (pass YAML text with a newline for inline playbooks)")
        return path.resolve()
    else:
        text = playbook
    fd, name = tempfile.mkstemp(prefix="playbook-", suffix=".yml", dir=workdir)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return Path(name)


def _common_flags(check: bool, diff: bool, extra_vars: Mapping[str, Any] | None,
                  limit: str | None, verbosity: int) -> list[str]:
    flags = []
    if check:
        flags.append("--check")
    if diff:
        flags.append("--diff")
    if extra_vars:
        flags += ["--extra-vars", json.dumps(extra_vars)]
    if limit:
        flags += ["--limit", limit]
    if verbosity:
        flags.append("-" + "v" * verbosity)
    return flags


def _execute(argv: list[str], env: dict[str, str], results_file: Path, cwd: Path, timeout: float) -> AnsibleRun:
    results_file.unlink(missing_ok=True)
    proc = run(argv, check=False, env=env, cwd=cwd, timeout=timeout)
    out = AnsibleRun(argv=argv, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
    if results_file.exists():
        doc = json.loads(results_file.read_text())
        out.results = [TaskResult(**r) for r in doc["results"]]
        out.stats = doc.get("stats")
    return out


def run_playbook(
    playbook: str | os.PathLike | list | dict,
    inventory: str | os.PathLike,
    *,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    diff: bool = False,
    extra_vars: Mapping[str, Any] | None = None,
    limit: str | None = None,
    verbosity: int = 0,
    workdir: str | os.PathLike | None = None,
    timeout: float = 900,
) -> AnsibleRun:
    """ansible-playbook PLAYBOOK -i INVENTORY [--check] [--diff] ... -> AnsibleRun.

    workdir (cwd of the run; inline playbooks and the results file go there)
    defaults to a temporary directory removed afterwards.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="ansible-") as tmp:
            return run_playbook(playbook, inventory, env=env, check=check, diff=diff, extra_vars=extra_vars,
                                limit=limit, verbosity=verbosity, workdir=tmp, timeout=timeout)
    work = Path(workdir)
    book = _playbook_file(playbook, work)
    results_file = work / f"results-{os.getpid()}.json"
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(book),
            *_common_flags(check, diff, extra_vars, limit, verbosity)]
    return _execute(argv, ansible_env(env, results_file), results_file, work, timeout)


def run_adhoc(
    pattern: str,
    module: str,
    args: str | Mapping[str, Any] = "",
    inventory: str | os.PathLike | None = None,
    *,
    become: bool = False,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    diff: bool = False,
    extra_vars: Mapping[str, Any] | None = None,
    verbosity: int = 0,
    workdir: str | os.PathLike | None = None,
    timeout: float = 600,
) -> AnsibleRun:
    """ansible PATTERN -m MODULE -a ARGS -> AnsibleRun (args as k=v text or a dict, sent as JSON).

    Without an inventory, targets the implicit localhost (local connection,
    the venv's python). workdir as for run_playbook.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="ansible-") as tmp:
            return run_adhoc(pattern, module, args, inventory, become=become, env=env, check=check, diff=diff,
                             extra_vars=extra_vars, verbosity=verbosity, workdir=tmp, timeout=timeout)
    work = Path(workdir)
    if inventory is None:
        inventory = write_localhost_inventory(work / "localhost.yml")
    results_file = work / f"results-{os.getpid()}.json"
    argv = [str(VENV_BIN / "ansible"), pattern, "-i", str(inventory), "-m", module]
    if args:
        argv += ["-a", args if isinstance(args, str) else json.dumps(args)]
    if become:
        argv.append("--become")
    argv += _common_flags(check, diff, extra_vars, None, verbosity)
    return _execute(argv, ansible_env(env, results_file), results_file, work, timeout)


def write_localhost_inventory(path: str | os.PathLike) -> Path:
    """Inventory with `localhost` on the local connection, using the venv's python."""
    path = Path(path)
    inventory = {"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
    }}}}
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path
