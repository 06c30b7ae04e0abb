#!/usr/bin/env python3
"""`make demo`: the store backend on an embedded broker with the demo data, plus a scripted walkthrough."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from backend.db import Store
from backend.demo import load_demo
from backend.service import BackendService
from mqtt.brokers import EmbeddedBroker, MosquittoBroker
from mqtt.client import MqttClient
from mqtt.mirror import StoreMirror
from mqtt.rpc import RpcClient

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("demo")


def walkthrough(url, out: Path) -> None:
    """What a new user would try first, written to demo-out/walkthrough.txt."""
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    device = MqttClient(url, "demo-kiosk-1")
    device.connect()
    mirror = StoreMirror(device, "sthlm-city")
    deadline = time.monotonic() + 10
    while len(mirror.stock) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    say(f"kiosk mirror of sthlm-city: {len(mirror.catalog)} products, {len(mirror.stock)} stock levels")
    apple = mirror.catalog.get("sthlm-city", "FRU-APL-GOLDEN")
    before = mirror.stock.get("sthlm-city", "FRU-APL-GOLDEN")
    if apple is None or before is None:
        raise SystemExit("demo data did not arrive on the kiosk mirror")
    say(f"{apple.names['en']} / {apple.names['fa']} / {apple.names['vi']}: {apple.price.amount} {apple.price.currency},"
        f" shelf {apple.shelf_location}, {before.shelf} on the shelf (seq {before.seq})")
    rpc = RpcClient(device, "sthlm-city", "sthlm-city-staff-1")  # a staff phone changes stock
    started = time.monotonic()
    result = rpc.call("stock.adjust", {"sku": "FRU-APL-GOLDEN", "delta": -2, "reason": "demo sale"})
    while mirror.stock.get("sthlm-city", "FRU-APL-GOLDEN").seq < result["stock"]["seq"]:
        time.sleep(0.005)
    after = mirror.stock.get("sthlm-city", "FRU-APL-GOLDEN")
    say(f"sold 2: the kiosk shows {after.shelf} on the shelf (seq {after.seq}) after "
        f"{(time.monotonic() - started) * 1000:.0f} ms")
    rpc.call("stock.adjust", {"sku": "FRU-APL-GOLDEN", "delta": 2, "reason": "demo restock"})
    rpc.close()
    device.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "walkthrough.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "product.json").write_text(json.dumps(apple.model_dump(mode="json"), ensure_ascii=False, indent=2),
                                      encoding="utf-8")


def main() -> int:
    """Run the demo until Ctrl-C (or once through the walkthrough without a terminal)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", default="embedded", choices=["embedded", "mosquitto"])
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--db", type=Path, default=ROOT / "var" / "demo.db")
    parser.add_argument("--out", type=Path, default=ROOT / "demo-out")
    parser.add_argument("--walkthrough-only", action="store_true", help="exit after the scripted walkthrough")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    once = args.walkthrough_only or not sys.stdin.isatty()

    broker = EmbeddedBroker("127.0.0.1", args.port) if args.broker == "embedded" else \
        MosquittoBroker(port=args.port, workdir=ROOT / "var" / "mosquitto")
    broker.start()
    store = Store(args.db)
    load_demo(store)
    service = BackendService(store, broker.url)
    try:
        service.start()
        walkthrough(broker.url, args.out)
        if once:
            print(f"walkthrough written to {args.out}/ (no terminal: not staying up)")
            return 0
        print(f"""
Aisle demo backend is running on mqtt://127.0.0.1:{args.port} (database {args.db}).
Try it yourself in another terminal:
  mosquitto_sub -p {args.port} -t 'aisle/v1/+/stock/#' -v
  .venv/bin/python -m backend stock adjust --broker mqtt://127.0.0.1:{args.port} --store sthlm-city \\
      --sku FRU-APL-GOLDEN --delta -1 --reason sold
Ctrl-C stops the demo.""", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        return 0
    finally:
        service.stop()
        store.close()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
