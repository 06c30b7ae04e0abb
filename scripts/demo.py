#!/usr/bin/env python3
"""`make demo`: the store backend on an embedded broker with the demo data, and the Kivy app on top of it.

With a terminal and a display the app opens in MODE (kiosk, phone or staff). Without either, every mode is driven
through a scripted walkthrough on a virtual display and its screenshots land in demo-out/kiosk-MODE/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from backend.db import Database
from backend.demo import load_demo
from backend.service import BackendService
from mqtt.brokers import BrokerError
from mqtt.client import ConnectError, MqttClient
from mqtt.local_broker import local_broker
from mqtt.mirror import StoreMirror
from mqtt.rpc import RpcClient
from mqtt.url import BrokerUrl

ROOT = Path(__file__).resolve().parents[1]
STORE = "sthlm-city"
STAFF_DEVICE = "sthlm-city-staff-1"  # registered as staff by load_demo; with --demo its PIN is 2468
MODES = ("kiosk", "phone", "staff")
log = logging.getLogger("demo")


def app_command(url: BrokerUrl, mode: str, data_dir: Path, walkthrough_dir: Path | None = None) -> list[str]:
    """`python -m kiosk` for one mode against the demo backend; with a walkthrough, started by the test driver."""
    # --demo: the demo's staff PIN and badge key; a real store's devices are provisioned instead.
    cmd = [sys.executable, "-m", "kiosk", "--mode", mode, "--broker", str(url), "--store", STORE,
           "--data-dir", str(data_dir), "--demo"]
    if mode == "staff":
        cmd += ["--device", STAFF_DEVICE]
    if walkthrough_dir is not None:  # python -m driver --walkthrough DIR -- <the app's arguments>
        cmd[1:3] = ["-m", "driver", "--walkthrough", str(walkthrough_dir), "--"]
    return cmd


def app_walkthroughs(url: BrokerUrl, out: Path, modes: tuple[str, ...], var: Path) -> int:
    """Drive each mode of the real app through its screens; returns how many walkthroughs failed."""
    failed = 0
    for mode in modes:
        target = out / f"kiosk-{mode}"
        data_dir = var / f"demo-{mode}-walkthrough"
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)  # a fresh device each time, as a new kiosk would be
        print(f"app walkthrough, {mode} mode: screenshots to {target}/", flush=True)
        code = subprocess.call(app_command(url, mode, data_dir, target), cwd=ROOT)
        shots = sorted(target.glob("*.png"))
        print(f"  {mode}: {len(shots)} screenshots, {'ok' if code == 0 else f'FAILED (exit {code})'}", flush=True)
        failed += code != 0
    return failed


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
    parser.add_argument("--port", type=int, default=1883,
                        help="broker port (default 1883); when taken, an anonymous local broker there is used, "
                             "otherwise the demo starts its own on a free port")
    parser.add_argument("--db", type=Path, default=None, help="the demo database (default var/demo.db)")
    parser.add_argument("--out", type=Path, default=ROOT / "demo-out")
    parser.add_argument("--walkthrough-only", action="store_true", help="exit after the scripted walkthroughs")
    parser.add_argument("--mode", default="kiosk", choices=MODES, help="which app to open (default kiosk)")
    parser.add_argument("--no-app", action="store_true", help="backend and its walkthrough only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    once = args.walkthrough_only or not sys.stdin.isatty()

    try:
        broker = local_broker(args.broker, args.port, ROOT / "var" / "mosquitto")
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(broker.note, flush=True)
    # Not on the usual port (maybe beside a running demo): a database and device folders of its own, never the ones
    # another demo may be using.
    var = ROOT / "var" if broker.url.port == args.port else ROOT / "var" / f"port-{broker.url.port}"
    args.db = args.db or var / "demo.db"
    args.db.parent.mkdir(parents=True, exist_ok=True)
    db = Database(args.db)
    load_demo(db)
    service = BackendService(db, broker.url)
    try:
        service.start()
        walkthrough(broker.url, args.out)
        interactive = not once and bool(os.environ.get("DISPLAY"))
        if not args.no_app and not interactive:
            failed = app_walkthroughs(broker.url, args.out, MODES, var)
            if failed:
                print(f"{failed} app walkthrough(s) failed; see {args.out}/kiosk-*/walkthrough.txt", file=sys.stderr)
                return 1
        if once:
            print(f"walkthroughs written to {args.out}/ (no terminal: not staying up)")
            return 0
        if interactive and not args.no_app:
            print(f"opening the app in {args.mode} mode (staff PIN 2468); close its window to stop the demo",
                  flush=True)
            return subprocess.call(app_command(broker.url, args.mode, var / f"demo-{args.mode}"), cwd=ROOT)
        print(f"""
Aisle demo backend is running on {broker.url} (database {args.db}).
Try it yourself in another terminal:
  mosquitto_sub -p {broker.url.port} -t 'aisle/v1/+/stock/#' -v
  .venv/bin/python -m backend stock adjust --broker {broker.url} --store sthlm-city \\
      --sku FRU-APL-GOLDEN --delta -1 --reason sold
  .venv/bin/python -m kiosk --mode phone --broker {broker.url} --store {STORE}
Ctrl-C stops the demo.""", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        return 0
    except ConnectError as exc:  # the broker went away under us (someone stopped the one we were using)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        service.stop()
        db.close()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
