"""ci_tools.docker.socket_group on real systemd CI nodes, through ansible-core over SSH.

The point of the module (issue 5): zuul's SSH connection is opened *before* the socket
changes, and is never re-established; Docker must work over that very connection, and
keep working after sudo is revoked.

One docker.io node per suite (from $CI_TOOLS_SUITES) is shared by the tests of this file,
in file order: each test starts from and returns to "socket root:docker, no drop-in",
except where it says otherwise. The daemon_json test comes last because it takes socket
activation away from the node. Podman gets its own node.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.harness import Node, selected_suites

FQCN = "ci_tools.docker.socket_group"
DROPIN = "/etc/systemd/system/docker.socket.d/ci-tools-socket-group.conf"
SOCKET = "/run/docker.sock"
IMAGE = "harness/busybox:latest"
SUDOERS = "zuul ALL=(ALL) NOPASSWD: ALL\n"

pytestmark = pytest.mark.node

NO_IPTABLES = ("mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\n"
               "Environment=DOCKER_OPTS=--iptables=false\\n' > "
               "/etc/systemd/system/docker.service.d/test-no-iptables.conf && ")


# -- fixtures and helpers ------------------------------------------------------

@pytest.fixture(scope="module", params=selected_suites())
def docker_node(request) -> Node:
    """A docker.io node shared by this file's tests, per selected suite, with the
    busybox image built and zuul's ssh master opened before anything changes."""
    node = Node(request.param, ("docker.io",))
    request.addfinalizer(node.stop)
    node.boot()
    # Test-node property, not the product's: nodes share the machine's network namespace,
    # so every node's dockerd edits the same iptables tables; one restarting while another
    # starts fails with "Unable to enable SKIP DNAT rule ... No chain/target/match". This
    # node's dockerd keeps its hands off iptables (containers here need no NAT).
    node.root_sh(NO_IPTABLES + "systemctl daemon-reload && systemctl restart docker.service")
    node.build_busybox_image(IMAGE)
    node.ssh("true", check=True)
    return node


@pytest.fixture(scope="module")
def collections(installed_collection):
    return {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}


def module(node: Node, env, args: dict, *, become=True, check=False, diff=False):
    """Runs one socket_group task; returns (its TaskResult, the AnsibleRun)."""
    book = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "socket_group", FQCN: args, "become": become},
    ]}]
    run = node.playbook(book, env=env, check=check, diff=diff)
    return run.task("socket_group"), run


def sh(node: Node, cmd: str) -> str:
    return node.root_sh(cmd).stdout


def stat(node: Node, path: str = SOCKET) -> str:
    return sh(node, f"stat -c '%U:%G %a' {path}").strip()


def start_time(node: Node, unit: str = "docker.service") -> str:
    return sh(node, f"systemctl show {unit} -p ExecMainStartTimestampMonotonic --value").strip()


def zuul_docker(node: Node, cmd: str):
    """`docker CMD` as zuul over the node's already open ssh connection."""
    return node.ssh(f"docker {cmd}", timeout=120)


def assert_default_state(node: Node):
    """What a failed run must leave: no drop-in, root:docker, the API answering."""
    state = (sh(node, f"test -e {DROPIN} && echo present || echo absent").strip(), stat(node),
             node.root_sh("systemctl is-active docker.socket docker.service", check=False).stdout.split())
    detail = f"{state}\n{node.journal('docker.service', lines=30)}"
    assert state == ("absent", "root:docker 660", ["active", "active"]), detail
    assert sh(node, "docker version --format '{{.Server.Version}}'").strip(), detail


def reset(node: Node, env):
    """Back to the package's configuration (state=absent), sudo for zuul restored."""
    node.root_sh(f"printf '{SUDOERS}' > /etc/sudoers.d/zuul && chmod 0440 /etc/sudoers.d/zuul")
    result, run = module(node, env, {"user": "zuul", "state": "absent"})
    assert result.status == "ok", run.output
    assert stat(node) == "root:docker 660"


# -- scenarios -------------------------------------------------------------------

