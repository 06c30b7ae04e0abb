"""Hypothesis strategies of scanned text that reach every branch of the code parsers, not only the first checks.

Random text almost never gets past "not a SKU" or "bad host", so a fuzz test fed only ``st.text()`` cannot notice a
bug in the shelf-link, Digital Link or UPC-E code. These build text from the grammar of our codes (docs/qr-codes.md),
each part valid or slightly wrong, so most examples go deep; the tests of ``codes.scanned`` use them.
"""

from __future__ import annotations

import base64
import json

from hypothesis import strategies as st

from codes.gtin import check_digit


def with_check_digit(body: str) -> str:
    """A GTIN body with its check digit (``codes.gtin.check_digit``, itself tested against python-stdnum)."""
    return body + check_digit(body)


def expand_upce_unchecked(seven: str) -> str:
    """UPC-E (number system and 6 digits) to UPC-A without check digit, written independently from the GS1 table."""
    ns, d = seven[0], seven[1:]
    rules = {
        "0": d[0:2] + "000" + "00" + d[2:5], "1": d[0:2] + "100" + "00" + d[2:5],
        "2": d[0:2] + "200" + "00" + d[2:5], "3": d[0:3] + "00" + "000" + d[3:5],
        "4": d[0:4] + "0" + "0000" + d[4],
    }
    return ns + rules.get(d[5], d[0:5] + "0000" + d[5])


def _upce(ns: str, body: str) -> str:
    """An 8-digit UPC-E whose check digit is that of its UPC-A expansion."""
    return ns + body + check_digit(expand_upce_unchecked(ns + body))


_digit_text = st.text("0123456789", min_size=1, max_size=16)
gtin_like = st.one_of(
    st.sampled_from([7, 11, 12, 13]).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
    .map(with_check_digit),
    st.builds(_upce, st.sampled_from("01"), st.text("0123456789", min_size=6, max_size=6)),
    _digit_text,
)
"""Digit strings: valid GTIN-8/12/13/14, valid UPC-E, and any digits (mostly wrong check digits)."""

