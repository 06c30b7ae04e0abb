"""Recognition latency benchmark: the committed .tflite model on the shared grocery val photos.

Run: .venv/bin/python -m bench.recognition_bench --data GROCERY [--threads 1,2] [--repeat 3] [--markdown]
Per thread count: model-only invoke time and the full recognise call (centre crop, resize, invoke, projection,
ranking against the 81-product gallery) per photo, and what the projection adds on its own. Decoding the JPEG is not
timed. Each photo is timed `repeat` times and the fastest counts, because other work shares the two cores; the plain
median of all runs is printed too.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from bench.common import add_data_argument, cpu_model
from vision.datasets import GROCERY_ENV
from vision.recognition.dataset import read_list
from vision.recognition.images import model_input, read_image_bgr
from vision.recognition.projection import inverse, network_space, project
from vision.recognition.recognizer import DEFAULT_GALLERY, DEFAULT_MODEL, Recognizer


def bench(threads: int, frames: list[np.ndarray], repeat: int) -> dict[str, float]:
    """Fastest-of-repeat and plain medians (ms) for model-only and full recognise calls."""
    rec = Recognizer.open(DEFAULT_MODEL, DEFAULT_GALLERY, threads=threads)
    inputs = [model_input(f, rec.model.input_size) for f in frames]
    for x in inputs[:10]:  # warm-up: XNNPACK packs weights on first invoke
        rec.model.embed(x)
    model_runs = np.zeros((len(frames), repeat))
    full_runs = np.zeros((len(frames), repeat))
    for r in range(repeat):
        for i, (frame, x) in enumerate(zip(frames, inputs, strict=True)):
            t0 = time.perf_counter()
            rec.model.embed(x)
            t1 = time.perf_counter()
            rec.recognize(frame)
            t2 = time.perf_counter()
            model_runs[i, r], full_runs[i, r] = (t1 - t0) * 1000, (t2 - t1) * 1000
    return {
        "projection_us": _projection_us(rec),
        "model_best": float(np.median(model_runs.min(axis=1))),
        "model_all": float(np.median(model_runs)),
        "full_best": float(np.median(full_runs.min(axis=1))),
        "full_all": float(np.median(full_runs)),
        "full_p90": float(np.percentile(full_runs.min(axis=1), 90)),
        "input": rec.model.input_size,
    }


def _projection_us(rec: Recognizer, rounds: int = 2000) -> float:
    """Median µs of what the projection adds to a recognise call: mapping the embedding and the unknown gate."""
    if rec.projection is None:
        return 0.0
    rng = np.random.default_rng(0)
    network = rng.normal(size=rec.model.embed_dim).astype(np.float32)
    network /= np.linalg.norm(network)
    snap = rec.gallery.snapshot()
    gate_prototypes = network_space(snap.prototypes, inverse(rec.projection))
    runs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        project(network, rec.projection)
        gate_prototypes @ network
        runs.append((time.perf_counter() - t0) * 1e6)
    return float(np.median(runs))


def main() -> int:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser, GROCERY_ENV, "grocery dataset folder")
    parser.add_argument("--threads", default="1,2", help="comma list of interpreter thread counts")
    parser.add_argument("--repeat", type=int, default=3, help="timings per photo (fastest counts)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N val photos")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    if not (args.data / "val.txt").is_file():
        print(f"no grocery data at {args.data}", file=sys.stderr)
        return 2
    samples = read_list(args.data, args.data / "val.txt")
    if args.limit:
        samples = samples[: args.limit]
    frames = [read_image_bgr(s.path) for s in samples]
    size_mb = DEFAULT_MODEL.stat().st_size / 1e6
    print(f"Machine: {os.cpu_count()} cores, {platform.machine()}, CPU \"{cpu_model()}\", Python "
          f"{platform.python_version()}. Date: {datetime.datetime.now(datetime.UTC):%a %b %d %H:%M UTC %Y}.")
    print(f"Model {DEFAULT_MODEL.name}: {size_mb:.2f} MB; {len(frames)} val photos, fastest of {args.repeat}.")
    rows = [(t, bench(t, frames, args.repeat)) for t in (int(v) for v in args.threads.split(","))]
    if args.markdown:
        print("\n| threads | input px | model ms (median) | recognise ms (median) | recognise p90 | "
              "recognise ms, all runs | projection µs |")
        print("|---|---|---|---|---|---|---|")
        for t, r in rows:
            print(f"| {t} | {r['input']} | {r['model_best']:.2f} | {r['full_best']:.2f} | {r['full_p90']:.2f} | "
                  f"{r['full_all']:.2f} | {r['projection_us']:.0f} |")
    else:
        for t, r in rows:
            print(f"threads={t} input={r['input']} model_ms={r['model_best']:.2f} recognise_ms={r['full_best']:.2f} "
                  f"p90={r['full_p90']:.2f} all_runs_ms={r['full_all']:.2f} projection_us={r['projection_us']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
