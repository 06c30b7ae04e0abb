"""``python -m driver --walkthrough OUTDIR``: drive the real app through every screen like a shopper (and staff),
save PNGs, exit."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock

from driver import automation
from driver.observe import Observer
from kiosk.config import Mode
from kiosk.state import state
from kiosk.theme import ui

if TYPE_CHECKING:
    from kiosk.app import AisleApp

log = logging.getLogger(__name__)
PREFERRED_SKU = "FRU-APL-GOLDEN"


@dataclass(frozen=True)
class Until:
    """Wait until ``check()`` is true (or ``timeout`` seconds passed: the step fails)."""

    check: Callable[[], bool]
    timeout: float = 10.0
    what: str = ""


Step = Generator[float | Until, None, None]


class WalkthroughFailed(RuntimeError):
    """A step did not reach what it waited for."""


class Walkthrough:
    """Runs on the Kivy clock: each step yields a pause or an Until, so the app keeps drawing meanwhile."""

    def __init__(self, app: AisleApp, out: Path) -> None:
        self.app = app
        self.out = out
        self.watch = Observer(app)
        self.shots: list[Path] = []
        self.failures: list[str] = []
        self._tmp = Path(tempfile.mkdtemp(prefix="aisle-walkthrough-"))
        self._steps: Iterator[Callable[[], Step]] = iter(())
        self._current: Step | None = None
        self._name = ""

    @property
    def ctl(self) -> Any:
        return self.app.ctl

    def start(self) -> None:
        """Begin after the first frames are drawn."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.watch.start()
        mode = self.ctl.config.mode
        steps = {Mode.KIOSK: self.kiosk_steps, Mode.PHONE: self.phone_steps, Mode.STAFF: self.staff_steps}[mode]()
        self._steps = iter(steps)
        Clock.schedule_once(self._advance, 1.0)

    # -- runner -------------------------------------------------------------------------

    def _advance(self, _dt: float = 0) -> None:
        while True:
            if self._current is None:
                step = next(self._steps, None)
                if step is None:
                    self._finish()
                    return
                self._name = step.__name__
                log.info("walkthrough: %s", self._name)
                self._current = step()
            try:
                wait = next(self._current)
            except StopIteration:
                self._current = None
                continue
            except Exception as exc:  # one broken step must not hide the screenshots of the others
                log.exception("walkthrough step %s failed", self._name)
                self.failures.append(f"{self._name}: {exc}")
                self._current = None
                continue
            if isinstance(wait, Until):
                self._wait_until(wait, time.monotonic() + wait.timeout)
            else:
                Clock.schedule_once(self._advance, wait)
            return

    def _wait_until(self, until: Until, deadline: float) -> None:
        if until.check():
            Clock.schedule_once(self._advance, 0.05)
        elif time.monotonic() > deadline:
            assert self._current is not None
            self._current.close()
            self.failures.append(f"{self._name}: timed out waiting for {until.what or 'a condition'}")
            log.error("walkthrough step %s timed out (%s)", self._name, until.what)
            self._current = None
            Clock.schedule_once(self._advance, 0)
        else:
            Clock.schedule_once(lambda _dt: self._wait_until(until, deadline), 0.05)

    def _finish(self) -> None:
        summary = self.out / "walkthrough.txt"
        lines = [f"{p.name}" for p in self.shots] + [f"FAILED {f}" for f in self.failures]
        summary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        log.info("walkthrough: %d screenshots in %s, %d failures", len(self.shots), self.out, len(self.failures))
        shutil.rmtree(self._tmp, ignore_errors=True)
        self.app.exit_code = 1 if self.failures else 0
        Clock.schedule_once(lambda _dt: self.app.stop(), 0.2)

    def stop(self) -> None:
        """The app is stopping (done, or closed halfway): remove the camera folders."""
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------

    def shot(self, name: str) -> None:
        """Save the screen as NN-name.png."""
        path = self.out / f"{len(self.shots) + 1:02d}-{name}.png"
        automation.screenshot(path)
        self.shots.append(path)

    def tap(self, target: str, timeout: float = 10.0) -> Step:
        """Wait until a person could tap ``target`` (shown, enabled, nothing over it, not moving), then tap it."""

        def ready() -> bool:
            try:
                return not automation.not_ready(automation.find(target))
            except automation.NotFound:
                return False

        yield Until(ready, timeout, f"{target} ready to tap")
        automation.tap(automation.find(target))

    def exists(self, target: str) -> bool:
        try:
            automation.find(target)
        except automation.NotFound:
            return False
        return True

    def on(self, screen: str, timeout: float = 10.0) -> Until:
        """Wait until the screen shows and the slide has finished."""
        manager = self.ctl.nav.manager
        return Until(lambda: manager.current == screen and not manager.transition.is_active, timeout, screen)

    def idle(self, timeout: float = 10.0) -> Until:
        """Wait until background work finished."""
        return Until(lambda: not self.watch.busy, timeout, "background work")

    def product_sku(self) -> str:
        link = self.ctl.link
        if link.product(PREFERRED_SKU) is not None and (link.stock(PREFERRED_SKU).available or 0) > 3:
            return PREFERRED_SKU
        for sku in link.edge.cache.skus(self.ctl.config.store):
            if (link.stock(sku).available or 0) > 3:
                return sku
        raise WalkthroughFailed("no product in stock in this store")

    def camera_folder(self, name: str, text: str | None, photo: Path | None = None) -> Path:
        """A folder the camera replays: a QR code of ``text``, a copy of a real ``photo`` (never into the
        repository), or a plain picture without any code."""
        import segno
        from PIL import Image, ImageDraw

        folder = self._tmp / name
        folder.mkdir(exist_ok=True)
        if photo is not None:
            shutil.copyfile(photo, folder / photo.name)
        elif text:
            segno.make(text, error="m").save(str(folder / "code.png"), scale=10, border=6)
        else:
            image = Image.new("RGB", (640, 480), (200, 196, 188))
            ImageDraw.Draw(image).rectangle((180, 120, 460, 360), fill=(120, 150, 90))
            image.save(folder / "shelf.png")
        self.ctl.config = replace(self.ctl.config, images=folder)
        return folder

    def fruit_photo(self) -> Path | None:
        """A photo of the preferred product from the shared grocery data, or None without it."""
        from driver.samples import SAMPLE_PHOTO

        return SAMPLE_PHOTO if SAMPLE_PHOTO.is_file() else None

    def synced(self) -> Until:
        return Until(lambda: bool(state.store_name) and self.ctl.link.edge.synced(0.3), 30, "store data")

    # -- scripts ----------------------------------------------------------------------

    def kiosk_steps(self) -> list[Callable[[], Step]]:
        return [self.attract_languages, self.scan_and_product, self.cart_and_handoff, self.online_cart,
                self.send_home, self.recognise, self.rtl_tour, self.large_text, self.weighed_and_batch,
                self.idle_reset, self.staff_tour]

    def phone_steps(self) -> list[Callable[[], Step]]:
        return [self.attract_languages, self.scan_and_product, self.cart_and_handoff, self.send_home,
                self.rtl_tour]

    def staff_steps(self) -> list[Callable[[], Step]]:
        return [self.staff_tour, self.large_text]

    def attract_languages(self) -> Step:
        yield self.synced()
        yield self.on("attract")
        self.shot(f"attract-{ui.lang}")
        for code in [c for c in state.languages if c != ui.lang]:
            self.ctl.set_language(code)
            yield 0.4
            self.shot(f"attract-{code}")
        self.ctl.set_language("en")
        yield 0.3

    def scan_and_product(self) -> Step:
        self.camera_folder("plain", None)
        yield from self.tap("scan_button")
        yield self.on("scan")
        yield 1.0
        self.shot("scan-looking")
        self.ctl.nav.back()
        yield self.on("attract")
        sku = self.product_sku()
        self.camera_folder("shelf", f"{self.ctl.config.base_url}/s/{self.ctl.config.store}/p/{sku}")
        yield from self.tap("scan_button")
        yield self.on("product", 15)
        yield self.idle()
        yield 0.3
        self.shot("product")

    def cart_and_handoff(self) -> Step:
        yield from self.tap("add_button")
        yield 0.2
        yield from self.tap("add_button")
        yield 0.3
        self.shot("product-added")
        yield from self.tap("cart_button")
        yield self.on("cart")
        self.shot("cart")
        if self.ctl.config.mode is Mode.KIOSK:
            yield from self.tap("phone_button")
            yield Until(lambda: self.exists("qr"), 10, "QR")
            yield 0.3
            self.shot("cart-handoff-qr")
            yield from self.tap("close_button")
            yield 0.3

    def online_cart(self) -> Step:
        handoff = self.ctl.link.export_cart()  # a second code, as if another device had shown it
        automation.keys(handoff.url)
        yield self.on("cart", 15)
        yield 0.3
        self.shot("online-cart-opened")
        automation.keys(handoff.url)
        yield Until(lambda: self.ctl.nav.current == "handoff" and self.ctl.nav.screen("handoff").phase == "error",
                    15, "used-code explanation")
        yield 0.3
        self.shot("online-cart-used-code")
        self.ctl.nav.go("cart")
        yield self.on("cart")

    def send_home(self) -> Step:
        yield from self.tap("home_button")
        yield self.on("address")
        screen = self.ctl.nav.screen("address")
        keyboard = screen.ids.keyboard
        for char in "Hoa" if self.ctl.config.mode is Mode.KIOSK else "":
            yield from self.tap(char.upper() if keyboard.shift == "once" else char.lower())  # as a shopper types it
            yield 0.05
        screen.ids.name_input.text = "Nguyễn Thị Hoa"
        screen.ids.street_input.text = "Zanzibarvägen 7"
        screen.ids.postcode_input.text = "11122"
        screen.ids.city_input.text = "Stockholm"
        screen.ids.email_input.text = "hoa@example.org"
        yield 0.3
        self.shot("address")
        yield from self.tap("continue_button")
        yield self.on("options")
        yield Until(lambda: self.ctl.nav.screen("options").phase != "loading", 15, "options")
        yield 0.3
        self.shot("delivery-options")
        yield from self.tap("place_button")
        yield self.on("confirm", 15)
        yield Until(lambda: bool(self.ctl.nav.screen("confirm").reference), 20, "order reference")
        yield 0.3
        self.shot("order-confirmed")
        yield from self.tap("done_button")
        yield self.on("attract")

    def recognise(self) -> Step:
        self.camera_folder("plain", None)
        yield from self.tap("recognise_button")
        yield self.on("recognise")
        screen = self.ctl.nav.screen("recognise")
        yield Until(lambda: screen.phase != "loading", 20, "recogniser")
        yield 0.8
        self.shot("recognise")
        self.ctl.nav.back()
        yield self.on("attract")
        photo = self.fruit_photo()
        if photo is not None:  # the shared Grocery Store photos, when this checkout has them
            self.camera_folder("fruit", None, photo)
            yield from self.tap("recognise_button")
            yield self.on("recognise")
            yield Until(lambda: screen.phase == "suggest", 20, "a suggestion for the photo")
            yield 0.5
            self.shot("recognise-suggest")
            self.ctl.nav.back()
            yield self.on("attract")

    def rtl_tour(self) -> Step:
        sku = self.product_sku()
        self.camera_folder("plain", None)  # no code in view, so the scan screen stays up for its picture
        for code in ("fa", "ar"):
            self.ctl.set_language(code)
            self.ctl.router.open_product(sku)
            yield self.on("product")
            yield self.idle()
            yield 0.4
            self.shot(f"product-{code}")
            self.ctl.link.cart.add(sku)
            self.ctl.nav.go("cart")
            yield self.on("cart")
            yield 0.3
            self.shot(f"cart-{code}")
            for screen in ("address", "scan"):  # send home, and the camera with its right-to-left hints
                self.ctl.nav.go(screen)
                yield self.on(screen)
                yield self.idle()
                yield 0.4
                self.shot(f"{screen}-{code}")
            self.ctl.end_session()
            yield self.on(self.ctl.nav.home_name)
        self.ctl.set_language("vi")
        self.ctl.router.open_product(sku)
        yield self.on("product")
        yield self.idle()
        yield 0.4
        self.shot("product-vi")
        self.ctl.end_session()
        yield self.on(self.ctl.nav.home_name)

    def large_text(self) -> Step:
        sku = self.product_sku()
        ui.text_scale, ui.high_contrast = 1.6, True
        self.ctl.set_language("en")
        if self.ctl.config.is_shopper:
            self.ctl.router.open_product(sku)
            yield self.on("product")
            yield self.idle()
            yield 0.4
            self.shot("product-large-contrast")
            self.ctl.nav.home()
            yield self.on(self.ctl.nav.home_name)
        yield 0.4
        self.shot(f"{self.ctl.nav.home_name}-large-contrast")
        ui.text_scale, ui.high_contrast = self.ctl.config.text_scale, self.ctl.config.high_contrast
        yield 0.3

    def weighed_and_batch(self) -> Step:
        """A scale's weight label into the cart, then a GS1 DataMatrix of an expired batch (staff are told)."""
        self.ctl.set_language("en")
        for name, code, fmt in self._pack_codes():
            self.camera_symbol(name, code, fmt)
            yield from self.tap("scan_button")
            yield self.on("product", 15)
            yield self.idle()
            yield 0.3
            self.shot(f"product-{name}")
            if name == "weighed":
                yield from self.tap("add_button")
                yield 0.3
            self.ctl.nav.home()
            yield self.on(self.ctl.nav.home_name)
        self.ctl.end_session()  # the next steps start from an empty cart
        yield self.on(self.ctl.nav.home_name)

    def _pack_codes(self) -> list[tuple[str, str, str]]:
        """A weighed label of a product sold by weight here (0.734 kg), and an expired batch of the usual product."""
        from codes.gtin import check_digit
        from codes.measure import MeasureConfig, variable_measure

        codes = []
        details = self.ctl.link.store_details()
        config = MeasureConfig.from_text(details.variable_measure if details else "")
        for sku in self.ctl.link.edge.cache.skus(self.ctl.config.store):
            view = self.ctl.link.product(sku)
            measures = [(g, variable_measure(g.zfill(14), config)) for g in (view.gtins if view else ())]
            base = next((g for g, m in measures if m is not None and not m.value), None)  # the measure zeroed
            if base is not None:
                body = base.zfill(14)[1:9] + "0734"  # the weight digits of the common 8 + 4 layout
                found = variable_measure("0" + body + check_digit(body), config)
                if found is not None and found.base_gtin == base.zfill(14):
                    codes.append(("weighed", body + check_digit(body), "EAN13"))
                    break
        view = self.ctl.link.product(self.product_sku())
        if view is not None and view.gtins:
            expired = f"{datetime.now() - timedelta(days=1):%y%m%d}"
            codes.append(("expired-batch", f"(01){view.gtins[0].zfill(14)}(17){expired}(10)L0T7", "DataMatrix"))
        return codes

    def camera_symbol(self, name: str, content: str, zx_format: str) -> Path:
        """A folder the camera replays: one barcode drawn by zxing-cpp's writer (GS1 content in its HRI form)."""
        import cv2

        from vision.synthetic import label_image

        folder = self._tmp / name
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / "code.png"), label_image(content, zx_format, gs1=content.startswith("(")))
        self.ctl.config = replace(self.ctl.config, images=folder)
        return folder

    def idle_reset(self) -> Step:
        sessions = self.ctl.link.sessions
        old = sessions.idle_timeout, sessions.warning
        sessions.idle_timeout, sessions.warning = 5.0, 4.0
        self.ctl.link.cart.add(self.product_sku())
        self.ctl.nav.go("cart")
        yield Until(lambda: state.idle_warning and state.idle_left <= 3, 10, "idle warning")
        self.shot("idle-warning")
        yield self.on("attract", 10)
        yield 0.3
        self.shot("idle-reset")
        sessions.idle_timeout, sessions.warning = old

    def staff_tour(self) -> Step:
        yield self.synced()
        if not self.ctl.staff.enabled:  # not provisioned and not --demo: shopper mode only, no staff to tour
            return
        if self.ctl.nav.current != "staff_login":
            yield from self.tap("staff_button")
        yield self.on("staff_login")
        for digit in "2468":
            yield from self.tap(ui.fmt.digits(digit))
            yield 0.05
        self.shot("staff-login")
        yield from self.tap("ok_key")
        yield self.on("staff")
        yield 0.3
        self.shot("staff-alerts")
        yield from self.tap("adjust_button")
        yield self.on("adjust")
        sku = self.product_sku()
        self.ctl.nav.screen("adjust").set_product(sku)
        before = self.ctl.link.stock(sku).shelf
        yield from self.tap("plus10_button")
        yield 0.3
        self.shot("staff-adjust")
        yield from self.tap("apply_button")
        yield self.idle()
        yield Until(lambda: self.ctl.link.stock(sku).shelf != before or state.notice_kind == "error", 5, "the save")
        yield 0.3
        self.shot("staff-adjust-saved")
        if self.ctl.link.stock(sku).shelf != before:  # saved: take the ten off again, so demo runs leave no trace
            self.ctl.tasks.run(lambda: self.ctl.link.adjust_stock(sku, -10, "shelf", "count correction"),
                               lambda _r: None,
                               lambda exc: log.warning("walkthrough could not undo its adjustment: %s", exc))
            yield self.idle()
        self.ctl.nav.back()
        yield self.on("staff")
        yield from self.tap("enrol_button")
        yield self.on("enrol")
        yield self.idle(20)
        yield 0.3
        self.shot("staff-enrol")
        self.ctl.nav.back()
        yield self.on("staff")
        yield from self.tap("settings_button")
        yield self.on("settings")
        yield 0.3
        self.shot("settings")
        for code in ("fa", "ar", "vi"):
            self.ctl.set_language(code)
            yield 0.4
            self.shot(f"settings-{code}")
        self.ctl.set_language("fa")
        self.ctl.nav.back()
        yield self.on("staff")
        yield 0.4
        self.shot("staff-alerts-fa")
        self.ctl.set_language("en")
        yield 0.3
        yield from self.tap("signout_button")
        yield self.on(self.ctl.nav.home_name)
