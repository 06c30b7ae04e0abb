"""Subcommands `train`, `evaluate` and `enrol` (for `python -m vision` via add_subcommands, or on their own)."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from vision.datasets import GROCERY_ENV, from_env
from vision.recognition.catalog import DEMO_CATALOG, read_vision_products
from vision.recognition.dataset import default_classes_csv, read_classes, read_list, resolve_list
from vision.recognition.errors import RecognitionError
from vision.recognition.recognizer import DEFAULT_GALLERY, DEFAULT_MODEL, Recognizer

log = logging.getLogger(__name__)

TRAIN_HINT = "training needs the optional extra: pip install -e '.[train]'"


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register train, evaluate and enrol; each parser's `func` takes the args and returns an exit code."""
    train = subparsers.add_parser("train", help="train the product embedding model and export .tflite + gallery")
    train.add_argument("--data", type=Path, default=from_env(GROCERY_ENV),
                       help=f"dataset folder with train.txt, val.txt, classes.csv (default: ${GROCERY_ENV})")
    train.add_argument("--out", type=Path, required=True, help="output folder for model, gallery and metadata")
    train.add_argument("--catalogue", type=Path, default=DEMO_CATALOG, help="products CSV with vision_label")
    train.add_argument("--epochs", type=int, help="override the number of epochs (default: the committed recipe)")
    train.add_argument("--sizes", type=_sizes, help="progressive-resizing crop sizes, e.g. 96,112,128 (default: the "
                       "committed recipe)")
    train.add_argument("--threads", type=int, default=2, help="CPU threads for training (default 2)")
    train.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    train.add_argument("--holdout", type=int, default=0, help="few-shot check: leave N classes out of training and "
                       "enrol them from --shots photos each")
    train.add_argument("--shots", type=int, default=5, help="photos per held-out class (default 5)")
    train.add_argument("--cache-dir", type=Path, help="where decoded training images are cached")
    train.add_argument("--gallery-only", action="store_true", help="keep the model in --out; only rebuild the "
                       "gallery, calibration and metrics (e.g. after catalogue changes)")
    train.set_defaults(func=cmd_train)

    evaluate = subparsers.add_parser("evaluate", help="top-1/top-5 accuracy of the recogniser on a dataset list")
    evaluate.add_argument("--root", type=Path, required=True, help="folder the listed image paths are relative to")
    evaluate.add_argument("--list", required=True, help="list file (path, or a name inside --root)")
    evaluate.add_argument("--classes", type=Path, help=f"classes.csv (default: in --root, else in ${GROCERY_ENV})")
    _add_model_args(evaluate)
    evaluate.add_argument("--catalogue", type=Path, default=DEMO_CATALOG, help="products CSV with vision_label")
    evaluate.add_argument("--limit", type=int, help="only the first N images")
    evaluate.add_argument("--json", action="store_true", help="also print the report as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    enrol = subparsers.add_parser("enrol", help="teach (or update/remove) a product from a few photos")
    enrol.add_argument("--data-dir", type=Path, required=True, help="device data folder holding the gallery")
    enrol.add_argument("--sku", required=True, help="product SKU")
    enrol.add_argument("--label", help="display name (default: the SKU)")
    enrol.add_argument("photos", nargs="*", type=Path, help="photos of the product")
    enrol.add_argument("--replace", action="store_true", help="forget the product's earlier photos first")
    enrol.add_argument("--remove", action="store_true", help="remove the product instead")
    enrol.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="embedding model .tflite")
    enrol.add_argument("--seed-gallery", type=Path, default=DEFAULT_GALLERY,
                       help="gallery copied into --data-dir on first use")
    enrol.set_defaults(func=cmd_enrol)


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="embedding model .tflite")
    parser.add_argument("--gallery", type=Path, default=DEFAULT_GALLERY, help="gallery .npz")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--backend", help="interpreter backend: litert or tflite-runtime (default: first usable)")


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn recognition and file errors into a message and exit code 1, whichever CLI dispatches."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (RecognitionError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def _sizes(text: str) -> tuple[int, ...]:
    """Parse "96,112,128" into increasing crop sizes."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 96,112,128, got {text!r}") from None
    if not sizes or any(not 32 <= s <= 512 for s in sizes) or list(sizes) != sorted(sizes):
        raise argparse.ArgumentTypeError(f"sizes must be increasing, each 32..512, got {text!r}")
    return sizes


@_guarded
def cmd_train(args: argparse.Namespace) -> int:
    """Run the training pipeline and print its headline metrics."""
    try:
        from vision.recognition.training.pipeline import PipelineConfig, run
    except ImportError as exc:
        print(f"error: {TRAIN_HINT} ({exc})", file=sys.stderr)
        return 2
    kwargs = {"cache_dir": args.cache_dir} if args.cache_dir else {}
    cfg = PipelineConfig(data=args.data, out=args.out, catalogue=args.catalogue, threads=args.threads,
                         holdout=args.holdout, shots=args.shots, epochs=args.epochs, seed=args.seed,
                         train_sizes=args.sizes, gallery_only=args.gallery_only, **kwargs)
    try:
        meta = run(cfg)
    except ModuleNotFoundError as exc:
        if exc.name not in ("tensorflow", "keras"):
            raise
        print(f"error: {TRAIN_HINT} ({exc})", file=sys.stderr)
        return 2
    metrics = meta["metrics"]
    print(json.dumps(metrics, indent=2))
    print(f"top1={metrics['val_top1']:.4f} top5={metrics['val_top5']:.4f} "
          f"seconds={meta['training'].get('total_seconds')}")
    return 0


@_guarded
def cmd_evaluate(args: argparse.Namespace) -> int:
    """Recognise every listed image and print the accuracy report."""
    from vision.recognition.evaluate import evaluate

    classes = read_classes(args.classes or default_classes_csv(args.root))
    samples = read_list(args.root, resolve_list(args.root, args.list), len(classes))
    if args.limit:
        samples = samples[: args.limit]
    recognizer = Recognizer.open(args.model, args.gallery, threads=args.threads, backend=args.backend)
    report = evaluate(recognizer, samples, classes, read_vision_products(args.catalogue))
    if args.json:
        print(json.dumps(report.to_dict()))
    print("\n".join(report.lines()))
    return 0


@_guarded
def cmd_enrol(args: argparse.Namespace) -> int:
    """Enrol, update or remove one product in the device gallery."""
    recognizer = Recognizer.open(args.model, args.seed_gallery, data_dir=args.data_dir)
    if args.remove:
        removed = recognizer.remove(args.sku)
        print(f"{args.sku}: {'removed' if removed else 'was not enrolled'}")
        return 0 if removed else 1
    if not args.photos:
        print("error: give at least one photo (or --remove)", file=sys.stderr)
        return 2
    count = recognizer.enrol(args.sku, args.photos, label=args.label, replace=args.replace)
    print(f"{args.sku}: enrolled from {count} view(s); gallery has {len(recognizer.gallery)} products")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Stand-alone parser for `python -m vision.recognition`."""
    parser = argparse.ArgumentParser(prog="python -m vision.recognition", description="Aisle product recognition")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)
