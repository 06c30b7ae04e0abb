"""A product: picture, name, price, live stock here, shelf, stock nearby, and what the shopper can do."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from edge.batches import ScannedProduct
from edge.device import ProductView, StockView
from edge.nearby import NearbyStock
from kiosk import presenters
from kiosk.i18n.translator import tr
from kiosk.pack_text import PackText, pack_text
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.shopper import ProductModel
from kiosk.widgets.text import AText
from mqtt.commerce import sold_by_weight


class ProductScreen(AisleScreen):
    """Everything about one product; stock updates live while it shows."""

    model = ProductModel
    sku = StringProperty("")
    product_name = StringProperty("")
    details = StringProperty("")
    price = StringProperty("")
    stock = StringProperty("")
    stock_state = StringProperty("unknown")
    stock_detail = StringProperty("")
    shelf = StringProperty("")
    image = StringProperty("")
    initial = StringProperty("")
    nearby_status = StringProperty("")
    in_stock = BooleanProperty(False)
    scanned = ObjectProperty(None, allownone=True)  # the scan that opened the screen: this one pack's label
    pack = StringProperty("")
    label_note = StringProperty("")
    batch_note = StringProperty("")
    batch_tone = StringProperty("muted")
    blocked = BooleanProperty(False)  # an expired or recalled pack is not sold
    withdrawn = BooleanProperty(False)  # the whole product is recalled: not sent home or reserved either
    weighed = BooleanProperty(False)  # the label carries a weight or price: "Add this pack"
    _pack = PackText()

    def on_vm(self, _screen: object, vm: ProductModel) -> None:
        vm.bind(on_stock=lambda _vm, view: self.stock_changed(view),
                on_product=lambda _vm, view: self.product_changed(view),
                on_connection=lambda _vm, _up: self.refresh_stock(),
                on_recalls=lambda _vm, _recalls: self.refresh())

    def prepare(self, sku: str = "", scan: ScannedProduct | None = None, **_params: Any) -> None:
        if sku:
            self.sku, self.scanned = sku, scan
            if scan is not None and scan.expired and scan.batch and scan.expiry:
                self.vm.report_expired(scan.product.sku, scan.batch, scan.expiry)  # once per scan, not per redraw
        self.refresh()
        self.load_nearby()

    def relabel(self) -> None:
        if self.sku:
            self.refresh()
            self.load_nearby()

    def refresh(self) -> None:
        """Name, price and picture from the local cache."""
        vm = self.vm
        view = vm.product(self.sku) if self.sku else None
        if view is None:
            return
        self.product_name = vm.name_of(view)
        self.details = " · ".join(x for x in (view.brand, view.unit) if x)
        self.price = vm.fmt.money(view.price, view.currency)
        if sold_by_weight(view.unit):
            self.price = tr._("{price} per kg").format(price=self.price)
        self.shelf = presenters.shelf_text(view.shelf_location, tr._)
        self.image = vm.image(view)
        self.initial = (view.names.get("en") or view.sku)[:1].upper()
        self._pack = self._pack_text(view)
        self.pack, self.label_note, self.weighed = self._pack.pack, self._pack.label, self._pack.weighed
        self.batch_note, self.batch_tone, self.blocked = self._pack.note, self._pack.tone, self._pack.blocked
        self.withdrawn = self._pack.withdrawn
        self.refresh_stock()

    def _pack_text(self, view: ProductView) -> PackText:
        """This pack's weight, price and batch, with the recall in force now (a list may arrive while showing)."""
        scan = self.scanned
        recall = self.vm.recall_for(view, scan.batch if scan is not None else None)
        return pack_text(view, scan, recall, self.vm.fmt, tr._)

    def refresh_stock(self, view: StockView | None = None) -> None:
        """The stock line; offline it says when the number was last known."""
        if not self.sku:
            return
        view = view or self.vm.stock(self.sku)
        text = presenters.stock_text(view, self.vm.fmt, tr._, tr.n_)
        self.stock, self.stock_state, self.stock_detail = text.text, text.state, text.detail
        self.in_stock = bool(view.available)
        if text.state == "out" and view.live and self.vm.is_shopper:
            sku = self.sku
            self.vm.report_empty(sku, lambda sent: self._reported(sku, sent))

    def _reported(self, sku: str, sent: bool) -> None:
        if sku == self.sku and self.stock_state == "out":
            self.stock_detail = tr._("We have told the staff that the shelf is empty.")

    def stock_changed(self, view: StockView) -> None:
        if view.sku == self.sku:
            self.refresh_stock(view)

    def product_changed(self, view: ProductView) -> None:
        if view.sku == self.sku:
            self.refresh()

    def load_nearby(self) -> None:
        """Ask the other stores (retained stock), off the UI thread."""
        sku = self.sku
        self.nearby_status = tr._("Checking nearby stores…")
        self.ids.nearby.clear_widgets()
        self.vm.nearby(sku, lambda result: self._nearby_done(sku, result), lambda _exc: self._nearby_failed(sku))

    def _nearby_done(self, sku: str, nearby: NearbyStock) -> None:
        if sku != self.sku:
            return
        rows = presenters.nearby_rows(nearby, self.vm.fmt, tr._, tr.n_)
        box = self.ids.nearby
        box.clear_widgets()
        self.nearby_status = "" if rows else tr._("No other store has it.")
        tones = {"ok": "ok", "out": "danger", "stale": "warn"}
        for row in rows:
            box.add_widget(AText(raw=" · ".join(x for x in (row.name, row.distance) if x), bold=True))
            box.add_widget(AText(raw=" · ".join(x for x in (row.stock, row.price) if x),
                                 tone=tones.get(row.state, "muted")))
            if row.note:  # its own line: read as a whole, never cut off after the price
                box.add_widget(AText(raw=row.note, tone="muted"))

    def _nearby_failed(self, sku: str) -> None:
        if sku == self.sku:
            self.nearby_status = tr._("Nearby stores cannot be checked right now.")

    def add_to_cart(self) -> None:
        """One more in the cart, or the scanned pack with its weight (refused politely when the shelf is empty)."""
        if self.weighed:
            self.vm.add_pack(self.sku, self.product_name, self._pack.measure, self._pack.label_price)
        else:
            self.vm.add_to_cart(self.sku, self.product_name)

    def send_home(self) -> None:
        """Deliver this product."""
        self.vm.checkout(self.sku, "delivery")

    def reserve(self) -> None:
        """Reserve this product for pickup."""
        self.vm.checkout(self.sku, "pickup")

    def reset(self) -> None:
        self.sku = self.product_name = self.price = self.stock = self.image = ""
        self.scanned, self.pack, self.label_note, self.batch_note = None, "", "", ""
        self.blocked = self.weighed = self.withdrawn = False
        self._pack = PackText()
        self.ids.nearby.clear_widgets()
