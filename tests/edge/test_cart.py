"""The device cart: stock checks, price changes, and the same total as the backend to the cent."""

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
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