def test_open_connection_uses_docker_after_the_change(docker_node, collections):
    """Scenario 1: over the SAME open connection, docker works right after the task and
    still after sudo is revoked."""
    node = docker_node
    master = node.master_pid()
    assert master
    assert "docker" not in node.ssh("id -Gn", check=True).stdout.split()
    denied = zuul_docker(node, "version")
    assert denied.returncode != 0 and "permission denied" in denied.stderr.lower()

    result, run = module(node, collections, {"user": "zuul"})
    assert result.status == "ok", run.output
    assert result.changed
    r = result.result
    assert (r["group"], r["user"], r["method"], r["unit"], r["service"]) == \
        ("zuul", "zuul", "systemd_dropin", "docker.socket", "docker.service")
    assert r["gid"] == int(sh(node, "id -g zuul"))
    assert (r["path"], r["socket"]) == (DROPIN, SOCKET)
    assert (r["socket_owner"], r["socket_group"], r["socket_mode"]) == ("root", "zuul", "0660")
    assert r["restarted"] is True and r["verified"] is True
    assert r["actions"] == [f"write {DROPIN}",
                            "restart docker.socket and docker.service (stop, daemon-reload, start)"]
    dropin = sh(node, f"cat {DROPIN}")
    assert dropin.startswith("# Managed by ci_tools.docker.socket_group")
    assert "[Socket]\nSocketGroup=zuul\nSocketMode=0660\n" in dropin
    assert sh(node, f"stat -c '%U:%G %a' {DROPIN}").strip() == "root:root 644"
    assert stat(node) == "root:zuul 660"

    # The same connection, never reset: docker version and a container run as zuul.
    assert node.master_pid() == master
    assert zuul_docker(node, "version --format '{{.Server.Version}}'").returncode == 0
    ran = zuul_docker(node, f"run --rm {IMAGE} /bin/busybox echo hello-from-zuul")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hello-from-zuul\n"
    # ... and an ansible task as zuul (no become) over that connection.
    task = node.adhoc("ansible.builtin.command", f"docker run --rm {IMAGE} /bin/busybox echo via-ansible")
    assert task.last.status == "ok", task.output
    assert task.last["stdout"] == "via-ansible"

    node.revoke_sudo()
    assert node.ssh("sudo -n true").returncode != 0
    after = zuul_docker(node, f"run --rm {IMAGE} /bin/busybox echo after-revoke")
    assert after.returncode == 0, after.stderr
    assert after.stdout == "after-revoke\n"
    assert node.master_pid() == master
    # For the next tests (become needs sudo).
    node.root_sh(f"printf '{SUDOERS}' > /etc/sudoers.d/zuul && chmod 0440 /etc/sudoers.d/zuul")


def test_second_run_changes_nothing(docker_node, collections):
    """Scenario 2: changed=false, no restart (dockerd's start time unchanged)."""
    node = docker_node
    before = start_time(node)
    socket_before = start_time(node, "docker.socket")
    result, run = module(node, collections, {"user": "zuul"})
    assert result.status == "ok", run.output
    assert result.changed is False
    assert result["restarted"] is False and result["verified"] is True
    assert result["actions"] == []
    checked, _ = module(node, collections, {"user": "zuul"}, check=True, diff=True)
    assert checked.status == "ok" and checked.changed is False
    assert not checked.get("diff")
    # Ad-hoc, with the options as k=v strings (coerced like AnsibleModule does).
    adhoc = node.adhoc(FQCN, "user=zuul restart=yes verify_access=on", become=True, env=collections)
    assert adhoc.last.status == "ok" and adhoc.last.changed is False, adhoc.output
    assert start_time(node) == before
    assert start_time(node, "docker.socket") == socket_before


def test_package_reinstall_keeps_the_group(docker_node, collections):
    """Scenario 3: the drop-in survives `apt-get install --reinstall docker.io`."""
    node = docker_node
    node.root_sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall docker.io", timeout=600)
    node.root_sh(f"for i in $(seq 50); do test -S {SOCKET} && break; sleep 0.2; done")
    assert stat(node) == "root:zuul 660"
    assert zuul_docker(node, "version").returncode == 0
    result, run = module(node, collections, {"user": "zuul"})
    assert result.status == "ok" and result.changed is False, run.output


def test_state_absent_restores_root_docker(docker_node, collections):
    """Scenario 5: state=absent removes the drop-in; the socket is root:docker again."""
    node = docker_node
    result, run = module(node, collections, {"user": "zuul", "state": "absent"}, diff=True)
    assert result.status == "ok", run.output
    assert result.changed and result["restarted"] is True
    assert result["actions"][0] == f"remove {DROPIN}"
    assert (result["socket_owner"], result["socket_group"], result["socket_mode"]) == \
        ("root", "docker", "0660")
    assert_default_state(node)
    denied = zuul_docker(node, "version")
    assert denied.returncode != 0
    again, _ = module(node, collections, {"user": "zuul", "state": "absent"})
    assert again.status == "ok" and again.changed is False


