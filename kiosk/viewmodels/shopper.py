"""View-models of the shopper's screens: start, scan, product, photo recognition, cart and hand-off."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from edge.cart import CartError, CartSnapshot, OutOfStock
from edge.client_types import StoreNotReady
from edge.nearby import NearbyStock
from edge.views import ProductView
from kiosk.i18n.translator import tr
from kiosk.viewmodels.base import CameraModel, ScreenModel
from mqtt.commerce import Handoff, LineRequest
from mqtt.payloads import Money
from mqtt.recalls import Recall

if TYPE_CHECKING:
    from vision.recognition import Recognition

Failed = Callable[[Exception], None]


class AttractModel(ScreenModel):
    """The start screen: languages and the ways in."""

    def set_language(self, code: str) -> None:
        """Switch every text to another language."""
        self._ctl.set_language(code)


class ScanModel(CameraModel):
    """Scanning for shoppers, or picking a product for a staff tool."""

    def pick(self, purpose: str, sku: str) -> None:
        """Hand a product back to the staff tool that asked for it."""
        self._ctl.nav.back()
        self._ctl.updates.dispatch("on_pick", purpose, sku)


class ProductModel(ScreenModel):
    """One product: cache look-ups, stock nearby, cart and checkout."""

    relays = ("on_stock", "on_product", "on_connection", "on_recalls")

    @property
    def is_shopper(self) -> bool:
        """A shopper's device (staff devices report no empty shelves)."""
        return self._ctl.config.is_shopper

    def report_empty(self, sku: str, done: Callable[[bool], None]) -> None:
        """Tell the staff the shelf is empty (worker thread)."""
        self.run(lambda: self._client.report_empty(sku), done, lambda _exc: None)

    def nearby(self, sku: str, done: Callable[[NearbyStock], None], failed: Failed) -> None:
        """Stock of the other stores (worker thread)."""
        self.run(lambda: self._client.nearby(sku), done, failed)

    def add_to_cart(self, sku: str, name: str) -> None:
        """One more in the cart (refused politely when the shelf is empty)."""
        line = next((line for line in self._client.cart.snapshot().lines if line.sku == sku), None)
        if line is not None and line.labelled:
            self.notify(tr._("This is sold by weight: scan the label of each pack to add it."), "error")
            return
        self._add(name, lambda: self._client.cart.add(sku))

    def add_pack(self, sku: str, name: str, measure: Decimal | None, label_price: Money | None) -> None:
        """The scanned pack in the cart, with the weight or price its label carries."""
        self._add(name, lambda: self._client.cart.add_measured(sku, measure, label_price))

    def _add(self, name: str, add: Callable[[], object]) -> None:
        """Put something in the cart and say so, or say politely why not."""
        try:
            add()
        except OutOfStock as exc:
            text = tr._("Not enough in stock here ({n} left). You can have it sent home or reserve it.")
            self.notify(text.format(n=self.fmt.number(exc.available)), "error")
            return
        except (CartError, StoreNotReady) as exc:
            self.notify(str(exc), "error")
            return
        self.notify(tr._("Added to your cart: {name}").format(name=name), "ok")

    def recall_for(self, product: ProductView, batch: str | None) -> Recall | None:
        """The recall in force now for a product, and for its batch when a scan gave one."""
        return self._client.product_recall(product, batch)

    def report_expired(self, sku: str, batch: str, expiry: date) -> None:
        """Ask staff to take an expired batch off the shelf (worker thread; once per batch and session)."""
        self.run(lambda: self._client.report_expired(sku, batch, expiry), None, lambda _exc: None)

    def checkout(self, sku: str, kind: str) -> None:
        """Deliver or reserve one of this product."""
        self._ctl.start_checkout([LineRequest(sku=sku, quantity=1)], None, kind)


class RecogniseModel(CameraModel):
    """Photo recognition on the newest camera frame."""

    def suggest(self, done: Callable[[Recognition], None], failed: Failed) -> bool:
        """Recognise the newest frame (worker thread); False when there is no frame yet."""
        frame = self._ctl.camera.latest()
        if frame is None:
            return False
        self.run(lambda: self._ctl.recognition.suggest(frame), done, failed)
        return True


class CartModel(ScreenModel):
    """The cart: quantities, checkout, hand-off to a phone."""

    relays = ("on_cart", "on_cart_opened")

    def snapshot(self) -> CartSnapshot | None:
        """The cart as it is now (None before the store is known)."""
        return self._client.cart_snapshot()

    def change(self, sku: str, delta: int) -> None:
        """Plus or minus one; zero removes the line."""
        cart = self._client.cart
        line = next((line for line in cart.snapshot().lines if line.sku == sku), None)
        current = line.quantity if line is not None else 0
        if line is not None and line.labelled:
            current = 0 if delta < 0 else current  # weighed packs: minus takes the line out, only a scan adds one
            delta = 0
        try:
            cart.set_quantity(sku, max(0, current + delta))
        except CartError as exc:
            if isinstance(exc, OutOfStock):
                self.notify(tr._("Only {n} in stock here.").format(n=self.fmt.number(exc.available)), "error")
            else:
                self.notify(str(exc), "error")

    def checkout(self, kind: str) -> None:
        """Pay at the till, send home or pick up later, for the whole cart."""
        try:
            cart = self._client.cart
        except StoreNotReady:
            return
        lines = cart.requests()
        if lines:
            self._ctl.start_checkout(lines, cart.online_cart_id, kind)

    def export_cart(self, done: Callable[[Handoff], None], failed: Failed) -> None:
        """A single-use code that moves the cart to a phone (worker thread)."""
        self.run(self._client.export_cart, done, failed)


class HandoffModel(ScreenModel):
    """Opening an online cart from its hand-off code."""

    def redeem(self, token: str, issuer: str | None, done: Callable[[CartSnapshot, tuple[str, ...]], None],
               failed: Failed) -> None:
        """Open the cart a code stands for (worker thread); ``done`` also gets the SKUs this store does not sell."""
        self.run(lambda: self._client.redeem(token, issuer=issuer), lambda opened: done(*opened), failed)
