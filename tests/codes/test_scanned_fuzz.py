"""Scanned and typed codes (codes.scanned) under fuzzing and builder round trips: junk never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codes.gtin import check_digit
from codes.ids import SKU_RE
from codes.qr import cart_handoff_url, product_link_url, staff_badge_text
from codes.scanned import (
    CartHandoff,
    IntentConfig,
    ProductCode,
    ProductLink,
    SkuCode,
    StaffBadge,
    Unknown,
    parse_intent,
    product_intent,
)
from tests.codes.strategies import (
    BADGE,
    OWN_BASES,
    TOKEN,
    badge_like,
    badge_token,
    digital_links,
    gtin_like,
    scanned_text,
    signed_badge_like,
    store_links,
    url_like,
)

stores = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,31}\Z")
skus = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
staff_ids = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,63}\Z")
tokens = st.from_regex(r"\A[A-Za-z0-9_-]{22,128}\Z")
FUZZ = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
ROUND_TRIP = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
FUZZ_TYPED = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


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
    good = body + check_digit(body)
    bad = body + str((int(good[-1]) + 1) % 10)
    assert parse_intent(good) == ProductCode(good.zfill(14))
    assert isinstance(parse_intent(bad), Unknown)


@ROUND_TRIP
@given(stores, skus, st.sampled_from(["/x", "/", "?a=1", "#f", "/%41", "/.."]))
def test_anything_appended_to_a_product_link_is_unknown(store: str, sku: str, tail: str) -> None:
    assert isinstance(parse_intent(product_link_url(store, sku) + tail), Unknown)


# product_intent() catches nothing either: the same strategies drive a person's entry at the device.
PRODUCT = SkuCode | ProductCode | ProductLink | Unknown
PREFIXED = IntentConfig(OWN_BASES)


@FUZZ_TYPED
@given(st.one_of(st.text(max_size=3000), st.binary(max_size=3000)))
def test_typed_never_raises_on_random_text(text: str | bytes) -> None:
    assert isinstance(product_intent(text), PRODUCT)


@FUZZ_TYPED
@given(scanned_text, st.sampled_from([None, PREFIXED]))
def test_typed_never_raises(text: str | bytes, config: IntentConfig | None) -> None:
    assert isinstance(product_intent(text, config or IntentConfig()), PRODUCT)


@FUZZ_TYPED
@given(url_like, st.sampled_from([None, PREFIXED]))
def test_typed_links_never_raise(text: str, config: IntentConfig | None) -> None:
    assert isinstance(product_intent(text, config or IntentConfig()), PRODUCT)


@FUZZ_TYPED
@given(store_links)
def test_typed_store_links_are_understood(text: str) -> None:
    result = product_intent(text, PREFIXED)
    assert isinstance(result, ProductLink | Unknown), result
    if isinstance(result, ProductLink):  # only from a well-formed link on one of our bases
        assert f"/s/{result.store}/p/" in text and result.sku == result.sku.upper()


@FUZZ_TYPED
@given(digital_links)
def test_typed_digital_links_name_a_valid_gtin(text: str) -> None:
    result = product_intent(text)
    assert isinstance(result, ProductCode | Unknown), result
    if isinstance(result, ProductCode):
        assert "/01/" in text and len(result.gtin) == 14 and not result.alternatives


@FUZZ_TYPED
@given(gtin_like)
def test_typed_digits_are_read_as_gtins(text: str) -> None:
    result = product_intent(text)
    assert isinstance(result, ProductCode | SkuCode | Unknown)
    if isinstance(result, ProductCode):
        assert all(len(g) == 14 and g.isdigit() for g in result.candidates)


# A person's entry reads every URL form exactly as a scan does (docs/qr-codes.md); only SKUs are its own.

url_parts = st.sampled_from(["https://", "HTTPS://", "http://", "https:", "//", ""])
hosts = st.sampled_from(["aisle.example", "Aisle.Example", "aisle.example:443", "aisle.example:8443", "id.gs1.org",
                         "brand.example", "u@aisle.example", "evil.example", "aisle.example.", "aisle.example\\x"])
segments = st.lists(st.sampled_from(["s", "p", "01", "10", "21", "22", "sthlm-city", "ab", "AB", "X", "dai-milk-1l",
                                     "09506000134352", "9506000134352", "09506000134353", "..", ".", "%2e", "",
                                     "cart", "x y", "A" * 65, "brand"]), max_size=6)
tails = st.sampled_from(["", "?x=1", "#f", "/", "\n", "\x00"])


@FUZZ_TYPED
@given(url_parts, hosts, segments, tails)
def test_url_forms_match_the_scanner(scheme: str, host: str, path: list[str], tail: str) -> None:
    text = scheme + host + "".join("/" + s for s in path) + tail
    ours, theirs = product_intent(text), parse_intent(text)
    if isinstance(theirs, ProductLink):
        assert ours == theirs, text
    elif isinstance(theirs, ProductCode):
        assert isinstance(ours, ProductCode) and ours.gtin == theirs.gtin, text
    elif isinstance(ours, SkuCode):
        assert SKU_RE.fullmatch(text.strip(" \t\r\n").upper()), text  # typed SKUs are ours alone
    else:
        assert isinstance(ours, Unknown), (text, ours, theirs)