def test_check_mode_diff_mode_and_non_root(docker_node, collections):
    """Scenario 8: check mode predicts exactly and changes nothing; diff shows the drop-in;
    without become the failure says to use become."""
    node = docker_node
    before = start_time(node)
    checked, run = module(node, collections, {"user": "zuul"}, check=True, diff=True)
    assert checked.status == "ok", run.output
    assert checked.changed is True
    assert checked["actions"] == [f"write {DROPIN}",
                                  "restart docker.socket and docker.service (stop, daemon-reload, start)"]
    assert checked["restarted"] is False and checked["verified"] is False
    diff = checked["diff"]  # one file: a dict, as AnsibleModule modules return it
    assert diff["before"] == "" and diff["before_header"] == f"{DROPIN} (absent)"
    assert diff["after_header"] == DROPIN and "SocketGroup=zuul" in diff["after"]
    assert_default_state(node)
    assert start_time(node) == before, node.journal("docker.service", lines=30)

    real, run = module(node, collections, {"user": "zuul"}, diff=True)
    assert real.status == "ok" and real.changed, run.output
    assert real["diff"] == checked["diff"]
    assert real["actions"] == checked["actions"]
    assert stat(node) == "root:zuul 660"
    # The human-readable diff output of ansible-playbook --diff.
    assert "+SocketGroup=zuul" in run.stdout or "SocketGroup=zuul" in json.dumps(real.result)

    gone, _ = module(node, collections, {"user": "zuul", "state": "absent"}, check=True, diff=True)
    assert gone.changed and gone["actions"][0] == f"remove {DROPIN}"
    assert gone["diff"]["after_header"] == f"{DROPIN} (absent)"
    assert stat(node) == "root:zuul 660"

    no_root, run = module(node, collections, {"user": "zuul"}, become=False)
    assert no_root.status == "failed", run.output
    assert "use `become: true`" in no_root["msg"], run.output
    reset(node, collections)


def test_group_only_is_verified_as_nobody(docker_node, collections):
    """With only `group`, the socket gets that group and access is checked as uid 65534
    with it as primary group."""
    node = docker_node
    node.root_sh("getent group ci-socket || groupadd ci-socket")
    result, run = module(node, collections, {"group": "ci-socket"})
    assert result.status == "ok", run.output
    assert result.get("user") is None and result["verified"] is True
    assert stat(node) == "root:ci-socket 660"
    result, run = module(node, collections, {"group": "ci-socket", "state": "absent"})
    assert result.status == "ok" and result.changed, run.output
    assert_default_state(node)


def test_warnings_for_shared_and_supplementary_groups(docker_node, collections):
    """A shared group draws a warning (its members become root); so does a supplementary
    group of the user (sessions opened before it joined do not have it). Check mode: the
    warnings come before anything would change."""
    node = docker_node
    shared, run = module(node, collections, {"group": "users"}, check=True)
    assert shared.status == "ok", run.output
    assert any("group users is shared" in w for w in shared.get("warnings", [])), shared.result
    node.root_sh("getent group ci-socket || groupadd ci-socket; usermod -aG ci-socket zuul")
    try:
        supplementary, run = module(node, collections, {"user": "zuul", "group": "ci-socket"}, check=True)
        assert supplementary.status == "ok", run.output
        assert any("supplementary group of user zuul" in w
                   for w in supplementary.get("warnings", [])), supplementary.result
    finally:
        node.root_sh("gpasswd -d zuul ci-socket")
    assert_default_state(node)


