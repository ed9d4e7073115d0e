# Copyright: ci_tools.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the collection's Rust binary modules in one remote command per task.

Ansible never pipelines binary modules: every task makes a temp dir, uploads the whole
binary and an args file, chmods, runs and cleans up, several round trips each. This action
plugin (routed for every module in meta/runtime.yml) instead keeps each binary in a cache
directory on the target, keyed by its content hash, and runs a task as ONE command: a small
POSIX sh script that picks the binary for the target's architecture (`uname -m`), checks
its owner, mode and sha256, and execs it with the arguments on stdin (the modules read
stdin when given no argument). Only when that binary is not cached yet (or was tampered
with) does the plugin upload it, once per host and hash.

Trust: a cached binary runs as the user that owns the cache. With become to root the cache
is /var/cache/ci-tools-docker/bin, which must belong to root and be writable by root only;
a file there that does not match its hash is replaced, never run. Without become it is the
connecting user's own ~/.cache/ci-tools-docker/bin. Anything else (become to another user,
a non-POSIX shell, a connection without stdin, async, keep_remote_files, a cache that fails
the checks) falls back to Ansible's normal binary-module path, and -vvv says why.
Set the variable `ci_tools_docker_fast_transport: false` to always use the normal path.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

display = Display()

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Directory names are `uname -m` values; xtask writes bin/<arch>/<module>.
BIN_DIR = os.path.join(COLLECTION_ROOT, "bin")
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}
ROOT_CACHE = "/var/cache/ci-tools-docker/bin"
USER_CACHE = "$HOME/.cache/ci-tools-docker/bin"
SENTINEL = "CI_TOOLS_DOCKER_FAST"

_hash_cache: dict[tuple[str, int, int], str] = {}


def _sha256(path: str) -> str:
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


class _Fallback(Exception):
    """The fast path cannot be used for this task; the message says why."""


