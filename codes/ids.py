"""Identifier formats shared by every topic and payload (store, SKU, device, GTIN)."""

from __future__ import annotations

import re

from codes.gtin import GTIN_LENGTHS, is_valid_gtin

STORE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
SKU_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
STAFF_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
LOCALE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# A batch or lot number, GS1 AI (10): 1 to 20 characters of GS1's "character set 82" (printable ASCII without space,
# '#', '$', '@', '[', '\\', ']', '^', '`', '{', '|', '}', '~').
BATCH_RE = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")


class InvalidIdentifier(ValueError):
    """An identifier does not have the documented form."""


def _check(kind: str, pattern: re.Pattern[str], value: object) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidIdentifier(f"invalid {kind}: {value!r:.80} (expected {pattern.pattern})")
    return value


def store_id(value: object) -> str:
    """Return a valid store id or raise InvalidIdentifier."""
    return _check("store id", STORE_ID_RE, value)


HQ_SITE = "hq"  # the chain's HQ service: a site of the chain network that no store may be named after


def site_id(value: object) -> str:
    """Return a valid chain site (a store id, or HQ_SITE) or raise InvalidIdentifier."""
    return store_id(value)


def chain_store_id(value: object) -> str:
    """Return a store id that may join a chain (not HQ's) or raise InvalidIdentifier."""
    if store_id(value) == HQ_SITE:
        raise InvalidIdentifier(f"{HQ_SITE!r} is the chain's HQ and cannot be a store id")
    return value  # type: ignore[return-value]


def sku(value: object) -> str:
    """Return a valid SKU or raise InvalidIdentifier."""
    return _check("sku", SKU_RE, value)


def batch(value: object) -> str:
    """Return a valid batch/lot number (GS1 AI 10) or raise InvalidIdentifier."""
    if not isinstance(value, str) or not BATCH_RE.fullmatch(value):
        raise InvalidIdentifier(f"invalid batch: {value!r:.40} (1 to 20 letters, digits or !\"%&'()*+,-./:;<=>?_ "
                                "as GS1 AI (10) allows; no spaces)")
    return value


def device_id(value: object) -> str:
    """Return a valid device id or raise InvalidIdentifier."""
    return _check("device id", DEVICE_ID_RE, value)


def gtin14(value: object) -> str:
    """Normalise a GTIN-8/12/13/14 to its 14-digit form, checking the check digit."""
    if not isinstance(value, str):
        raise InvalidIdentifier(f"invalid GTIN: {value!r:.40}")
    digits = value.strip()
    if len(digits) not in GTIN_LENGTHS or not digits.isascii() or not digits.isdigit():
        raise InvalidIdentifier(f"invalid GTIN: {value!r:.40} (8, 12, 13 or 14 digits)")
    if not is_valid_gtin(digits):
        raise InvalidIdentifier(f"invalid GTIN {digits}: the check digit does not match")
    return digits.zfill(14)


def gtin_display(gtin: str) -> str:
    """Return the shortest conventional form of a GTIN-14 (EAN-8, UPC-A, EAN-13 or GTIN-14)."""
    g = gtin14(gtin)
    if g.startswith("000000"):
        return g[6:]
    if g.startswith("00"):
        return g[2:]  # UPC-A
    if g.startswith("0"):
        return g[1:]
    return g
