"""Payload validation on the way in and out."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt.payloads import (
    MAX_PAYLOAD_BYTES,
    DeviceStatus,
    Money,
    PayloadError,
    Product,
    Reply,
    Request,
    StockAdjustArgs,
    StockLevel,
    decode,
    encode,
    utcnow,
)


def product(**overrides: object) -> Product:
    fields = dict(sku="DAI-MILK-1L", store="s1", gtins=["2012345678903"], names={"en": "Milk", "fa": "شیر"},
                  price=Money(amount=Decimal("16.90"), currency="SEK"), seq=3, updated_at=utcnow())
    fields.update(overrides)
    return Product(**fields)


def test_product_round_trip_keeps_decimal_price_as_text() -> None:
    p = product()
    data = encode(p)
    assert json.loads(data)["price"] == {"amount": "16.90", "currency": "SEK"}
    assert json.loads(data)["gtins"] == ["02012345678903"]
    assert decode(Product, data) == p


def test_stock_level_round_trip() -> None:
    level = StockLevel(sku="A1", store="s1", available=3, on_hand=5, reserved=2, seq=9, updated_at=utcnow())
    assert decode(StockLevel, encode(level)) == level


@pytest.mark.parametrize("raw,reason", [
    (b"not json", "not JSON"),
    (b"[1,2]", "expected a JSON object"),
    (b'{"amount": 16.9, "currency": "SEK"}', "not a JSON number"),
    (b'{"amount": "16.9", "currency": "ABC"}', "ISO 4217"),
    (b'{"amount": "NaN", "currency": "SEK"}', "decimal string"),
    (b'{"amount": "1", "currency": "SEK", "x": 1}', "Extra inputs"),
    (b"\xff\xfe", "not JSON"),
    (b"[" * 100_000, "exceeds"),
])
def test_bad_money_payloads_are_refused_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode(Money, raw)


def test_oversized_and_deeply_nested_payloads_are_refused() -> None:
    with pytest.raises(PayloadError, match="exceeds"):
        decode(Request, b" " * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(PayloadError):
        decode(Request, b'{"id": "abcdefgh", "op": "a.b", "reply_to": "x", "args": ' + b'{"a":' * 3000 + b"1"
               + b"}" * 3001)


def test_encode_refuses_oversized_payload() -> None:
    with pytest.raises(PayloadError):
        encode(Request(id="abcdefgh", op="a.b", reply_to="r", args={"blob": "x" * MAX_PAYLOAD_BYTES}))


def test_stock_adjust_args_validate() -> None:
    assert decode(StockAdjustArgs, {"sku": "A1", "delta": -2, "reason": "sold"}).location == "shelf"
    for bad in ({"sku": "A1", "delta": 0, "reason": "x"}, {"sku": "A1", "delta": "2", "reason": ""},
                {"sku": "A1", "delta": 1, "reason": "x", "location": "roof"}, {"sku": "a b", "delta": 1}):
        with pytest.raises(PayloadError):
            decode(StockAdjustArgs, bad)


def test_failed_reply_needs_error() -> None:
    with pytest.raises(PayloadError, match="needs an error"):
        decode(Reply, {"id": "abcdefgh", "ok": False})


MODELS = [Product, StockLevel, DeviceStatus, Request, Reply, StockAdjustArgs, Money]


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(MODELS), data=st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.text(max_size=12), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=20), max_size=8).map(lambda d: json.dumps(d).encode()),
))
def test_fuzzed_payloads_decode_or_raise_payload_error(model: type, data: bytes) -> None:
    try:
        decoded = decode(model, data)
    except PayloadError as exc:
        assert str(exc)
    else:
        assert decode(model, encode(decoded)) == decoded
