"""The languages the app speaks, how they are written, and what to call them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """A language with a catalogue: its code, its own name and its direction."""

    code: str
    native: str
    rtl: bool = False


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English"),
        Language("sv", "Svenska"),
        Language("da", "Dansk"),
        Language("fa", "فارسی", rtl=True),
        Language("ar", "العربية", rtl=True),
        Language("vi", "Tiếng Việt"),
    )
}
DEFAULT = "en"


def supported(code: str | None) -> str | None:
    """The catalogue code for a locale name (``sv_SE`` -> ``sv``), or None without a catalogue."""
    if not code:
        return None
    base = code.replace("-", "_").split("_")[0].lower()
    return base if base in LANGUAGES else None


def offered(store_locales: list[str] | tuple[str, ...]) -> list[str]:
    """Languages to offer on the attract screen: the store's, in its order, that we have; English always."""
    codes = [c for c in (supported(x) for x in store_locales) if c]
    if DEFAULT not in codes:
        codes.append(DEFAULT)
    return list(dict.fromkeys(codes))


def is_rtl(code: str) -> bool:
    """Whether a language is written right to left."""
    lang = LANGUAGES.get(code)
    return bool(lang and lang.rtl)
