"""Fixtures for tests that run the collection's modules through real ansible-core."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from moduletools import RELEASE_DIR, REPO, venv_bin


@dataclass
class Built:
    """The build's outputs: shipped binaries under plugins/modules, test-only ones in target/."""
    plugins_dir: Path
    release_dir: Path

    def binary(self, name: str) -> Path:
        path = self.release_dir / name
        assert path.is_file(), f"{path} is missing; run `cargo xtask build`"
        return path


@pytest.fixture(scope="session")
def built() -> Built:
    """Builds the static module binaries once per session (a no-op when up to date)."""
    subprocess.run(["cargo", "xtask", "build"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    return Built(plugins_dir=REPO / "plugins" / "modules", release_dir=RELEASE_DIR)


@pytest.fixture(scope="session")
def example_library(built: Built, tmp_path_factory) -> Path:
    """A module library dir (ANSIBLE_LIBRARY) holding only the test-only example module."""
    library = tmp_path_factory.mktemp("library")
    shutil.copy2(built.binary("example"), library / "example")
    return library


@pytest.fixture(scope="session")
def collection_tarball(built: Built, tmp_path_factory) -> Path:
    """`ansible-galaxy collection build` of the repository, as a release would do it."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([str(venv_bin("ansible-galaxy")), "collection", "build", "--force",
                    "--output-path", str(out), str(REPO)], check=True,
                   stdout=subprocess.DEVNULL)
    [tarball] = out.glob("ci_tools-docker-*.tar.gz")
    return tarball


@pytest.fixture(scope="session")
def installed_collection(collection_tarball: Path, tmp_path_factory) -> Path:
    """The tarball installed with `ansible-galaxy collection install`; the returned dir is
    what ANSIBLE_COLLECTIONS_PATH must point at."""
    path = tmp_path_factory.mktemp("collections")
    subprocess.run([str(venv_bin("ansible-galaxy")), "collection", "install", "--force",
                    "-p", str(path), str(collection_tarball)], check=True,
                   stdout=subprocess.DEVNULL)
    return path
