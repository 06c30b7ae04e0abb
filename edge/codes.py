"""Classify a scanned or typed code: SKU, GTIN (any form), GS1 Digital Link or shelf product link.

The URL rules are the same as those of ``vision/intents.py`` (documented in docs/qr-codes.md); edge may not
import vision, so they are restated here and ``tests/edge/test_codes.py`` checks that both agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stdnum import ean

from mqtt import ids

DEFAULT_BASE_URL = "https://aisle.example"
MAX_TEXT_LENGTH = 2048

_STORE_RE = ids.STORE_ID_RE
_SKU_RE = ids.SKU_RE
_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.DOTALL)
# RFC 3986 characters allowed in a path; anything else (space, quotes, <, >, \, ^, `, {, |, }) is hostile.
_PATH_CHARS_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/%-]*")
_QUERY_CHARS_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*")
_DL_VALUE_RE = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){1,80}")
_DL_PREFIX_RE = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_DL_QUALIFIERS = ("22", "10", "21")
_GS1_RESOLVER = "id.gs1.org"


class CodeConfigError(ValueError):
    """A configured base URL is not an acceptable https origin."""


@dataclass(frozen=True, slots=True)
class SkuCode:
    """A typed SKU (upper-cased)."""

    sku: str


@dataclass(frozen=True, slots=True)
class GtinCode:
    """A product number as GTIN-14; ``alternatives`` are other readings of an ambiguous 8-digit code (UPC-E)."""

    gtin: str
    alternatives: tuple[str, ...] = ()

    @property
    def candidates(self) -> tuple[str, ...]:
        """Every GTIN-14 this code may stand for, most likely first."""
        return (self.gtin, *self.alternatives)


@dataclass(frozen=True, slots=True)
class ShelfLink:
    """A shelf label QR code: product ``sku`` of ``store``."""

    store: str
    sku: str


@dataclass(frozen=True, slots=True)
class UnknownCode:
    """Not a product code, with a short reason for logs and people."""

    reason: str


Code = SkuCode | GtinCode | ShelfLink | UnknownCode


@dataclass(frozen=True, slots=True)
class CodeConfig:
    """Which https origins shelf links may use; the first one builds new links."""

    base_urls: tuple[str, ...] = (DEFAULT_BASE_URL,)
    max_length: int = MAX_TEXT_LENGTH
    _bases: tuple[tuple[str, int, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.base_urls, str):
            object.__setattr__(self, "base_urls", (self.base_urls,))
        if not self.base_urls:
            raise CodeConfigError("at least one base URL is required")
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
    parsed = _parse_https(base)
    if isinstance(parsed, str):
        raise CodeConfigError(f"bad base URL {base!r}: {parsed}")
    if parsed.query is not None or parsed.fragment is not None:
        raise CodeConfigError(f"base URL {base!r} must not have a query or fragment")
    segments = tuple(s for s in parsed.path.split("/") if s)
    for seg in segments:
        if not _DL_PREFIX_RE.fullmatch(seg) or seg in (".", ".."):
            raise CodeConfigError(f"bad path segment {seg!r} in base URL {base!r}")
    return parsed.host, parsed.port, segments



def classify(text: str | bytes, config: CodeConfig | None = None) -> Code:
    """Classify a scanned or typed code; junk becomes UnknownCode(reason), never an exception.

    Every check returns its rejection instead of raising, so nothing is caught here: a catch-all would hide a bug
    from the fuzz tests (tests/edge/test_codes.py drives every branch) and turn it into a wrong "unknown code".
    """
    return _classify(text, config or DEFAULT_CONFIG)


def _classify(raw: str | bytes, config: CodeConfig) -> Code:
    if isinstance(raw, bytes | bytearray):
        if len(raw) > config.max_length * 4:
            return UnknownCode("too long")
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return UnknownCode("not UTF-8 text")
    if not isinstance(raw, str):
        return UnknownCode("not text")
    if len(raw) > config.max_length:
        return UnknownCode("too long")
    # Scanners end codes with a newline and people paste spaces around them; neither carries meaning.
    text = raw.strip(" \t\r\n")
    if not text:
        return UnknownCode("empty")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        return UnknownCode("control characters")
    if not text.isascii():
        return UnknownCode("non-ASCII characters")
    if text.isdigit():
        return _digits(text)
    if ":" in text:  # no SKU or GTIN contains a colon: a URL or nothing
        parsed = _parse_https(text)
        if isinstance(parsed, str):
            return UnknownCode(parsed)
        return _route(parsed, config)
    sku = text.upper()
    if _SKU_RE.fullmatch(sku):
        return SkuCode(sku)
    return UnknownCode("not a SKU, GTIN or product link")


def _digits(text: str) -> Code:
    gtin = _gtin14(text)
    upce = expand_upce(text) if len(text) == 8 else None
    if gtin is not None:
        # An 8-digit code can be an EAN-8 and a UPC-E at once; try the EAN-8 reading first.
        alternatives = (upce.zfill(14),) if upce is not None and upce.zfill(14) != gtin else ()
        return GtinCode(gtin, alternatives)
    if upce is not None:
        return GtinCode(upce.zfill(14))
    if len(text) in ids.GTIN_LENGTHS:
        return UnknownCode("bad GTIN check digit")
    if _SKU_RE.fullmatch(text):
        return SkuCode(text)  # numeric SKUs exist (many shop systems number their articles)
    return UnknownCode("digits but not a GTIN")


def _gtin14(text: str) -> str | None:
    try:
        return ids.gtin14(text)
    except ids.InvalidIdentifier:
        return None


def expand_upce(code: str) -> str | None:
    """The 12-digit UPC-A of an 8-digit UPC-E (number system 0 or 1), or None when it is not one."""
    if not (len(code) == 8 and code.isascii() and code.isdigit()) or code[0] not in "01":
        return None
    ns, d, check = code[0], code[1:7], code[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    upca = ns + body + check
    return upca if ean.is_valid(upca) else None


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


DEFAULT_CONFIG = CodeConfig()


def _route(url: _Url, config: CodeConfig) -> Code:
    segments = url.path.split("/")[1:] if url.path else []
    if any(s in (".", "..") for s in segments):
        return UnknownCode("path traversal")
    own = _own_base(url, config)
    if own is not None:
        rest = segments[len(own):]
        if "%" in url.path:
            return UnknownCode("percent-encoding not allowed")
        if url.query is not None or url.fragment is not None:
            return UnknownCode("query or fragment not allowed")
        if rest[:1] == ["s"]:
            return _route_store(rest[1:])
    dl = _digital_link(url, segments)
    if dl is not None:
        return dl
    if own is None:
        return UnknownCode("host not allowed")
    return UnknownCode("unknown path")


def _own_base(url: _Url, config: CodeConfig) -> tuple[str, ...] | None:
    for host, port, prefix in config._bases:
        if url.host == host and url.port == port:
            segs = url.path.split("/")[1:]
            if tuple(segs[: len(prefix)]) == prefix:
                return prefix
    return None


def _route_store(rest: list[str]) -> Code:
    """rest = [store, kind, value] after '/s/'."""
    if len(rest) < 3:
        return UnknownCode("incomplete store link")
    if len(rest) > 3:
        return UnknownCode("extra path segments")
    store, kind, value = rest
    if not _STORE_RE.fullmatch(store):
        return UnknownCode("bad store id")
    if kind == "p":
        sku = value.upper()
        if not _SKU_RE.fullmatch(sku):
            return UnknownCode("bad sku")
        return ShelfLink(store, sku)
    if kind == "cart":
        return UnknownCode("a cart link, not a product")
    return UnknownCode("unknown store link")


def _digital_link(url: _Url, segments: list[str]) -> Code | None:
    """GS1 Digital Link: [/prefix...]/01/{gtin}[/22/..][/10/..][/21/..]; None when not one."""
    try:
        at = segments.index("01")
    except ValueError:
        return None
    prefix, tail = segments[:at], segments[at:]
    if url.host == _GS1_RESOLVER and prefix:
        return UnknownCode("bad GS1 Digital Link")
    if len(prefix) > 4 or not all(_DL_PREFIX_RE.fullmatch(p) for p in prefix):
        return UnknownCode("bad GS1 Digital Link")
    if len(tail) < 2 or len(tail) % 2:
        return UnknownCode("bad GS1 Digital Link")
    gtin_text = tail[1]
    if not (gtin_text.isdigit() and len(gtin_text) in ids.GTIN_LENGTHS):
        return UnknownCode("bad GS1 Digital Link GTIN")
    gtin = _gtin14(gtin_text)
    if gtin is None:
        return UnknownCode("bad GTIN check digit")
    order = list(_DL_QUALIFIERS)
    for ai, value in zip(tail[2::2], tail[3::2], strict=True):
        if ai not in order or not _DL_VALUE_RE.fullmatch(value):
            return UnknownCode("bad GS1 Digital Link qualifier")
        order = order[order.index(ai) + 1:]
    return GtinCode(gtin)


def shelf_link_url(store: str, sku: str, config: CodeConfig | None = None) -> str:
    """Text of the shelf QR code of a product; raises mqtt.ids.InvalidIdentifier on a bad store or SKU."""
    return f"{(config or DEFAULT_CONFIG).base_url}/s/{ids.store_id(store)}/p/{ids.sku(sku.upper())}"
