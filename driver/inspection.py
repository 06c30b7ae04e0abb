"""What a careful reviewer checks on a rendered screen: boxes for missing glyphs, unshaped Arabic, wrong order,
text that does not fit (used by tests through the driver's harness; UI thread only)."""

from __future__ import annotations

import re

from kivy.core.window import Window

from driver import automation
from kiosk.text import bidi
from kiosk.text.coverage import missing
from kiosk.text.fonts import ARABIC, LATIN, PATHS, text_width
from kiosk.widgets.text import WRAP_SLACK, AButton, AText

# Letters that join: after shaping none of them may remain (they become presentation forms).
_JOINING = re.compile("[\u0626-\u064a\u067e\u0686\u0698\u06a9\u06af\u06cc]")
_MARKUP = re.compile(r"\[/?(?:font|size)[^\]]*\]")


def plain(markup: str) -> str:
    """Rendered characters of a label's markup text."""
    return _MARKUP.sub("", markup).replace("&bl;", "[").replace("&br;", "]").replace("&amp;", "&")


def problems() -> list[str]:
    """Every visible label that would look wrong to a reader, with the reason."""
    found: list[str] = []
    for layer in automation.layers():
        for widget in layer.walk(restrict=True):
            if isinstance(widget, AText) and widget.raw and automation.shown(widget):
                found.extend(f"{reason}: {widget.raw[:60]!r}" for reason in _label_problems(widget))
            if isinstance(widget, AButton) and not widget.hidden and automation.shown(widget):
                label = widget.ids.label
                if label.height > widget.height + 1:
                    found.append(f"text taller than its button: {widget.text[:60]!r}")
    return found


def _label_problems(label: AText) -> list[str]:
    reasons = []
    shown = plain(label.text)
    arabic = "".join(c for c in shown if bidi.is_arabic_char(c))
    latin = "".join(c for c in shown if not bidi.is_arabic_char(c))
    boxes = missing(arabic, PATHS.get(ARABIC, "")) | missing(latin, PATHS.get(LATIN, "")) if PATHS else set()
    if boxes:
        reasons.append(f"no glyph for {sorted(boxes)}")
    if _JOINING.search(shown):
        reasons.append("Arabic letters not shaped")
    first = label.raw.split()[0] if label.raw.split() else ""
    if first and all(bidi.is_arabic_char(c) for c in first) and label.direction != "ltr":
        rtl = label.direction == "rtl" or (label.direction == "ui" and _ui_rtl())
        line = shown.split("\n")[0].strip()
        expected = bidi.visual(bidi.shape(first), True)
        if rtl and not line.endswith(expected):
            reasons.append("right-to-left line does not start at the right")
    if label.wrap and _broken_word(label):
        reasons.append("a word is broken across lines")
    if label.wrap and label.texture_size[0] > label.width + 2:
        reasons.append(f"text wider than its label ({label.texture_size[0]} > {label.width:.0f})")
    x, _y = label.to_window(*label.pos)
    if label.width > 1 and (x < -1 or x + label.width > Window.width + 1):
        reasons.append("label reaches outside the window")
    return reasons


def _broken_word(label: AText) -> bool:
    """Whether the lines as drawn split a word of the text (it did not fit the label's width)."""
    if bidi.needs_help(label.raw):
        shaped = bidi.shape(label.raw)
        size, bold = label.font_size, label.bold
        lines = bidi.wrap(shaped, label.width * WRAP_SLACK, lambda t: text_width(t, size, bold))
        words = set(shaped.split())
    else:
        lines = [plain("".join(w.text for w in line.words)) for line in getattr(label._label, "_cached_lines", [])]
        words = set(label.raw.split())
    return any(token not in words for line in lines for token in line.split())


def _ui_rtl() -> bool:
    from kiosk.theme import ui

    return ui.rtl
