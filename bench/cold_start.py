"""Kiosk cold start, side by side: ``python -m kiosk`` from one or more checkouts, interleaved run by run.

Measures process start to the app's own "interactive after" log line (the attract screen's first frame), on a
virtual display, with a broker that has no backend (the app starts offline, as on a first boot). Any checkout with
that log line can be compared, so a refactoring can be measured against the commit before it:
``git worktree add ../before HEAD~3 && python -m bench.cold_start ../before .``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import run_header
from kiosk.virtual_display import VirtualDisplay
from mqtt.brokers import MosquittoBroker

READY = re.compile(r"interactive after ([0-9.]+) s")


class NotReady(RuntimeError):
    """The app exited or stayed silent without drawing its first screen."""


def cold_start(tree: Path, broker_url: str, data_dir: Path, timeout: float = 60.0) -> tuple[float, float]:
    """(wall seconds from process start, seconds the app itself reports) for one start of ``tree``'s kiosk."""
    env = dict(os.environ, PYTHONPATH=str(tree))  # this checkout's packages, not the installed ones
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "--broker", broker_url, "--camera", "-1",
                             "--data-dir", str(data_dir), "--virtual-display", "no", "-v"],
                            cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if match := READY.search(line):
                return time.monotonic() - started, float(match.group(1))
            if time.monotonic() - started > timeout:
                break
        raise NotReady(f"{tree}: no 'interactive after' line")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def describe(values: list[float]) -> str:
    """Median and spread in milliseconds."""
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):.0f} ms (min {ms[0]:.0f}, max {ms[-1]:.0f}, n={len(ms)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", type=Path, help="checkouts to compare (default: this one)")
    parser.add_argument("--runs", type=int, default=9, help="cold starts per checkout")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]
    began = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    display = VirtualDisplay().start() if not os.environ.get("DISPLAY") else None
    broker = MosquittoBroker(workdir=work / "mosquitto").start()
    results: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
    try:
        for tree in trees:  # once each, not counted: fills the page cache for all alike
            cold_start(tree, str(broker.url), work / f"warm-{len(results[tree])}-{tree.name}")
        for run in range(args.runs):
            for tree in trees if run % 2 == 0 else trees[::-1]:  # alternate who goes first
                results[tree].append(cold_start(tree, str(broker.url), work / f"{run}-{trees.index(tree)}"))
    finally:
        broker.stop()
        if display is not None:
            display.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(run_header("bench.cold_start", began))
    print("\n| checkout | process start to first frame | inside the app |\n|---|---|---|")
    for tree, values in results.items():
        print(f"| {tree} | {describe([v[0] for v in values])} | {describe([v[1] for v in values])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
