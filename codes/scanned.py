"""What a scanned or typed code asks for: the one parser of our QR formats and product numbers (docs/qr-codes.md)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from codes.gs1 import Gs1Data, Gs1Error, looks_like_element_string, parse_digital_link, parse_element_string
from codes.gtin import GTIN_LENGTHS, expand_upce, normalize_gtin
from codes.ids import SKU_RE, STAFF_ID_RE, STORE_ID_RE
from codes.qr import (
    BADGE_PREFIX,
    BADGE_TOKEN_RE,
    BADGE_VERSION,
    CART_TOKEN_RE,
    DEFAULT_BASE_URL,
    ENROL_LOGIN_RE,
    ENROL_PREFIX,
    ENROL_SECRET_RE,
    ENROL_VERSION,
    enrolment_text,
)
from codes.urls import PATH_PREFIX_RE, HttpsUrl, IntentValueError, parse_https, split_base

MAX_TEXT_LENGTH = 2048

_DL_VALUE_RE = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){1,80}")
_DL_QUALIFIERS = ("22", "10", "21")
_GS1_RESOLVER = "id.gs1.org"
# (01) or (02) and a GTIN, then more AIs, sent by a reader that drops the FNC1 in first position.
_BARE_GS1_RE = re.compile(r"0[12][0-9]{14}(?:[0-9]{2}[!-~]*)?")


@dataclass(frozen=True, slots=True)
class ProductLink:
    """A shelf label: show product `sku` of `store`."""

    store: str
    sku: str


@dataclass(frozen=True, slots=True)
class ProductCode:
    """A product number as GTIN-14; ``alternatives`` are other readings of an ambiguous typed 8-digit code (UPC-E).

    ``gs1`` holds the rest of a GS1 element string or Digital Link (batch, dates, weight, price) when there is more
    than the GTIN.
    """

    gtin: str
    alternatives: tuple[str, ...] = ()
    gs1: Gs1Data | None = None

    @property
    def candidates(self) -> tuple[str, ...]:
        """Every GTIN-14 this code may stand for, most likely first."""
        return (self.gtin, *self.alternatives)


@dataclass(frozen=True, slots=True)
class SkuCode:
    """A typed SKU (upper-cased); only ``parse_intent(..., typed=True)`` reads one."""

    sku: str


@dataclass(frozen=True, slots=True)
class CartHandoff:
    """A cart shown on another device; the backend verifies the opaque token."""

    store: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class StaffBadge:
    """A staff sign-in badge as it claims to be; only the device's signature check (mqtt.badges) makes it true."""

    store: str
    staff_id: str
    token: str = field(repr=False)  # payload.signature, verified with the store's public key


@dataclass(frozen=True, slots=True)
class PhoneEnrolment:
    """A kiosk's code that connects a shopper's phone to the store: a one-use broker login (docs/protocol.md)."""

    store: str
    login: str
    secret: str = field(repr=False)

    @property
    def text(self) -> str:
        """The code's text, as ``edge.enrolment.register_phone`` takes it."""
        return enrolment_text(self.store, self.login, self.secret)


@dataclass(frozen=True, slots=True)
class Unknown:
    """Anything we do not act on, with a short reason for logs and the UI."""

    reason: str


Intent = ProductLink | ProductCode | SkuCode | CartHandoff | StaffBadge | PhoneEnrolment | Unknown
ProductIntent = ProductLink | ProductCode | SkuCode | Unknown
"""What ``product_intent`` returns: a way to a product, or why not."""


