"""Remove harness leftovers: `python -m tests.harness.cleanup [--force] [--purge-cache]`.

Run from the repository root. Without options it removes what crashed test
runs left behind (registered nodes and private dockerds whose owner process
is gone, unfinished root builds). --force also takes resources of test
processes that are still running. --purge-cache deletes the cached roots and
apt archives too (the next run rebuilds them).
"""
from __future__ import annotations

import argparse
import sys

from .lifecycle import cleanup_records, cleanup_stale
from .util import CACHE_DIR, WORK_DIR, remove_tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.cleanup", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true",
                        help="also clean resources owned by running processes")
    parser.add_argument("--purge-cache", action="store_true",
                        help=f"also delete {CACHE_DIR} (cached roots, apt archives)")
    args = parser.parse_args(argv)

    done = cleanup_records(include_live_owners=True) if args.force else []
    done += cleanup_stale()
    if args.purge_cache:
        remove_tree(CACHE_DIR)
        done.append(f"cache {CACHE_DIR}")
    if args.force and WORK_DIR.is_dir():
        # Scratch copies with no record (e.g. killed between mkdtemp and register).
        for leftover in WORK_DIR.iterdir():
            remove_tree(leftover)
            done.append(f"scratch {leftover}")
    for line in done:
        print(f"removed {line}")
    if not done:
        print("nothing to clean up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
