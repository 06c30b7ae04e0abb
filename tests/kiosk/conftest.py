"""Kiosk fixtures: a virtual display, the demo backend on the session Mosquitto, and the real app in a subprocess.

Kivy makes one window per process, so each test module drives one (or a few) app processes through the
driver's harness port (``python -m driver --harness-port PORT -- <kiosk arguments>``): taps and keys go through
the app's Window like real ones, and a tap waits in the app until its target could be tapped by a person.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import segno

from backend.db import Database
from backend.demo import load_demo
from backend.service import BackendService
from driver.client import HarnessClient, HarnessError
from driver.samples import SAMPLE_PHOTO
from kiosk.virtual_display import DisplayError, VirtualDisplay
from mqtt.brokers import MosquittoBroker, free_port, wait_for_port
from mqtt.client import MqttClient
from mqtt.rpc import RpcClient
from tests.conftest import ROOT, clear_retained, unique

ARTIFACTS = ROOT / "test-artifacts" / "kiosk"
STORE = "sthlm-city"
SKU = "FRU-APL-GOLDEN"
STAFF_DEVICE = "sthlm-city-staff-1"  # registered as staff by the demo data
LANGUAGES = ("en", "sv", "fa", "ar", "vi")


def shelf_url(sku: str, store: str = STORE) -> str:
    """What a shelf label's QR code holds (docs/qr-codes.md)."""
    return f"https://aisle.example/s/{store}/p/{sku}"


def write_qr(folder: Path, text: str, name: str = "code.png") -> Path:
    """Replace the camera folder's pictures with one QR code of ``text``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / name
    segno.make(text, error="m").save(str(path), scale=8, border=5)
    return path


def write_symbol(folder: Path, content: str, zx_format: str, gs1: bool = False, name: str = "code.png") -> Path:
    """Replace the camera folder's pictures with one barcode made by zxing-cpp's writer (GS1 content in HRI form)."""
    import cv2

    from vision.synthetic import label_image

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / name
    cv2.imwrite(str(path), label_image(content, zx_format, gs1))
    return path


# A shared-data photo of the demo's SKU (Golden Delicious); the recogniser's gallery was built from this split.
GROCERY_PHOTO = SAMPLE_PHOTO


def write_photo(folder: Path, photo: Path) -> Path:
    """Replace the camera folder's pictures with a copy of a real photo (read from the shared data, never committed)."""
    if not photo.is_file():
        pytest.skip(f"shared photo not found: {photo}")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    return Path(shutil.copyfile(photo, folder / photo.name))


def write_picture(folder: Path) -> Path:
    """Replace the camera folder's pictures with a plain shelf photo-like picture without any code."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    image = Image.new("RGB", (640, 480), (200, 196, 188))
    ImageDraw.Draw(image).rectangle((180, 120, 460, 360), fill=(120, 150, 90))
    path = folder / "shelf.png"
    image.save(path)
    return path


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """An Xvfb display for the app processes (kept for the whole session)."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    old = os.environ.get("DISPLAY")
    try:
        screen = VirtualDisplay("1920x1080x24").start()
    except DisplayError as exc:
        pytest.skip(f"no virtual display: {exc}")
    yield os.environ["DISPLAY"]
    screen.stop()
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old


class DemoBackend:
    """The demo chain's backend in this process, plus a staff-tool connection for changing things."""

    def __init__(self, broker: MosquittoBroker, db: Path) -> None:
        clear_retained(broker.url)
        self.url = broker.url
        self.db_path = db
        self.db = Database(db)
        load_demo(self.db)
        self.service = BackendService(self.db, broker.url, backend_id=unique("backend"), watch_interval=0.2)
        self.service.start()
        self.client = MqttClient(broker.url, unique("tool"))
        self.client.connect()
        self.rpc = RpcClient(self.client, STORE, "admin-cli")  # an admin device of the demo

    def call(self, op: str, args: dict[str, Any], device: str = "admin-cli") -> dict[str, Any]:
        """A request as ``device`` (admin by default)."""
        if device == "admin-cli":
            return self.rpc.call(op, args, timeout=10)
        rpc = RpcClient(self.client, STORE, device)
        try:
            return rpc.call(op, args, timeout=10)
        finally:
            rpc.close()

    def pay(self, reference: str) -> None:
        """Pay an order at the till (a device may hold only a few unpaid ones)."""
        row = self.db.conn.execute("SELECT order_id FROM orders WHERE reference = ?", [reference]).fetchone()
        assert row is not None, f"no order {reference}"
        self.call("order.set_status", {"order_id": row[0], "status": "paid"})

    def stock(self, sku: str = SKU) -> dict[str, Any]:
        """Current stock of a product here."""
        return self.call("stock.get", {"sku": sku})["stock"]

    def close(self) -> None:
        self.rpc.close()
        self.client.close()
        self.service.stop()
        self.db.close()


