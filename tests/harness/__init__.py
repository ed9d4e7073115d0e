"""Test harness for the ci_tools.docker collection.

Import it as `tests.harness` (pytest.ini puts the repository root on
sys.path); see README.md in this directory for the API and the fixtures.
"""
from .ansible_run import AnsibleRun, TaskResult, ansible_env, run_adhoc, run_playbook, write_localhost_inventory
from .dockerd import PrivateDockerd, start_private_dockerd
from .lifecycle import cleanup_stale, install_handlers, stop_all
from .node import BOOT_TIMINGS, Node, boot_node
from .rootfs import DEFAULT_SUITE, SUITES, CachedRoot, Recipe, ensure_root
from .util import HarnessError, HarnessTimeout

__all__ = [
    "AnsibleRun", "TaskResult", "ansible_env", "run_adhoc", "run_playbook", "write_localhost_inventory",
    "PrivateDockerd", "start_private_dockerd",
    "cleanup_stale", "install_handlers", "stop_all",
    "BOOT_TIMINGS", "Node", "boot_node",
    "DEFAULT_SUITE", "SUITES", "CachedRoot", "Recipe", "ensure_root",
    "HarnessError", "HarnessTimeout", "selected_suites",
]


def selected_suites() -> list[str]:
    """Suites named by $CI_TOOLS_SUITES (comma list); default: bookworm only."""
    import os

    raw = os.environ.get("CI_TOOLS_SUITES", "").strip()
    suites = [s.strip() for s in raw.split(",") if s.strip()] if raw else [DEFAULT_SUITE]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise HarnessError(f"CI_TOOLS_SUITES names unknown suites {unknown}; known: {', '.join(SUITES)}")
    return suites
