# Aggregate callback for the benchmarks: when each task starts and ends, on the
# controller's monotonic clock, written as JSON to $BENCH_TIMES_FILE at the end of the run.
from __future__ import annotations

DOCUMENTATION = """
    name: bench_timer
    type: aggregate
    short_description: task start/end times for the ci_tools.docker benchmarks
    description: Records each task's start and end (time.monotonic_ns) and its status.
    requirements:
      - enabled in configuration (ANSIBLE_CALLBACKS_ENABLED=bench_timer)
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tasks = []
        self._out = os.environ.get("BENCH_TIMES_FILE")
        self._t0 = time.monotonic_ns()

    def _start(self, task, handler=False):
        self._tasks.append({"name": task.get_name(), "action": task.action, "handler": handler,
                            "start": time.monotonic_ns(), "end": None, "status": None,
                            "changed": None})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task, handler=True)

    def _end(self, result, status, ignore_errors=False):
        if not self._tasks:
            return
        data = getattr(result, "result", None)
        if data is None:
            data = result._result
        rec = self._tasks[-1]
        rec["end"] = time.monotonic_ns()
        rec["status"] = status
        rec["changed"] = bool(data.get("changed", False))
        rec["ignored"] = bool(ignore_errors)
        if "cache_updated" in data:  # apt and docker_install: did it run apt-get update?
            rec["cache_updated"] = bool(data["cache_updated"])
        if status in ("failed", "unreachable"):
            rec["msg"] = str(data.get("msg", ""))[:2000]

    def v2_runner_on_ok(self, result, **kwargs):
        self._end(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._end(result, "failed", ignore_errors)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._end(result, "skipped")

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._end(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        doc = {"start": self._t0, "end": time.monotonic_ns(), "tasks": self._tasks}
        if self._out:
            with open(self._out, "w") as f:
                json.dump(doc, f)
