"""Labels and buttons that shape Arabic script, lay out right-to-left and grow with large text."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.metrics import sp
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from kiosk.text import bidi
from kiosk.text.baseline import BaselineMarkupLabel
from kiosk.text.fonts import ARABIC, ARABIC_SCALE, LATIN, text_width
from kiosk.theme import ui

# Our own line breaks must never be re-broken by Kivy: leave it a little slack for rounding.
WRAP_SLACK = 0.97


class AText(Label):
    """A label for any language: set ``raw`` (logical text); ``text`` is derived markup.

    Height follows the text (``auto_height``), so large text pushes layouts instead of clipping.
    """

    raw = StringProperty("")
    align = OptionProperty("start", options=["start", "center", "end"])
    direction = OptionProperty("ui", options=["ui", "ltr", "rtl"])  # a line in another language than the UI's
    auto_height = BooleanProperty(True)
    wrap = BooleanProperty(True)
    fit_words = BooleanProperty(False)  # shrink (to 60 %) rather than break a word that is wider than the label
    word_scale = NumericProperty(1.0)  # multiply font_size by this in kv where fit_words is on
    # The colour by role, so high contrast recolours every label; "custom" leaves ``color`` to its owner.
    tone = OptionProperty("fg", options=["fg", "muted", "ok", "warn", "danger", "on_notice", "custom"])

    def __init__(self, **kwargs: object) -> None:
        self._relayout = Clock.create_trigger(self._do_layout, -1)
        kwargs.setdefault("markup", True)
        kwargs.setdefault("font_name", LATIN)
        super().__init__(**kwargs)
        for name in ("raw", "width", "font_size", "bold", "align", "wrap", "padding", "direction"):
            self.fbind(name, self._relayout)
        ui.fbind("rtl", self._relayout)
        self.fbind("texture_size", self._fit_height)
        self.fbind("tone", self._recolour)
        ui.fbind("palette", self._recolour)  # the palette changed (high contrast on or off)
        self._recolour()
        self._do_layout()

    def _recolour(self, *_args: object) -> None:
        if self.tone == "custom":
            return
        if self.tone == "on_notice":
            colour = ui.bg if ui.high_contrast else ui.accent_text
        else:
            colour = getattr(ui, self.tone)
        self.color = list(colour)

    def _create_label(self) -> None:
        # Label would make a plain MarkupLabel; ours puts Arabic and Latin runs on one baseline.
        if isinstance(self._label, BaselineMarkupLabel):
            return
        options = {x: getattr(self, x) for x in self._font_properties}
        options["usersize"] = self.text_size
        if self.disabled:
            options["color"] = self.disabled_color
            options["outline_color"] = self.disabled_outline_color
        self._label = BaselineMarkupLabel(**options)

    def _do_layout(self, *_args: object) -> None:
        rtl = ui.rtl if self.direction == "ui" else self.direction == "rtl"
        self.halign = {"start": "right" if rtl else "left", "end": "left" if rtl else "right"}.get(self.align, "center")
        self.valign = "middle"
        raw = bidi.separators(self.raw)
        if not raw and self.auto_height:
            self.height = 0  # no texture update follows an empty text, so no _fit_height either
        pad = self.padding[0] + self.padding[2] if len(self.padding) == 4 else 2 * self.padding[0]
        width = max(1.0, self.width - pad)
        if self.fit_words and raw.strip() and self.width > 1:
            natural = self.font_size / self.word_scale
            widest = max(text_width(bidi.shape(w), natural, self.bold) for w in raw.split())
            scale = max(0.6, min(1.0, width * WRAP_SLACK / widest)) if widest else 1.0
            if abs(scale - self.word_scale) > 0.01:
                self.word_scale = scale  # the kv rule recomputes font_size, which lays out again
                return
        if bidi.needs_help(raw):
            size, bold = self.font_size, self.bold
            lines_width = width * WRAP_SLACK if self.wrap else None
            self.text = bidi.layout(raw, rtl, lines_width, lambda s: text_width(s, size, bold), ARABIC,
                                    int(size * ARABIC_SCALE))
            # Arabic fonts have tall ascent and descent; full line spacing would look double-spaced.
            self.line_height = 0.8 if "\n" in self.text else 1.0
        else:
            self.text = bidi.escape(raw)
            self.line_height = 1.1
        self.text_size = (width + pad if self.wrap else None, None)

    def _fit_height(self, *_args: object) -> None:
        if self.auto_height:
            self.height = self.texture_size[1] if self.raw else 0


class AButton(ButtonBehavior, BoxLayout):
    """A large, clearly labelled button; ``kind`` picks its colours."""

    text = StringProperty("")
    kind = OptionProperty("primary", options=["primary", "secondary", "ghost", "danger", "choice"])
    selected = BooleanProperty(False)
    fit = BooleanProperty(False)  # as wide as its text (top bars, chips) instead of filling the row
    hidden = BooleanProperty(False)  # takes no room and no touches (not just invisible)
    font_scale = NumericProperty(1.0)
    fit_factor = NumericProperty(1.0)  # below 1 when the longest word would not fit at full size
    bg_color = ColorProperty((0, 0, 0, 0))
    fg_color = ColorProperty((0, 0, 0, 1))

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        for name in ("kind", "state", "disabled", "selected"):
            self.fbind(name, self._recolour)
        for name in ("accent", "accent_text", "secondary", "secondary_text", "fg", "danger", "muted", "surface",
                     "line", "bg"):
            ui.fbind(name, self._recolour)
        self._recolour()

    def on_kv_post(self, base_widget: object) -> None:
        label = self.ids.label
        label.fbind("texture_size", self._fit)
        self.fbind("fit", self._fit)
        self.fbind("hidden", self._fit)
        self._fit()
        self._shrink = Clock.create_trigger(self._shrink_words, 0)
        for name in ("text", "width", "font_scale", "padding"):
            self.fbind(name, self._shrink)
        ui.fbind("fscale", self._shrink)
        self._shrink()

    def _shrink_words(self, *_args: object) -> None:
        # A button never breaks a word over two lines: the text gets smaller instead (down to 60 %).
        if self.fit or not self.text.strip():
            self.fit_factor = 1.0
            return
        room = self.width - self.padding[0] * 2 - 4
        size = ui.fscale * sp(20) * self.font_scale
        widest = max(text_width(bidi.shape(word), size, True) for word in self.text.split())
        self.fit_factor = max(0.6, min(1.0, room / widest)) if widest > 0 and room > 0 else 1.0

    def _fit(self, *_args: object) -> None:
        if self.fit:
            label = self.ids.label
            label.wrap = False
            self.size_hint_x = None
            self.width = 0 if self.hidden else max(ui.target, label.texture_size[0] + self.padding[0] * 2 + 8)

    def on_touch_down(self, touch: object) -> bool:
        if self.hidden:
            return False
        return bool(super().on_touch_down(touch))

    def _recolour(self, *_args: object) -> None:
        kind = "primary" if self.kind == "choice" and self.selected else self.kind
        if kind == "choice":
            kind = "secondary"
        bg, fg = {
            "primary": (ui.accent, ui.accent_text),
            "secondary": (ui.secondary, ui.secondary_text),
            "ghost": (ui.bg, ui.fg),
            "danger": (ui.danger, ui.accent_text if not ui.high_contrast else ui.bg),
        }[kind]
        if self.disabled:
            bg, fg = ui.secondary, ui.muted
        elif self.state == "down":
            bg = [c * 0.8 for c in list(bg)[:3]] + [1]
        # Copies: a Kivy list property handed another property's ObservableList ends up entangled with it.
        self.bg_color, self.fg_color = list(bg), list(fg)
