"""GS1 element strings (GS1 DataMatrix, DataBar Expanded, GS1-128, GS1 QR, Digital Link) read into checked fields.

Parsing is biip's (pure Python, no dependencies, GS1's AI table with patterns, dates and decimals): the AI table is
hundreds of entries that GS1 revises every year, which we would rather not keep by hand. This module adds what a
shop needs on top: the GTIN check digit enforced, the fields a kiosk acts on, and one error type with a clear reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message

from codes.gtin import is_valid_gtin

MAX_ELEMENT_STRING = 512  # a GS1 DataMatrix holds at most about 2,300 characters; a product label far fewer
GS = "\x1d"
# Symbology identifiers (ISO/IEC 15424) that announce GS1 data: GS1-128, GS1 DataMatrix, GS1 DataBar and
# composite, GS1 QR, GS1 DotCode. A keyboard-wedge scanner may send one in front of the data.
GS1_SYMBOLOGY_IDS = ("]C1", "]d2", "]e0", "]e1", "]e2", "]Q3", "]J1")
_HRI_RE = re.compile(r"(\(\d{2,4}\)[^()]+)+")
_PRINTABLE_RE = re.compile(r"[\x1d\x20-\x7e]*")
_PATTERN_RE = re.compile(r" pattern '[^']*'")


class Gs1Error(ValueError):
    """A GS1 element string that cannot be trusted; the message is the reason, fit to log and show."""


@dataclass(frozen=True, slots=True)
class Gs1Data:
    """The element strings of one GS1 symbol or Digital Link, and the fields a shop acts on."""

    fields: tuple[tuple[str, str], ...]
    gtin: str | None = None
    batch: str | None = None
    serial: str | None = None
    produced: date | None = None
    packed: date | None = None
    best_before: date | None = None
    expiry: date | None = None
    count: int | None = None
    net_weight_kg: Decimal | None = None
    amount: Decimal | None = None
    amount_currency: str | None = None  # ISO 4217 numeric code from (393n); None means the store's currency

    def as_dict(self) -> dict[str, str]:
        """AI -> value as printed (the last one wins if an AI repeats, which GS1 forbids anyway)."""
        return dict(self.fields)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form: ``gs1`` (AI -> value) plus the named fields that are present."""
        out: dict[str, Any] = {"gs1": self.as_dict()}
        for name in ("gtin", "batch", "serial", "produced", "packed", "best_before", "expiry", "count",
                     "net_weight_kg", "amount", "amount_currency"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, date | Decimal):
                value = value.isoformat() if isinstance(value, date) else str(value)
            out[name] = value
        return out

    def hri(self) -> str:
        """Human-readable form, e.g. ``(01)09506000134352(17)261231(10)AB12``."""
        return "".join(f"({ai}){value}" for ai, value in self.fields)


def looks_like_element_string(text: str) -> bool:
    """True when text announces GS1 data: a GS1 symbology identifier, a leading GS, GS inside, or HRI brackets."""
    return text.startswith(GS1_SYMBOLOGY_IDS) or GS in text or bool(_HRI_RE.fullmatch(text))


def parse_element_string(text: str) -> Gs1Data:
    """Fields of a raw (GS-separated, optionally prefixed by a GS1 symbology id) or HRI ``(01)...`` element string."""
    if len(text) > MAX_ELEMENT_STRING:
        raise Gs1Error("GS1 data too long")
    if not _PRINTABLE_RE.fullmatch(text):
        raise Gs1Error("GS1 data with characters outside its character set")
    body = text[3:] if text.startswith(GS1_SYMBOLOGY_IDS) else text
    body = body.lstrip(GS)  # the FNC1 in first position comes through as a leading GS from some readers
    if not body:
        raise Gs1Error("empty GS1 data")
    try:
        if body.startswith("("):
            if not _HRI_RE.fullmatch(body):
                raise Gs1Error("bad GS1 bracketed form")
            message = GS1Message.parse_hri(body)
        else:
            message = GS1Message.parse(body)
    except ParseError as exc:
        raise Gs1Error(f"bad GS1 data: {_reason(exc)}") from None
    return _fields(message.element_strings)


def parse_digital_link(url: str) -> Gs1Data:
    """Fields of a GS1 Digital Link URI (path ``/01/{gtin}/10/{batch}``, query ``17=YYMMDD``)."""
    if len(url) > MAX_ELEMENT_STRING:
        raise Gs1Error("GS1 Digital Link too long")
    try:
        link = GS1DigitalLinkURI.parse(url)
    except ParseError as exc:
        raise Gs1Error(f"bad GS1 Digital Link: {_reason(exc)}") from None
    return _fields(link.element_strings)


def _reason(exc: ParseError) -> str:
    """biip's message, cut to a length a screen or log line can hold."""
    # biip names the regular expression a value failed; the AI and the value say enough.
    text = _PATTERN_RE.sub("", str(exc)).replace(GS, "<GS>")
    return text if len(text) <= 160 else text[:157] + "..."


def _fields(elements: list[GS1ElementString]) -> Gs1Data:
    if not elements:
        raise Gs1Error("no GS1 element strings")
    fields: list[tuple[str, str]] = []
    named: dict[str, Any] = {}
    seen: set[str] = set()
    for element in elements:
        ai, value = element.ai.ai, element.value
        if ai in seen:
            raise Gs1Error(f"GS1 AI ({ai}) appears twice")
        if not value:
            raise Gs1Error(f"GS1 AI ({ai}) without a value")
        seen.add(ai)
        fields.append((ai, value))
        _name(ai, value, element, named)
    return Gs1Data(tuple(fields), **named)


_DATES = {"11": "produced", "13": "packed", "15": "best_before", "17": "expiry"}


def _name(ai: str, value: str, element: GS1ElementString, named: dict[str, Any]) -> None:
    """Put one element string into the named fields, enforcing what biip only reports."""
    if ai in ("01", "02"):
        if not is_valid_gtin(value):
            raise Gs1Error(f"bad GTIN check digit in ({ai})")
        named.setdefault("gtin", value)  # (01) comes first in a trade item's string; (02) only on logistic units
    elif ai == "10":
        named["batch"] = value
    elif ai == "21":
        named["serial"] = value
    elif ai in _DATES:
        if element.date is None:
            raise Gs1Error(f"bad date in ({ai})")
        named[_DATES[ai]] = element.date
    elif ai in ("30", "37"):
        if not value.isdigit():
            raise Gs1Error(f"bad count in ({ai})")
        named["count"] = int(value)
    elif ai.startswith("310") and element.decimal is not None:
        named["net_weight_kg"] = element.decimal
    elif ai[:3] in ("390", "392") and element.decimal is not None:
        named["amount"] = element.decimal
    elif ai[:3] in ("391", "393"):
        # The value is a 3-digit ISO 4217 numeric currency, then the amount with the AI's decimals.
        if not (len(value) > 3 and value.isdigit()):
            raise Gs1Error(f"bad amount in ({ai})")
        named["amount_currency"] = value[:3]
        named["amount"] = Decimal(value[3:]).scaleb(-int(ai[3]))
