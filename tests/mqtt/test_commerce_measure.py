"""Weighed cart lines in mqtt/commerce.py: the one pricing rule, label checks, bad input, old clients' JSON."""

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from mqtt.commerce import (
    Cart,
    CartLine,
    CartSetLineArgs,
    LineRequest,
    PricingError,
    add_pack,
    as_request,
    line_total,
    make_line,
    price_line,
    refuse_plain_change,
    stock_units,
)
from mqtt.payloads import Money, PayloadError, decode, utcnow


def sek(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="SEK")


def test_a_measure_prices_per_kg_half_even_to_the_minor_unit() -> None:
    assert line_total(sek("29.95"), 1, Decimal("0.734")) == sek("21.98")  # 21.9833
    assert line_total(sek("10.00"), 3, Decimal("0.125")) == sek("1.25")  # quantity counts packs, not kilograms
    assert line_total(sek("0.50"), 1, Decimal("0.050")) == sek("0.02")  # exactly 0.025: down to the even 0.02
    assert line_total(sek("0.30"), 1, Decimal("0.050")) == sek("0.02")  # exactly 0.015: up to the even 0.02
    assert line_total(Money(amount=Decimal("199"), currency="JPY"), 1, Decimal("0.5")) == Money(
        amount=Decimal("100"), currency="JPY")  # 99.5 to the even yen
    assert line_total(sek("16.90"), 2) == sek("33.80")  # without a measure: as before


@pytest.mark.parametrize("bad,reason", [
    ("0", "more than 0 kg"), ("0.000", "more than 0 kg"), ("-0.5", "more than 0 kg"),
    ("1.2345", "more than 3 decimal places"), ("NaN", "not a decimal string"), ("Infinity", "not a decimal string"),
    ("100", "at most 99.999 kg"), ("1" * 30, "not a decimal string"), ("1e2", "not a decimal string"),
    (0.5, "not a JSON number"), (1, "not a JSON number"), (True, "decimal string"), ("", "not a decimal string"),
])
def test_a_bad_measure_gets_a_clear_reason(bad: object, reason: str) -> None:
    body = json.dumps({"sku": "FRU-APL-GOLDEN", "quantity": 1, "measure": bad})
    with pytest.raises(PayloadError, match=reason):
        decode(LineRequest, body)
    with pytest.raises(PayloadError, match=reason):
        decode(CartSetLineArgs, json.dumps({"cart_id": "c_" + "a" * 22, "sku": "FRU-APL-GOLDEN", "quantity": 1,
                                            "measure": bad}))


def test_a_decimal_measure_that_is_not_finite_is_refused_in_python_too() -> None:
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(ValidationError, match="finite"):
            LineRequest(sku="A1", quantity=1, measure=bad)


def test_a_measure_has_one_spelling() -> None:
    line = decode(LineRequest, '{"sku": "A1", "quantity": 1, "measure": "1.5"}')
    assert line.measure == Decimal("1.500") and json.loads(line.model_dump_json())["measure"] == "1.500"
    assert decode(LineRequest, '{"sku": "A1", "quantity": 1, "measure": "0.7340"}').measure == Decimal("0.734")


