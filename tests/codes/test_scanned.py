"""Scanned and typed codes (codes.scanned): documented formats, hostile input, configuration and builders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from codes.gs1 import Gs1Data
from codes.gtin import expand_upce
from codes.qr import cart_handoff_url, product_link_url, staff_badge_text
from codes.scanned import (
    DEFAULT_CONFIG,
    CartHandoff,
    IntentConfig,
    PhoneEnrolment,
    ProductCode,
    ProductLink,
    SkuCode,
    StaffBadge,
    Unknown,
    intent_to_dict,
    parse_intent,
    product_intent,
)
from codes.urls import IntentValueError
from tests.codes.strategies import BADGE, TOKEN, badge_token

KEY = "c2VjcmV0LWJhZGdlLWtleS0xMjM0NQ"
BADGE_TOKEN = BADGE.split(":", 2)[2]


# A scanner's text (parse_intent) and a person's entry at the device (product_intent: SKUs, UPC-E, products only).
SCANNED = [
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
    ("https://brand.example/01/09506000134352/10/ABC123/21/XYZ?17=251231",
     ProductCode("09506000134352", gs1=Gs1Data(
         (("01", "09506000134352"), ("10", "ABC123"), ("21", "XYZ"), ("17", "251231")),
         gtin="09506000134352", batch="ABC123", serial="XYZ", expiry=date(2025, 12, 31)))),
    ("https://brand.example/products/01/09506000134352", ProductCode("09506000134352")),
]
TYPED = [
    ("DAI-MILK-1L", SkuCode("DAI-MILK-1L")),
    ("  dai-milk-1l\r\n", SkuCode("DAI-MILK-1L")),
    ("12345", SkuCode("12345")),  # numeric article numbers are SKUs too
    ("0036000291452", ProductCode("00036000291452")),  # EAN-13
    ("036000291452", ProductCode("00036000291452")),  # UPC-A of the same item
    ("00036000291452", ProductCode("00036000291452")),  # GTIN-14
    ("96385074", ProductCode("00000096385074")),  # EAN-8
    ("04252614", ProductCode("00042100005264")),  # UPC-E (Coca-Cola 12 oz) expands to its UPC-A
    ("https://id.gs1.org/01/09506000134352", ProductCode("09506000134352")),
    ("https://brand.example/products/01/9506000134352/10/ABC/21/1", ProductCode("09506000134352", gs1=Gs1Data(
        (("01", "09506000134352"), ("10", "ABC"), ("21", "1")), gtin="09506000134352", batch="ABC", serial="1"))),
    ("https://aisle.example/s/sthlm-city/p/fru-apl-golden", ProductLink("sthlm-city", "FRU-APL-GOLDEN")),
    ("HTTPS://Aisle.Example:443/s/sthlm-city/p/X\n", ProductLink("sthlm-city", "X")),
]


@pytest.mark.parametrize("read,text,intent", [(parse_intent, t, i) for t, i in SCANNED]
                         + [(product_intent, t, i) for t, i in TYPED])
def test_documented_formats(read: Callable[[str], object], text: str, intent: object) -> None:
    assert read(text) == intent


HOSTILE = [
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
]
# A person's entry at the device; ("", "empty") is HOSTILE's already.
TYPED_JUNK = [
    ("https://aisle.example/s/ab/cart/dGhpcy1pcy1hLWNhcnQtdG9rZW4", "cart link"),  # a way to a cart, not a product
    ("hello world", "not a SKU"),
    ("DAI\x1bMILK", "control"),
    ("MJÖLK", "non-ASCII"),
    ("0036000291453", "check digit"),
    ("x" * 3000, "too long"),
    ("http://aisle.example/s/ab/p/X", "https only"),
    ("https://user:pw@aisle.example/s/ab/p/X", "userinfo"),
    ("https://aisle.example@evil.example/s/ab/p/X", "userinfo"),
    ("https://evil.example/s/ab/p/X", "host not allowed"),
    ("https://aisle.example/s/ab/p/X/extra", "extra path"),
    ("https://aisle.example/s/ab/p/X?x=1", "query"),
    ("https://aisle.example/s/ab/p/X\x00", "control"),
    ("https://aisle.example/s/ab/p/%2e%2e", "percent"),
    ("https://aisle.example/s/ab/../p/X", "traversal"),
    ("https://id.gs1.org/01/09506000134353", "check digit"),
    (b"\xff\xfe", "UTF-8"),
]


@pytest.mark.parametrize("read,text,reason", [(parse_intent, t, r) for t, r in HOSTILE]
                         + [(product_intent, t, r) for t, r in TYPED_JUNK])
def test_hostile_or_foreign_text_is_unknown(read: Callable[[str | bytes], object], text: str | bytes,
                                            reason: str) -> None:
    result = read(text)
    assert isinstance(result, Unknown), result
    assert reason.lower() in result.reason.lower()


def test_configured_bases_only_with_path_prefix_and_other_host() -> None:
    config = IntentConfig(base_urls=("https://shop.example/aisle", "https://aisle.example"))
    assert parse_intent("https://shop.example/aisle/s/ab/p/X", config) == ProductLink("ab", "X")
    assert parse_intent("https://aisle.example/s/ab/p/X", config) == ProductLink("ab", "X")
    assert isinstance(parse_intent("https://shop.example/s/ab/p/X", config), Unknown)
    assert product_intent("https://shop.example/aisle/s/ab/p/X", config) == ProductLink("ab", "X")
    assert isinstance(product_intent("https://shop.example/s/ab/p/X", config), Unknown)
    only_shop = IntentConfig(base_urls=("https://shop.example/aisle",))
    assert parse_intent("https://aisle.example/s/ab/p/X", only_shop) == Unknown("host not allowed")
    assert product_intent("https://aisle.example/s/ab/p/X", IntentConfig(("https://shop.example",))) == \
        Unknown("host not allowed")
    for bad in ("http://aisle.example", "https://u@aisle.example", "https://a.example?x=1"):
        with pytest.raises(IntentValueError):
            IntentConfig((bad,))
    assert product_link_url("sthlm-city", "fru-apl-golden") == "https://aisle.example/s/sthlm-city/p/FRU-APL-GOLDEN"
    assert product_intent(product_link_url("ab", "X", config.base_url), config) == ProductLink("ab", "X")


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


def test_upce_expansion_and_ean8_ambiguity() -> None:
    assert expand_upce("04252614") == "042100005264"
    assert expand_upce("24252614") is None  # number system 2 has no UPC-E
    assert expand_upce("04252615") is None  # wrong check digit
    # A valid EAN-8 whose UPC-E reading is valid too: the EAN-8 first, the UPC-A as an alternative.
    assert product_intent("01234565") == ProductCode("00000001234565", ("00012345000065",))
    assert parse_intent("01234565") == ProductCode("00000001234565")  # a scanner's EAN-8 is only that
    assert product_intent("01234565", DEFAULT_CONFIG).candidates == ("00000001234565", "00012345000065")


def test_a_kiosk_enrolment_code_is_read_strictly_and_its_secret_stays_hidden() -> None:
    from mqtt.enrolment import EnrolmentCode, parse_enrolment_qr

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
