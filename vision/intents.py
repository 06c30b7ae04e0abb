"""What a scanned code asks the app to do; strict parsing of our QR formats (docs/qr-codes.md)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from vision.gtin import normalize_gtin
from vision.symbols import Symbol

DEFAULT_BASE_URL = "https://aisle.example"
MAX_TEXT_LENGTH = 2048

STORE_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")
SKU_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,63}")
STAFF_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")
BADGE_PREFIX = "AISLE-STAFF"
BADGE_VERSION = "2"  # version 1 (an unsigned key) is refused: anyone could print one
# payload.signature, both base64url; mqtt/badges.py signs and verifies them (docs/qr-codes.md).
BADGE_TOKEN_RE = re.compile(r"([A-Za-z0-9_-]{40,400})\.[A-Za-z0-9_-]{86}")
# A kiosk's phone enrolment code; mqtt/enrolment.py (which vision may not import) checks it again before use.
ENROL_PREFIX = "AISLE-ENROL"
ENROL_VERSION = "1"
ENROL_LOGIN_RE = re.compile(r"enrol-[0-9a-f]{20}")
ENROL_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{32,128}")

_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.DOTALL)
# RFC 3986 characters allowed in a path; anything else (space, quotes, <, >, \, ^, `, {, |, }) is hostile.
_PATH_CHARS_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/%-]*")
_QUERY_CHARS_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*")
_DL_VALUE_RE = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){1,80}")
_DL_PREFIX_RE = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_DL_QUALIFIERS = ("22", "10", "21")
_GS1_RESOLVER = "id.gs1.org"


class IntentValueError(ValueError):
    """A value given to a URL builder does not fit its format."""


@dataclass(frozen=True, slots=True)
class ProductLink:
    """A shelf label: show product `sku` of `store`."""

    store: str
    sku: str


@dataclass(frozen=True, slots=True)
class ProductCode:
    """A manufacturer's product number (from a retail barcode or GS1 Digital Link)."""

    gtin: str


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
        return f"{ENROL_PREFIX}:{ENROL_VERSION}:{self.store}:{self.login}:{self.secret}"


@dataclass(frozen=True, slots=True)
class Unknown:
    """Anything we do not act on, with a short reason for logs and the UI."""

    reason: str


Intent = ProductLink | ProductCode | CartHandoff | StaffBadge | PhoneEnrolment | Unknown


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
        object.__setattr__(self, "_bases", tuple(_split_base(b) for b in self.base_urls))

    @property
    def base_url(self) -> str:
        """The base URL new links are built with."""
        return self.base_urls[0].rstrip("/")


@dataclass(frozen=True, slots=True)
class _Url:
    host: str
    port: int
    path: str
    query: str | None
    fragment: str | None


def _split_base(base: str) -> tuple[str, int, tuple[str, ...]]:
    """(host, port, path prefix segments) of a configured base URL; raises IntentValueError."""
    parsed = _parse_https(base)
    if isinstance(parsed, str):
        raise IntentValueError(f"bad base URL {base!r}: {parsed}")
    if parsed.query is not None or parsed.fragment is not None:
        raise IntentValueError(f"base URL {base!r} must not have a query or fragment")
    segments = tuple(s for s in parsed.path.split("/") if s)
    for seg in segments:
        if not _DL_PREFIX_RE.fullmatch(seg) or seg in (".", ".."):
            raise IntentValueError(f"bad path segment {seg!r} in base URL {base!r}")
    return parsed.host, parsed.port, segments


