"""The whole CI story on one node, as a CI system lives it.

1. pre-run: the ci_setup role, as `zuul` with become, over SSH with ControlPersist;
2. sudo revoked;
3. run phase, as `zuul` over the SAME open connection: `docker build` of a FROM-scratch
   image, `docker run --rm` of it, and a dangling image (the same tag built twice);
4. post-run: the role's cleanup entry point prunes; the dangling image is gone;
5. pre-run again (sudo given back, as a re-run would have it): nothing changes.

Used by the main job (`scripts/main-job`) and by the scenario test; both assert on the
returned StoryReport.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .ansible_run import AnsibleRun
from .node import BUSYBOX, Node
from .util import HarnessError

REPO = Path(__file__).resolve().parents[2]
SETUP_PLAYBOOK = REPO / "playbooks" / "ci_setup.yml"
CLEANUP_PLAYBOOK = REPO / "playbooks" / "cleanup.yml"
IMAGE = "ci-story/hello:latest"


@dataclass
class StoryReport:
    suite: str
    steps: list[str] = field(default_factory=list)
    setup: AnsibleRun | None = None
    cleanup: AnsibleRun | None = None
    rerun: AnsibleRun | None = None
    master_pid_before: int | None = None
    master_pid_after: int | None = None
    sudo_denied: bool = False
    docker_version_as_zuul: str = ""
    container_output: str = ""
    dangling_before: list[str] = field(default_factory=list)
    dangling_after: list[str] = field(default_factory=list)
    pruned_images: list[dict] = field(default_factory=list)
    space_reclaimed_human: str = ""

    def changed_tasks(self, run: AnsibleRun) -> list[str]:
        return [r.task for r in run.results if r.changed]

    def summary(self) -> str:
        return "\n".join([f"CI story on a {self.suite} node:", *self.steps])


def _stats(run: AnsibleRun) -> str:
    totals = {"changed": 0, "failures": 0, "ok": 0}
    for host in (run.stats or {}).values():
        for key in totals:
            totals[key] += host.get(key, 0)
    return f"ok={totals['ok']} changed={totals['changed']} failed={totals['failures']}"


def _as_zuul(node: Node, cmd: str) -> str:
    """Runs `cmd` as zuul over the already-open multiplexed connection; fails loudly."""
    proc = node.ssh(cmd, check=False)
    if proc.returncode != 0:
        raise HarnessError(f"as zuul over the open connection: `{cmd}` failed "
                           f"(rc={proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc.stdout


def run_story(node: Node, env: dict[str, str], *, log: Callable[[str], None] = print,
              extra_vars: dict | None = None) -> StoryReport:
    """Runs the five steps; `env` must make the collection resolvable by FQCN
    (ANSIBLE_COLLECTIONS_PATH)."""
    report = StoryReport(suite=node.suite)

    def step(text: str) -> None:
        report.steps.append(text)
        log(text)

    started = time.monotonic()
    report.setup = node.playbook(SETUP_PLAYBOOK, env=env, extra_vars=extra_vars).assert_ok()
    report.master_pid_before = node.master_pid()
    step(f"1. pre-run, role ci_tools.docker.ci_setup with become: {_stats(report.setup)} "
         f"({time.monotonic() - started:.0f} s); changed: "
         f"{', '.join(report.changed_tasks(report.setup)) or 'nothing'}")

    node.revoke_sudo()
    report.sudo_denied = node.ssh("sudo -n true", check=False).returncode != 0
    step(f"2. sudo revoked: `sudo -n true` as zuul is "
         f"{'denied' if report.sudo_denied else 'STILL ALLOWED'}")

    # The image context goes into zuul's home as root: the run phase has no sudo.
    context = node.rootfs / "home" / "zuul" / "story"
    context.mkdir(parents=True, exist_ok=True)
    (context / "busybox").write_bytes(Path(BUSYBOX).read_bytes())
    (context / "busybox").chmod(0o755)
    node.root_sh("chown -R zuul:zuul /home/zuul/story")

    def build(greeting: str) -> None:
        (context / "Dockerfile").write_text(
            f'FROM scratch\nCOPY busybox /bin/busybox\n'
            f'CMD ["/bin/busybox", "echo", "{greeting}"]\n')
        _as_zuul(node, f"cd story && docker build -q -t {IMAGE} .")

    report.docker_version_as_zuul = _as_zuul(
        node, "docker version --format '{{.Server.Version}}'").strip()
    build("hello from the CI user")
    report.container_output = _as_zuul(
        node, f"docker run --rm --network none {IMAGE}").strip()
    build("hello again")  # the first image loses its tag: dangling
    report.dangling_before = _as_zuul(
        node, "docker images -q --no-trunc --filter dangling=true").split()
    step(f"3. run phase as zuul over the same connection: docker {report.docker_version_as_zuul}"
         f" answers, `docker run` printed {report.container_output!r}, "
         f"{len(report.dangling_before)} dangling image(s) left behind")

    report.cleanup = node.playbook(CLEANUP_PLAYBOOK, env=env, extra_vars=extra_vars).assert_ok()
    prune = report.cleanup.task("Prune unused Docker data")
    report.pruned_images = prune.get("images", [])
    report.space_reclaimed_human = prune.get("space_reclaimed_human", "")
    report.dangling_after = _as_zuul(
        node, "docker images -q --no-trunc --filter dangling=true").split()
    step(f"4. post-run cleanup as zuul: {len(report.pruned_images)} image entries removed, "
         f"{report.space_reclaimed_human} reclaimed; dangling images left: "
         f"{len(report.dangling_after)}")

    node.root_sh("printf 'zuul ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/zuul && "
                 "chmod 0440 /etc/sudoers.d/zuul")
    report.rerun = node.playbook(SETUP_PLAYBOOK, env=env, extra_vars=extra_vars).assert_ok()
    report.master_pid_after = node.master_pid()
    step(f"5. pre-run again: {_stats(report.rerun)}; changed: "
         f"{', '.join(report.changed_tasks(report.rerun)) or 'nothing'}")
    same = (report.master_pid_before is not None
            and report.master_pid_before == report.master_pid_after)
    step(f"   one SSH master connection throughout: {'yes' if same else 'NO'} "
         f"(pid {report.master_pid_before})")
    return report


def main_job(suite: str | None = None) -> int:
    """The README's main job: the story on a disposable node, with the in-tree collection
    (`cargo xtask build` has made build/collections), then a summary. Leaves nothing running."""
    from .lifecycle import install_handlers

    install_handlers()
    suite = suite or os.environ.get("CI_TOOLS_MAIN_JOB_SUITE", "bookworm")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections")}
    with Node(suite) as node:
        print(f"booted {node.name} (ssh 127.0.0.1:{node.port}, user zuul)", flush=True)
        report = run_story(node, env, log=lambda line: print(line, flush=True))
    problems = []
    if not report.sudo_denied:
        problems.append("sudo was not revoked")
    if report.dangling_after:
        problems.append("dangling images survived the cleanup")
    if report.rerun and report.changed_tasks(report.rerun):
        problems.append("the second run changed something")
    print("\nresult: " + ("OK" if not problems else "PROBLEMS: " + "; ".join(problems)))
    return 0 if not problems else 1


if __name__ == "__main__":
    import sys

    sys.exit(main_job(sys.argv[1] if len(sys.argv) > 1 else None))
