"""Scanning benchmark: Aisle's combined decoder vs raw zxing-cpp vs raw pyzbar on labelled photos.

Run: .venv/bin/python -m bench.scan_bench --data DIR [--sets a,b] [--markdown]
Prints, per photo set and decoder: correct reads, misreads (a returned code that is not the
label), false positives (anything returned for a photo without a code), median and p95 ms/image.
Image loading is not timed; every decoder sees the same decoded pixels.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import add_data_argument, cpu_model
from vision.datasets import BARCODES_ENV
from vision.decode import Decoder, DecodeTrace
from vision.evaluation import (
    LABEL_ERRATA,
    Read,
    SetScore,
    load_samples,
    raw_pyzbar_reads,
    raw_zxing_reads,
    score_set,
)
from vision.scanner import live_decoder


def versions() -> str:
    """Library versions that decide the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for dist in ("zxing-cpp", "pyzbar", "opencv-python-headless", "numpy"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist} missing")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run all decoders over all sets and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser, BARCODES_ENV, "folder of labelled set folders")
    parser.add_argument("--sets", help="comma-separated set names (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--live", action="store_true",
                        help="add the live-video decoder (first pass + fallbacks within a 60 ms budget)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each image N times and keep the fastest (steadier on a busy machine)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    samples = load_samples(args.data, args.sets.split(",") if args.sets else None)
    decoder = Decoder()
    traces: list[DecodeTrace] = []

    def aisle(pixels: np.ndarray) -> list[Read]:
        symbols, trace = decoder.decode_with_trace(pixels)
        traces.append(trace)
        return [(s.text, s.gtin) for s in symbols]

    readers: dict[str, Callable[[np.ndarray], list[Read]]] = {
        "aisle": aisle,
        "zxing-cpp": raw_zxing_reads,
        "pyzbar": raw_pyzbar_reads,
    }
    if args.live:
        live = live_decoder()
        readers["aisle-live"] = lambda pixels: [(s.text, s.gtin) for s in live.decode(pixels)]
    cache: dict[Path, np.ndarray] = {}
    # Warm up imports and library initialisation outside the timed loop.
    warm = np.full((64, 64), 255, np.uint8)
    for read in readers.values():
        read(warm)
    traces.clear()

    rows: list[tuple[str, int, str, SetScore]] = []
    totals = {name: SetScore("all") for name in readers}
    for set_name, set_samples in samples.items():
        for name, read in readers.items():
            score = score_set(set_name, set_samples, read, cache, args.repeat)
            rows.append((set_name, score.images, name, score))
            total = totals[name]
            total.images += score.images
            total.correct += score.correct
            total.misread += score.misread
            total.false_positive += score.false_positive
            total.times_ms += score.times_ms
    for name, total in totals.items():
        rows.append(("all", total.images, name, total))

    print(f"# {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} | {platform.machine()} | {cpu_model()} | "
          f"{os.cpu_count()} cores | Python {platform.python_version()}")
    print(f"# {versions()}")
    print(f"# label errata applied: {', '.join(f'{s}/{n}' for s, n in LABEL_ERRATA)}; "
          f"times: fastest of {args.repeat} run(s) per image, image loading excluded")
    header = ("set", "images", "decoder", "correct", "misread", "false pos", "median ms", "p95 ms")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
    else:
        print(f"{header[0]:<17}{header[1]:>7}  {header[2]:<11}{header[3]:>8}{header[4]:>8}{header[5]:>10}"
              f"{header[6]:>11}{header[7]:>9}")
    for set_name, images, name, s in rows:
        cells = (set_name, images, name, s.correct, s.misread, s.false_positive,
                 f"{s.median_ms:.1f}", f"{s.p95_ms:.1f}")
        if args.markdown:
            print("| " + " | ".join(str(c) for c in cells) + " |")
        else:
            print(f"{cells[0]:<17}{cells[1]:>7}  {cells[2]:<11}{cells[3]:>8}{cells[4]:>8}{cells[5]:>10}"
                  f"{cells[6]:>11}{cells[7]:>9}")
    coded = traces[:: max(1, args.repeat)]
    if coded:
        print(f"# aisle decoder: mean {statistics.mean(t.stages_run for t in coded):.1f} decoder passes per image, "
              f"{sum(1 for t in coded if t.stages_run <= 2)} of {len(coded)} images done in the first pass")
    for set_name, _, name, s in rows:
        if name == "aisle" and set_name != "all":
            for failure in s.failures:
                print(f"#   {set_name}/{failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
