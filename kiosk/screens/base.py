"""What every screen has: access to the controller, parameters before showing, reset, language refresh."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from edge.device import StockView
from vision.intents import Intent

if TYPE_CHECKING:
    from kiosk.controller import Controller


class AisleScreen(Screen):
    """Base of the app's screens; layout lives in the screen's .kv file, behaviour here."""

    title = StringProperty("")

    @property
    def ctl(self) -> Controller:
        """The app's controller."""
        return App.get_running_app().ctl  # type: ignore[no-any-return, union-attr]

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
