"""Kiosk app benchmark: cold start, tap-to-screen, scan-to-product, camera preview rate while decoding.

Run: .venv/bin/python -m bench.kiosk_bench [--runs 3] [--markdown]
Starts Mosquitto (or the embedded broker), the demo backend in this process and the real app in a
subprocess on a virtual display (Xvfb) when there is none; drives it through its test harness.
Times come from the app's own monotonic clock where they can (tap and screen-settled instants), so the
harness round trip is not counted.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import segno
from PIL import Image, ImageDraw

from backend.db import Database
from backend.demo import load_demo
from backend.service import BackendService
from bench.common import ROOT, cpu_model
from driver.client import HarnessClient
from kiosk.virtual_display import VirtualDisplay
from mqtt.brokers import EmbeddedBroker, MosquittoBroker, find_mosquitto, free_port, wait_for_port

STORE, SKU = "sthlm-city", "FRU-APL-GOLDEN"


def put_qr(folder: Path, text: str) -> None:
    for old in folder.iterdir():
        old.unlink()
    segno.make(text, error="m").save(str(folder / "code.png"), scale=8, border=5)


def put_picture(folder: Path) -> None:
    for old in folder.iterdir():
        old.unlink()
    image = Image.new("RGB", (1280, 720), (200, 196, 188))  # a 720p "camera" frame without a code
    ImageDraw.Draw(image).rectangle((400, 160, 880, 560), fill=(120, 150, 90))
    image.save(folder / "shelf.png")


class App:
    """One app process driven through its harness."""

    def __init__(self, broker: str, work: Path, images_fps: float) -> None:
        self.images = work / "camera"
        self.images.mkdir(parents=True, exist_ok=True)
        put_picture(self.images)
        self.port = free_port()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driver", "--harness-port", str(self.port), "--", "--mode", "kiosk", "--broker",
             broker, "--store", STORE, "--language", "en", "--data-dir", str(work / "data"), "--images",
             str(self.images), "--images-fps", str(images_fps), "--virtual-display", "no",
             "--demo"],  # staff sign-in on: the tap benchmark goes to the staff screen and back
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if not wait_for_port("127.0.0.1", self.port, 60):
            raise SystemExit("the app did not start")
        self.client = HarnessClient(self.port)

    def call(self, cmd: str, **args: object) -> object:
        return self.client.call(cmd, **args)

    def status(self) -> dict:
        return self.call("status")  # type: ignore[return-value]

    def wait(self, check, timeout: float = 20.0) -> dict:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if check(status):
                return status
            time.sleep(0.01)
        raise SystemExit(f"timed out; status {self.status()}")

    def tap_to(self, target: str, screen: str) -> float:
        """Seconds from the tap to the new screen having slid in, by the app's own clock."""
        self.call("tap", target=target)
        status = self.wait(lambda s: s["screen"] == screen and not s["moving"] and s["last_settled"] > s["last_tap"])
        return status["last_settled"] - status["last_tap"]

    def stop(self) -> None:
        try:
            self.call("quit")
            self.proc.wait(15)
        except Exception:  # noqa: BLE001 - a benchmark cleans up whatever state the app is in
            self.proc.kill()


def summary(values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    values = sorted(v * scale for v in values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"median {statistics.median(values):.0f} {unit}, p95 {p95:.0f} {unit} (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="cold starts")
    parser.add_argument("--taps", type=int, default=10, help="screen changes per direction")
    parser.add_argument("--scans", type=int, default=5)
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate the image folder is replayed at")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    display = VirtualDisplay("1920x1080x24").start() if not os.environ.get("DISPLAY") else None
    broker = MosquittoBroker(workdir=work / "mosquitto").start() if find_mosquitto() else EmbeddedBroker(
        "127.0.0.1", free_port()).start()
    db = Database(work / "demo.db")
    load_demo(db)
    service = BackendService(db, broker.url)
    service.start()
    results: dict[str, str] = {}
    try:
        cold, internal = [], []
        for run in range(args.runs):
            app = App(str(broker.url), work / f"cold-{run}", args.fps)
            status = app.wait(lambda s: s["ready_after"] is not None and s["screen"] == "attract")
            cold.append(time.monotonic() - app.started)
            internal.append(status["ready_after"])
            app.stop()
        results["Cold start to interactive attract screen (process start, wall clock)"] = summary(cold, "ms")
        results["  of which inside the app (imports to first frame)"] = summary(internal, "ms")

        app = App(str(broker.url), work / "warm", args.fps)
        app.wait(lambda s: s["synced"] and s["connected"])
        forward, back = [], []
        for _ in range(args.taps):
            forward.append(app.tap_to("staff_button", "staff_login"))
            back.append(app.tap_to("back_button", "attract"))
        results["Tap to next screen shown (slide 160 ms included)"] = summary(forward + back)

        scans = []
        for _ in range(args.scans):
            put_qr(app.images, f"https://aisle.example/s/{STORE}/p/{SKU}")
            scans.append(app.tap_to("scan_button", "product"))
            app.call("go", screen="attract")
            app.wait(lambda s: s["screen"] == "attract" and not s["moving"])
        results["Scan to product (tap Scan, camera opens, QR decoded, product shown)"] = summary(scans)

        put_picture(app.images)  # nothing to find: the decoder works on every frame it can get
        app.call("go", screen="scan")
        time.sleep(6)
        status = app.status()
        results[f"Camera preview while decoding (folder at {args.fps:g} fps, 720p frames)"] = (
            f"{status['preview_fps']:.1f} frames/s drawn, {status['camera_fps']:.1f} read, "
            f"{status['decode_fps']:.1f} decoded; the whole UI at {status['ui_fps']:.1f} frames/s")
        app.stop()
    finally:
        service.stop()
        db.close()
        broker.stop()
        if display is not None:
            display.stop()
        shutil.rmtree(work, ignore_errors=True)

    machine = (f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{datetime.date.today().isoformat()}")
    if args.markdown:
        print("| measure | result |\n|---|---|")
        for name, value in results.items():
            print(f"| {name.strip()} | {value} |")
        print(f"\nMachine: {machine}")
    else:
        for name, value in results.items():
            print(f"{name}: {value}")
        print(f"machine: {machine}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
