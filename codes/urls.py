"""Strict splitting of the https URLs our QR codes use, and of the configured base URLs (docs/qr-codes.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.DOTALL)
# RFC 3986 characters allowed in a path; anything else (space, quotes, <, >, \, ^, `, {, |, }) is hostile.
_PATH_CHARS_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/%-]*")
_QUERY_CHARS_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*")
PATH_PREFIX_RE = re.compile(r"[A-Za-z0-9._~-]{1,64}")
"""One path segment a base URL or a GS1 Digital Link may put before its own path."""


class IntentValueError(ValueError):
    """A base URL, or a value given to a URL builder, does not fit its format."""


@dataclass(frozen=True, slots=True)
class HttpsUrl:
    """An accepted https URL, split."""

    host: str
    port: int
    path: str
    query: str | None
    fragment: str | None


def split_base(base: str) -> tuple[str, int, tuple[str, ...]]:
    """(host, port, path prefix segments) of a configured base URL; raises IntentValueError."""
    parsed = parse_https(base)
    if isinstance(parsed, str):
        raise IntentValueError(f"bad base URL {base!r}: {parsed}")
    if parsed.query is not None or parsed.fragment is not None:
        raise IntentValueError(f"base URL {base!r} must not have a query or fragment")
    segments = tuple(s for s in parsed.path.split("/") if s)
    for seg in segments:
        if not PATH_PREFIX_RE.fullmatch(seg) or seg in (".", ".."):
            raise IntentValueError(f"bad path segment {seg!r} in base URL {base!r}")
    return parsed.host, parsed.port, segments


def checked_base(base: str) -> str:
    """A configured base URL without its trailing slash; raises IntentValueError when it is not acceptable."""
    split_base(base)
    return base.rstrip("/")


def parse_https(text: str) -> HttpsUrl | str:
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
    return HttpsUrl(host, port, path, query, fragment)
