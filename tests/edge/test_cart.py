"""The device cart: stock checks, price changes, and the same total as the backend to the cent."""

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backend import carts, catalog
from edge.cart import CartError, DeviceCart, OutOfStock, UnknownProduct
from mqtt.commerce import LineRequest
from mqtt.payloads import Money, utcnow

SKUS = ["FRU-APL-GOLDEN", "DAI-MILK-1L", "DRY-PASTA-500"]


def make_cart(prices: dict[str, str], stock: dict[str, int], currency: str = "SEK") -> DeviceCart:
    return DeviceCart(currency, lambda sku: Money(amount=Decimal(prices[sku]), currency=currency)
                      if sku in prices else None, lambda sku: stock.get(sku))


def test_adding_checks_stock_here_unless_sending_home() -> None:
    cart = make_cart({"A1": "10.00"}, {"A1": 2})
    cart.add("A1", 2)
    with pytest.raises(OutOfStock) as err:
        cart.add("A1")
    assert err.value.available == 2
    cart.add("A1", 5, check_stock=False)  # send home / pickup elsewhere does not need this shelf
    assert cart.snapshot().lines[0].quantity == 7
    with pytest.raises(UnknownProduct):
        cart.add("NOPE")
    with pytest.raises(CartError):
        cart.set_quantity("A1", 100)


def test_price_change_updates_the_line_and_flags_it() -> None:
    prices = {"A1": "10.00"}
    cart = make_cart(prices, {"A1": 9})
    seen = []
    cart.listeners.append(seen.append)
    cart.add("A1", 3)
    prices["A1"] = "8.50"
    assert cart.reprice("A1")
    snap = cart.snapshot()
    assert str(snap.total.amount) == "25.50"
    assert snap.flagged[0].price_changed_from.amount == Decimal("10.00")
    prices["A1"] = "10.00"  # back to the price the shopper saw: no flag any more
    cart.reprice("A1")
    assert not cart.snapshot().flagged and len(seen) == 3


def reference_total(lines: list[tuple[str, int]], prices: dict[str, str]) -> Decimal:
    """Independent arithmetic: exact fractions, half-even to the cent per line."""
    cents = 0
    for sku, quantity in lines:
        exact = Fraction(prices[sku]) * quantity * 100
        floor = exact.numerator // exact.denominator
        rest = exact - floor
        cents += floor + (1 if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2) else 0)
    return (Decimal(cents) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


price_text = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.9999"), places=4).map(
    lambda d: format(d, "f"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices=st.fixed_dictionaries({sku: price_text for sku in SKUS}),
       quantities=st.lists(st.integers(1, 99), min_size=1, max_size=3))
def test_kiosk_phone_and_backend_price_a_cart_to_the_cent(db, prices, quantities) -> None:
    with db.transaction():
        for sku, price in prices.items():
            db.conn.execute("UPDATE store_products SET price = ? WHERE store = 'test-a' AND sku = ?", [price, sku])
    lines = list(zip(SKUS, quantities, strict=False))
    backend_cart = carts.create(db, "test-a", "webshop", [LineRequest(sku=s, quantity=q) for s, q in lines],
                                utcnow())

    def device_cart() -> DeviceCart:
        # Devices price from the catalogue message exactly as it travels over MQTT (JSON round trip).
        def price_of(sku: str) -> Money | None:
            product = catalog.product_payload(db, "test-a", sku)
            return type(product).model_validate_json(product.model_dump_json()).price

        return DeviceCart("SEK", price_of, lambda sku: None)

    kiosk, phone = device_cart(), device_cart()
    for sku, quantity in lines:
        kiosk.add(sku, quantity, check_stock=False)
    for sku, quantity in reversed(lines):  # another order of adding, same cart
        phone.set_quantity(sku, quantity, check_stock=False)
    expected = reference_total(lines, prices)
    assert kiosk.snapshot().total.amount == phone.snapshot().total.amount == backend_cart.total.amount == expected


def half_even(value: Fraction, step: Fraction) -> Fraction:
    """Independent rounding: value to a multiple of step, ties to the even multiple."""
    steps = value / step
    floor = steps.numerator // steps.denominator
    rest = steps - floor
    return (floor + (1 if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2) else 0)) * step


CENT, GRAM_F = Fraction(1, 100), Fraction(1, 1000)
WEIGHED = "FRU-APL-GOLDEN"  # unit "kg" in the fixture catalogue
pack = st.one_of(st.tuples(st.just("kg"), st.integers(1, 30_000)),  # grams on the label
                 st.tuples(st.just("price"), st.integers(1, 30_000)))  # grams the shop meant when printing a price


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(apple=price_text, milk=price_text, packs=st.lists(pack, min_size=1, max_size=3),
       milk_quantity=st.integers(1, 99))
