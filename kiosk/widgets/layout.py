"""Layouts that mirror in right-to-left languages and turn from rows into columns on portrait screens."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.properties import BooleanProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.theme import ui


class DirBox(BoxLayout):
    """A BoxLayout whose horizontal order follows the reading direction.

    With ``responsive`` it is a row on landscape screens and a column on portrait ones.
    """

    responsive = BooleanProperty(False)
    mirror = BooleanProperty(True)

    def __init__(self, **kwargs: object) -> None:
        self._reversed = False
        super().__init__(**kwargs)
        ui.fbind("rtl", self._apply)
        ui.fbind("landscape", self._apply)
        self.fbind("responsive", self._apply)
        Clock.schedule_once(self._apply, 0)

    def on_kv_post(self, base_widget: object) -> None:
        self._apply()

    def _apply(self, *_args: object) -> None:
        if self.responsive:
            self.orientation = "horizontal" if ui.landscape else "vertical"
        want = bool(self.mirror and ui.rtl and self.orientation == "horizontal")
        if want != self._reversed:
            children = list(self.children)  # children[0] was added last
            self.clear_widgets()
            for child in children:
                self.add_widget(child)
            self._reversed = want