# Conflicts found before anything is touched: (setup as root, options, message part, cleanup).
PREFLIGHT = {
    "shadowing-copy": (
        "cp /lib/systemd/system/docker.socket /etc/systemd/system/docker.socket && systemctl daemon-reload",
        {"user": "zuul"},
        "rm /etc/systemd/system/docker.socket && systemctl daemon-reload",
        "rm -f /etc/systemd/system/docker.socket && systemctl daemon-reload",
    ),
    "missing-group": ("true", {"user": "zuul", "group": "no-such-group"},
                      "group no-such-group does not exist", "true"),
    "not-a-member": ("true", {"user": "zuul", "group": "docker"},
                     "user zuul is not a member of group docker", "true"),
    "daemon-json-hosts": (
        "mkdir -p /etc/docker && echo '{\"hosts\": [\"unix:///run/docker.sock\"]}' > /etc/docker/daemon.json",
        {"user": "zuul"}, "remove `hosts` from /etc/docker/daemon.json", "rm -f /etc/docker/daemon.json",
    ),
    "daemon-json-group": (
        "mkdir -p /etc/docker && echo '{\"group\": \"docker\"}' > /etc/docker/daemon.json",
        {"user": "zuul"}, "sets `group` to \"docker\"", "rm -f /etc/docker/daemon.json",
    ),
    "docker-opts-group": (
        "cp /etc/default/docker /root/default-docker && echo 'DOCKER_OPTS=\"-G zuul\"' >> /etc/default/docker",
        {"user": "zuul"}, "DOCKER_OPTS in /etc/default/docker gives dockerd `--group zuul`",
        "mv /root/default-docker /etc/default/docker",
    ),
    "later-dropin": (
        "mkdir -p /etc/systemd/system/docker.socket.d && printf '[Socket]\\nSocketMode=0600\\n' > "
        "/etc/systemd/system/docker.socket.d/zz.conf && systemctl daemon-reload",
        {"user": "zuul"}, "/etc/systemd/system/docker.socket.d/zz.conf sets SocketMode=0600",
        "rm -f /etc/systemd/system/docker.socket.d/zz.conf && systemctl daemon-reload",
    ),
    "masked": ("systemctl mask docker.socket", {"user": "zuul", "method": "systemd_dropin"},
               "systemctl unmask docker.socket", "systemctl unmask docker.socket"),
}


def test_conflicts_fail_before_touching_anything(docker_node, collections):
    """Scenario 4 (pre-flight): a clear error and nothing changed, Docker untouched."""
    node = docker_node
    for name, (setup, args, message, cleanup) in PREFLIGHT.items():
        before = start_time(node)
        node.root_sh(setup)
        try:
            result, run = module(node, collections, args)
            assert result.status == "failed", f"{name}: {run.output}"
            assert message in result["msg"], f"{name}: {result['msg']}"
            assert start_time(node) == before, f"{name}: docker was restarted"
        finally:
            node.root_sh(cleanup)
        assert_default_state(node)


def test_restart_failure_rolls_back(docker_node, collections):
    """Scenario 4: docker.service refuses to start with the drop-in; the module restores
    the previous configuration, Docker runs as before, the error names what happened."""
    node = docker_node
    node.root_sh(textwrap.dedent(f"""\
        mkdir -p /etc/systemd/system/docker.service.d
        cat > /etc/systemd/system/docker.service.d/test-refuse.conf <<'EOF'
        [Service]
        ExecStartPre=/bin/sh -c '! test -e {DROPIN}'
        EOF
        systemctl daemon-reload
        """))
    try:
        result, run = module(node, collections, {"user": "zuul"})
        assert result.status == "failed", run.output
        msg = result["msg"]
        detail = msg + "\n" + node.journal("docker.service", lines=60)
        assert "cannot start docker.socket and docker.service" in msg, detail
        assert "Rolled back" in msg and f"removed {DROPIN} (there was none before)" in msg, detail
        assert "the API answers again" in msg, detail
        assert result["journal"], result.result
        assert any("restarted docker.socket and docker.service" in r for r in result["restored"])
        assert_default_state(node)
    finally:
        node.root_sh("rm -f /etc/systemd/system/docker.service.d/test-refuse.conf && systemctl daemon-reload")
    assert_default_state(node)


def test_verification_failure_rolls_back(docker_node, collections):
    """Scenario 4: the socket comes up unusable for zuul (a test-only ExecStartPost makes
    it 0600 while the drop-in exists); the check as zuul fails, naming the socket's owner,
    group and mode, and the previous configuration is restored."""
    node = docker_node
    node.root_sh(textwrap.dedent(f"""\
        mkdir -p /etc/systemd/system/docker.socket.d
        cat > /etc/systemd/system/docker.socket.d/zz-test-chmod.conf <<'EOF'
        [Socket]
        ExecStartPost=/bin/sh -c 'if test -e {DROPIN}; then chmod 0600 {SOCKET}; fi'
        EOF
        systemctl daemon-reload
        """))
    try:
        result, run = module(node, collections, {"user": "zuul"})
        assert result.status == "failed", run.output
        msg = result["msg"]
        assert "access check failed: user zuul" in msg, msg
        assert "EACCES" in msg and "root:zuul (mode 0600)" in msg, msg
        assert f"removed {DROPIN} (there was none before)" in msg, msg
        assert_default_state(node)
    finally:
        node.root_sh("rm -f /etc/systemd/system/docker.socket.d/zz-test-chmod.conf && systemctl daemon-reload")
    assert_default_state(node)


