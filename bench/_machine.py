"""What machine a benchmark ran on, for the records in docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_header(script: str, started: datetime) -> str:
    """When and how a benchmark ran, and on what: the first lines of its record in docs/benchmarks.md."""
    finished = datetime.now(UTC)
    command = f"`.venv/bin/python bench/{script} {' '.join(sys.argv[1:])}`".replace(" `", "`")
    return (f"{finished:%a %b %d %H:%M} UTC {finished.year} (run {started:%H:%M}–{finished:%H:%M}), {command}\n"
            f"Machine: `uname -m` {platform.machine()}, CPU \"{cpu_model()}\", `nproc` {os.cpu_count()}")
