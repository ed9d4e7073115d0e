"""Section 5: the whole ci_setup role on a fresh bookworm node, cold and again (idempotent),
against a plain playbook of builtin modules that does the same job, each on its own fresh
node. Wall time of the whole ansible-playbook run (start-up included), over SSH with
ControlPersist, pipelining off (Ansible's default). Both install docker.io (apt-get update
first when the package lists are older than an hour: the node's lists come from the cached
root, so both refresh them from the Debian mirror), give the socket to zuul's primary group
with a systemd drop-in, restart what needs it and check as zuul, over the play's own
connection, that the Docker API answers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import Artifacts, PlaybookRun, log, playbook

OURS = """\
- name: ci_setup role (ci_tools.docker)
  hosts: all
  gather_facts: false
  roles:
    - role: ci_tools.docker.ci_setup
"""

BUILTIN = """\
- name: The same job with builtin modules
  hosts: all
  gather_facts: false
  tasks:
    - name: Install docker.io
      become: true
      ansible.builtin.apt:
        name: docker.io
        state: present
        update_cache: true
        cache_valid_time: 3600

    - name: Start Docker
      become: true
      ansible.builtin.systemd_service:
        name: docker.service
        state: started
        enabled: true

    - name: Drop-in directory for docker.socket
      become: true
      ansible.builtin.file:
        path: /etc/systemd/system/docker.socket.d
        state: directory
        mode: "0755"

    - name: Give the Docker socket to the CI user's primary group
      become: true
      ansible.builtin.copy:
        dest: /etc/systemd/system/docker.socket.d/socket-group.conf
        content: |
          [Socket]
          SocketGroup={{ ansible_user }}
          SocketMode=0660
        mode: "0644"
      notify: restart docker socket

    - name: Restart now if the socket changed
      ansible.builtin.meta: flush_handlers

    - name: Ask the Docker API for its version as the CI user
      ansible.builtin.uri:
        url: http://localhost/version
        unix_socket: /run/docker.sock
        return_content: true

  handlers:
    # A socket unit cannot restart while its service runs: stop, reload, start.
    - name: Stop docker.service
      become: true
      ansible.builtin.systemd_service:
        name: docker.service
        state: stopped
      listen: restart docker socket

    - name: Restart docker.socket with the drop-in
      become: true
      ansible.builtin.systemd_service:
        name: docker.socket
        state: restarted
        daemon_reload: true
      listen: restart docker socket

    - name: Start docker.service
      become: true
      ansible.builtin.systemd_service:
        name: docker.service
        state: started
      listen: restart docker socket
"""

PING = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"/run/docker.sock\"); "
        "s.sendall(b\"GET /_ping HTTP/1.0\\r\\n\\r\\n\"); d = b\"\"\n"
        "while (c := s.recv(4096)): d += c\n"
        "print(d.split(b\"\\r\\n\\r\\n\", 1)[1].decode())")

VARIANTS = [("ours", "ci_tools.docker.ci_setup role", OURS),
            ("builtin", "builtin modules (apt, systemd_service, file, copy, handlers, uri)", BUILTIN)]


def _summary(run: PlaybookRun) -> dict[str, Any]:
    return {
        "wall": run.wall, "recap": run.recap(), "changed": len(run.changed()),
        "tasks": [{"name": t["name"], "action": t["action"], "changed": t["changed"],
                   "cache_updated": t.get("cache_updated"),
                   "seconds": ((t["end"] or t["start"]) - t["start"]) / 1e9} for t in run.tasks],
    }


def one(variant: str, book: str, art: Artifacts, workdir: Path) -> dict[str, Any]:
    from tests.harness import Node

    node = Node("bookworm")
    try:
        node.boot()
        env = {"ANSIBLE_COLLECTIONS_PATH": art.collections_path}
        # Open the ControlPersist master first, as a CI executor has it before the job's
        # playbooks run: the cold run then measures the job, not the ssh login.
        node.ssh("true", check=True)
        cold = playbook(book, node.inventory, workdir / f"{variant}-{node.id}", env=env, timeout=1800)
        # Did the cold run refresh the package lists (apt-get update, from the mirror)?
        refreshed = any(t.get("cache_updated") for t in cold.tasks)
        warm = playbook(book, node.inventory, workdir / f"{variant}-{node.id}", env=env)
        # zuul, over the same (pre-Docker) connection, without sudo: GET /_ping answers OK?
        reach = node.ssh("python3 -c '" + PING + "'")
        return {"variant": variant, "node": node.name, "cold": _summary(cold), "warm": _summary(warm),
                "zuul_ping": reach.stdout.strip(), "lists_refreshed": refreshed}
    finally:
        node.stop()


def run(art: Artifacts, workdir: Path, *, reps: int) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {v: [] for v, _, _ in VARIANTS}
    for rep in range(reps):
        order = VARIANTS if rep % 2 == 0 else list(reversed(VARIANTS))
        for variant, _, book in order:
            log(f"role: {variant}, fresh node, cold then warm (rep {rep + 1}/{reps})")
            res = one(variant, book, art, workdir)
            log(f"  cold {res['cold']['wall']:.1f} s ({res['cold']['changed']} changed), "
                f"warm {res['warm']['wall']:.1f} s ({res['warm']['changed']} changed)")
            results[variant].append(res)
    return {"reps": reps, "variants": [{"key": v, "label": label} for v, label, _ in VARIANTS],
            "results": results, "builtin_playbook": BUILTIN, "ours_playbook": OURS}
