"""Live camera with a framing overlay; codes are decoded off the UI thread and open what they stand for."""

from __future__ import annotations

from typing import Any

from kivy.properties import OptionProperty, StringProperty

from codes.scanned import Intent, ProductCode, ProductLink, Unknown
from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.state import state
from kiosk.viewmodels.shopper import ScanModel
from kiosk.widgets.search import SearchPanel
from vision.scanner import Detection


class ScanScreen(AisleScreen):
    """Scanning for shoppers, and for staff screens that need a product (``purpose``)."""

    model = ScanModel
    purpose = OptionProperty("shop", options=["shop", "adjust", "enrol"])
    status = StringProperty("")
    status_kind = OptionProperty("info", options=["info", "ok", "error"])

    def prepare(self, purpose: str = "shop", **_params: Any) -> None:
        self.purpose = purpose
        self.relabel()

    def relabel(self) -> None:
        if state.camera_ok:
            self.status, self.status_kind = tr._("Looking for a code…"), "info"
        else:
            self.status = tr._("No camera here. Use the barcode scanner or search by name.")
            self.status_kind = "error"

    def on_pre_enter(self, *_args: object) -> None:
        preview = self.ids.preview
        preview.feed = self.vm.camera
        ok = self.vm.start_camera()
        preview.clear()
        if ok:
            preview.start()
        self.relabel()

    def on_leave(self, *_args: object) -> None:
        self.ids.preview.stop()
        self.vm.stop_camera()

    def code_seen(self, detection: Detection) -> None:
        """Feedback the moment a code is read, before anything opens."""
        self.ids.preview.flash()
        if isinstance(detection.intent, Unknown):
            self.status, self.status_kind = tr._("That code is not one we can use."), "error"
        else:
            self.status, self.status_kind = tr._("Got it!"), "ok"

    def on_scan(self, intent: Intent) -> bool:
        if self.purpose == "shop" or not isinstance(intent, ProductLink | ProductCode):
            return False
        view = self.vm.product(intent)
        if view is None:
            self.status, self.status_kind = tr._("We do not sell this product in this store."), "error"
            return True
        self.vm.pick(self.purpose, view.sku)
        return True

    def search(self) -> None:
        """Search by name instead of scanning."""
        SearchPanel(self.vm, on_pick=self._picked).open()

    def _picked(self, sku: str) -> None:
        if self.purpose == "shop":
            self.vm.open_product(sku)
        else:
            self.vm.pick(self.purpose, sku)

    def reset(self) -> None:
        self.purpose = "shop"
        self.ids.preview.clear()
