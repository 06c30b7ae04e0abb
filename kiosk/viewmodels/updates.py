"""The update bus: changes the controller publishes (UI thread) and the view-models relay to their screens."""

from __future__ import annotations

from typing import Any

from kivy.event import EventDispatcher

UPDATES = ("on_stock", "on_product", "on_connection", "on_cart", "on_cart_opened", "on_order", "on_alerts", "on_pick",
           "on_recalls")


class UpdateEvents(EventDispatcher):
    """The changes a screen can follow (each dispatched on the UI thread)."""

    __events__ = UPDATES

    def on_stock(self, *_args: Any) -> None:
        """Live stock of a product changed (``view``)."""

    def on_product(self, *_args: Any) -> None:
        """A product's name, price or picture changed (``view``)."""

    def on_connection(self, *_args: Any) -> None:
        """The store connection went up or down (``up``)."""

    def on_cart(self, *_args: Any) -> None:
        """The cart changed (``snapshot``)."""

    def on_cart_opened(self, *_args: Any) -> None:
        """A phone took the cart this device handed off (``opened``)."""

    def on_order(self, *_args: Any) -> None:
        """An order of this device changed (``order``)."""

    def on_alerts(self, *_args: Any) -> None:
        """The store's restock alerts changed (``alerts``)."""

    def on_pick(self, *_args: Any) -> None:
        """A product was picked for a staff tool (``purpose``, ``sku``)."""

    def on_recalls(self, *_args: Any) -> None:
        """The store's recall list changed (``recalls``)."""


class Updates(UpdateEvents):
    """The controller publishes here; view-models relay what their screen shows, so nobody calls screens by name."""
