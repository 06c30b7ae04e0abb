"""What every screen has: its view-model, parameters before showing, reset, language refresh."""

from __future__ import annotations

from typing import Any

from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.screenmanager import Screen

from codes.scanned import Intent
from edge.device import StockView
from kiosk.viewmodels.base import ScreenModel


class AisleScreen(Screen):
    """Base of the app's screens; layout lives in the screen's .kv file, behaviour here."""

    title = StringProperty("")
    model: type[ScreenModel] = ScreenModel  # the type of this screen's view-model
    vm = ObjectProperty(None, allownone=True)  # the screen's view-model: set by the app before the first texts

    def prepare(self, **params: Any) -> None:
        """Called with navigation parameters before the screen shows."""

    def reset(self) -> None:
        """A session ended: forget everything the shopper did here."""

    def relabel(self) -> None:
        """The language changed: recompute texts built in Python."""

    def on_scan(self, intent: Intent) -> bool:
        """A code was scanned while this screen shows; True when the screen handled it."""
        return False

    def stock_changed(self, view: StockView) -> None:
        """Live stock of a product changed."""
