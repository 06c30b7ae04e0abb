"""Text folding for search: case, diacritics and Arabic/Persian letter variants, the same for index and query."""

from __future__ import annotations

import functools
import re
import unicodedata

from mqtt.payloads import Product

_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_LETTERS = str.maketrans({
    # Arabic and Persian keyboards type different code points for the same letter.
    "\u064a": "\u06cc", "\u0649": "\u06cc", "\u0626": "\u06cc",  # ي ى ئ -> ی
    "\u0643": "\u06a9",  # ك -> ک
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # أ إ آ ٱ -> ا
    "\u0624": "\u0648", "\u0629": "\u0647",  # ؤ -> و, ة -> ه
    # Latin letters that are not a base letter plus a combining mark.
    "đ": "d", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "ı": "i", "þ": "th",
    **{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)},
})
_JOINERS = re.compile("[\u200c\u200d\u00ad]")
_WORD_RE = re.compile(r"\w+")


def fold(text: str) -> str:
    """Case-, diacritic- and script-variant-insensitive form of text, used for indexing and for queries."""
    if text.isascii():
        return text.lower()
    # ASCII words (numbers, SKUs, Latin names) fold to lower case; only the others go through the cache, which
    # unique words such as pack sizes would otherwise flush.
    return " ".join([word.lower() if word.isascii() else _fold_word(word) for word in text.split()])


@functools.lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    # Catalogues repeat their words ("ekologisk", "mjölk") thousands of times: fold each one once.
    word = unicodedata.normalize("NFKC", word).casefold()
    word = _ARABIC_MARKS.sub("", word).translate(_LETTERS)
    word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", word)


def query_words(text: str) -> list[str]:
    """Folded words of a search query (a Persian zero-width non-joiner joins, as most people type it)."""
    return _WORD_RE.findall(fold(_JOINERS.sub("", text)))[:8]


def index_names(product: Product) -> str:
    """Folded names of every locale, once each, as one text for the search index."""
    names = " ".join(dict.fromkeys(product.names.values()))
    if _JOINERS.search(names):
        # Index both "می‌خواهم" as one word and as two, so either way of typing it is found.
        names = f"{_JOINERS.sub('', names)} {_JOINERS.sub(' ', names)}"
    return fold(names)