class ActionModule(ActionBase):
    _supports_check_mode = True
    # Async tasks take Ansible's normal path, which wraps binary modules itself.
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        module_name = self._task.action
        short_name = module_name.rsplit(".", 1)[-1]
        try:
            binaries = self._binaries(short_name)
            self._check_fast_path_usable(task_vars)
            data = self._run_cached(module_name, short_name, binaries, task_vars)
        except _Fallback as why:
            display.vvv(f"ci_tools.docker: {why}; using the normal binary-module path",
                        host=self._play_context.remote_addr)
            data = self._run_normal(module_name, task_vars)
        result.update(data)
        if not self._task.async_val:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    # -- which binary ------------------------------------------------------------------
    def _binaries(self, short_name: str) -> dict[str, tuple[str, str]]:
        """arch -> (local path, sha256) for every architecture this module is built for."""
        found = {}
        if os.path.isdir(BIN_DIR):
            for arch in sorted(os.listdir(BIN_DIR)):
                path = os.path.join(BIN_DIR, arch, short_name)
                if os.path.isfile(path):
                    found[arch] = (path, _sha256(path))
        if not found:
            raise _Fallback(f"no per-architecture binaries of {short_name} under {BIN_DIR}")
        return found

    def _check_fast_path_usable(self, task_vars) -> None:
        enabled = task_vars.get("ci_tools_docker_fast_transport", True)
        if str(enabled).lower() in ("false", "no", "0", "off"):
            raise _Fallback("ci_tools_docker_fast_transport is false")
        if self._task.async_val:
            raise _Fallback("async task")
        if C.DEFAULT_KEEP_REMOTE_FILES:
            raise _Fallback("keep_remote_files is set")
        if not getattr(self._connection, "has_pipelining", False):
            raise _Fallback(f"connection {self._connection.transport} cannot feed stdin")
        if getattr(self._connection._shell, "SHELL_FAMILY", "sh") != "sh":
            raise _Fallback("the remote shell is not POSIX sh")
        if self._connection.become:
            if not getattr(self._connection.become, "pipelining", True):
                raise _Fallback(f"become method {self._connection.become.name} cannot pass stdin")
            become_user = self.get_become_option("become_user") or "root"
            if become_user != "root":
                raise _Fallback(f"become to {become_user} (the cache is kept for root only)")

    # -- the fast path -----------------------------------------------------------------
    def _cache_dir(self) -> str:
        return ROOT_CACHE if self._connection.become else USER_CACHE

    def _arch_case(self, binaries) -> str:
        branches = []
        for arch, (_, digest) in binaries.items():
            names = [arch] + [alias for alias, real in ARCH_ALIASES.items() if real == arch]
            branches.append(f"{'|'.join(names)}) h={digest} ;;")
        return (
            'a=$(uname -m)\ncase "$a" in\n  ' + "\n  ".join(branches)
            + f'\n  *) echo "{SENTINEL} unsupported-arch $a"; exit 0 ;;\nesac\n'
        )

    def _exec_line(self) -> str:
        environment = self._compute_environment_string()
        return f'{environment} exec "$f"'.strip()

    def _warm_script(self, short_name, binaries) -> str:
        # Owner and mode of the cache dir and the file, then the content hash: only a
        # binary that the executing user alone can have written, with the expected bytes,
        # is run.
        return (
            "set -u\n" + self._arch_case(binaries)
            + f"d={self._cache_dir()}\n"
            + f'f="$d/{short_name}-$h"\nu=$(id -u)\n'
            + 'if [ -f "$f" ] && [ ! -L "$f" ] && [ ! -L "$d" ] '
            + '&& [ "$(stat -c %u:%a "$d" "$f" 2>/dev/null | tr "\\n" " ")" = "$u:755 $u:755 " ] '
            + '&& [ "$(sha256sum "$f" 2>/dev/null | cut -d" " -f1)" = "$h" ]; then\n'
            + f"  {self._exec_line()}\n"
            + "fi\n"
            + f'echo "{SENTINEL} miss $a"\n'
        )

    def _install_script(self, short_name, digest, uploaded) -> str:
        name = f"{short_name}-{digest}"
        return (
            "set -u\numask 022\n"
            + f"d={self._cache_dir()}\nh={digest}\n"
            + f'f="$d/{name}"\nu=$(id -u)\n'
            + 'mkdir -p "$d" && chmod 755 "$d" 2>/dev/null\n'
            + 'if [ -L "$d" ] || [ "$(stat -c %u:%a "$d" 2>/dev/null)" != "$u:755" ]; then\n'
            + f'  echo "{SENTINEL} untrusted-cache $d"; exit 0\nfi\n'
            + f't="$d/.{name}.$$"\n'
            + f'if cp {shlex.quote(uploaded)} "$t" && chmod 755 "$t" '
            + '&& [ "$(sha256sum "$t" | cut -d" " -f1)" = "$h" ] && mv -f "$t" "$f"; then :; else\n'
            + f'  rm -f "$t"; echo "{SENTINEL} install-failed $d"; exit 0\nfi\n'
            + f'for old in "$d"/{short_name}-*; do [ "$old" = "$f" ] || rm -f "$old"; done\n'
            + self._exec_line() + "\n"
        )

    def _module_args(self, module_name, task_vars) -> dict:
        args = self._task.args.copy()
        self._update_module_args(module_name, args, task_vars)
        return args

    def _execute(self, script: str, args: dict) -> dict:
        # The script is the command: become and the configured executable (/bin/sh -c)
        # wrap it as they wrap any module command.
        # Bytes: the local connection writes stdin through a memoryview.
        return self._low_level_execute_command(
            script, sudoable=True, in_data=to_bytes(json.dumps(args, default=str)))

    def _run_cached(self, module_name, short_name, binaries, task_vars) -> dict:
        args = self._module_args(module_name, task_vars)
        res = self._execute(self._warm_script(short_name, binaries), args)
        signal = self._sentinel(res)
        if signal is None:
            return self._finish(res)
        kind, _, detail = signal.partition(" ")
        if kind == "unsupported-arch":
            raise AnsibleActionFail(
                f"ci_tools.docker: no {short_name} binary for architecture {detail} "
                f"(built for: {', '.join(binaries)})")
        if kind != "miss":
            raise _Fallback(f"unexpected answer from the target: {signal}")
        arch = ARCH_ALIASES.get(detail, detail)
        local_path, digest = binaries[arch]
        display.vvv(f"ci_tools.docker: caching {short_name} ({arch}, {digest[:12]}) in "
                    f"{self._cache_dir()}", host=self._play_context.remote_addr)
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        uploaded = self._connection._shell.join_path(tmpdir, f"{short_name}-{digest}")
        self._transfer_file(local_path, uploaded)
        self._fixup_perms2([tmpdir, uploaded], self._get_remote_user(), execute=False)
        res = self._execute(self._install_script(short_name, digest, uploaded), args)
        signal = self._sentinel(res)
        if signal is not None:
            raise _Fallback(f"cannot use the cache: {signal}")
        return self._finish(res)

    @staticmethod
    def _sentinel(res) -> str | None:
        for line in (res.get("stdout") or "").splitlines():
            if line.startswith(SENTINEL + " "):
                return line[len(SENTINEL) + 1:].strip()
        return None

    def _finish(self, res) -> dict:
        """What _execute_module does with a module's output, for our one-command run."""
        try:
            data = self._parse_returned_data(res, "legacy")
        except TypeError:  # ansible-core < 2.19 takes no serialization profile
            data = self._parse_returned_data(res)
        remove_internal_keys(data)
        for stream in ("stdout", "stderr"):
            if stream in data and f"{stream}_lines" not in data:
                data[f"{stream}_lines"] = (data.get(stream) or "").splitlines()
        return data

    # -- the normal path ---------------------------------------------------------------
    def _run_normal(self, module_name, task_vars) -> dict:
        """Ansible's own binary-module flow (temp dir, upload, args file, run, clean up),
        with the binary picked for the target's architecture: plugins/modules holds only
        the x86_64 build, which is all that Ansible itself could send."""
        short_name = module_name.rsplit(".", 1)[-1]
        arch = self._target_arch(task_vars)
        if arch == "x86_64" or self._task.async_val:
            if arch != "x86_64":
                raise AnsibleActionFail(
                    f"ci_tools.docker: async tasks run the x86_64 build only; this target "
                    f"is {arch}")
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            return self._execute_module(module_name=module_name, task_vars=task_vars,
                                        wrap_async=wrap_async)
        local_path = os.path.join(BIN_DIR, arch, short_name)
        if not os.path.isfile(local_path):
            raise AnsibleActionFail(
                f"ci_tools.docker: no {short_name} binary for architecture {arch}")
        args = self._module_args(module_name, task_vars)
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        remote_binary = self._connection._shell.join_path(tmpdir, short_name)
        args_file = self._connection._shell.join_path(tmpdir, "args")
        self._transfer_file(local_path, remote_binary)
        self._transfer_data(args_file, json.dumps(args, default=str))
        self._fixup_perms2([tmpdir, remote_binary, args_file], self._get_remote_user())
        environment = self._compute_environment_string()
        command = f"{environment} {shlex.quote(remote_binary)} {shlex.quote(args_file)}"
        return self._finish(self._low_level_execute_command(command.strip(), sudoable=True))

    def _target_arch(self, task_vars) -> str:
        """From gathered facts when there are any, else one cheap command."""
        arch = (task_vars.get("ansible_facts") or {}).get("architecture")
        if not arch:
            res = self._low_level_execute_command("uname -m", sudoable=False)
            arch = (res.get("stdout") or "").strip().splitlines()[-1:] or ["unknown"]
            arch = arch[0]
        return ARCH_ALIASES.get(arch, arch)
