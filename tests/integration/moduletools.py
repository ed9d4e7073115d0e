"""Paths and helpers shared by the module integration tests."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = "x86_64-unknown-linux-musl"
RELEASE_DIR = REPO / "target" / TARGET / "release"
# Debian bookworm's packaged ansible-core 2.14: the oldest release the collection supports.
DEBIAN_ANSIBLE_BIN = Path("/usr/bin")


def venv_bin(tool: str) -> Path:
    return REPO / ".venv" / "bin" / tool


def ansible_bins() -> list[Path]:
    """The ansible-core installations to test against: the pinned one and Debian's."""
    bins = [REPO / ".venv" / "bin"]
    if (DEBIAN_ANSIBLE_BIN / "ansible").exists():
        bins.append(DEBIAN_ANSIBLE_BIN)
    return bins


def core_version(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "ansible"), "--version"], capture_output=True,
                         text=True, check=True, env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    # "ansible [core 2.19.14]"
    return out.stdout.split("core ", 1)[1].split("]", 1)[0]
