"""Letters with tone marks for the on-screen keyboard: a tone key changes the letter before the cursor."""

from __future__ import annotations

import unicodedata

# Vietnamese tones as combining marks: huyền, sắc, hỏi, ngã, nặng.
TONES = frozenset("\u0300\u0301\u0309\u0303\u0323")


def key_label(char: str) -> str:
    """What a key shows: a tone key shows its tone on an a (à á ả ã ạ), the rest their character."""
    return unicodedata.normalize("NFC", "a" + char) if char in TONES else char


def with_tone(letter: str, tone: str) -> str | None:
    """The letter carrying the tone (ê + sắc = ế), or None when no such letter exists (a consonant)."""
    composed = unicodedata.normalize("NFC", letter + tone)
    return composed if len(composed) == 1 else None