def _parse_https(text: str) -> _Url | str:
    """Strictly split an https URL; returns the reason as a string when it is not acceptable."""
    m = _URL_RE.fullmatch(text)
    if m is None:
        return "unrecognised format"
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme != "https":
        return f"scheme {scheme[:16]} not allowed (https only)"
    if not rest.startswith("//"):
        return "missing //host"
    rest = rest[2:]
    fragment = None
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
    query = None
    if "?" in rest:
        rest, query = rest.split("?", 1)
    authority, slash, path = rest.partition("/")
    path = slash + path
    if "@" in authority:
        return "userinfo in URL not allowed"
    if "\\" in authority or "%" in authority:
        return "bad host"
    host, colon, port_text = authority.partition(":")
    host = host.lower()
    if not _HOST_RE.fullmatch(host) or len(host) > 253:
        return "bad host"
    port = 443
    if colon:
        if not (port_text.isascii() and port_text.isdigit() and 0 < len(port_text) <= 5):
            return "bad port"
        port = int(port_text)
        if not 0 < port < 65536:
            return "bad port"
    if not _PATH_CHARS_RE.fullmatch(path):
        return "illegal characters in path"
    if query is not None and not _QUERY_CHARS_RE.fullmatch(query):
        return "illegal characters in query"
    if fragment is not None and not _QUERY_CHARS_RE.fullmatch(fragment):
        return "illegal characters in fragment"
    return _Url(host, port, path, query, fragment)


DEFAULT_CONFIG = IntentConfig()


def parse_intent(text: str | bytes, config: IntentConfig = DEFAULT_CONFIG) -> Intent:
    """Classify scanned text; anything we do not act on becomes Unknown(reason), never an exception.

    Every check returns its rejection instead of raising, so nothing is caught here: a catch-all would hide a bug
    from the fuzz tests (tests/vision/test_scan_intents.py drives every branch) and turn it into a wrong "unknown".
    """
    return _parse(text, config)


def _parse(raw: str | bytes, config: IntentConfig) -> Intent:
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
    # Scanners and QR payloads often end with a newline; surrounding whitespace carries no meaning.
    text = raw.strip(" \t\r\n")
    if not text:
        return Unknown("empty")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        return Unknown("control characters")
    if not text.isascii():
        return Unknown("non-ASCII characters")
    if text.isdigit():
        gtin = normalize_gtin(text)
        if gtin is not None:
            return ProductCode(gtin)
        if len(text) in (8, 12, 13, 14):
            return Unknown("bad GTIN check digit")
        return Unknown("digits but not a GTIN")
    if text.startswith(BADGE_PREFIX + ":"):
        return _parse_badge(text)
    if text.startswith(ENROL_PREFIX + ":"):
        return _parse_enrolment(text)
    parsed = _parse_https(text)
    if isinstance(parsed, str):
        return Unknown(parsed)
    return _route(parsed, config)


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
    payload = match.group(1)
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):  # ValueError covers bad UTF-8 and JSON
        return Unknown("bad badge payload")
    store = body.get("store") if isinstance(body, dict) else None
    staff = body.get("staff") if isinstance(body, dict) else None
    if not isinstance(store, str) or not STORE_RE.fullmatch(store):
        return Unknown("bad store id")
    if not isinstance(staff, str) or not STAFF_RE.fullmatch(staff):
        return Unknown("bad staff id")
    return StaffBadge(store, staff, token)


def _parse_enrolment(text: str) -> Intent:
    parts = text.split(":")
    if len(parts) != 5:
        return Unknown("enrolment code must have 5 fields")
    _, version, store, login, secret = parts
    if version != ENROL_VERSION:
        return Unknown(f"unsupported enrolment code version {version[:8]!r}")
    if not STORE_RE.fullmatch(store):
        return Unknown("bad store id")
    if not ENROL_LOGIN_RE.fullmatch(login) or not ENROL_SECRET_RE.fullmatch(secret):
        return Unknown("bad enrolment login")
    return PhoneEnrolment(store, login, secret)


def _route(url: _Url, config: IntentConfig) -> Intent:
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


def _own_base(url: _Url, config: IntentConfig) -> tuple[str, ...] | None:
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
    if not STORE_RE.fullmatch(store):
        return Unknown("bad store id")
    if kind == "p":
        sku = value.upper()
        if not SKU_RE.fullmatch(sku):
            return Unknown("bad sku")
        return ProductLink(store, sku)
    if kind == "cart":
        if not TOKEN_RE.fullmatch(value):
            return Unknown("bad cart token")
        return CartHandoff(store, value)
    return Unknown("unknown store link")


