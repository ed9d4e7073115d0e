"""On-disk registry of live harness resources (nodes, private dockerds).

Every resource writes a JSON record under REGISTRY_DIR when it starts and
removes it when it is torn down.  If the test process dies hard (SIGKILL,
OOM, CI timeout) the records survive, and `python -m tests.harness.cleanup`
uses them to kill what is left and remove the scratch directories.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .util import REGISTRY_DIR, ensure_dir


def record_path(kind: str, ident: str) -> Path:
    return REGISTRY_DIR / f"{kind}-{ident}.json"


def register(kind: str, ident: str, **data: Any) -> Path:
    ensure_dir(REGISTRY_DIR)
    path = record_path(kind, ident)
    data = {"kind": kind, "id": ident, "owner_pid": os.getpid(), **data}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)  # readers never see a half-written record
    return path


def update(kind: str, ident: str, **data: Any) -> None:
    path = record_path(kind, ident)
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(data)
    register(kind, ident, **{k: v for k, v in current.items() if k not in ("kind", "id", "owner_pid")})


def unregister(kind: str, ident: str) -> None:
    record_path(kind, ident).unlink(missing_ok=True)


def entries() -> list[dict[str, Any]]:
    if not REGISTRY_DIR.is_dir():
        return []
    out = []
    for path in sorted(REGISTRY_DIR.glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out