@pytest.mark.parametrize("label,reason", [
    ({"amount": "0.00", "currency": "SEK"}, "more than 0"), ({"amount": "-5.00", "currency": "SEK"}, "more than 0"),
    ({"amount": "12.345", "currency": "SEK"}, "more decimals than SEK"),
    ({"amount": "12.50", "currency": "JPY"}, "more decimals than JPY"),
    ({"amount": "12.50", "currency": "XXY"}, "unknown ISO 4217"), ({"amount": 12.5, "currency": "SEK"}, "JSON number"),
])
def test_a_bad_label_price_gets_a_clear_reason(label: dict, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode(LineRequest, json.dumps({"sku": "A1", "quantity": 1, "label_price": label}))


def test_label_price_in_another_currency_is_refused_by_the_pricing_rule() -> None:
    with pytest.raises(PricingError, match="label price is in EUR; this store prices in SEK"):
        price_line("A1", sek("29.95"), "kg", 1, Decimal("0.5"), Money(amount=Decimal("3.00"), currency="EUR"))


def test_a_measure_needs_a_product_priced_per_kg() -> None:
    with pytest.raises(PricingError, match="sold by the piece"):
        price_line("DRY-PASTA-500", sek("21.50"), "500 g", 1, Decimal("0.5"))
    assert price_line("A1", sek("29.95"), " KG ", 1, Decimal("0.5")).line_total == sek("14.98")  # 14.975: even


def test_the_catalogue_price_is_charged_and_a_differing_label_is_flagged() -> None:
    right = price_line("A1", sek("29.95"), "kg", 1, Decimal("0.734"), sek("21.98"))
    assert right.line_total == sek("21.98") and not right.label_mismatch
    wrong = price_line("A1", sek("29.95"), "kg", 1, Decimal("0.734"), sek("19.00"))
    assert wrong.line_total == sek("21.98") and wrong.label_mismatch and wrong.label_price == sek("19.00")


def test_a_price_only_label_gives_the_weight_of_a_per_kg_product() -> None:
    line = price_line("A1", sek("29.95"), "kg", 1, None, sek("21.98"))
    assert line.measure == Decimal("0.734") and line.line_total == sek("21.98") and not line.label_mismatch
    # 1000 SEK/kg: 10.50 means 0.0105 kg, half-even to 0.010 kg, which costs 10.00: flagged, not trusted.
    odd = price_line("A1", sek("1000.00"), "kg", 1, None, sek("10.50"))
    assert odd.measure == Decimal("0.010") and odd.line_total == sek("10.00") and odd.label_mismatch
    with pytest.raises(PricingError, match="at most 99.999 kg"):
        price_line("A1", sek("0.10"), "kg", 1, None, sek("100.00"))
    with pytest.raises(PricingError, match="more than 0"):
        price_line("A1", sek("1000.00"), "kg", 1, None, sek("0.10"))  # 0.0001 kg: no gram at all
    with pytest.raises(PricingError, match="no price per kg"):
        price_line("A1", sek("0.00"), "kg", 1, None, sek("1.00"))


def test_a_price_only_label_of_a_piece_product_is_one_piece_checked_against_the_unit_price() -> None:
    same = price_line("B1", sek("16.90"), "1 l", 1, None, sek("16.90"))
    assert same.measure is None and same.quantity == 1 and not same.label_mismatch
    assert price_line("B1", sek("16.90"), "1 l", 1, None, sek("15.90")).label_mismatch


def test_packs_add_up_and_correct_labels_are_not_flagged_for_rounding() -> None:
    pack = price_line("A1", sek("29.95"), "kg", 1, Decimal("0.734"), sek("21.98"))
    two = add_pack(pack, pack)
    # 1.468 kg costs 43.97 (43.9666), the labels say 21.98 + 21.98 = 43.96: each label is right.
    assert (two.quantity, two.measure, two.line_total, two.label_price) == (2, Decimal("1.468"), sek("43.97"),
                                                                            sek("43.96"))
    assert not two.label_mismatch
    wrong = add_pack(two, price_line("A1", sek("29.95"), "kg", 1, Decimal("0.734"), sek("20.00")))
    assert wrong.quantity == 3 and wrong.label_mismatch
    unlabelled = price_line("A1", sek("29.95"), "kg", 1, Decimal("0.500"))
    mixed = add_pack(unlabelled, pack)  # the pack without a label counts at its catalogue price
    assert mixed.label_price == sek("36.96") and mixed.line_total == sek("36.96") and not mixed.label_mismatch
    assert add_pack(unlabelled, unlabelled).label_price is None


def test_packs_cannot_mix_weight_and_pieces_or_overflow() -> None:
    weighed = price_line("A1", sek("29.95"), "kg", 1, Decimal("60.000"))
    by_piece = make_line("A1", sek("29.95"), 2)
    with pytest.raises(PricingError, match="in the cart by the piece"):
        add_pack(by_piece, weighed)
    with pytest.raises(PricingError, match="in the cart by weight"):
        add_pack(weighed, by_piece)
    with pytest.raises(PricingError, match="at most 99.999 kg"):
        add_pack(weighed, weighed)


def test_a_labelled_line_changes_only_with_a_new_weight_or_is_removed() -> None:
    with pytest.raises(PricingError, match="scan another pack"):
        refuse_plain_change("A1", True, 3, None, None)
    refuse_plain_change("A1", True, 0, None, None)  # removing is fine
    refuse_plain_change("A1", True, 2, Decimal("1.000"), None)  # a new weight is fine
    refuse_plain_change("A1", False, 3, None, None)


def test_stock_units_of_a_weighed_line_are_whole_kilograms_rounded_up() -> None:
    assert stock_units(3, None) == 3
    assert stock_units(3, Decimal("0.600")) == 1 and stock_units(1, Decimal("2.001")) == 3
    assert LineRequest(sku="A1", quantity=2, measure=Decimal("1.000")).units == 1


def test_the_cart_checks_every_line_with_the_same_rule() -> None:
    line = price_line("A1", sek("29.95"), "kg", 1, Decimal("0.734"), sek("19.00"))
    body = {"cart_id": "c_" + "a" * 22, "store": "test-a", "owner": "kiosk-1", "currency": "SEK",
            "lines": [json.loads(line.model_dump_json())], "total": {"amount": "21.98", "currency": "SEK"},
            "version": 1, "updated_at": utcnow().isoformat()}
    assert decode(Cart, json.dumps(body)).lines[0] == line
    body["lines"][0]["line_total"] = {"amount": "29.95", "currency": "SEK"}  # unit price x quantity: wrong now
    body["total"] = {"amount": "29.95", "currency": "SEK"}
    with pytest.raises(PayloadError, match="quantity or measure"):
        decode(Cart, json.dumps(body))
    body["lines"][0]["line_total"] = body["total"] = {"amount": "21.98", "currency": "SEK"}
    del body["lines"][0]["label_mismatch"]  # a label that disagrees cannot be passed off as agreeing
    with pytest.raises(PayloadError, match="label_mismatch"):
        decode(Cart, json.dumps(body))


def test_payloads_without_the_new_fields_are_unchanged() -> None:
    old = {"sku": "A1", "quantity": 2}
    assert json.loads(decode(LineRequest, json.dumps(old)).model_dump_json()) == old
    line = make_line("A1", sek("16.90"), 2)
    assert set(json.loads(line.model_dump_json())) == {"sku", "quantity", "unit_price", "line_total",
                                                       "price_changed_from"}
    assert set(json.loads(CartLine.model_validate(line.model_dump()).model_dump_json())) == {
        "sku", "quantity", "unit_price", "line_total", "price_changed_from"}
    assert as_request(line).model_dump(mode="json") == old
    weighed = price_line("A1", sek("29.95"), "kg", 1, None, sek("21.98"))
    assert as_request(weighed).model_dump(mode="json") == {"sku": "A1", "quantity": 1, "measure": "0.734",
                                                           "label_price": {"amount": "21.98", "currency": "SEK"}}
