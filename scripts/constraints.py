#!/usr/bin/env python3
"""Write constraints.txt: the exact versions installed in this venv of everything `aisle[dev]` pulls in.

Run after changing a dependency in pyproject.toml and installing it: `.venv/bin/python scripts/constraints.py`.
Only the project's dependency closure is written (no tools installed by hand, no `-e` line); the [train] extra pins
its own versions in pyproject.toml and is left out.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "aisle"
INSTALLER = {"pip", "setuptools", "wheel"}  # the venv's own installer, not pinned
HEADER = "# Exact versions for `pip install -c constraints.txt -e '.[ROLE]'`; regenerate with scripts/constraints.py.\n"


def closure(project: str, extras: set[str]) -> dict[str, str]:
    """Installed name -> version of every distribution `project[extras]` needs, the project itself excluded."""
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(project, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in seen:
            continue
        seen.add((canonicalize_name(name), wanted))
        dist = metadata.distribution(name)
        if canonicalize_name(name) not in INSTALLER | {PROJECT}:
            found[dist.metadata["Name"]] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            # An extra's requirement counts when any wanted extra selects it; plain ones when their marker holds.
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in wanted or {""}):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return found


def main() -> int:
    """Write constraints.txt."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "constraints.txt")
    parser.add_argument("--extra", action="append", default=None, help="extras to pin (default: dev)")
    args = parser.parse_args()
    pins = closure(PROJECT, set(args.extra or ["dev"]))
    lines = [f"{name}=={version}" for name, version in sorted(pins.items(), key=lambda kv: kv[0].lower())]
    args.out.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} pins to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