@dataclass(frozen=True, slots=True)
class IntentConfig:
    """Which web origins our own links may use (https only); the first one is used for new links."""

    base_urls: tuple[str, ...] = (DEFAULT_BASE_URL,)
    max_length: int = MAX_TEXT_LENGTH
    _bases: tuple[tuple[str, int, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.base_urls, str):
            object.__setattr__(self, "base_urls", (self.base_urls,))
        if not self.base_urls:
            raise IntentValueError("at least one base URL is required")
        object.__setattr__(self, "_bases", tuple(split_base(b) for b in self.base_urls))

    @property
    def base_url(self) -> str:
        """The base URL new links are built with."""
        return self.base_urls[0].rstrip("/")


DEFAULT_CONFIG = IntentConfig()


def parse_intent(text: str | bytes, config: IntentConfig = DEFAULT_CONFIG, *, typed: bool = False) -> Intent:
    """Classify scanned text; anything we do not act on becomes Unknown(reason), never an exception.

    ``typed`` is for a person's entry (or a keyboard scanner at the device's search): it also reads SKUs and
    8-digit UPC-E codes. Every check returns its rejection instead of raising, so nothing is caught here: a
    catch-all would hide a bug from the fuzz tests (tests/codes/test_scanned*.py drive every branch).
    """
    return _parse(text, config, typed)


def product_intent(text: str | bytes, config: IntentConfig = DEFAULT_CONFIG) -> ProductIntent:
    """A typed or scanned code read as a way to a product (SKU, GTIN or shelf link); anything else is Unknown."""
    intent = _parse(text, config, True)
    if isinstance(intent, CartHandoff):
        return Unknown("a cart link, not a product")
    if isinstance(intent, StaffBadge):
        return Unknown("a staff badge, not a product")
    if isinstance(intent, PhoneEnrolment):
        return Unknown("a phone enrolment code, not a product")
    return intent


def _parse(raw: str | bytes, config: IntentConfig, typed: bool) -> Intent:
    if isinstance(raw, bytes | bytearray):
        if len(raw) > config.max_length * 4:
            return Unknown("too long")
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return Unknown("not UTF-8 text")
    if not isinstance(raw, str):
        return Unknown("not text")
    if len(raw) > config.max_length:
        return Unknown("too long")
    # Scanners end codes with a newline and people paste spaces around them; neither carries meaning.
    text = raw.strip(" \t\r\n")
    if not text:
        return Unknown("empty")
    if looks_like_element_string(text):
        return element_string_intent(text)
    if _BARE_GS1_RE.fullmatch(text):
        intent = element_string_intent(text)
        if isinstance(intent, ProductCode) or not text.isdigit():
            return intent  # all digits and no valid GS1 string: maybe a numeric SKU, read on
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        return Unknown("control characters")
    if not text.isascii():
        return Unknown("non-ASCII characters")
    if text.isdigit():
        return _digits(text, typed)
    if text.startswith(BADGE_PREFIX + ":"):
        return _parse_badge(text)
    if text.startswith(ENROL_PREFIX + ":"):
        return _parse_enrolment(text)
    if typed and ":" not in text:  # no SKU or GTIN contains a colon: a URL or nothing
        sku = text.upper()
        return SkuCode(sku) if SKU_RE.fullmatch(sku) else Unknown("not a SKU, GTIN or product link")
    parsed = parse_https(text)
    if isinstance(parsed, str):
        return Unknown(parsed)
    return _route(parsed, config)


def element_string_intent(text: str) -> ProductCode | Unknown:
    """A GS1 element string (raw with GS separators, symbology-prefixed, or ``(01)...`` HRI) as a product code."""
    try:
        data = parse_element_string(text)
    except Gs1Error as exc:
        return Unknown(str(exc))
    return _gs1_product(data)


def _gs1_product(data: Gs1Data) -> ProductCode | Unknown:
    if data.gtin is None:
        return Unknown("GS1 data without a GTIN")
    # A bare (01) is just a product number: keep its intent equal to the GTIN's, as scans always were.
    return ProductCode(data.gtin, gs1=data if len(data.fields) > 1 else None)


def _digits(text: str, typed: bool) -> Intent:
    gtin = normalize_gtin(text)
    upce = expand_upce(text) if typed and len(text) == 8 else None
    if gtin is not None:
        # An 8-digit code can be an EAN-8 and a UPC-E at once; try the EAN-8 reading first.
        alternatives = (upce.zfill(14),) if upce is not None and upce.zfill(14) != gtin else ()
        return ProductCode(gtin, alternatives)
    if upce is not None:
        return ProductCode(upce.zfill(14))
    if len(text) in GTIN_LENGTHS:
        return Unknown("bad GTIN check digit")
    if typed and SKU_RE.fullmatch(text):
        return SkuCode(text)  # numeric SKUs exist (many shop systems number their articles)
    return Unknown("digits but not a GTIN")


def _parse_badge(text: str) -> Intent:
    parts = text.split(":")
    if len(parts) != 3:
        return Unknown("badge must have 3 fields")
    _, version, token = parts
    if version != BADGE_VERSION:
        return Unknown(f"unsupported badge version {version[:8]!r}")
    match = BADGE_TOKEN_RE.fullmatch(token)
    if match is None:
        return Unknown("bad badge token")
    payload = match.group("payload")
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):  # ValueError covers bad UTF-8 and JSON
        return Unknown("bad badge payload")
    store = body.get("store") if isinstance(body, dict) else None
    staff = body.get("staff") if isinstance(body, dict) else None
    if not isinstance(store, str) or not STORE_ID_RE.fullmatch(store):
        return Unknown("bad store id")
    if not isinstance(staff, str) or not STAFF_ID_RE.fullmatch(staff):
        return Unknown("bad staff id")
    return StaffBadge(store, staff, token)