def test_weighed_lines_cost_the_same_to_the_cent_on_every_channel(db, apple, milk, packs, milk_quantity) -> None:
    with db.transaction():
        for sku, price in ((WEIGHED, apple), ("DAI-MILK-1L", milk)):
            db.conn.execute("UPDATE store_products SET price = ? WHERE store = 'test-a' AND sku = ?", [price, sku])
    per_kg = Fraction(apple)
    scanned, grams = [], Fraction(0)
    for kind, g in packs:
        if kind == "kg":
            scanned.append((Decimal(g) / 1000, None))
            grams += Fraction(g, 1000)
        else:  # a price label: the weight is what the label price means at the catalogue price, to the gram
            label = half_even(per_kg * Fraction(g, 1000), CENT)
            meant = half_even(label / per_kg, GRAM_F)
            assume(label > 0 and 0 < meant)
            scanned.append((None, Money(amount=Decimal(label.numerator) / label.denominator, currency="SEK")))
            grams += meant
    assume(grams <= 99)
    expected = half_even(per_kg * grams, CENT) + half_even(Fraction(milk) * milk_quantity, CENT)

    def device_cart() -> DeviceCart:
        def product(sku: str):
            found = catalog.product_payload(db, "test-a", sku)
            return type(found).model_validate_json(found.model_dump_json())  # as it travels over MQTT

        return DeviceCart("SEK", lambda sku: product(sku).price, lambda sku: None, lambda sku: product(sku).unit)

    kiosk, phone = device_cart(), device_cart()
    for measure, label in scanned:
        kiosk.add_measured(WEIGHED, measure, label, check_stock=False)
    kiosk.add("DAI-MILK-1L", milk_quantity, check_stock=False)
    phone.add("DAI-MILK-1L", milk_quantity, check_stock=False)
    for measure, label in reversed(scanned):  # another order of scanning, same cart
        phone.add_measured(WEIGHED, measure, label, check_stock=False)
    backend_cart = carts.create(db, "test-a", "webshop", kiosk.requests(), utcnow())
    totals = {kiosk.snapshot().total.amount, phone.snapshot().total.amount, backend_cart.total.amount}
    assert totals == {Decimal(expected.numerator) / expected.denominator}
    weighed = [line for line in backend_cart.lines if line.sku == WEIGHED][0]
    assert weighed.measure == Decimal(grams.numerator) / grams.denominator and weighed.quantity == len(packs)
    assert weighed.label_mismatch == kiosk.snapshot().lines[0].label_mismatch


def weighed_cart(prices: dict[str, str], stock: dict[str, int], units: dict[str, str]) -> DeviceCart:
    return DeviceCart("SEK", lambda sku: Money(amount=Decimal(prices[sku]), currency="SEK") if sku in prices else None,
                      lambda sku: stock.get(sku), lambda sku: units.get(sku))


def sek(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="SEK")


def test_scanned_packs_add_up_on_one_line_and_take_whole_kilograms_of_stock() -> None:
    cart = weighed_cart({"APL": "29.95"}, {"APL": 2}, {"APL": "kg"})
    cart.add_measured("APL", Decimal("0.734"), sek("21.98"))
    snap = cart.add_measured("APL", Decimal("0.734"))
    (line,) = snap.lines
    assert (line.quantity, line.measure, line.line_total.amount) == (2, Decimal("1.468"), Decimal("43.97"))
    assert not snap.mismatched and cart.requests()[0].measure == Decimal("1.468")
    with pytest.raises(OutOfStock):  # 2.202 kg needs 3 units, 2 are here
        cart.add_measured("APL", Decimal("0.734"))
    assert cart.snapshot().lines[0].quantity == 2  # refused: unchanged
    cart.add_measured("APL", Decimal("0.734"), check_stock=False)
    with pytest.raises(CartError, match="scan another pack"):
        cart.set_quantity("APL", 1)
    with pytest.raises(CartError, match="scan another pack"):
        cart.add("APL")
    assert not cart.set_quantity("APL", 0).lines  # removing is always fine


def test_a_label_that_disagrees_is_flagged_and_repricing_keeps_the_weight() -> None:
    prices = {"APL": "29.95", "MILK": "16.90"}
    cart = weighed_cart(prices, {}, {"APL": "kg", "MILK": "1 l"})
    snap = cart.add_measured("APL", Decimal("0.500"), sek("10.00"), check_stock=False)
    assert snap.total.amount == Decimal("14.98") and snap.mismatched[0].label_price == sek("10.00")
    prices["APL"] = "20.00"  # now the label is right
    assert cart.reprice("APL")
    line = cart.snapshot().lines[0]
    assert line.measure == Decimal("0.500") and line.line_total == sek("10.00") and not line.label_mismatch
    assert line.price_changed_from == sek("29.95")
    milk = cart.add_measured("MILK", None, sek("15.90"), check_stock=False)  # price code of a piece product
    assert [x.label_mismatch for x in milk.lines] == [False, True] and milk.lines[1].quantity == 1


def test_bad_weighed_scans_are_refused_with_a_reason() -> None:
    cart = weighed_cart({"APL": "29.95", "PASTA": "21.50"}, {}, {"APL": "kg", "PASTA": "500 g"})
    with pytest.raises(CartError, match="sold by the piece"):
        cart.add_measured("PASTA", Decimal("0.5"), check_stock=False)
    with pytest.raises(CartError, match="label price is in EUR"):
        cart.add_measured("APL", None, Money(amount=Decimal("3.00"), currency="EUR"), check_stock=False)
    with pytest.raises(CartError, match="needs its weight or its label price"):
        cart.add_measured("APL", check_stock=False)
    with pytest.raises(UnknownProduct):
        cart.add_measured("NOPE", Decimal("1"), check_stock=False)
    cart.add("APL", 2, check_stock=False)  # by the piece (a bag of apples sold per kg, counted as 2 kg)
    with pytest.raises(CartError, match="by the piece"):
        cart.add_measured("APL", Decimal("0.5"), check_stock=False)
    assert DeviceCart("SEK", lambda sku: sek("29.95"), lambda sku: None).add_measured(
        "APL", None, sek("29.95"), check_stock=False).lines[0].measure is None  # unit unknown: by the piece
