"""Staff stock adjustment: pick a product (scan or search), a change, where and why; sent as stock.adjust."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, OptionProperty, StringProperty

from codes.scanned import Intent, ProductCode, ProductLink
from edge.client_types import ClientError
from edge.device import StockView
from kiosk.i18n.translator import tr
from kiosk.presenters import error_text
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.staff import AdjustModel
from kiosk.widgets.search import SearchPanel
from mqtt.payloads import StockLevel

REASONS = {"delivery": "delivery", "sold": "sold", "damaged": "damaged", "count": "count correction"}


class AdjustScreen(AisleScreen):
    """The ledger keeps the reason and this device's id with every change."""

    model = AdjustModel
    sku = StringProperty("")
    product_name = StringProperty("")
    levels = StringProperty("")
    delta = NumericProperty(0)
    location = OptionProperty("shelf", options=["shelf", "backroom"])
    reason = OptionProperty("delivery", options=list(REASONS))
    busy = BooleanProperty(False)

    def on_vm(self, _screen: object, vm: AdjustModel) -> None:
        vm.bind(on_stock=lambda _vm, view: self.stock_changed(view),
                on_pick=lambda _vm, _purpose, sku: self.set_product(sku))

    def prepare(self, **_params: Any) -> None:
        self.refresh()

    def set_product(self, sku: str) -> None:
        """Adjust this product."""
        self.sku, self.delta = sku, 0
        self.refresh()

    def relabel(self) -> None:
        self.refresh()

    def refresh(self, view: StockView | None = None) -> None:
        """Name and current levels (live from the retained stock)."""
        if not self.sku:
            self.product_name, self.levels = tr._("Scan or search for a product"), ""
            return
        vm = self.vm
        product = vm.product(self.sku)
        self.product_name = vm.name_of(product) if product else self.sku
        stock = view or vm.stock(self.sku)
        fmt = vm.fmt
        if not stock.known:
            self.levels = tr._("Stock not known yet")
            return
        self.levels = tr._("Shelf {shelf} · backroom {backroom} · reserved {reserved}").format(
            shelf=fmt.number(stock.shelf or 0), backroom=fmt.number(stock.backroom or 0),
            reserved=fmt.number(stock.reserved or 0))
        if not stock.live:
            self.levels += " · " + tr._("Offline: last known at {time}").format(time=fmt.time(stock.as_of))

    def stock_changed(self, view: StockView) -> None:
        if view.sku == self.sku:
            self.refresh(view)

    def on_scan(self, intent: Intent) -> bool:
        if isinstance(intent, ProductLink | ProductCode):
            view = self.vm.product(intent)
            if view is None:
                self.vm.notify(tr._("We do not sell this product in this store."), "error")
            else:
                self.set_product(view.sku)
            return True
        return False

    def search(self) -> None:
        """Pick the product by name."""
        SearchPanel(self.vm, on_pick=self.set_product).open()

    def step(self, amount: int) -> None:
        """Change the adjustment by ``amount``."""
        self.delta = max(-999, min(999, self.delta + amount))

    def apply(self) -> None:
        """Send the adjustment."""
        if not self.sku or not self.delta or self.busy:
            return
        sku, delta, location, reason = self.sku, int(self.delta), self.location, REASONS[self.reason]
        self.busy = True
        self.vm.adjust_stock(sku, delta, location, reason, self._done, self._failed)

    def _done(self, level: StockLevel) -> None:
        self.busy, self.delta = False, 0
        fmt = self.vm.fmt
        self.vm.notify(tr._("Saved. Shelf {shelf}, backroom {backroom}.").format(
            shelf=fmt.number(level.shelf), backroom=fmt.number(level.backroom)), "ok")

    def _failed(self, exc: Exception) -> None:
        self.busy = False
        if isinstance(exc, ClientError) and exc.code in ("forbidden", "offline"):
            detail = error_text(exc.code, tr._)
        else:
            detail = str(exc) if isinstance(exc, ClientError) else type(exc).__name__
        self.vm.notify(tr._("Not saved: {reason}").format(reason=detail), "error")

    def reset(self) -> None:
        self.sku, self.product_name, self.levels, self.delta = "", "", "", 0
