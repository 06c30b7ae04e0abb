"""Prices, numbers, times and distances in the shopper's language and the store's conventions (Babel)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal

# Babel only swaps separators for a locale's native numbering system, never the digits themselves; Persian
# readers expect Persian digits (CLDR "arabext"), so we map them. Babel's Arabic defaults to Latin digits ("latn").
NATIVE_DIGITS = {"fa": str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")}
# Bidi controls Babel puts around amounts; the shaping step orders runs itself and fonts draw them as boxes.
BIDI_MARKS = str.maketrans("", "", "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def locale_for(language: str, store_locale: str | None) -> Locale:
    """The shopper's language with the store's territory when Babel knows it (en + sv_SE -> en_SE)."""
    territory = store_locale.split("_")[1] if store_locale and "_" in store_locale else None
    for name in ([f"{language}_{territory}"] if territory else []) + [language, "en"]:
        try:
            return Locale.parse(name)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


class Formatter:
    """Formats values for one language in one store; immutable, safe on any thread."""

    def __init__(self, language: str, store_locale: str | None = None) -> None:
        self.language = language
        self.locale = locale_for(language, store_locale)
        self._digits = NATIVE_DIGITS.get(language)

    def _native(self, text: str) -> str:
        text = text.translate(BIDI_MARKS)
        return text.translate(self._digits) if self._digits else text

    def money(self, amount: Decimal | str | None, currency: str | None) -> str:
        """A price such as ``16,90 kr`` (sv), ``SEK 16.90`` (en), ``SEK ۱۶٫۹۰`` (fa)."""
        if amount is None or not currency:
            return "–"
        text = format_currency(Decimal(amount), currency, locale=self.locale, numbering_system="default")
        if text.startswith(currency) and text[len(currency):len(currency) + 1].isdigit():
            text = f"{currency}\u00a0{text[len(currency):]}"  # "SEK16.90" reads as one word
        return self._native(text)

    def number(self, value: int | float | Decimal) -> str:
        """A number with the language's separators and digits."""
        return self._native(format_decimal(value, locale=self.locale, numbering_system="default"))

    def distance(self, km: float | None) -> str:
        """``850 m`` or ``4.2 km``."""
        if km is None:
            return ""
        if km < 1:
            return f"{self.number(int(round(km * 1000, -1)))} m"
        return f"{self.number(round(Decimal(str(km)), 1))} km"

    def time(self, moment: datetime | None) -> str:
        """Local clock time, for "last known at 18:32"."""
        if moment is None:
            return "–"
        local = moment.astimezone() if moment.tzinfo else moment.replace(tzinfo=UTC).astimezone()
        return self._native(format_time(local, "short", locale=self.locale))

    def datetime(self, moment: datetime | None) -> str:
        """Date and time, short form."""
        if moment is None:
            return "–"
        local = moment.astimezone() if moment.tzinfo else moment.replace(tzinfo=UTC).astimezone()
        return self._native(format_datetime(local, "short", locale=self.locale))

    def day(self, day: date | None) -> str:
        """A calendar date, medium form (``31 Dec 2026``): a batch's expiry, a use-by day."""
        if day is None:
            return "–"
        return self._native(format_date(day, "medium", locale=self.locale))

    def weight(self, kg: Decimal) -> str:
        """A weight as a scale label prints it: ``0.734 kg``, grams kept (three decimals)."""
        text = format_decimal(kg, format="#,##0.000", locale=self.locale, numbering_system="default")
        return f"{self._native(text)}\u00a0kg"

    def digits(self, text: str) -> str:
        """Digits of an identifier-free text (a count, a countdown) in the language's script."""
        return self._native(text)
