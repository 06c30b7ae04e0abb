"""Display state every widget follows: language direction, text size, contrast, colours and target sizes."""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.utils import get_color_from_hex as rgb

from kiosk.formatting import Formatter

PALETTES = {
    # Text on surfaces keeps at least 7:1 contrast (WCAG AAA) in both palettes; muted text at least 4.5:1.
    False: {"bg": "#F4F4F1", "surface": "#FFFFFF", "fg": "#141414", "muted": "#4D4D4D", "line": "#C9C9C4",
            "accent": "#0B5E43", "accent_text": "#FFFFFF", "ok": "#176B32", "warn": "#8A4B00", "danger": "#A1001C",
            "secondary": "#E3E8E5", "secondary_text": "#0B3B2B", "overlay": "#000000B8", "flash": "#1F9D55"},
    True: {"bg": "#000000", "surface": "#101010", "fg": "#FFFFFF", "muted": "#E6E6E6", "line": "#FFFFFF",
           "accent": "#FFD400", "accent_text": "#000000", "ok": "#7CFF8A", "warn": "#FFD400", "danger": "#FF8A8A",
           "secondary": "#1E1E1E", "secondary_text": "#FFFFFF", "overlay": "#000000E0", "flash": "#7CFF8A"},
}


class UiState(EventDispatcher):
    """One per app (``ui``); kv rules bind to its properties, e.g. ``font_size: ui.fscale * sp(20)``."""

    lang = StringProperty("en")
    rtl = BooleanProperty(False)
    mode = OptionProperty("kiosk", options=["kiosk", "phone", "staff"])
    landscape = BooleanProperty(True)
    text_scale = NumericProperty(1.0)
    high_contrast = BooleanProperty(False)
    palette = NumericProperty(0)  # bumped once the colours of a palette switch are all set
    fscale = NumericProperty(1.0)  # font scale: mode base size times the shopper's text size
    target = NumericProperty(dp(72))  # smallest touch target
    gap = NumericProperty(dp(16))
    halign = StringProperty("left")  # "start" of a line in the current direction
    fmt = ObjectProperty(Formatter("en"), rebind=True)  # numbers and prices in the current language

    bg = ColorProperty(rgb(PALETTES[False]["bg"]))
    surface = ColorProperty(rgb(PALETTES[False]["surface"]))
    fg = ColorProperty(rgb(PALETTES[False]["fg"]))
    muted = ColorProperty(rgb(PALETTES[False]["muted"]))
    line = ColorProperty(rgb(PALETTES[False]["line"]))
    accent = ColorProperty(rgb(PALETTES[False]["accent"]))
    accent_text = ColorProperty(rgb(PALETTES[False]["accent_text"]))
    secondary = ColorProperty(rgb(PALETTES[False]["secondary"]))
    secondary_text = ColorProperty(rgb(PALETTES[False]["secondary_text"]))
    ok = ColorProperty(rgb(PALETTES[False]["ok"]))
    warn = ColorProperty(rgb(PALETTES[False]["warn"]))
    danger = ColorProperty(rgb(PALETTES[False]["danger"]))
    overlay = ColorProperty(rgb(PALETTES[False]["overlay"]))
    flash = ColorProperty(rgb(PALETTES[False]["flash"]))

    def on_high_contrast(self, _instance: UiState, value: bool) -> None:
        for name, colour in PALETTES[bool(value)].items():
            setattr(self, name, rgb(colour))
        self.palette += 1  # after every colour: a label bound to one of them would read the others half-changed

    def on_rtl(self, _instance: UiState, value: bool) -> None:
        self.halign = "right" if value else "left"

    def on_mode(self, *_args: object) -> None:
        self._sizes()

    def on_text_scale(self, *_args: object) -> None:
        self._sizes()

    def _sizes(self) -> None:
        kiosk = self.mode == "kiosk"
        self.fscale = (1.2 if kiosk else 1.0) * self.text_scale
        # Targets grow with the text so large-text labels never overflow their buttons.
        self.target = dp(76 if kiosk else 54) * max(1.0, self.text_scale * 0.9)
        self.gap = dp(18 if kiosk else 12)

    def align(self, where: str) -> str:
        """Kivy halign for "start", "end" or "center" in the current direction."""
        if where == "start":
            return "right" if self.rtl else "left"
        if where == "end":
            return "left" if self.rtl else "right"
        return where


ui = UiState()
