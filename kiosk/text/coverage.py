"""Which characters a font cannot draw (they would show as empty boxes, "tofu"); checked with FreeType via Pillow."""

from __future__ import annotations

from functools import lru_cache

from PIL import ImageFont

PROBE = "\ue000"  # a private-use code point no text font draws: what a missing glyph looks like
_INVISIBLE = set(" \u00a0\u200b\u200c\u200d\n\t")


@lru_cache(maxsize=8)
def _font(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, 32)


@lru_cache(maxsize=8)
def _notdef(path: str) -> bytes:
    return bytes(_font(path).getmask(PROBE))


@lru_cache(maxsize=20000)
def has_glyph(path: str, char: str) -> bool:
    """Whether the font at ``path`` has its own glyph for ``char``."""
    if char in _INVISIBLE:
        return True
    mask = _font(path).getmask(char)
    return bytes(mask) != _notdef(path) or mask.size == (0, 0)


def missing(text: str, path: str) -> set[str]:
    """Characters of ``text`` the font would draw as boxes."""
    return {c for c in set(text) if not has_glyph(path, c)}