def _parse_digital_link(url: _Url, segments: list[str]) -> Intent | None:
    """GS1 Digital Link: [/prefix...]/01/{gtin}[/22/..][/10/..][/21/..]; None when not one."""
    try:
        at = segments.index("01")
    except ValueError:
        return None
    prefix, tail = segments[:at], segments[at:]
    if url.host == _GS1_RESOLVER and prefix:
        return Unknown("bad GS1 Digital Link")
    if len(prefix) > 4 or not all(_DL_PREFIX_RE.fullmatch(p) for p in prefix):
        return Unknown("bad GS1 Digital Link")
    if len(tail) < 2 or len(tail) % 2:
        return Unknown("bad GS1 Digital Link")
    gtin_text = tail[1]
    if not (gtin_text.isdigit() and len(gtin_text) in (8, 12, 13, 14)):
        return Unknown("bad GS1 Digital Link GTIN")
    gtin = normalize_gtin(gtin_text)
    if gtin is None:
        return Unknown("bad GTIN check digit")
    order = list(_DL_QUALIFIERS)
    for ai, value in zip(tail[2::2], tail[3::2], strict=True):
        if ai not in order or not _DL_VALUE_RE.fullmatch(value):
            return Unknown("bad GS1 Digital Link qualifier")
        order = order[order.index(ai) + 1 :]
    return ProductCode(gtin)


def _check_base(base: str) -> str:
    _split_base(base)
    return base.rstrip("/")


def product_link_url(store: str, sku: str, base: str = DEFAULT_BASE_URL) -> str:
    """URL printed on a shelf label for a product; raises IntentValueError on bad input."""
    if not STORE_RE.fullmatch(store):
        raise IntentValueError(f"bad store id {store!r}")
    norm = sku.upper()
    if not SKU_RE.fullmatch(norm):
        raise IntentValueError(f"bad sku {sku!r}")
    return f"{_check_base(base)}/s/{store}/p/{norm}"


def cart_handoff_url(store: str, token: str, base: str = DEFAULT_BASE_URL) -> str:
    """URL shown as a QR code to hand a cart to another device; raises IntentValueError."""
    if not STORE_RE.fullmatch(store):
        raise IntentValueError(f"bad store id {store!r}")
    if not TOKEN_RE.fullmatch(token):
        raise IntentValueError("cart token must be 22..128 base64url characters")
    return f"{_check_base(base)}/s/{store}/cart/{token}"


def staff_badge_text(token: str) -> str:
    """Payload of a staff badge QR code around a signed token (the backend makes both); raises IntentValueError."""
    if not BADGE_TOKEN_RE.fullmatch(token):
        raise IntentValueError("a badge token is base64url payload.signature")
    return f"{BADGE_PREFIX}:{BADGE_VERSION}:{token}"


def intent_for_symbol(symbol: Symbol, config: IntentConfig = DEFAULT_CONFIG) -> Intent:
    """Intent of a decoded symbol; retail symbols and GS1 element strings map to their GTIN."""
    if symbol.gtin is not None:
        return ProductCode(symbol.gtin)
    if symbol.format.is_retail:
        return Unknown("retail symbol without valid GTIN")
    return parse_intent(symbol.text, config)


def intent_to_dict(intent: Intent, reveal_secrets: bool = False) -> dict[str, Any]:
    """JSON-friendly form; badge keys, cart tokens and enrolment secrets are redacted unless asked for."""
    out: dict[str, Any] = {"type": type(intent).__name__}
    for name in intent.__dataclass_fields__:
        value = getattr(intent, name)
        if name in ("key", "token", "secret") and not reveal_secrets:
            value = f"<redacted {len(value)} chars>"
        out[name] = value
    return out