_stores = st.sampled_from(["ab", "sthlm-city", "AB", "a", "x" * 40, "", "s", "-ab"])
_skus = st.one_of(st.sampled_from(["X", "dai-milk-1l", "A" * 65, "x y", "%41", "", "..", "a.b_c-1"]),
                  st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z"))
_tokens = st.one_of(st.sampled_from(["dGhpcy1pcy1hLWNhcnQtdG9rZW4", "short", "a" * 129]),
                    st.from_regex(r"\A[A-Za-z0-9_-]{20,130}\Z"))
# Each part is valid about half the time, so that many examples get past every check before the deepest one.
_prefixes = st.one_of(st.lists(st.sampled_from(["products", "brand", "aisle"]), max_size=3),
                      st.lists(st.sampled_from(["products", "..", ".", "a" * 65, "%7e", "01", ""]), max_size=5))
_QUALIFIER_ORDER = ("22", "10", "21")
_qualifiers = st.one_of(
    st.lists(st.sampled_from(_QUALIFIER_ORDER), unique=True)
    .map(lambda ais: sorted(ais, key=_QUALIFIER_ORDER.index))
    .flatmap(lambda ais: st.tuples(*(st.tuples(st.just(ai), st.sampled_from(["ABC", "1", "%41", "a-b.c"]))
                                     for ai in ais)).map(list)),
    st.lists(st.tuples(st.sampled_from(["22", "10", "21", "17", "01", "x"]),
                       st.sampled_from(["ABC", "1", "%zz", "%41", "a" * 81, "", "x y"])), max_size=4),
)
_segments = st.lists(st.sampled_from(["s", "p", "cart", "01", "10", "21", "22", "ab", "X", "09506000134352",
                                      "..", ".", "", "%2e", "aisle"]), max_size=7)


def _join(segments: list[str]) -> str:
    return "".join("/" + s for s in segments)


_store_routes = st.one_of(
    st.builds(lambda prefix, store, kind, value, extra: f"{_join(prefix)}/s/{store}/{kind}/{value}{extra}",
              st.sampled_from([[], [], ["aisle"], ["shop"]]), _stores, st.sampled_from(["p", "p", "cart", "q", ""]),
              st.one_of(_skus, _tokens), st.sampled_from(["", "", "", "/x", "/"])),
    st.builds(lambda store, rest: f"/s/{store}{_join(rest)}", _stores, _segments),
)
_digital_link_routes = st.builds(
    lambda prefix, gtin, qualifiers: f"{_join(prefix)}/01/{gtin}{_join([p for q in qualifiers for p in q])}",
    _prefixes, gtin_like, _qualifiers)
_routes = st.one_of(_store_routes, _digital_link_routes, _segments.map(_join))
_schemes = st.one_of(st.sampled_from(["https://", "HTTPS://"]), st.sampled_from(["http://", "https:", "//", "", "ftp://"]))
_hosts = st.one_of(
    st.sampled_from(["aisle.example", "Aisle.Example", "aisle.example:443", "shop.example", "id.gs1.org",
                     "brand.example"]),
    st.sampled_from(["aisle.example:8443", "aisle.example:0", "aisle.example:99999", "aisle.example:x",
                     "u@aisle.example", "evil.example", "aisle.example.", "a\\b", "%61.example", ""]),
)
_tails = st.one_of(st.just(""), st.sampled_from(["?x=1", "#f", "?a b", "#<", "/", "\n", " ", "\x00", "é"]))
url_like = st.builds(lambda scheme, host, route, tail: scheme + host + route + tail, _schemes, _hosts, _routes, _tails)
"""URL-shaped text from our link grammar: shelf links, cart links, GS1 Digital Links, near misses of each."""

_good_tails = st.one_of(st.just(""), st.just(""), st.just(""), _tails)
_good_stores = st.one_of(st.sampled_from(["ab", "sthlm-city"]), st.sampled_from(["ab", "sthlm-city"]), _stores)
_kinds = st.one_of(st.sampled_from(["p", "cart"]), st.sampled_from(["p", "cart"]), st.sampled_from(["q", "", "P"]))
store_links = st.builds(
    lambda base, store, kind, value, extra, tail: f"{base}/s/{store}/{kind}/{value}{extra}{tail}",
    st.sampled_from(["https://aisle.example", "HTTPS://Aisle.Example:443", "https://shop.example/aisle"]),
    _good_stores, _kinds, st.one_of(_skus, _tokens), st.one_of(st.just(""), st.just(""), st.sampled_from(["/x", "/"])),
    _good_tails)
"""Links to /s/... on the bases of ``OWN_BASES``: they reach the store-link code."""

OWN_BASES = ("https://shop.example/aisle", "https://aisle.example")

digital_links = st.builds(lambda host, route, tail: f"https://{host}{route}{tail}",
                          st.sampled_from(["brand.example", "id.gs1.org", "aisle.example", "brand.example:8443"]),
                          _digital_link_routes, _good_tails)
"""GS1 Digital Links, right and slightly wrong: they reach the GTIN and qualifier checks."""

badge_like = st.builds(
    lambda fields: ":".join(fields),
    st.lists(st.one_of(st.sampled_from(["AISLE-STAFF", "1", "2", "ab", "anna.k", "", "x" * 70]), _tokens),
             min_size=1, max_size=7).map(lambda f: ["AISLE-STAFF", *f]),
)
"""Staff-badge-shaped text with right and wrong fields."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_badge_bodies = st.one_of(
    st.fixed_dictionaries({"store": st.one_of(_good_stores, st.integers(), st.none()),
                           "staff": st.one_of(st.sampled_from(["anna.k", "Anna", ""]), st.lists(st.integers())),
                           "exp": st.integers(min_value=0, max_value=2**40)}).map(lambda d: json.dumps(d).encode()),
    st.sampled_from([b"[" * 60, b'"' + b"x" * 40 + b'"', b"1" * 40, b"\xff" * 40]),
    st.binary(min_size=30, max_size=290),
)
signed_badge_like = st.builds(lambda version, body, sig: f"AISLE-STAFF:{version}:{_b64(body)}.{sig}",
                              st.sampled_from(["2", "2", "1"]), _badge_bodies,
                              st.from_regex(r"\A[A-Za-z0-9_-]{86}\Z"))
"""Text shaped like a signed staff badge (payload.signature): reaches the payload decoding, not the signature."""

scanned_text = st.one_of(url_like, gtin_like, badge_like, signed_badge_like, _skus, st.text(max_size=300),
                         url_like.map(lambda s: s.encode()), st.binary(max_size=300))
"""Anything a scanner or keyboard may deliver, weighted towards what reaches the deep branches."""


TOKEN = "dGhpcy1pcy1hLWNhcnQtdG9rZW4"  # 27 base64url chars
# A version 2 badge as the backend signs it (docs/qr-codes.md); the parser reads it, mqtt.badges verifies it.
BADGE = ("AISLE-STAFF:2:eyJiaWQiOiJiX1FtOXZhMnRsWlhCcGJtY3giLCJleHAiOjE4MDM4NTkyMDAsImlhdCI6MTc5NjA4MzIwMCwic3"
         "RhZmYiOiJhbm5hLmsiLCJzdG9yZSI6InN0aGxtLWNpdHkiLCJ2IjoyfQ."
         "c4dYLG27JJujzMcEn5CP9Rq8Zre03bgkA4OLcrnnF-Vki-81HcwfHWOMduCbO0Y6VbE2g70Vqq0fjXnP9MQRAw")
SIGNATURE = "A" * 86


def badge_token(body: object) -> str:
    """A badge token around any payload (not signed: the parser never checks signatures)."""
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return _b64(raw) + "." + SIGNATURE
