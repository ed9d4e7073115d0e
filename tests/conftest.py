"""Pytest fixtures for the ci_tools.docker test suites (see tests/harness/README.md).

Fixtures:
  suite            the Debian suite of a test, parametrized over $CI_TOOLS_SUITES
                   (comma list, default "bookworm"); restrict with @pytest.mark.suites(...)
  node             a freshly booted CI node (the test's `suite` if it uses that fixture,
                   else bookworm; extra packages via @pytest.mark.node_packages(...))
  make_node        factory: make_node(suite="bookworm", packages=()) -> Node, stopped after the test
  private_dockerd  one private Docker daemon for the whole session
  clean_dockerd    the same daemon, emptied (reset()) before the test
  localhost_inventory  an inventory file with `localhost` on the local connection
"""
from __future__ import annotations

import os

import pytest

from tests.harness import (
    BOOT_TIMINGS, DEFAULT_SUITE, Node, PrivateDockerd, cleanup_stale, install_handlers,
    selected_suites, write_localhost_inventory,
)

NODE_FIXTURES = {"node", "make_node"}
DOCKERD_FIXTURES = {"private_dockerd", "clean_dockerd"}


def pytest_configure(config):
    # SIGTERM (CI timeout) -> KeyboardInterrupt, so fixture finalizers run;
    # atexit stops anything still alive.
    install_handlers()


def pytest_sessionstart(session):
    # Leftovers of earlier runs that were SIGKILLed (records in /run).
    if os.geteuid() == 0:
        for line in cleanup_stale():
            print(f"harness: removed stale {line}")


def pytest_generate_tests(metafunc):
    if "suite" in metafunc.fixturenames:
        suites = selected_suites()
        marker = metafunc.definition.get_closest_marker("suites")
        if marker:
            suites = [s for s in suites if s in marker.args]
        # An empty list makes pytest skip the test ("got empty parameter set").
        metafunc.parametrize("suite", suites, indirect=True, ids=suites)


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & NODE_FIXTURES:
            item.add_marker(pytest.mark.node)
        if names & DOCKERD_FIXTURES:
            item.add_marker(pytest.mark.dockerd)
        if (names & (NODE_FIXTURES | DOCKERD_FIXTURES)) and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="needs root (systemd-nspawn / dockerd)"))


@pytest.fixture
def suite(request) -> str:
    return getattr(request, "param", DEFAULT_SUITE)


def _report(node: Node) -> None:
    t = node.timings
    kind = f"cold (root build {node.cached.build_seconds:.1f} s)" if node.cached.built_now else "warm"
    # Visible with -s; the terminal summary below always lists all boots.
    print(f"\nnode {node.name} [{node.cached.recipe.variant}]: {kind}, copy {t['copy']:.1f} s, "
          f"boot {t['boot']:.1f} s, total {t['total']:.1f} s")


@pytest.fixture
def make_node(request):
    """Factory: make_node(suite=..., packages=(...)) boots a node; all are stopped after the test."""
    nodes: list[Node] = []

    def factory(suite: str = DEFAULT_SUITE, packages=(), **kwargs) -> Node:
        node = Node(suite, tuple(packages), **kwargs)
        nodes.append(node)
        node.boot()
        _report(node)
        return node

    yield factory
    errors = []
    for node in reversed(nodes):
        try:
            node.stop()
        except Exception as exc:
            errors.append(f"{node.name}: {exc}")
    if errors:
        raise RuntimeError("node teardown failed: " + "; ".join(errors))


@pytest.fixture
def node(request, make_node) -> Node:
    suite = request.getfixturevalue("suite") if "suite" in request.fixturenames else DEFAULT_SUITE
    marker = request.node.get_closest_marker("node_packages")
    return make_node(suite, marker.args if marker else ())


@pytest.fixture(scope="session")
def private_dockerd():
    daemon = PrivateDockerd().start()
    yield daemon
    daemon.stop()


@pytest.fixture
def clean_dockerd(private_dockerd) -> PrivateDockerd:
    private_dockerd.reset()
    return private_dockerd


@pytest.fixture
def localhost_inventory(tmp_path):
    return write_localhost_inventory(tmp_path / "localhost.yml")


def pytest_terminal_summary(terminalreporter):
    if not BOOT_TIMINGS:
        return
    tr = terminalreporter
    tr.section("node boot times")
    for t in BOOT_TIMINGS:
        kind = f"cold: root build {t['build']:6.1f} s" if t["cold"] else "warm"
        tr.write_line(f"{t['node']:<20} {t['variant']:<12} {kind:<24} copy {t['copy']:5.1f} s  "
                      f"boot {t['boot']:5.1f} s  total {t['total']:6.1f} s")