def test_restart_false_writes_only(docker_node, collections):
    """restart=false: the drop-in is written, nothing restarts, a warning says how to apply
    it; a later run with restart applies it."""
    node = docker_node
    before = start_time(node)
    result, run = module(node, collections, {"user": "zuul", "restart": False})
    assert result.status == "ok" and result.changed, run.output
    assert result["restarted"] is False and result["verified"] is False
    assert any("systemctl daemon-reload" in w for w in result.get("warnings", []))
    assert start_time(node) == before
    assert stat(node) == "root:docker 660"
    applied, _ = module(node, collections, {"user": "zuul"})
    assert applied.changed and applied["actions"] == [
        "restart docker.socket and docker.service (stop, daemon-reload, start)"]
    assert stat(node) == "root:zuul 660"
    reset(node, collections)


DAEMON_JSON = '{\n    "log-level": "info",\n    "features": {\n        "buildkit": false\n    }\n}\n'
TEST_UNIT = """\
# Test-only: dockerd creating its own socket (no socket activation).
[Unit]
Description=Docker without socket activation (test-only)
After=network-online.target containerd.service
Wants=containerd.service
[Service]
Type=notify
ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock --iptables=false
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=120
Delegate=yes
KillMode=process
LimitNOFILE=1048576
[Install]
WantedBy=multi-user.target
"""


def test_daemon_json_without_socket_activation(docker_node, collections):
    """Scenario 6 (last: it takes socket activation away from the node): with docker.socket
    masked and dockerd creating its own socket, `group` goes into daemon.json, keeping the
    other keys and the formatting; state=absent gives back the file byte for byte."""
    node = docker_node
    node.root_sh("systemctl stop docker.service docker.socket && systemctl mask docker.socket")
    node.root_sh("cat > /etc/systemd/system/docker.service", input=TEST_UNIT)
    node.root_sh("mkdir -p /etc/docker && cat > /etc/docker/daemon.json", input=DAEMON_JSON)
    started = node.root_sh("systemctl daemon-reload && systemctl reset-failed docker.service && "
                           "systemctl start docker.service", check=False)
    assert started.returncode == 0, started.stderr + node.journal("docker.service", lines=30)
    sock = "/var/run/docker.sock"
    assert stat(node, sock) == "root:docker 660"

    # dockerd refusing to start with the new daemon.json: everything is put back.
    node.root_sh(textwrap.dedent("""\
        mkdir -p /etc/systemd/system/docker.service.d
        cat > /etc/systemd/system/docker.service.d/test-refuse.conf <<'EOF'
        [Service]
        ExecStartPre=/bin/sh -c '! grep -q group /etc/docker/daemon.json'
        EOF
        systemctl daemon-reload
        """))
    try:
        refused, run = module(node, collections, {"user": "zuul"})
        assert refused.status == "failed", run.output
        assert "cannot restart docker.service" in refused["msg"], refused["msg"]
        assert "put the previous /etc/docker/daemon.json back" in refused["msg"], refused["msg"]
        assert "restarted docker.service: the API answers again" in refused["msg"], refused["msg"]
        assert sh(node, "cat /etc/docker/daemon.json") == DAEMON_JSON
        assert sh(node, "test -e /var/lib/ci-tools-docker/socket_group.json && echo y || echo n").strip() == "n"
        assert stat(node, sock) == "root:docker 660"
        assert sh(node, "docker version --format '{{.Server.Version}}'").strip()
    finally:
        node.root_sh("rm -f /etc/systemd/system/docker.service.d/test-refuse.conf && systemctl daemon-reload")

    result, run = module(node, collections, {"user": "zuul"}, diff=True)
    assert result.status == "ok", run.output
    r = result.result
    assert r["method"] == "daemon_json" and r["service"] == "docker.service"
    assert (r["path"], r["socket"]) == ("/etc/docker/daemon.json", sock)
    assert r["restarted"] is True and r["verified"] is True
    assert r["socket_group"] == "zuul"
    assert sh(node, "cat /etc/docker/daemon.json") == (
        '{\n    "log-level": "info",\n    "features": {\n        "buildkit": false\n    },\n'
        '    "group": "zuul"\n}\n')
    assert r["diff"]["before"] == DAEMON_JSON
    state = json.loads(sh(node, "cat /var/lib/ci-tools-docker/socket_group.json"))
    assert state["daemon_json"]["/etc/docker/daemon.json"]["group"] == "zuul"
    ran = zuul_docker(node, f"run --rm {IMAGE} /bin/busybox echo daemon-json")
    assert ran.returncode == 0 and ran.stdout == "daemon-json\n", ran.stderr

    before = start_time(node)
    again, _ = module(node, collections, {"user": "zuul"})
    assert again.status == "ok" and again.changed is False
    assert start_time(node) == before

    gone, run = module(node, collections, {"user": "zuul", "state": "absent"})
    assert gone.status == "ok" and gone.changed, run.output
    assert sh(node, "cat /etc/docker/daemon.json") == DAEMON_JSON
    assert sh(node, "test -e /var/lib/ci-tools-docker/socket_group.json && echo y || echo n").strip() == "n"
    assert stat(node, sock) == "root:docker 660"
    assert zuul_docker(node, "version").returncode != 0

    # fd:// in ExecStart: group in daemon.json would have no effect -> clear error.
    node.root_sh("rm /etc/systemd/system/docker.service && systemctl unmask docker.socket && "
                 "systemctl daemon-reload")
    wrong, _ = module(node, collections, {"user": "zuul", "method": "daemon_json"})
    assert wrong.status == "failed"
    assert "use method: systemd_dropin" in wrong["msg"], wrong["msg"]


