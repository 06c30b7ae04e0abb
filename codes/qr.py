"""Text formats of our QR codes (docs/qr-codes.md): shelf product links, cart hand-off, staff badge, phone enrolment.

Only the text lives here; signing and checking badges is ``mqtt.badges``, enrolment logins ``mqtt.enrolment``.
"""

from __future__ import annotations

import re

from codes.ids import SKU_RE, STORE_ID_RE
from codes.urls import IntentValueError, checked_base

DEFAULT_BASE_URL = "https://aisle.example"

CART_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")
BADGE_PREFIX = "AISLE-STAFF"
BADGE_VERSION = "2"  # version 1 (an unsigned key) is refused: anyone could print one
BADGE_TEXT_PREFIX = f"{BADGE_PREFIX}:{BADGE_VERSION}:"
# An Ed25519 signature (64 bytes) in base64url without padding: badges and the revoked-badge list.
SIGNATURE_RE = re.compile(r"[A-Za-z0-9_-]{86}")
# payload.signature, both base64url; mqtt/badges.py signs and verifies them.
BADGE_TOKEN_RE = re.compile(rf"(?P<payload>[A-Za-z0-9_-]{{40,400}})\.(?P<signature>{SIGNATURE_RE.pattern})")
# A kiosk's phone enrolment code: a one-use broker login (mqtt/enrolment.py, docs/protocol.md).
ENROL_PREFIX = "AISLE-ENROL"
ENROL_VERSION = "1"
ENROL_TEXT_PREFIX = f"{ENROL_PREFIX}:{ENROL_VERSION}:"
ENROL_LOGIN_RE = re.compile(r"enrol-[0-9a-f]{20}")
ENROL_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{32,128}")


def product_link_url(store: str, sku: str, base: str = DEFAULT_BASE_URL) -> str:
    """URL printed on a shelf label for a product; raises IntentValueError on bad input."""
    if not STORE_ID_RE.fullmatch(store):
        raise IntentValueError(f"bad store id {store!r}")
    norm = sku.upper()
    if not SKU_RE.fullmatch(norm):
        raise IntentValueError(f"bad sku {sku!r}")
    return f"{checked_base(base)}/s/{store}/p/{norm}"


def cart_handoff_url(store: str, token: str, base: str = DEFAULT_BASE_URL) -> str:
    """URL shown as a QR code to hand a cart to another device; raises IntentValueError."""
    if not STORE_ID_RE.fullmatch(store):
        raise IntentValueError(f"bad store id {store!r}")
    if not CART_TOKEN_RE.fullmatch(token):
        raise IntentValueError("cart token must be 22..128 base64url characters")
    return f"{checked_base(base)}/s/{store}/cart/{token}"


def staff_badge_text(token: str) -> str:
    """Payload of a staff badge QR code around a signed token (the backend makes both); raises IntentValueError."""
    if not BADGE_TOKEN_RE.fullmatch(token):
        raise IntentValueError("a badge token is base64url payload.signature")
    return BADGE_TEXT_PREFIX + token


def enrolment_text(store: str, login: str, secret: str) -> str:
    """Text of a kiosk's phone enrolment QR code (the backend checks the login; nothing is validated here)."""
    return f"{ENROL_TEXT_PREFIX}{store}:{login}:{secret}"