def _parse_enrolment(text: str) -> Intent:
    parts = text.split(":")
    if len(parts) != 5:
        return Unknown("enrolment code must have 5 fields")
    _, version, store, login, secret = parts
    if version != ENROL_VERSION:
        return Unknown(f"unsupported enrolment code version {version[:8]!r}")
    if not STORE_ID_RE.fullmatch(store):
        return Unknown("bad store id")
    if not ENROL_LOGIN_RE.fullmatch(login) or not ENROL_SECRET_RE.fullmatch(secret):
        return Unknown("bad enrolment login")
    return PhoneEnrolment(store, login, secret)


def _route(url: HttpsUrl, config: IntentConfig) -> Intent:
    segments = url.path.split("/")[1:] if url.path else []
    if any(s in (".", "..") for s in segments):
        return Unknown("path traversal")
    own = _own_base(url, config)
    if own is not None:
        rest = segments[len(own) :]
        if "%" in url.path:
            return Unknown("percent-encoding not allowed")
        if url.query is not None or url.fragment is not None:
            return Unknown("query or fragment not allowed")
        if rest[:1] == ["s"]:
            return _route_store(rest[1:])
    dl = _parse_digital_link(url, segments)
    if dl is not None:
        return dl
    if own is None:
        return Unknown("host not allowed")
    return Unknown("unknown path")


def _own_base(url: HttpsUrl, config: IntentConfig) -> tuple[str, ...] | None:
    """Path prefix of the configured base this URL belongs to, or None."""
    for host, port, prefix in config._bases:
        if url.host == host and url.port == port:
            segs = url.path.split("/")[1:]
            if tuple(segs[: len(prefix)]) == prefix:
                return prefix
    return None


def _route_store(rest: list[str]) -> Intent:
    """rest = [store, kind, value] after '/s/'."""
    if len(rest) < 3:
        return Unknown("incomplete store link")
    if len(rest) > 3:
        return Unknown("extra path segments")
    store, kind, value = rest
    if not STORE_ID_RE.fullmatch(store):
        return Unknown("bad store id")
    if kind == "p":
        sku = value.upper()
        if not SKU_RE.fullmatch(sku):
            return Unknown("bad sku")
        return ProductLink(store, sku)
    if kind == "cart":
        if not CART_TOKEN_RE.fullmatch(value):
            return Unknown("bad cart token")
        return CartHandoff(store, value)
    return Unknown("unknown store link")


def _parse_digital_link(url: HttpsUrl, segments: list[str]) -> Intent | None:
    """GS1 Digital Link: [/prefix...]/01/{gtin}[/22/..][/10/..][/21/..]; None when not one."""
    try:
        at = segments.index("01")
    except ValueError:
        return None
    prefix, tail = segments[:at], segments[at:]
    if url.host == _GS1_RESOLVER and prefix:
        return Unknown("bad GS1 Digital Link")
    if len(prefix) > 4 or not all(PATH_PREFIX_RE.fullmatch(p) for p in prefix):
        return Unknown("bad GS1 Digital Link")
    if len(tail) < 2 or len(tail) % 2:
        return Unknown("bad GS1 Digital Link")
    gtin_text = tail[1]
    if not (gtin_text.isdigit() and len(gtin_text) in GTIN_LENGTHS):
        return Unknown("bad GS1 Digital Link GTIN")
    gtin = normalize_gtin(gtin_text)
    if gtin is None:
        return Unknown("bad GTIN check digit")
    order = list(_DL_QUALIFIERS)
    for ai, value in zip(tail[2::2], tail[3::2], strict=True):
        if ai not in order or not _DL_VALUE_RE.fullmatch(value):
            return Unknown("bad GS1 Digital Link qualifier")
        order = order[order.index(ai) + 1 :]
    if len(tail) == 2 and url.query is None:
        return ProductCode(gtin)
    try:
        data = parse_digital_link(f"https://{url.host}{url.path}" + (f"?{url.query}" if url.query else ""))
    except Gs1Error as exc:
        return Unknown(str(exc))
    return _gs1_product(data) if data.gtin == gtin else Unknown("bad GS1 Digital Link")


def intent_to_dict(intent: Intent, reveal_secrets: bool = False) -> dict[str, Any]:
    """JSON-friendly form; badge keys, cart tokens and enrolment secrets are redacted unless asked for."""
    out: dict[str, Any] = {"type": type(intent).__name__}
    for name in intent.__dataclass_fields__:
        value = getattr(intent, name)
        if name in ("alternatives", "gs1") and not value:
            continue  # only an ambiguous typed code or a GS1 string has them; a plain scan's JSON stays as it was
        if name == "gs1":
            value = value.as_dict()
        if name in ("key", "token", "secret") and not reveal_secrets:
            value = f"<redacted {len(value)} chars>"
        out[name] = value
    return out
