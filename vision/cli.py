"""Command line: `python -m vision scan PATH...`, `labels`, `backends`, and recognition's `train|evaluate|enrol`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from codes.catalog_csv import CatalogCsvError
from codes.gs1 import Gs1Error, parse_element_string
from codes.measure import MeasureConfig, MeasureError, variable_measure
from codes.qr import DEFAULT_BASE_URL
from codes.scanned import Intent, IntentConfig, intent_to_dict
from codes.urls import IntentValueError
from vision.decode import LIVE_CHAIN, DecodeOptions, Decoder
from vision.decoders import NoBackendError, backend_status
from vision.images import ImageLoadError, is_image_path, load_image
from vision.intents import intent_for_symbol
from vision.labels import LabelError, SheetLayout, make_labels
from vision.recognition.cli import add_subcommands as add_recognition_subcommands
from vision.symbols import Format, Symbol

log = logging.getLogger(__name__)


def _formats(value: str) -> frozenset[Format]:
    try:
        return frozenset(Format(v.strip().upper().replace("-", "_")) for v in value.split(",") if v.strip())
    except ValueError as exc:
        choices = ", ".join(f.value for f in Format)
        raise argparse.ArgumentTypeError(f"unknown format in {value!r} (choose from {choices})") from exc


def _measure(value: str) -> MeasureConfig:
    try:
        return MeasureConfig.from_text(value)
    except MeasureError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree for all subcommands."""
    parser = argparse.ArgumentParser(prog="python -m vision",
                                     description="Aisle vision: barcode/QR scanning, shelf labels, product recognition")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="decode images and print one JSON object per image")
    scan.add_argument("paths", nargs="+", type=Path, help="image files or folders (every image, sorted)")
    scan.add_argument("--formats", type=_formats, help="comma list, e.g. QR_CODE,EAN_13 (default: all)")
    scan.add_argument("--base-url", action="append", help=f"our web origin(s) (default {DEFAULT_BASE_URL})")
    scan.add_argument("--fast", action="store_true", help="only the cheap passes used for live video")
    scan.add_argument("--details", action="store_true", help="add polygon, backend and timing")
    scan.add_argument("--reveal-secrets", action="store_true", help="print badge keys and cart tokens")
    scan.add_argument("--measure", type=_measure, default=MeasureConfig(),
                      help="variable-measure (weighed item) rules, e.g. se or 23:PPPPPPPPVVVV:weight:3 (default: none)")

    labels = sub.add_parser("labels", help="print shelf labels with QR product links (A4 PDF or PNG)")
    labels.add_argument("--catalog", required=True, type=Path, help="products CSV")
    labels.add_argument("--store", required=True, help="store id, e.g. sthlm-city")
    labels.add_argument("--out", required=True, type=Path, help="output .pdf or .png")
    labels.add_argument("--inventory", type=Path, help="inventory CSV (default: inventory.csv beside catalog)")
    labels.add_argument("--stores", type=Path, help="stores CSV (default: stores.csv beside catalog)")
    labels.add_argument("--base-url", default=DEFAULT_BASE_URL, help="web shop origin for the QR links")
    labels.add_argument("--lang", help="label language (default: the store locale's language)")
    labels.add_argument("--sku", action="append", help="only these SKUs (repeatable)")
    labels.add_argument("--columns", type=int, default=2, help="labels across (default 2)")
    labels.add_argument("--rows", type=int, default=6, help="labels down (default 6)")

    sub.add_parser("backends", help="show which decoder libraries are usable")
    add_recognition_subcommands(sub)
    return parser


