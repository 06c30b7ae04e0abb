"""System fonts that cover our languages, registered with Kivy, and text measuring for our own line breaking."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from kivy.core.text import Label as CoreLabel
from kivy.core.text import LabelBase

from kiosk.text.bidi import is_arabic_char

log = logging.getLogger(__name__)

LATIN = "AisleLatin"  # Latin, Vietnamese, Nordic letters, digits, symbols
ARABIC = "AisleArabic"  # Persian and Arabic
MONO = "AisleMono"
# Arabic script at the same pixel size looks a size smaller than Latin beside it; this evens them out.
ARABIC_SCALE = 1.12

_CANDIDATES = {
    LATIN: [("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
             "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")],
    ARABIC: [
        ("/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
         "/usr/share/fonts/truetype/noto/NotoSansArabic-Bold.ttf"),
        ("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf",
         "/usr/share/fonts/truetype/noto/NotoNaskhArabic-Bold.ttf"),
        ("/system/fonts/NotoNaskhArabic-Regular.ttf", "/system/fonts/NotoNaskhArabic-Bold.ttf"),  # Android
    ],
    MONO: [("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
            "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")],
}
_registered: set[str] = set()
PATHS: dict[str, str] = {}  # family -> regular font file, for glyph coverage checks


class FontMissing(RuntimeError):
    """No font with the glyphs a language needs was found."""


def register_fonts(extra_dirs: tuple[Path, ...] = ()) -> dict[str, str]:
    """Register our font families with Kivy; missing ones fall back to Kivy's Roboto (logged)."""
    chosen: dict[str, str] = {}
    for family, candidates in _CANDIDATES.items():
        options = [(str(d / Path(r).name), str(d / Path(b).name)) for d in extra_dirs for r, b in candidates]
        for regular, bold in options + candidates:
            if Path(regular).is_file():
                LabelBase.register(family, regular, fn_bold=bold if Path(bold).is_file() else regular)
                chosen[family] = regular
                PATHS[family] = regular
                break
        else:
            log.warning("no font for %s found; Kivy's default font lacks some of its glyphs", family)
            LabelBase.register(family, "Roboto-Regular.ttf", fn_bold="Roboto-Bold.ttf")
            chosen[family] = "Roboto"
        _registered.add(family)
    return chosen


@lru_cache(maxsize=64)
def _core(font: str, size: int, bold: bool) -> CoreLabel:
    return CoreLabel(font_name=font, font_size=size, bold=bold)


@lru_cache(maxsize=20000)
def _run_width(text: str, font: str, size: int, bold: bool) -> int:
    return int(_core(font, size, bold).get_extents(text)[0])


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in pixels of shaped text drawn with our per-run fonts."""
    total, run, arabic = 0, "", False
    arabic_size = int(size * ARABIC_SCALE)
    for char in text:
        is_ar = is_arabic_char(char)
        if run and is_ar != arabic and not (arabic and char == " "):
            total += _run_width(run, ARABIC, arabic_size, bold) if arabic else _run_width(run, LATIN, int(size), bold)
            run = ""
        if not run:
            arabic = is_ar
        run += char
    if run:
        total += _run_width(run, ARABIC, arabic_size, bold) if arabic else _run_width(run, LATIN, int(size), bold)
    return total
