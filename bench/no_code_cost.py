"""What a photo without a code costs: the decoder with the no-code gate on and off, and raw zxing-cpp.

Used by ``bench.scan_bench --no-code-cost``. The three decoders take turns on each image (the order
rotates from image to image), so a change in the machine's speed during the run hits all of them alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision.decode import DecodeOptions, Decoder
from vision.evaluation import NO_CODE_SETS, Read, raw_zxing_reads
from vision.images import ImageLoadError, load_image

GROCERY_LIST = "val.txt"


@dataclass(slots=True)
class CostRow:
    """Times of one decoder on one group of no-code photos, and how many it stopped at the gate."""

    times_ms: list[float] = field(default_factory=list)
    found: int = 0
    gated: int = 0

    @property
    def median_ms(self) -> float:
        """Median ms per image."""
        return statistics.median(self.times_ms) if self.times_ms else 0.0

    @property
    def p95_ms(self) -> float:
        """95th percentile ms per image (nearest rank)."""
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))] if ordered else 0.0


def grocery_sample(root: Path, count: int) -> list[Path]:
    """``count`` photos spread evenly over the Grocery Store Dataset's validation list (no codes, mostly)."""
    lines = [ln.split(",")[0].strip() for ln in (root / GROCERY_LIST).read_text().splitlines() if ln.strip()]
    step = max(1, len(lines) // max(1, count))
    return [root / rel for rel in lines[::step][:count]]


def no_code_groups(barcodes: Path, grocery: Path | None, count: int) -> dict[str, list[Path]]:
    """The photo groups to time: each no-code set under ``barcodes``, plus a grocery sample."""
    groups = {}
    for name in sorted(NO_CODE_SETS):
        folder = barcodes / name
        if folder.is_dir():
            groups[name] = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".txt"))
    if grocery is not None and (grocery / GROCERY_LIST).is_file():
        groups[f"grocery val ({count})"] = grocery_sample(grocery, count)
    return groups


def cost_readers() -> dict[str, Callable[[np.ndarray], tuple[list[Read], bool]]]:
    """Gate on, gate off, raw zxing-cpp; each returns (reads, stopped at the gate)."""
    on, off = Decoder(), Decoder(options=DecodeOptions(gate=False))

    def aisle(decoder: Decoder) -> Callable[[np.ndarray], tuple[list[Read], bool]]:
        def read(pixels: np.ndarray) -> tuple[list[Read], bool]:
            symbols, trace = decoder.decode_with_trace(pixels)
            return [(s.text, s.gtin) for s in symbols], trace.gated

        return read

    return {"aisle gate on": aisle(on), "aisle gate off": aisle(off),
            "zxing-cpp": lambda pixels: (raw_zxing_reads(pixels), False)}


def measure(groups: dict[str, list[Path]], repeat: int = 1) -> dict[tuple[str, str], CostRow]:
    """(group, decoder) -> times; each image's time is the fastest of ``repeat`` interleaved rounds."""
    readers = cost_readers()
    names = list(readers)
    warm = np.full((64, 64), 255, np.uint8)
    for read in readers.values():
        read(warm)
    rows = {(g, n): CostRow() for g in groups for n in names}
    turn = 0
    for group, paths in groups.items():
        for path in paths:
            try:
                pixels = load_image(path)
            except ImageLoadError:
                continue
            best = dict.fromkeys(names, float("inf"))
            outcome: dict[str, tuple[list[Read], bool]] = {}
            for _ in range(max(1, repeat)):
                turn += 1
                for name in names[turn % len(names):] + names[: turn % len(names)]:
                    t0 = time.perf_counter()
                    got = readers[name](pixels)
                    best[name] = min(best[name], (time.perf_counter() - t0) * 1000)
                    outcome.setdefault(name, got)
            for name in names:
                row = rows[(group, name)]
                row.times_ms.append(best[name])
                row.found += bool(outcome[name][0])
                row.gated += outcome[name][1]
    return rows


def report(rows: dict[tuple[str, str], CostRow], markdown: bool) -> list[str]:
    """The section's lines: per group and decoder, median/p95 ms, x raw zxing-cpp, stopped at the gate."""
    header = ("no-code photos", "images", "decoder", "median ms", "p95 ms", "x zxing median", "gated", "found")
    lines = []
    if markdown:
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    else:
        lines.append(f"{header[0]:<22}{header[1]:>7}  {header[2]:<16}{header[3]:>10}{header[4]:>9}"
                     f"{header[5]:>16}{header[6]:>7}{header[7]:>7}")
    for (group, name), row in rows.items():
        base = rows[(group, "zxing-cpp")].median_ms
        ratio = f"{row.median_ms / base:.1f}x" if base else "-"
        cells = (group, len(row.times_ms), name, f"{row.median_ms:.1f}", f"{row.p95_ms:.1f}", ratio,
                 row.gated, row.found)
        if markdown:
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        else:
            lines.append(f"{cells[0]:<22}{cells[1]:>7}  {cells[2]:<16}{cells[3]:>10}{cells[4]:>9}{cells[5]:>16}"
                         f"{cells[6]:>7}{cells[7]:>7}")
    return lines
