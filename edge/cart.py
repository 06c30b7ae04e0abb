"""The shopper's cart on a device, priced with the same rule as the backend and every other channel.

Weighed items (for the kiosk): ``add_measured(sku, measure=Decimal("0.734"), label_price=Money | None)`` adds one
scanned pack with its weight in kg and/or the price printed in its code; a second pack of the product adds its weight
to the line and counts one more pack. Such a line is not changed with +/- (``CartError``), only removed with 0.
``CartSnapshot.mismatched`` lists lines whose label price disagrees with what the catalogue charges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from mqtt.commerce import (
    MAX_LINES,
    Cart,
    CartLine,
    LineRequest,
    PricingError,
    add_pack,
    as_request,
    make_line,
    price_line,
    refuse_plain_change,
    total,
)
from mqtt.payloads import Money

PriceOf = Callable[[str], Money | None]
AvailableOf = Callable[[str], int | None]
UnitOf = Callable[[str], str | None]  # the catalogue unit ("kg": priced per kg); None when unknown


class CartError(Exception):
    """A cart change cannot be made."""


class UnknownProduct(CartError):
    """The product is not in this store's catalogue."""


class OutOfStock(CartError):
    """Fewer units are available here than asked for; ``available`` says how many."""

    def __init__(self, sku: str, available: int) -> None:
        super().__init__(f"only {available} of {sku} available here")
        self.sku = sku
        self.available = available


@dataclass(frozen=True)
class CartSnapshot:
    """An immutable view of the cart for the UI thread."""

    currency: str
    lines: tuple[CartLine, ...]
    total: Money
    online_cart_id: str | None

    @property
    def flagged(self) -> tuple[CartLine, ...]:
        """Lines whose price changed since they were added."""
        return tuple(line for line in self.lines if line.price_changed_from is not None)

    @property
    def mismatched(self) -> tuple[CartLine, ...]:
        """Lines whose label price disagrees with the catalogue's total (the total is what is charged)."""
        return tuple(line for line in self.lines if line.label_mismatch)


class DeviceCart:
    """Lines, quantities and prices; thread-safe, and notifies listeners with snapshots."""

    def __init__(self, currency: str, price_of: PriceOf, available_of: AvailableOf,
                 unit_of: UnitOf | None = None) -> None:
        self.currency = currency
        self._price_of = price_of
        self._available_of = available_of
        self._unit_of = unit_of or (lambda sku: None)
        self._lock = threading.Lock()
        self._lines: dict[str, CartLine] = {}
        self.online_cart_id: str | None = None
        self.listeners: list[Callable[[CartSnapshot], None]] = []

    def add(self, sku: str, quantity: int = 1, *, check_stock: bool = True) -> CartSnapshot:
        """Add units; refuses more than are available here unless ``check_stock`` is off (send home, pickup)."""
        with self._lock:
            current = self._lines.get(sku)
            wanted = (current.quantity if current else 0) + quantity
        return self.set_quantity(sku, wanted, check_stock=check_stock)

    def set_quantity(self, sku: str, quantity: int, *, check_stock: bool = True) -> CartSnapshot:
        """Set a line's quantity (0 removes it)."""
        if quantity < 0 or quantity > 99:
            raise CartError("quantity must be between 0 and 99")
        if quantity == 0:
            return self.remove(sku)
        with self._lock:
            held = self._lines.get(sku)
        try:
            refuse_plain_change(sku, held is not None and held.labelled,
                                quantity, None, None)
        except PricingError as exc:
            raise CartError(str(exc)) from None
        price = self._price(sku)
        if check_stock:
            available = self._available_of(sku) or 0
            if quantity > available:
                raise OutOfStock(sku, available)
        with self._lock:
            if sku not in self._lines and len(self._lines) >= MAX_LINES:
                raise CartError(f"a cart holds at most {MAX_LINES} different products")
            previous = self._lines.get(sku)
            self._lines[sku] = make_line(sku, price, quantity,
                                         price_changed_from=previous.price_changed_from if previous else None)
        return self._changed()

    def add_measured(self, sku: str, measure: Decimal | None = None, label_price: Money | None = None, *,
                     check_stock: bool = True) -> CartSnapshot:
        """Add one scanned pack of a weighed or price-labelled item: its weight in kg and/or its label price.

        Priced from the catalogue by ``mqtt.commerce.price_line`` (a price-only label of a per-kg product gives the
        weight); a label price that disagrees is kept and flagged. A weighed line takes ceil(kg) stock units.
        Raises CartError (UnknownProduct, OutOfStock) with a reason to show.
        """
        if measure is None and label_price is None:
            raise CartError(f"a pack of {sku} needs its weight or its label price")
        price = self._price(sku)
        try:
            pack = price_line(sku, price, self._unit_of(sku) or "each", 1, measure, label_price)
        except PricingError as exc:
            raise CartError(str(exc)) from None
        available = (self._available_of(sku) or 0) if check_stock else None
        with self._lock:
            previous = self._lines.get(sku)
            if previous is None and len(self._lines) >= MAX_LINES:
                raise CartError(f"a cart holds at most {MAX_LINES} different products")
            try:
                line = add_pack(previous, pack) if previous is not None else pack
            except PricingError as exc:
                raise CartError(str(exc)) from None
            units = as_request(line).units
            if available is not None and units > available:
                raise OutOfStock(sku, available)
            self._lines[sku] = line
        return self._changed()

    def _price(self, sku: str) -> Money:
        price = self._price_of(sku)
        if price is None:
            raise UnknownProduct(f"{sku} is not sold in this store")
        if price.currency != self.currency:
            raise CartError(f"{sku} is priced in {price.currency}, this cart in {self.currency}")
        return price

    def remove(self, sku: str) -> CartSnapshot:
        """Remove a line."""
        with self._lock:
            self._lines.pop(sku, None)
        return self._changed()

    def reprice(self, sku: str) -> bool:
        """Apply the catalogue's current price to a line; a change is kept and flagged for the shopper."""
        price = self._price_of(sku)
        with self._lock:
            line = self._lines.get(sku)
            if line is None or price is None or price == line.unit_price:
                return False
            original = line.price_changed_from or line.unit_price
            self._lines[sku] = make_line(sku, price, line.quantity, line.measure, line.label_price,
                                         price_changed_from=None if original == price else original)
        self._changed()
        return True

    def load(self, cart: Cart) -> CartSnapshot:
        """Replace the contents with an online cart opened by handoff."""
        if cart.currency != self.currency:
            raise CartError(f"that cart is priced in {cart.currency}; this store uses {self.currency}")
        with self._lock:
            self._lines = {line.sku: line for line in cart.lines}
            self.online_cart_id = cart.cart_id
        return self._changed()

    def clear(self) -> CartSnapshot:
        """Empty the cart (end of session)."""
        with self._lock:
            self._lines.clear()
            self.online_cart_id = None
        return self._changed()

    def snapshot(self) -> CartSnapshot:
        """The current cart as an immutable value."""
        with self._lock:
            lines = tuple(self._lines.values())
            online = self.online_cart_id
        return CartSnapshot(self.currency, lines, total((line.line_total for line in lines), self.currency), online)

    def requests(self) -> list[LineRequest]:
        """The lines as order or export requests."""
        with self._lock:
            return [as_request(line) for line in self._lines.values()]

    def _changed(self) -> CartSnapshot:
        snap = self.snapshot()
        for listener in list(self.listeners):
            listener(snap)
        return snap