@pytest.fixture(scope="module")
def demo_backend(mosquitto: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBackend]:
    """The demo data served on the session's Mosquitto (fresh database per test module)."""
    backend = DemoBackend(mosquitto, tmp_path_factory.mktemp("kiosk-backend") / "demo.db")
    yield backend
    backend.close()


class KioskApp:
    """One app process (``python -m driver`` around ``python -m kiosk``) and its harness connection."""

    def __init__(self, mode: str, broker: str, workdir: Path, *, device: str | None = None,
                 extra: tuple[str, ...] = (), demo: bool = True) -> None:
        self.mode = mode
        self.images = workdir / "camera"
        self.images.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = workdir / "app.log"
        args = [sys.executable, "-m", "driver", "--harness-port", str(self.port), "--",
                "--mode", mode, "--broker", broker, "--store", STORE, "--data-dir", str(workdir / "data"),
                "--images", str(self.images), "--virtual-display", "no", *extra]
        if device:
            args += ["--device", device]
        if demo:  # the demo's staff PIN 2468 and badge key; demo=False is a device without provisioning
            args.append("--demo")
        env = {**os.environ, "KIVY_NO_CONSOLELOG": "1"}
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        if not wait_for_port("127.0.0.1", self.port, 60):
            self.stop()
            raise AssertionError(f"the app did not start:\n{self.log()}")
        self.client = HarnessClient(self.port)
        self.call("fast")  # no slide animations: screenshots and checks need no waiting

    def call(self, cmd: str, **args: Any) -> Any:
        """One harness command."""
        return self.client.call(cmd, **args)

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def wait(self, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0, what: str = "") -> dict[str, Any]:
        """Poll the app's status until ``check`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}: {status}")
            time.sleep(0.05)

    def on(self, screen: str, timeout: float = 10.0) -> dict[str, Any]:
        return self.wait(lambda s: s["screen"] == screen and not s["busy"], timeout, f"screen {screen}")

    def props(self, screen: str | None = None) -> dict[str, Any]:
        return self.call("props", screen=screen) if screen else self.call("props")

    def wait_props(self, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                   screen: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            props = self.props(screen)
            if check(props):
                return props
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; props are {props}")
            time.sleep(0.05)

    def tap(self, target: str) -> str:
        return self.call("tap", target=target, frames=2)

    def add_to_cart(self) -> dict[str, Any]:
        """Tap "Add to cart" and wait until the cart holds one more (the stock check runs off the UI thread)."""
        before = self.status()["cart_count"]
        self.tap("add_button")
        return self.wait(lambda s: s["cart_count"] > before and not s["busy"], what="the item in the cart")

    def shoot_shopping(self, lang: str) -> None:
        """In ``lang``: screenshots of the attract screen, a product (then added to the cart) and the cart."""
        self.call("language", code=lang)
        self.call("go", screen="attract")
        self.shot(self.mode, lang, "attract")
        self.call("go", screen="product", sku=SKU)
        self.wait(lambda s: not s["busy"])
        self.shot(self.mode, lang, "product")
        self.add_to_cart()
        self.call("go", screen="cart")
        self.shot(self.mode, lang, "cart")

    def open_settings_as_staff(self, pin: str = "2468") -> None:
        """On the staff sign-in screen: type ``pin``, confirm, and open Settings from the staff screen."""
        for digit in pin:
            self.tap(digit)
        self.tap("ok_key")
        self.on("staff")
        self.call("go", screen="settings")
        self.on("settings")

    def shot(self, *parts: str) -> Path:
        """Save the screen under test-artifacts/kiosk/<parts>.png and check it for rendering problems."""
        path = ARTIFACTS.joinpath(*parts).with_suffix(".png")
        self.call("screenshot", path=str(path), frames=3)
        problems = self.call("problems")
        assert not problems, f"{path.name}: {problems}"
        return path

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        try:
            if hasattr(self, "client"):
                self.call("quit")
                self.client.close()
            self.proc.wait(15)
        except (HarnessError, OSError, subprocess.TimeoutExpired):
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def launch(display: str, demo_backend: DemoBackend,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., KioskApp]]:
    """Start app processes for this module; all are stopped at its end."""
    apps: list[KioskApp] = []

    def start(mode: str, **kwargs: Any) -> KioskApp:
        app = KioskApp(mode, str(demo_backend.url), tmp_path_factory.mktemp(f"kiosk-{mode}"), **kwargs)
        apps.append(app)
        app.wait(lambda s: s["connected"] and s["synced"] and s["store_name"], 30, "store data")
        return app

    yield start
    for app in apps:
        app.stop()
