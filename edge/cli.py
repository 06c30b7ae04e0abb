"""Terminal client of a store: ``python -m edge lookup`` and ``python -m edge watch``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codes import qr, scanned
from codes.ids import InvalidIdentifier
from codes.urls import IntentValueError
from edge.cache import CacheError
from edge.device import Edge, StockView
from edge.settings import DeviceSettings
from mqtt.client import ConnectError
from mqtt.payloads import DeviceRole
from mqtt.url import BrokerUrlError, parse_broker_url

log = logging.getLogger("edge")

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def default_cache_dir() -> Path:
    """Where look-ups keep their cache: ``$XDG_CACHE_HOME/aisle`` or ``~/.cache/aisle``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aisle"


def cache_path(args: argparse.Namespace) -> Path:
    """The cache file of this store on this broker (one per broker: their seq numbers are unrelated)."""
    if args.cache:
        path = Path(args.cache)
        return path / f"edge-{args.store}.db" if path.is_dir() else path
    url = parse_broker_url(args.broker)
    broker = re.sub(r"[^A-Za-z0-9.-]", "_", f"{url.host}-{url.port}")
    return default_cache_dir() / f"edge-{args.store}@{broker}.db"


def device_settings(args: argparse.Namespace) -> DeviceSettings:
    """This terminal as a store device: a tool with its cache per store and broker."""
    path = cache_path(args)
    config = scanned.IntentConfig(tuple(args.base_urls)) if args.base_urls else scanned.DEFAULT_CONFIG
    return DeviceSettings(parse_broker_url(args.broker), args.store, args.device, path.parent, DeviceRole.TOOL,
                          locale=getattr(args, "locale", None), code_config=config, cache_file=path)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m edge``."""
    parser = argparse.ArgumentParser(prog="python -m edge", description="Aisle store device in a terminal")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the client does")
    sub = parser.add_subparsers(dest="command", required=True)
    lookup = sub.add_parser("lookup", help="print a product with its live stock as JSON")
    _common(lookup)
    lookup.add_argument("--nearby", action="store_true", help="also the stock in the chain's other stores")
    lookup.add_argument("--locale", help="language of the product name (default: the store's)")
    lookup.add_argument("code", help="a SKU, a GTIN in any form (EAN-13, UPC-A, EAN-8, GTIN-14), or a QR text")
    watch = sub.add_parser("watch", help="print stock changes as they arrive, one JSON line each")
    _common(watch)
    watch.add_argument("--initial", action="store_true", help="first print the current stock of every product")
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", default=DEFAULT_BROKER, help=f"mqtt:// or mqtts:// URL (default {DEFAULT_BROKER})")
    parser.add_argument("--store", required=True, help="store id, e.g. sthlm-city")
    parser.add_argument("--device", default="edge-cli", help="device id to connect as")
    parser.add_argument("--cache", help=f"cache file or directory (default {default_cache_dir()})")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker and its data")
    parser.add_argument("--base-url", action="append", dest="base_urls",
                        help=f"origin of shelf QR links (repeatable; default {qr.DEFAULT_BASE_URL})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (1: unknown code, 2: broker or set-up problem)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        edge = Edge.for_device(device_settings(args), connect_timeout=args.timeout)
        edge.start()  # on failure it has released what it took
    except ConnectError as exc:
        print(f"error: {exc}; is the broker running?", file=sys.stderr)
        return 2
    except (BrokerUrlError, InvalidIdentifier, IntentValueError, CacheError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return lookup(edge, args) if args.command == "lookup" else watch(edge, args)
    finally:
        edge.close()


def lookup(edge: Edge, args: argparse.Namespace) -> int:
    """Wait for the product and its retained stock, then print them."""
    view = edge.wait_product(args.code, timeout=args.timeout)
    if view is None:
        print(f"error: no product for {args.code!r:.200} in {edge.store}: {explain(args.code, edge)}",
              file=sys.stderr)
        return 1
    stock = edge.stock(view.sku)
    if not stock.live:
        when = stock.as_of.isoformat() if stock.as_of else "never"
        print(f"warning: stock of {view.sku} is not live (last known at {when})", file=sys.stderr)
    out: dict[str, Any] = {"code": args.code, "product": view.to_json(), "stock": stock.to_json()}
    if args.nearby:
        # The other stores' details (kind, place) are retained messages that may still be on their way when the
        # product came first from a snapshot; without them a warehouse would be listed as the nearest shop.
        edge.wait_synced(args.timeout)
        out["nearby"] = edge.nearby(view.sku, timeout=min(args.timeout, 3.0)).to_json()
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def explain(code: str, edge: Edge) -> str:
    """Why a code found nothing, for people."""
    kind = scanned.product_intent(code, edge.code_config)
    if isinstance(kind, scanned.Unknown):
        return f"not a product code ({kind.reason})"
    if isinstance(kind, scanned.ProductCode):
        return f"GTIN {kind.gtin} is not in the catalogue"
    if isinstance(kind, scanned.ProductLink) and kind.store != edge.store:
        return f"shelf link of store {kind.store}; SKU {kind.sku} is not in the catalogue here"
    return f"SKU {kind.sku} is not in the catalogue"


def watch(edge: Edge, args: argparse.Namespace) -> int:
    """Print every stock change of the store as one JSON line until Ctrl-C or SIGTERM."""
    changes: queue.SimpleQueue[StockView] = queue.SimpleQueue()
    edge.on_stock(changes.put)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if not edge.wait_synced(args.timeout):
            print("warning: the retained stock did not settle in time; printing changes anyway", file=sys.stderr)
        while True:  # what the retained burst applied is the current state, not a change
            try:
                changes.get_nowait()
            except queue.Empty:
                break
        if args.initial:
            for sku in edge.cache.skus(edge.store):
                _print_line(edge.stock(sku))
        print(f"watching stock of {edge.store}; Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.is_set():
            try:
                _print_line(changes.get(timeout=0.2))
            except queue.Empty:
                continue
    except KeyboardInterrupt:  # Ctrl-C before the handler was set
        pass
    except BrokenPipeError:  # `| head` has read enough; stay quiet about the closed pipe at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _print_line(view: StockView) -> None:
    print(json.dumps(view.to_json(), ensure_ascii=False), flush=True)
