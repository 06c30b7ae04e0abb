"""Code classification: SKUs, every GTIN form, GS1 Digital Link, shelf links; junk never raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.codes import (
    CodeConfig,
    CodeConfigError,
    GtinCode,
    ShelfLink,
    SkuCode,
    UnknownCode,
    classify,
    expand_upce,
    shelf_link_url,
)
from mqtt.ids import SKU_RE
from tests.code_strategies import OWN_BASES, digital_links, gtin_like, scanned_text, store_links, url_like

FUZZ = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@pytest.mark.parametrize(
    "text,code",
    [
        ("DAI-MILK-1L", SkuCode("DAI-MILK-1L")),
        ("  dai-milk-1l\r\n", SkuCode("DAI-MILK-1L")),
        ("12345", SkuCode("12345")),  # numeric article numbers are SKUs too
        ("0036000291452", GtinCode("00036000291452")),  # EAN-13
        ("036000291452", GtinCode("00036000291452")),  # UPC-A of the same item
        ("00036000291452", GtinCode("00036000291452")),  # GTIN-14
        ("96385074", GtinCode("00000096385074")),  # EAN-8
        ("04252614", GtinCode("00042100005264")),  # UPC-E (Coca-Cola 12 oz) expands to its UPC-A
        ("https://id.gs1.org/01/09506000134352", GtinCode("09506000134352")),
        ("https://brand.example/products/01/9506000134352/10/ABC/21/1", GtinCode("09506000134352")),
        ("https://aisle.example/s/sthlm-city/p/fru-apl-golden", ShelfLink("sthlm-city", "FRU-APL-GOLDEN")),
        ("HTTPS://Aisle.Example:443/s/sthlm-city/p/X\n", ShelfLink("sthlm-city", "X")),
    ],
)
def test_documented_forms(text: str, code: object) -> None:
    assert classify(text) == code


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "empty"),
        ("0036000291453", "check digit"),
        ("x" * 3000, "too long"),
        ("http://aisle.example/s/ab/p/X", "https only"),
        ("https://user:pw@aisle.example/s/ab/p/X", "userinfo"),
        ("https://aisle.example@evil.example/s/ab/p/X", "userinfo"),
        ("https://evil.example/s/ab/p/X", "host not allowed"),
        ("https://aisle.example/s/ab/p/X/extra", "extra path"),
        ("https://aisle.example/s/ab/p/X?x=1", "query"),
        ("https://aisle.example/s/ab/p/X\x00", "control"),
        ("DAI\x1bMILK", "control"),
        ("https://aisle.example/s/ab/p/%2e%2e", "percent"),
        ("https://aisle.example/s/ab/../p/X", "traversal"),
        ("https://aisle.example/s/ab/cart/dGhpcy1pcy1hLWNhcnQtdG9rZW4", "cart link"),
        ("https://id.gs1.org/01/09506000134353", "check digit"),
        ("MJÖLK", "non-ASCII"),
        ("hello world", "not a SKU"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_junk_is_unknown_with_a_reason(text: str | bytes, reason: str) -> None:
    result = classify(text)
    assert isinstance(result, UnknownCode), result
    assert reason.lower() in result.reason.lower()


def test_configured_hosts_only_and_https_bases() -> None:
    config = CodeConfig(("https://shop.example/aisle", "https://aisle.example"))
    assert classify("https://shop.example/aisle/s/ab/p/X", config) == ShelfLink("ab", "X")
    assert isinstance(classify("https://shop.example/s/ab/p/X", config), UnknownCode)
    assert classify("https://aisle.example/s/ab/p/X", CodeConfig(("https://shop.example",))) == \
        UnknownCode("host not allowed")
    for bad in ("http://aisle.example", "https://u@aisle.example", "https://a.example?x=1"):
        with pytest.raises(CodeConfigError):
            CodeConfig((bad,))
    assert shelf_link_url("sthlm-city", "fru-apl-golden") == "https://aisle.example/s/sthlm-city/p/FRU-APL-GOLDEN"
    assert classify(shelf_link_url("ab", "X", config), config) == ShelfLink("ab", "X")


def test_upce_expansion_and_ean8_ambiguity() -> None:
    assert expand_upce("04252614") == "042100005264"
    assert expand_upce("24252614") is None  # number system 2 has no UPC-E
    assert expand_upce("04252615") is None  # wrong check digit
    # A valid EAN-8 whose UPC-E reading is valid too: the EAN-8 first, the UPC-A as an alternative.
    assert classify("01234565") == GtinCode("00000001234565", ("00012345000065",))


PREFIXED = CodeConfig(OWN_BASES)


# classify() catches nothing: an exception anywhere below it fails these, so they must reach every branch.
@FUZZ
@given(st.one_of(st.text(max_size=3000), st.binary(max_size=3000)))
def test_never_raises_on_random_text(text: str | bytes) -> None:
    assert isinstance(classify(text), SkuCode | GtinCode | ShelfLink | UnknownCode)


@FUZZ
@given(scanned_text, st.sampled_from([None, PREFIXED]))
def test_never_raises(text: str | bytes, config: CodeConfig | None) -> None:
    assert isinstance(classify(text, config), SkuCode | GtinCode | ShelfLink | UnknownCode)


@FUZZ
@given(url_like, st.sampled_from([None, PREFIXED]))
def test_links_never_raise(text: str, config: CodeConfig | None) -> None:
    assert isinstance(classify(text, config), SkuCode | GtinCode | ShelfLink | UnknownCode)


@FUZZ
@given(store_links)
def test_store_links_never_raise_and_are_understood(text: str) -> None:
    result = classify(text, PREFIXED)
    assert isinstance(result, ShelfLink | UnknownCode), result
    if isinstance(result, ShelfLink):  # only from a well-formed link on one of our bases
        assert f"/s/{result.store}/p/" in text and result.sku == result.sku.upper()


@FUZZ
@given(digital_links)
def test_digital_links_never_raise_and_name_a_valid_gtin(text: str) -> None:
    result = classify(text)
    assert isinstance(result, GtinCode | UnknownCode), result
    if isinstance(result, GtinCode):
        assert "/01/" in text and len(result.gtin) == 14 and not result.alternatives


@FUZZ
@given(gtin_like)
def test_digits_never_raise_and_valid_gtins_are_read(text: str) -> None:
    result = classify(text)
    assert isinstance(result, GtinCode | SkuCode | UnknownCode)
    if isinstance(result, GtinCode):
        assert all(len(g) == 14 and g.isdigit() for g in result.candidates)


# The URL forms must stay identical to the scanner's (vision/intents.py, docs/qr-codes.md).

vision_intents = pytest.importorskip("vision.intents")

url_parts = st.sampled_from(["https://", "HTTPS://", "http://", "https:", "//", ""])
hosts = st.sampled_from(["aisle.example", "Aisle.Example", "aisle.example:443", "aisle.example:8443", "id.gs1.org",
                         "brand.example", "u@aisle.example", "evil.example", "aisle.example.", "aisle.example\\x"])
segments = st.lists(st.sampled_from(["s", "p", "01", "10", "21", "22", "sthlm-city", "ab", "AB", "X", "dai-milk-1l",
                                     "09506000134352", "9506000134352", "09506000134353", "..", ".", "%2e", "",
                                     "cart", "x y", "A" * 65, "brand"]), max_size=6)
tails = st.sampled_from(["", "?x=1", "#f", "/", "\n", "\x00"])


@FUZZ
@given(url_parts, hosts, segments, tails)
def test_url_forms_match_the_scanner(scheme: str, host: str, path: list[str], tail: str) -> None:
    text = scheme + host + "".join("/" + s for s in path) + tail
    ours, theirs = classify(text), vision_intents.parse_intent(text)
    if isinstance(theirs, vision_intents.ProductLink):
        assert ours == ShelfLink(theirs.store, theirs.sku), text
    elif isinstance(theirs, vision_intents.ProductCode):
        assert isinstance(ours, GtinCode) and ours.gtin == theirs.gtin, text
    elif isinstance(ours, SkuCode):
        assert SKU_RE.fullmatch(text.strip(" \t\r\n").upper()), text  # typed SKUs are ours alone
    else:
        assert isinstance(ours, UnknownCode), (text, ours, theirs)
