"""One cart line: name, unit price, quantity stepper, line total and a price-change flag."""

from __future__ import annotations

from collections.abc import Callable

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout


class CartLineRow(BoxLayout):
    """Texts come formatted from the cart screen; +/- call ``on_change(sku, delta)``."""

    sku = StringProperty("")
    name = StringProperty("")
    unit = StringProperty("")
    quantity = StringProperty("")
    total = StringProperty("")
    was = StringProperty("")
    weighed = BooleanProperty(False)  # scanned packs with a weight or price: removed whole, never +1

    def __init__(self, on_change: Callable[[str, int], None], **kwargs: object) -> None:
        self._on_change = on_change
        super().__init__(**kwargs)

    def change(self, delta: int) -> None:
        """A tap on minus or plus."""
        self._on_change(self.sku, delta)
