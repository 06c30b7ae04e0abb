"""Scanning benchmark: Aisle's combined decoder vs raw zxing-cpp vs raw pyzbar on labelled photos.

Run: .venv/bin/python -m bench.scan_bench --data DIR [--sets a,b] [--markdown]
     [--no-code-cost --grocery DIR]  (adds the no-code gate off, and the no-code cost section)
     [--gs1-data DIR] [--generated]  (adds the GS1 sets, and generated GS1 symbols with photo distortions)
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
from bench.no_code_cost import measure, no_code_groups, report
from vision.datasets import BARCODES_ENV, BARCODES_GS1_ENV, GROCERY_ENV, from_env
from vision.decode import DecodeOptions, Decoder, DecodeTrace
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
from vision.synthetic import generated_set


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
    parser.add_argument("--no-code-cost", action="store_true",
                        help="add the decoder with its no-code gate off, and time photos without a code: "
                             "gate on vs off vs raw zxing-cpp, interleaved")
    parser.add_argument("--grocery", type=Path, default=from_env(GROCERY_ENV),
                        help=f"Grocery Store Dataset folder for --no-code-cost (default: ${GROCERY_ENV})")
    parser.add_argument("--grocery-sample", type=int, default=100, help="grocery photos to time (default 100)")
    parser.add_argument("--gs1-data", type=Path, default=from_env(BARCODES_GS1_ENV),
                        help=f"also the GS1 set folders (DataMatrix, DataBar, ITF...) (default: ${BARCODES_GS1_ENV})")
    parser.add_argument("--generated", action="store_true",
                        help="also GS1 symbols made by zxing-cpp's writer, blurred, tilted, noisy and JPEG-compressed")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    wanted = args.sets.split(",") if args.sets else None
    samples = load_samples(args.data, wanted)
    if args.gs1_data is not None:
        if not args.gs1_data.is_dir():
            print(f"no GS1 data at {args.gs1_data}", file=sys.stderr)
            return 2
        samples.update(load_samples(args.gs1_data, wanted))
    generated_pixels: dict[Path, np.ndarray] = {}
    if args.generated:
        generated, generated_pixels = generated_set()
        samples[generated[0].set_name] = generated
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
    if args.no_code_cost:
        no_gate = Decoder(options=DecodeOptions(gate=False))
        readers["aisle-nogate"] = lambda pixels: [(s.text, s.gtin) for s in no_gate.decode(pixels)]
    if args.live:
        live = live_decoder()
        readers["aisle-live"] = lambda pixels: [(s.text, s.gtin) for s in live.decode(pixels)]
    cache: dict[Path, np.ndarray] = dict(generated_pixels)
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
    if args.no_code_cost:
        print(f"# no-code cost: gate on vs off vs raw zxing-cpp, taking turns per image, fastest of {args.repeat}")
        groups = no_code_groups(args.data, args.grocery, args.grocery_sample)
        print("\n".join(report(measure(groups, args.repeat), args.markdown)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