def iter_images(paths: Sequence[Path]) -> Iterator[Path]:
    """Files as given; folders expanded to their image files in name order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and is_image_path(p))
        else:
            yield path


def scan_entry(path: Path, decoder: Decoder, config: IntentConfig, args: argparse.Namespace) -> dict[str, Any]:
    """The JSON object printed for one image."""
    try:
        image = load_image(path)
    except ImageLoadError as exc:
        return {"path": str(path), "error": str(exc)}
    symbols, trace = decoder.decode_with_trace(image, args.formats)
    out_symbols, intents = [], []
    for s in symbols:
        intent = intent_for_symbol(s, config)
        item: dict[str, Any] = {"format": s.format.value, "text": _redact(s.text, intent, args.reveal_secrets)}
        item["gtin"] = s.gtin
        item.update(_gs1_fields(s, args.measure))
        if args.details:
            item.update(polygon=[list(p) for p in s.polygon], backend=s.backend, variant=s.variant)
        out_symbols.append(item)
        intents.append(intent_to_dict(intent, args.reveal_secrets))
    entry: dict[str, Any] = {"path": str(path), "symbols": out_symbols, "intents": intents}
    if args.details:
        entry["ms"] = round(trace.elapsed_ms, 2)
        entry["stages"] = trace.stages_run
    return entry


def _gs1_fields(symbol: Symbol, measure: MeasureConfig) -> dict[str, Any]:
    """``gs1`` (AI -> value) for a GS1 symbol, ``measure`` for a variable-measure EAN-13; nothing for other codes."""
    out: dict[str, Any] = {}
    if symbol.gs1:
        try:
            out["gs1"] = parse_element_string(symbol.text).as_dict()
        except Gs1Error as exc:
            out["gs1_error"] = str(exc)
    if symbol.gtin is not None and symbol.format in (Format.EAN_13, Format.UPC_A):
        try:
            found = variable_measure(symbol.gtin, measure)
        except MeasureError as exc:
            out["measure_error"] = str(exc)
        else:
            if found is not None:
                out["measure"] = found.to_json()
    return out


def _redact(text: str, intent: Intent, reveal: bool) -> str:
    """Symbol text with a badge key or cart token blanked out, as in the intent."""
    secret = getattr(intent, "key", None) or getattr(intent, "token", None)
    if reveal or not secret:
        return text
    return text.replace(secret, f"<redacted {len(secret)} chars>")


def cmd_scan(args: argparse.Namespace) -> int:
    """Print JSON lines; unreadable files get an error entry and the rest still scan."""
    config = IntentConfig(base_urls=tuple(args.base_url)) if args.base_url else IntentConfig()
    options = DecodeOptions(chain=LIVE_CHAIN) if args.fast else DecodeOptions()
    decoder = Decoder(options=options)
    for path in iter_images(args.paths):
        print(json.dumps(scan_entry(path, decoder, config, args), ensure_ascii=False), flush=True)
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    """Write label sheets and say where."""
    layout = SheetLayout(columns=args.columns, rows=args.rows)
    report = make_labels(
        args.catalog,
        args.store,
        args.out,
        inventory=args.inventory,
        stores=args.stores,
        base_url=args.base_url,
        lang=args.lang,
        skus=args.sku,
        layout=layout,
    )
    files = ", ".join(str(f) for f in report.files)
    print(f"wrote {report.labels} labels on {report.pages} page(s): {files}", file=sys.stderr)
    if report.skipped:
        print(f"skipped {len(report.skipped)} product(s) without a price in {args.store}", file=sys.stderr)
    return 0


def cmd_backends(_: argparse.Namespace) -> int:
    """One line per backend: usable, or why not."""
    for name, reason in backend_status().items():
        print(f"{name}: {'ok' if reason is None else reason}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    recognition = getattr(args, "func", None)  # train, evaluate and enrol dispatch themselves
    verbose = logging.INFO if recognition is not None else logging.DEBUG  # training reports progress at INFO
    level = verbose if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    if args.command == "labels" and (args.columns < 1 or args.rows < 1):
        print("error: --columns and --rows must be at least 1", file=sys.stderr)
        return 2
    if recognition is not None:
        return recognition(args)
    handlers = {"scan": cmd_scan, "labels": cmd_labels, "backends": cmd_backends}
    try:
        return handlers[args.command](args)
    except (LabelError, CatalogCsvError, IntentValueError, NoBackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
