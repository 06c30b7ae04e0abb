"""The base of every screen's view-model: the narrow calls a screen may make into the app."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from codes.scanned import Intent
from edge.device import ProductView, StockView
from kiosk.formatting import Formatter
from kiosk.theme import ui
from kiosk.viewmodels.updates import UpdateEvents

if TYPE_CHECKING:
    from edge.store_client import StoreClient
    from kiosk.controller import Controller
    from kiosk.services.camera import CameraFeed
    from kiosk.viewmodels.updates import Updates

T = TypeVar("T")


class ScreenModel(UpdateEvents):
    """What a screen may ask and do; screens and their .kv files talk to nothing else."""

    relays: tuple[str, ...] = ()  # the updates this screen follows

    def __init__(self, ctl: Controller, screen: str) -> None:
        super().__init__()
        self._ctl = ctl
        self.screen = screen
        for name in self.relays:
            ctl.updates.fbind(name, self._relay, name)

    def _relay(self, name: str, _updates: Updates, *args: Any) -> None:
        if name == "on_pick" and args[0] != self.screen:
            return  # a product picked for another staff tool
        self.dispatch(name, *args)

    # -- moving and telling --------------------------------------------------------------

    def back(self) -> None:
        """Return to the previous screen."""
        self._ctl.nav.back()

    def go(self, name: str, **params: Any) -> None:
        """Show another screen."""
        self._ctl.nav.go(name, **params)

    def replace(self, name: str, **params: Any) -> None:
        """Show another screen in place of this one (Back skips this one)."""
        self._ctl.nav.replace(name, **params)

    def home(self) -> None:
        """Forget the history and show the home screen."""
        self._ctl.nav.home()

    def notify(self, text: str, kind: str = "info") -> None:
        """Show a notice at the bottom of the screen."""
        self._ctl.notify(text, kind)

    def run(self, work: Callable[[], T], done: Callable[[T], None] | None = None,
            failed: Callable[[Exception], None] | None = None) -> Future[T]:
        """Run ``work`` on a worker; ``done`` or ``failed`` run on the UI thread."""
        return self._ctl.tasks.run(work, done, failed)

    def end_session(self) -> None:
        """The shopper is done: wipe the session and start over."""
        self._ctl.end_session()

    def open_product(self, sku: str) -> None:
        """Show a product (or say why not)."""
        self._ctl.router.open_product(sku)

    # -- what the store sells --------------------------------------------------------------

    @property
    def _client(self) -> StoreClient:
        # Read each time: a change of store or broker replaces the controller's client.
        return self._ctl.link

    @property
    def fmt(self) -> Formatter:
        """The formatter of the current language."""
        return ui.fmt

    @property
    def device_id(self) -> str:
        """This device's id."""
        return self._ctl.device_id

    def product(self, code: str | Intent) -> ProductView | None:
        """A product by SKU or GTIN (or a scan parsed already) from the local cache."""
        return self._client.product(code)

    def stock(self, sku: str) -> StockView:
        """A product's stock here, live or last known."""
        return self._client.stock(sku)

    def name_of(self, view: ProductView) -> str:
        """A product's name in the current language."""
        return self._client.name_of(view, ui.lang)

    def image(self, view: ProductView) -> str:
        """The path of a product's picture, or ""."""
        return self._ctl.images.path(view.image, view.vision_label) or ""

    def search(self, text: str, limit: int) -> list[ProductView]:
        """Products matching a name, SKU or barcode number."""
        return self._client.edge.search(text, limit=limit)


class CameraModel(ScreenModel):
    """A screen that shows the camera."""

    @property
    def camera(self) -> CameraFeed:
        """The feed the preview shows."""
        return self._ctl.camera

    def start_camera(self, decode: bool = True) -> bool:
        """Start reading the camera; False when there is none."""
        return self._ctl.start_camera(decode)

    def stop_camera(self) -> None:
        """Stop the camera."""
        self._ctl.stop_camera()

    def load_recogniser(self, done: Callable[[bool], None]) -> None:
        """Load the product recogniser (worker thread); ``done(False)`` when this device has none."""
        self.run(self._ctl.recognition.load, done, lambda _e: done(False))
