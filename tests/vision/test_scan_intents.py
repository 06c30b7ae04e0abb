"""Intent parsing: documented formats, hostile input, fuzzing and builder round trips."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import ean

from tests.code_strategies import (
    OWN_BASES,
    badge_like,
    digital_links,
    gtin_like,
    scanned_text,
    signed_badge_like,
    store_links,
    url_like,
)
from vision.intents import (
    CartHandoff,
    IntentConfig,
    IntentValueError,
    ProductCode,
    ProductLink,
    StaffBadge,
    Unknown,
    cart_handoff_url,
    intent_for_symbol,
    intent_to_dict,
    parse_intent,
    product_link_url,
    staff_badge_text,
)
from vision.symbols import Format, Symbol

TOKEN = "dGhpcy1pcy1hLWNhcnQtdG9rZW4"  # 27 base64url chars
KEY = "c2VjcmV0LWJhZGdlLWtleS0xMjM0NQ"
# A version 2 badge as the backend signs it (docs/qr-codes.md); the parser reads it, mqtt.badges verifies it.
BADGE = ("AISLE-STAFF:2:eyJiaWQiOiJiX1FtOXZhMnRsWlhCcGJtY3giLCJleHAiOjE4MDM4NTkyMDAsImlhdCI6MTc5NjA4MzIwMCwic3"
         "RhZmYiOiJhbm5hLmsiLCJzdG9yZSI6InN0aGxtLWNpdHkiLCJ2IjoyfQ."
         "c4dYLG27JJujzMcEn5CP9Rq8Zre03bgkA4OLcrnnF-Vki-81HcwfHWOMduCbO0Y6VbE2g70Vqq0fjXnP9MQRAw")
BADGE_TOKEN = BADGE.split(":", 2)[2]
SIGNATURE = "A" * 86


def badge_token(body: object) -> str:
    """A badge token around any payload (not signed: the parser never checks signatures)."""
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + SIGNATURE

stores = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,31}\Z")
skus = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
staff_ids = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,63}\Z")
tokens = st.from_regex(r"\A[A-Za-z0-9_-]{22,128}\Z")
FUZZ = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
ROUND_TRIP = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@pytest.mark.parametrize(
    "text,intent",
    [
        ("https://aisle.example/s/sthlm-city/p/DAI-MILK-1L", ProductLink("sthlm-city", "DAI-MILK-1L")),
        ("https://aisle.example/s/sthlm-city/p/dai-milk-1l", ProductLink("sthlm-city", "DAI-MILK-1L")),
        ("HTTPS://Aisle.Example/s/sthlm-city/p/X", ProductLink("sthlm-city", "X")),
        ("https://aisle.example:443/s/sthlm-city/p/X", ProductLink("sthlm-city", "X")),
        ("https://aisle.example/s/sthlm-city/p/X\r\n", ProductLink("sthlm-city", "X")),
        (f"https://aisle.example/s/cph-vesterbro/cart/{TOKEN}", CartHandoff("cph-vesterbro", TOKEN)),
        (BADGE, StaffBadge("sthlm-city", "anna.k", BADGE_TOKEN)),
        ("4006381333931", ProductCode("04006381333931")),
        ("036000291452", ProductCode("00036000291452")),
        ("96385074", ProductCode("00000096385074")),
        ("10614141000415", ProductCode("10614141000415")),
        ("https://id.gs1.org/01/09506000134352", ProductCode("09506000134352")),
        ("https://id.gs1.org/01/9506000134352", ProductCode("09506000134352")),
        ("https://brand.example/01/09506000134352/10/ABC123/21/XYZ?17=251231", ProductCode("09506000134352")),
        ("https://brand.example/products/01/09506000134352", ProductCode("09506000134352")),
    ],
)
def test_documented_formats(text: str, intent: object) -> None:
    assert parse_intent(text) == intent


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "empty"),
        ("   \r\n", "empty"),
        ("x" * 5000, "too long"),
        ("http://aisle.example/s/sthlm-city/p/X", "scheme http"),
        ("javascript:alert(document.cookie)", "scheme javascript"),
        ("JaVaScRiPt:alert(1)", "scheme javascript"),
        ("data:text/html,<script>alert(1)</script>", "scheme data"),
        ("file:///etc/passwd", "scheme file"),
        ("ftp://aisle.example/s/ab/p/X", "scheme ftp"),
        ("//aisle.example/s/ab/p/X", "unrecognised"),
        ("https:aisle.example/s/ab/p/X", "missing //host"),
        ("https://user:pw@aisle.example/s/ab/p/X", "userinfo"),
        ("https://aisle.example@evil.example/s/ab/p/X", "userinfo"),
        ("https://evil.example/s/ab/p/X", "host not allowed"),
        ("https://aisle.example.evil.example/s/ab/p/X", "host not allowed"),
        ("https://evil.example#@aisle.example/s/ab/p/X", "host not allowed"),
        ("https://aisle.example./s/ab/p/X", "bad host"),
        ("https://aisle.example:8443/s/ab/p/X", "host not allowed"),
        ("https://aisle.example:99999/s/ab/p/X", "bad port"),
        ("https://аisle.example/s/ab/p/X", "non-ASCII"),
        ("https://aisle.example/s/ab/p/X\u202e", "non-ASCII"),
        ("https://aisle.example/s/ab/p/X\x00", "control"),
        ("https://aisle.example/s/ab/p/X\nhttps://evil", "control"),
        ("https://aisle.example/s/ab/p/X/extra", "extra path"),
        ("https://aisle.example/s/ab/p/X/", "extra path"),
        ("https://aisle.example/s/ab/../p/X", "traversal"),
        ("https://aisle.example/s/ab/./p/X", "traversal"),
        ("https://aisle.example/s/ab/p/%2e%2e", "percent"),
        ("https://aisle.example/s/ab/p/X%00", "percent"),
        ("https://aisle.example/s/ab/p/X?redirect=https://evil", "query"),
        ("https://aisle.example/s/ab/p/X#frag", "query or fragment"),
        ("https://aisle.example/s/AB/p/X", "bad store"),
        ("https://aisle.example/s/a/p/X", "bad store"),
        ("https://aisle.example/s/ab/p/-X", "bad sku"),
        ("https://aisle.example/s/ab/p/X'OR'1'='1", "bad sku"),
        ("https://aisle.example/s/ab/p/<script>", "illegal characters"),
        ("https://aisle.example/s/ab/p/X;DROP", "bad sku"),
        ("https://aisle.example/s/ab/p/" + "A" * 65, "bad sku"),
        ("https://aisle.example/s/ab/cart/short", "bad cart token"),
        ("https://aisle.example/s/ab/cart/" + "A" * 129, "bad cart token"),
        ("https://aisle.example/s/ab/cart/" + "A" * 21 + "=", "bad cart token"),
        ("https://aisle.example/s/ab/x/X", "unknown store link"),
        ("https://aisle.example/s/ab/p", "incomplete"),
        ("https://aisle.example/", "unknown path"),
        ("https://aisle.example\\s\\ab\\p\\X", "bad host"),
        ("https://id.gs1.org/01/09506000134353", "check digit"),
        ("https://id.gs1.org/01/0950600013435", "GTIN"),
        ("https://id.gs1.org/01/09506000134352/99/x", "qualifier"),
        ("https://id.gs1.org/01/09506000134352/21/x/10/y", "qualifier"),
        ("https://id.gs1.org/x/01/09506000134352", "Digital Link"),
        ("4006381333932", "check digit"),
        ("12345", "not a GTIN"),
        ("AISLE-STAFF:3:" + BADGE_TOKEN, "version"),
        ("AISLE-STAFF:1:sthlm-city:anna.k:" + KEY, "3 fields"),  # version 1 signs nobody in any more
        ("AISLE-STAFF:1:" + BADGE_TOKEN, "version"),
        ("AISLE-STAFF:2:" + BADGE_TOKEN + ":x", "3 fields"),
        ("AISLE-STAFF:2:" + BADGE_TOKEN[:-1], "bad badge token"),
        ("AISLE-STAFF:2:" + badge_token({"store": "Sthlm", "staff": "anna", "pad": "x" * 20}), "bad store"),
        ("AISLE-STAFF:2:" + badge_token({"store": "sthlm-city", "staff": "Anna", "pad": "x" * 20}), "bad staff"),
        ("AISLE-STAFF:2:" + badge_token(b"not json at all, not even close to it"), "bad badge payload"),
        ("AISLE-STAFF:2:" + badge_token(["sthlm-city", "anna", "x" * 30]), "bad store"),
        ("MECARD:N:Sean Owen;;", "scheme mecard"),
        ("hello world", "unrecognised"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_hostile_or_foreign_text_is_unknown(text: str | bytes, reason: str) -> None:
    result = parse_intent(text)
    assert isinstance(result, Unknown), result
    assert reason.lower() in result.reason.lower()


def test_configured_base_with_path_prefix_and_other_host() -> None:
    config = IntentConfig(base_urls=("https://shop.example/aisle", "https://aisle.example"))
    assert parse_intent("https://shop.example/aisle/s/ab/p/X", config) == ProductLink("ab", "X")
    assert parse_intent("https://aisle.example/s/ab/p/X", config) == ProductLink("ab", "X")
    assert isinstance(parse_intent("https://shop.example/s/ab/p/X", config), Unknown)
    only_shop = IntentConfig(base_urls=("https://shop.example/aisle",))
    assert parse_intent("https://aisle.example/s/ab/p/X", only_shop) == Unknown("host not allowed")


@pytest.mark.parametrize("base", ["http://aisle.example", "https://u@aisle.example", "https://a.example?x=1", "ftp://x"])
def test_bad_base_urls_are_rejected(base: str) -> None:
    with pytest.raises(IntentValueError):
        IntentConfig(base_urls=(base,))
    with pytest.raises(IntentValueError):
        product_link_url("ab", "X", base=base)


def test_builders_validate_input() -> None:
    with pytest.raises(IntentValueError):
        product_link_url("AB", "X")
    with pytest.raises(IntentValueError):
        product_link_url("ab", "../x")
    with pytest.raises(IntentValueError):
        cart_handoff_url("ab", "short")
    with pytest.raises(IntentValueError):
        staff_badge_text("short")
    assert product_link_url("ab", "x-1", base="https://shop.example/aisle/") == "https://shop.example/aisle/s/ab/p/X-1"


def test_secrets_are_not_in_repr_or_default_json() -> None:
    badge = parse_intent(BADGE)
    cart = parse_intent(f"https://aisle.example/s/ab/cart/{TOKEN}")
    assert BADGE_TOKEN not in repr(badge) and TOKEN not in repr(cart)
    assert BADGE_TOKEN not in str(intent_to_dict(badge)) and TOKEN not in str(intent_to_dict(cart))
    assert intent_to_dict(badge, reveal_secrets=True)["token"] == BADGE_TOKEN


def test_symbol_intents_use_the_gtin() -> None:
    upc = Symbol(Format.UPC_A, "036000291452", "00036000291452", (), "zxing-cpp")
    qr = Symbol(Format.QR_CODE, "https://aisle.example/s/ab/p/X", None, (), "zxing-cpp")
    assert intent_for_symbol(upc) == ProductCode("00036000291452")
    assert intent_for_symbol(qr) == ProductLink("ab", "X")


# Fuzzing.


@FUZZ
@given(st.text(max_size=3000))
def test_never_raises_on_any_text(text: str) -> None:
    result = parse_intent(text)
    assert isinstance(result, ProductLink | ProductCode | CartHandoff | StaffBadge | Unknown)


@FUZZ
@given(st.binary(max_size=3000))
def test_never_raises_on_any_bytes(data: bytes) -> None:
    assert parse_intent(data) is not None


# parse_intent() catches nothing: an exception anywhere below it fails these, so they must reach every branch.
INTENTS = ProductLink | ProductCode | CartHandoff | StaffBadge | Unknown
OWN = IntentConfig(base_urls=OWN_BASES)


@FUZZ
@given(scanned_text, st.sampled_from([None, OWN]))
def test_never_raises_on_code_like_text(text: str | bytes, config: IntentConfig | None) -> None:
    assert isinstance(parse_intent(text, config or IntentConfig()), INTENTS)


@FUZZ
@given(st.one_of(url_like, digital_links))
def test_links_never_raise(text: str) -> None:
    result = parse_intent(text, OWN)
    assert isinstance(result, INTENTS) and not isinstance(result, StaffBadge)


@FUZZ
@given(store_links)
def test_store_links_never_raise_and_are_understood(text: str) -> None:
    result = parse_intent(text, OWN)
    assert isinstance(result, ProductLink | CartHandoff | Unknown), result
    if isinstance(result, ProductLink | CartHandoff):
        assert f"/s/{result.store}/" in text


@FUZZ
@given(st.one_of(gtin_like, badge_like, signed_badge_like))
def test_digits_and_badges_never_raise(text: str) -> None:
    assert isinstance(parse_intent(text), ProductCode | StaffBadge | Unknown)


@FUZZ
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=200))
def test_junk_without_digits_or_our_prefixes_is_unknown(text: str) -> None:
    if "https:" in text.lower() or "AISLE-STAFF:" in text:
        return
    assert isinstance(parse_intent(text), Unknown)


@FUZZ
@given(
    st.sampled_from(
        ["https://aisle.example/s/sthlm-city/p/DAI-MILK-1L", f"https://aisle.example/s/ab/cart/{TOKEN}",
         BADGE, "https://id.gs1.org/01/09506000134352"]
    ),
    st.integers(min_value=0, max_value=200),
    st.characters(blacklist_characters=" \t\r\n", codec="utf-8").filter(lambda c: ord(c) < 0x20 or ord(c) > 0x7E),
)
def test_a_control_or_non_ascii_character_anywhere_makes_it_unknown(valid: str, at: int, char: str) -> None:
    at = at % (len(valid) + 1)
    assert isinstance(parse_intent(valid[:at] + char + valid[at:]), Unknown)


@ROUND_TRIP
@given(stores, skus)
def test_product_link_round_trip(store: str, sku: str) -> None:
    assert parse_intent(product_link_url(store, sku)) == ProductLink(store, sku.upper())


@ROUND_TRIP
@given(stores, skus, st.from_regex(r"\A[a-z0-9-]{1,20}\Z"))
def test_product_link_round_trip_with_configured_base(store: str, sku: str, prefix: str) -> None:
    base = f"https://shop.example/{prefix}"
    config = IntentConfig(base_urls=(base,))
    assert parse_intent(product_link_url(store, sku, base=base), config) == ProductLink(store, sku.upper())


@ROUND_TRIP
@given(stores, tokens)
def test_cart_handoff_round_trip(store: str, token: str) -> None:
    assert parse_intent(cart_handoff_url(store, token)) == CartHandoff(store, token)


@ROUND_TRIP
@given(stores, staff_ids)
def test_staff_badge_round_trip(store: str, staff: str) -> None:
    token = badge_token({"v": 2, "store": store, "staff": staff, "bid": "b_" + "x" * 16, "iat": 1, "exp": 2})
    assert parse_intent(staff_badge_text(token)) == StaffBadge(store, staff, token)


@FUZZ
@given(st.text("0123456789", min_size=7, max_size=13).filter(lambda s: len(s) in (7, 11, 12, 13)))
def test_gtins_with_check_digit_and_without(body: str) -> None:
    good = body + ean.calc_check_digit(body)
    bad = body + str((int(good[-1]) + 1) % 10)
    assert parse_intent(good) == ProductCode(good.zfill(14))
    assert isinstance(parse_intent(bad), Unknown)


@ROUND_TRIP
@given(stores, skus, st.sampled_from(["/x", "/", "?a=1", "#f", "/%41", "/.."]))
def test_anything_appended_to_a_product_link_is_unknown(store: str, sku: str, tail: str) -> None:
    assert isinstance(parse_intent(product_link_url(store, sku) + tail), Unknown)


def test_a_kiosk_enrolment_code_is_read_strictly_and_its_secret_stays_hidden() -> None:
    from mqtt.enrolment import EnrolmentCode, parse_enrolment_qr
    from vision.intents import PhoneEnrolment

    secret = "q1Jf0cXvD2m9b7ZpR4tYwE8sLh3uKa6n"
    code = EnrolmentCode(store="sthlm-city", login="enrol-3f9c0a7be21d4c5e8a61", password=secret,
                         expires_at="2026-12-02T10:31:00Z")
    intent = parse_intent(code.qr_text() + "\r\n")
    assert intent == PhoneEnrolment("sthlm-city", "enrol-3f9c0a7be21d4c5e8a61", secret)
    assert isinstance(intent, PhoneEnrolment) and intent.text == code.qr_text()
    assert parse_enrolment_qr(intent.text).password == secret  # what register_phone will parse again
    assert secret not in repr(intent) and secret not in str(intent_to_dict(intent))
    good = code.qr_text()
    for bad, reason in [
        (good.replace(":1:", ":2:", 1), "unsupported enrolment code version '2'"),
        (good + ":extra", "enrolment code must have 5 fields"),
        (good.replace("sthlm-city", "Sthlm_City"), "bad store id"),
        (good.replace("enrol-3f9c", "phone-3f9c"), "bad enrolment login"),
        (good.replace("enrol-3f9c0a7be21d4c5e8a61", "enrol-3f9c0a7be21d4c5e8a6"), "bad enrolment login"),
        (good[:-8], "bad enrolment login"),  # a secret cut short
        (good.replace(secret, secret[:-1] + "!"), "bad enrolment login"),
        ("AISLE-ENROL:1:", "enrolment code must have 5 fields"),
    ]:
        assert parse_intent(bad) == Unknown(reason), bad
