"""Right-to-left text for a renderer that knows neither shaping nor bidi: shape, wrap, reorder, pick fonts per run.

Kivy draws code points left to right with one font. Arabic script needs contextual letter forms
(arabic-reshaper turns letters into presentation forms), the Unicode bidi algorithm to order runs,
line breaking *before* reordering (a reordered paragraph wrapped by Kivy would put its last words on the
first line), and a font switch per run because the Arabic fonts lack Latin letters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

import arabic_reshaper

# The Rust get_display of python-bidi 0.6 does not mirror brackets; the reference implementation does.
from bidi.algorithm import get_display

from kiosk.formatting import BIDI_MARKS

Measure = Callable[[str], float]

_ARABIC_DIGITS = frozenset("\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
                           "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9")
_ARABIC_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x0870, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
_JOINERS = "\u200c\u200d"


def separators(text: str) -> str:
    """Beside Arabic-Indic digits a middle dot reads as zero (٠ and ۰ are dots): use the Arabic comma there."""
    if " · " in text and not _ARABIC_DIGITS.isdisjoint(text):
        return text.replace(" · ", "، ")
    return text


def is_arabic_char(char: str) -> bool:
    """Whether a character needs the Arabic-script font."""
    code = ord(char)
    return char in _JOINERS or any(lo <= code <= hi for lo, hi in _ARABIC_BLOCKS)


def has_rtl(text: str) -> bool:
    """Whether the text holds right-to-left letters."""
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def needs_help(text: str) -> bool:
    """Whether Kivy alone would draw this wrongly (Arabic script or any RTL letters)."""
    return any(is_arabic_char(c) for c in text) or has_rtl(text)


@lru_cache(maxsize=4096)
def shape(text: str) -> str:
    """Contextual letter forms (logical order kept); text without Arabic script is returned as is."""
    if not any(is_arabic_char(c) for c in text):
        return text
    return arabic_reshaper.reshape(text)


@lru_cache(maxsize=4096)
def visual(line: str, rtl: bool) -> str:
    """One already shaped line in display order, bidi controls removed."""
    return get_display(line, base_dir="R" if rtl else "L").translate(BIDI_MARKS)


def wrap(text: str, width: float, measure: Measure) -> list[str]:
    """Greedy word wrap of logical text to ``width``; words longer than a line are split."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if not current or measure(candidate) <= width:
                current = candidate
                if measure(current) > width and " " not in current:
                    pieces = _split_long(current, width, measure)
                    lines.extend(pieces[:-1])
                    current = pieces[-1]
                continue
            lines.append(current)
            current = word
            if measure(current) > width:
                pieces = _split_long(current, width, measure)
                lines.extend(pieces[:-1])
                current = pieces[-1]
        lines.append(current)
    return lines


def _split_long(word: str, width: float, measure: Measure) -> list[str]:
    pieces, current = [], ""
    for char in word:
        if current and measure(current + char) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    return [*pieces, current]


def escape(text: str) -> str:
    """Escape Kivy markup characters."""
    return text.replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


def font_runs(line: str, arabic_font: str, arabic_size: int | None = None) -> str:
    """Kivy markup that draws Arabic-script runs in ``arabic_font`` (at ``arabic_size`` px) and the rest in the
    label's own font."""
    out: list[str] = []
    run, run_arabic = "", False
    for char in line:
        arabic = is_arabic_char(char)
        # Spaces and punctuation between Arabic words stay in the Arabic run, so runs stay few and long.
        if run and arabic != run_arabic and not (run_arabic and char == " "):
            out.append(_run(run, run_arabic, arabic_font, arabic_size))
            run = ""
        if not run:
            run_arabic = arabic
        run += char
    if run:
        out.append(_run(run, run_arabic, arabic_font, arabic_size))
    return "".join(out)


def _run(text: str, arabic: bool, font: str, size: int | None) -> str:
    if not arabic:
        return escape(text)
    if size:
        return f"[font={font}][size={size}]{escape(text)}[/size][/font]"
    return f"[font={font}]{escape(text)}[/font]"


def layout(text: str, rtl: bool, width: float | None, measure: Measure, arabic_font: str,
           arabic_size: int | None = None) -> str:
    """Markup for ``text``: shaped, wrapped to ``width`` (None: one line per paragraph), reordered per line."""
    shaped = shape(text)
    lines = wrap(shaped, width, measure) if width and width > 0 else shaped.split("\n")
    return "\n".join(font_runs(visual(line, rtl), arabic_font, arabic_size) for line in lines)
