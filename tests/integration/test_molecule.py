"""`molecule test` of the default scenario: harness node, converge, idempotence, verify."""
from __future__ import annotations

import os
import subprocess

import pytest

from moduletools import REPO, venv_bin


@pytest.mark.node
@pytest.mark.suites("bookworm")
def test_molecule_default_scenario(built, suite):
    env = {**os.environ, "PATH": f"{venv_bin('molecule').parent}:{os.environ['PATH']}",
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1", "PY_COLORS": "0", "TERM": "dumb"}
    proc = subprocess.run([str(venv_bin("molecule")), "test", "-s", "default"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=1200)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    for action in ("converge", "idempotence", "verify", "destroy"):
        assert f"{action}: Executed: Successful" in output, f"{action} did not succeed\n{output[-4000:]}"