# -- no engine yet ---------------------------------------------------------------

@pytest.mark.suites("bookworm")
def test_before_docker_is_installed(make_node, installed_collection):
    """Check mode of a play that installs Docker in an earlier task: socket_group predicts
    the drop-in (with a warning) instead of failing; a real run fails clearly."""
    node = make_node("bookworm")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}
    checked, run = module(node, env, {"user": "zuul"}, check=True, diff=True)
    assert checked.status == "ok", run.output
    assert checked.changed and checked["method"] == "systemd_dropin"
    assert checked["actions"] == [f"write {DROPIN}",
                                  "restart docker.socket and docker.service (stop, daemon-reload, start)"]
    assert "SocketGroup=zuul" in checked["diff"]["after"]
    assert any("the engine is not installed" in w for w in checked.get("warnings", []))
    assert node.root_sh(f"test -e {DROPIN}", check=False).returncode != 0
    real, _ = module(node, env, {"user": "zuul"})
    assert real.status == "failed"
    assert "is Docker installed?" in real["msg"], real["msg"]
    assert node.root_sh("test -e /etc/docker/daemon.json", check=False).returncode != 0


# -- podman ------------------------------------------------------------------------

@pytest.mark.suites("bookworm", "trixie")
def test_podman_socket(make_node, installed_collection, suite):
    """Scenario 7: podman.socket gets zuul's group; zuul's GET /_ping answers OK over the
    already open connection."""
    node = make_node(suite, packages=("podman",))
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}
    node.ssh("true", check=True)
    sock = "/run/podman/podman.sock"
    ping = f"python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('{sock}'); " \
           "s.sendall(b'GET /_ping HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'); " \
           "print(s.recv(4096).decode().split(chr(13)+chr(10)+chr(13)+chr(10))[-1])\""
    node.root_sh("systemctl start podman.socket")
    assert node.ssh(ping).returncode != 0

    if stat(node, "/run/podman") == "root:root 700":
        # Debian 12's podman creates /run/podman with mode 0700 (tmpfiles.d): no socket
        # group helps then. The module says so before touching anything.
        refused, run = module(node, env, {"user": "zuul", "unit": "podman.socket"})
        assert refused.status == "failed", run.output
        assert "the directory /run/podman (drwx------ root:root (mode 0700)) does not let user " \
               "zuul through" in refused["msg"], refused["msg"]
        assert "chmod 0711 /run/podman" in refused["msg"]
        assert sh(node, "ls /etc/systemd/system/podman.socket.d 2>/dev/null || true") == ""
        node.root_sh("chmod 0711 /run/podman")

    result, run = module(node, env, {"user": "zuul", "unit": "podman.socket"})
    assert result.status == "ok", run.output
    r = result.result
    assert (r["unit"], r["service"], r["socket"]) == ("podman.socket", "podman.service", sock)
    assert r["verified"] is True and r["socket_group"] == "zuul"
    assert stat(node, sock) == "root:zuul 660"
    answered = node.ssh(ping)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip() == "OK"
    again, _ = module(node, env, {"user": "zuul", "unit": "podman.socket"})
    assert again.changed is False
    gone, _ = module(node, env, {"user": "zuul", "unit": "podman.socket", "state": "absent"})
    assert gone.changed and stat(node, sock) == "root:root 660"
