# Stdout callback for the test harness: ansible-core ships no JSON stdout
# callback (ansible.posix.json lives in a collection we do not want to depend
# on), so this one records every task result as JSON for the tests to parse.
#
# - Machine-readable: writes {"results": [...], "stats": {...}} to the file named
#   by $HARNESS_RESULTS_FILE (rewritten after every result, so even a run that
#   dies half-way leaves what it got); to stdout if the variable is unset.
# - Human-readable: one line per task result on stdout, for pytest failure output.
#
# Records are per (task, host) final result; loop items stay inside the final
# result's "results" list, exactly as the registered variable would hold them.
from __future__ import annotations

DOCUMENTATION = """
    name: harness_json
    type: stdout
    short_description: task results as JSON for the ci_tools.docker test harness
    description: Records every task result (per host) and the play stats as JSON.
    requirements:
      - set as stdout callback in configuration
"""

import copy
import json
import os

from ansible.plugins.callback import CallbackBase


def _native(result):
    """The result dict as plain Python types (2.19+ tags values; older cores don't)."""
    data = getattr(result, "result", None)  # 2.19+: native-type copy
    if data is None:
        data = result._result
    return copy.deepcopy(dict(data))


def _task_of(result):
    return getattr(result, "task", None) or result._task


def _host_of(result):
    return getattr(result, "host", None) or result._host


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "harness_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._results = []
        self._play = None
        self._out = os.environ.get("HARNESS_RESULTS_FILE")

    # -- recording ---------------------------------------------------------
    def _record(self, status, result, ignore_errors=False):
        task = _task_of(result)
        data = _native(result)
        record = {
            "play": self._play,
            "task": task.get_name(),
            "action": task.action,
            "host": _host_of(result).get_name(),
            "status": status,
            "changed": bool(data.get("changed", False)),
            "ignore_errors": bool(ignore_errors),
            "result": data,
        }
        self._results.append(record)
        self._line(record)
        self._flush()

    def _line(self, r):
        flag = " (changed)" if r["changed"] else ""
        msg = r["result"].get("msg")
        extra = f" msg={msg!r}" if msg and r["status"] != "ok" else ""
        self._display.display(f"{r['status']}: [{r['host']}] {r['task']}{flag}{extra}")
        for warning in r["result"].get("warnings") or []:
            self._display.display(f"  warning: {warning}")

    def _flush(self, stats=None):
        doc = {"results": self._results, "stats": stats}
        text = json.dumps(doc, default=str, indent=1)
        if self._out:
            tmp = self._out + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, self._out)
        elif stats is not None:
            self._display.display(text)

    # -- callback API ------------------------------------------------------
    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result, ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._flush(summary)
