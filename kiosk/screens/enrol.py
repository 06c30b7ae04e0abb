"""Staff teach the camera a product: pick it, take a few photos, enrol them (when recognition exists)."""

from __future__ import annotations

from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from codes.scanned import Intent, ProductCode, ProductLink
from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.staff import EnrolModel
from kiosk.widgets.search import SearchPanel

MIN_PHOTOS = 3


class EnrolScreen(AisleScreen):
    """Photos stay in memory until enrolled or the screen is left."""

    model = EnrolModel
    sku = StringProperty("")
    product_name = StringProperty("")
    photos = NumericProperty(0)
    available = BooleanProperty(False)
    message = StringProperty("")
    busy = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._frames: list = []

    def on_vm(self, _screen: object, vm: EnrolModel) -> None:
        vm.bind(on_pick=lambda _vm, _purpose, sku: self.set_product(sku))

    def on_pre_enter(self, *_args: object) -> None:
        self.message = tr._("Getting ready…")
        self.vm.load_recogniser(self._loaded)

    def _loaded(self, ok: bool) -> None:
        self.available = bool(ok and self.vm.available)
        if self.available:
            preview = self.ids.preview
            preview.feed = self.vm.camera
            if self.vm.start_camera(decode=False):
                preview.start()
        self.relabel()

    def on_leave(self, *_args: object) -> None:
        self.ids.preview.stop()
        self.vm.stop_camera()
        self._frames.clear()
        self.photos = 0

    def relabel(self) -> None:
        if not self.available:
            self.message = tr._("Recognition unavailable on this device.")  # the reason is in the log
        elif not self.sku:
            self.message = tr._("Scan or search for the product to teach.")
        else:
            self.message = tr._("Take photos from different sides: {n} of at least {min} taken.").format(
                n=self.vm.fmt.number(self.photos), min=self.vm.fmt.number(MIN_PHOTOS))

    def set_product(self, sku: str) -> None:
        """Teach this product."""
        view = self.vm.product(sku)
        self.sku = sku
        self.product_name = self.vm.name_of(view) if view else sku
        self._frames.clear()
        self.photos = 0
        self.relabel()

    def on_scan(self, intent: Intent) -> bool:
        if isinstance(intent, ProductLink | ProductCode):
            view = self.vm.product(intent)
            if view is not None:
                self.set_product(view.sku)
            return True
        return False

    def search(self) -> None:
        """Pick the product by name."""
        SearchPanel(self.vm, on_pick=self.set_product).open()

    def take_photo(self) -> None:
        """Keep the newest camera frame."""
        frame = self.vm.latest_frame()
        if frame is not None and self.sku:
            self._frames.append(frame)
            self.photos = len(self._frames)
            self.ids.preview.flash()
            self.relabel()

    def enrol(self) -> None:
        """Teach the recogniser (worker thread)."""
        view = self.vm.product(self.sku)
        frames = list(self._frames)
        if view is None or len(frames) < MIN_PHOTOS:
            return
        self.busy = True
        sku, label = view.sku, view.vision_label or view.names.get("en", view.sku)
        self.vm.enrol(sku, frames, label, self._enrolled, self._failed)

    def _enrolled(self, _result: object) -> None:
        self.busy = False
        self._frames.clear()
        self.photos = 0
        text = tr._("Learned. Shoppers can now identify {name} by photo.")
        self.vm.notify(text.format(name=self.product_name), "ok")

    def _failed(self, exc: Exception) -> None:
        self.busy = False
        self.vm.notify(tr._("Not learned: {reason}").format(reason=str(exc)), "error")

    def reset(self) -> None:
        self.sku, self.product_name, self.photos = "", "", 0
        self._frames.clear()
