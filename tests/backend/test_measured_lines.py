"""Weighed cart and order lines over a real broker and SQLite: one price to the cent, flags, stock, bad input."""

from decimal import Decimal
from pathlib import Path

import pytest

from backend import carts, holds, orders, stock
from backend.chain import remote_orders
from backend.db import Database
from backend.migrations import MIGRATIONS
from mqtt.commerce import Cart, LineRequest, Order
from mqtt.payloads import ErrorCode, utcnow
from mqtt.rpc import RemoteError, RpcClient
from storage import Durability, open_migrated

APPLE, MILK, PASTA = "FRU-APL-GOLDEN", "DAI-MILK-1L", "DRY-PASTA-500"  # apples are priced per kg: 29.95 at test-a


def sek(amount: str) -> dict:
    return {"amount": amount, "currency": "SEK"}


@pytest.fixture
def kiosk(service, make_client):
    return RpcClient(make_client(), "test-a", "kiosk-1")


def create(rpc: RpcClient, lines: list[dict]) -> Cart:
    return Cart.model_validate(rpc.call("cart.create", {"lines": lines})["cart"])


def set_line(rpc: RpcClient, cart: Cart, **line: object) -> Cart:
    return Cart.model_validate(rpc.call("cart.set_line", {"cart_id": cart.cart_id, **line})["cart"])


def test_a_weighed_line_is_priced_per_kg_and_its_label_checked(kiosk) -> None:
    cart = create(kiosk, [{"sku": APPLE, "quantity": 1, "measure": "0.734", "label_price": sek("19.00")},
                          {"sku": MILK, "quantity": 2}])
    apple, milk = cart.lines
    assert (apple.measure, str(apple.line_total.amount)) == (Decimal("0.734"), "21.98")  # 29.95 x 0.734 = 21.9833
    assert apple.label_mismatch and str(apple.label_price.amount) == "19.00"  # kept and flagged, never charged
    assert str(milk.line_total.amount) == "33.80" and not milk.label_mismatch
    assert str(cart.total.amount) == "55.78"
    again = Cart.model_validate(kiosk.call("cart.get", {"cart_id": cart.cart_id})["cart"])
    assert again.lines == cart.lines and again.total == cart.total  # read back from SQLite the same
    raw = kiosk.call("cart.get", {"cart_id": cart.cart_id})["cart"]["lines"]
    assert raw[0]["measure"] == "0.734" and raw[0]["label_mismatch"] is True
    assert set(raw[1]) == {"sku", "quantity", "unit_price", "line_total", "price_changed_from"}  # as before


def test_a_price_only_label_gives_the_weight_and_a_piece_product_one_piece(kiosk) -> None:
    cart = create(kiosk, [{"sku": APPLE, "quantity": 1, "label_price": sek("21.98")},
                          {"sku": MILK, "quantity": 1, "label_price": sek("15.90")}])
    apple, milk = cart.lines
    assert apple.measure == Decimal("0.734") and not apple.label_mismatch
    assert milk.measure is None and milk.quantity == 1 and milk.label_mismatch
    assert str(milk.line_total.amount) == "16.90"  # the catalogue price is charged


def test_a_weighed_line_changes_only_with_a_weight(kiosk) -> None:
    cart = create(kiosk, [{"sku": APPLE, "quantity": 1, "measure": "0.734"}])
    with pytest.raises(RemoteError) as err:
        set_line(kiosk, cart, sku=APPLE, quantity=2)
    assert err.value.code == ErrorCode.BAD_REQUEST and "scan another pack" in err.value.message
    cart = set_line(kiosk, cart, sku=APPLE, quantity=2, measure="1.468")  # the whole line: two packs
    assert (cart.lines[0].quantity, str(cart.total.amount)) == (2, "43.97")
    assert not set_line(kiosk, cart, sku=APPLE, quantity=0).lines
    cart = set_line(kiosk, cart, sku=APPLE, quantity=3)  # a line by quantity, as before the feature
    assert cart.lines[0].measure is None and str(cart.total.amount) == "89.85"


@pytest.mark.parametrize("line,reason", [
    ({"sku": APPLE, "quantity": 1, "measure": "0"}, "more than 0 kg"),
    ({"sku": APPLE, "quantity": 1, "measure": "-0.5"}, "more than 0 kg"),
    ({"sku": APPLE, "quantity": 1, "measure": "0.7341"}, "more than 3 decimal places"),
    ({"sku": APPLE, "quantity": 1, "measure": "NaN"}, "not a decimal string"),
    ({"sku": APPLE, "quantity": 1, "measure": "100.000"}, "at most 99.999 kg"),
    ({"sku": APPLE, "quantity": 1, "measure": "9" * 40}, "not a decimal string"),
    ({"sku": APPLE, "quantity": 1, "measure": 0.734}, "not a JSON number"),
    ({"sku": APPLE, "quantity": 1, "measure": "0.734", "label_price": {"amount": "2.00", "currency": "EUR"}},
     "label price is in EUR; this store prices in SEK"),
    ({"sku": APPLE, "quantity": 1, "label_price": sek("-1.00")}, "label price must be more than 0"),
    ({"sku": APPLE, "quantity": 1, "label_price": sek("5000.00")}, "at most 99.999 kg"),
    ({"sku": PASTA, "quantity": 1, "measure": "0.500"}, "sold by the piece"),
])
def test_bad_weighed_lines_are_bad_requests_with_a_reason(service, kiosk, line, reason) -> None:
    for op, args in (("cart.create", {"lines": [line]}), ("order.options", {"lines": [line]}),
                     ("order.place", {"order_id": "o_kiosk1-0000000000000077", "option_id": "pickup:test-a",
                                      "lines": [line]})):
        with pytest.raises(RemoteError) as err:
            kiosk.call(op, args)
        assert err.value.code == ErrorCode.BAD_REQUEST and reason in err.value.message, (op, err.value.message)
    assert service.db.conn.execute("SELECT count(*) FROM cart_lines").fetchone()[0] == 0
    assert service.db.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0


def test_an_order_costs_what_the_cart_did_and_reserves_whole_kilograms(service, kiosk, make_client) -> None:
    lines = [{"sku": APPLE, "quantity": 2, "measure": "2.205", "label_price": sek("66.04")},
             {"sku": MILK, "quantity": 2}]
    cart = create(kiosk, lines)
    options = kiosk.call("order.options", {"lines": lines})["options"]
    here = next(o for o in options if o["option_id"] == "pickup:test-a")
    assert here["goods"] == cart.total.model_dump(mode="json") == sek("99.84")  # 66.0398 -> 66.04, + 33.80
    before = stock.level(service.db, "test-a", APPLE).reserved
    args = {"order_id": "o_kiosk1-0000000000000042", "option_id": "pickup:test-a", "lines": lines,
            "cart_id": cart.cart_id}
    first, again = kiosk.call("order.place", args), kiosk.call("order.place", args)
    assert not first["duplicate"] and again["duplicate"] and first["order"] == again["order"]
    order = Order.model_validate(first["order"])
    assert order.total == cart.total and [x.line_total for x in order.lines] == [x.line_total for x in cart.lines]
    assert order.lines[0].measure == Decimal("2.205") and order.lines[0].quantity == 2
    assert not order.lines[0].label_mismatch  # two packs' labels, each rounded: within their rounding
    assert stock.level(service.db, "test-a", APPLE).reserved == before + 3  # ceil(2.205 kg), not 2 packs
    assert Order.model_validate(kiosk.call("order.get", {"order_id": order.order_id})["order"]) == order
    staff = RpcClient(make_client(), "test-a", "staff-1")
    staff.call("order.set_status", {"order_id": order.order_id, "status": "cancelled"})
    assert stock.level(service.db, "test-a", APPLE).reserved == before


def test_a_sale_of_a_weighed_line_takes_whole_kilograms_off_the_books(service, kiosk, make_client) -> None:
    on_hand = stock.level(service.db, "test-a", APPLE).on_hand
    args = {"order_id": "o_kiosk1-0000000000000043", "option_id": "pickup:test-a",
            "lines": [{"sku": APPLE, "quantity": 2, "measure": "0.250"}]}
    order = Order.model_validate(kiosk.call("order.place", args)["order"])
    assert str(order.total.amount) == "7.49"  # 7.4875
    staff = RpcClient(make_client(), "test-a", "staff-1")
    for status in ("paid", "collected"):
        staff.call("order.set_status", {"order_id": order.order_id, "status": status})
    level = stock.level(service.db, "test-a", APPLE)
    assert level.on_hand == on_hand - 1 and level.reserved == 0  # 1 unit (0.25 kg), not 2 packs


def test_weighed_lines_count_against_the_unit_caps_in_kilograms(db) -> None:
    lines = [LineRequest(sku=APPLE, quantity=1, measure=Decimal("4.100"))]
    caps = holds.Caps(open_carts=5, unpaid_orders=5, unpaid_units=5)
    with pytest.raises(carts.CartError) as err:  # 5 kg rounded up is over 5 units held with the 4.1 kg below
        for n in (1, 2):
            orders.place(db, "test-a", "phone-1", f"o_phone1-{n:016d}", "pickup:test-a", lines, None, None, utcnow(),
                         caps=caps)
    assert err.value.code == ErrorCode.LIMIT_REACHED
    assert holds.unpaid_holds(db, "phone-1") == (1, 5)


def test_lines_stored_before_the_migration_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = open_migrated(path, MIGRATIONS[:11], what="test", durability=Durability.POWER_CUT)
    now = utcnow().isoformat()
    with conn:
        conn.execute("INSERT INTO stores (id, name, kind, currency, locale) VALUES ('s1', 'S', 'store', 'SEK', 'sv')")
        conn.execute("INSERT INTO products (sku, unit, updated_at) VALUES (?, 'kg', ?)", [APPLE, now])
        conn.execute("INSERT INTO store_products (store, sku, price, updated_at) VALUES ('s1', ?, '29.95', ?)",
                     [APPLE, now])
        conn.execute("INSERT INTO carts VALUES ('c_old0000000000000000', 's1', 'kiosk-1', 1, ?, ?)", [now, now])
        conn.execute("INSERT INTO cart_lines VALUES ('c_old0000000000000000', ?, 3, '29.95', 0)", [APPLE])
        conn.execute("INSERT INTO orders (order_id, reference, store, device, kind, source_store, fee, total, currency,"
                     " status, lead_time_hours, created_at, updated_at) VALUES ('o_old0000000000000000', 'AAA-AAA',"
                     " 's1', 'kiosk-1', 'pickup', 's1', '0.00', '89.85', 'SEK', 'cancelled', 1, ?, ?)", [now, now])
        conn.execute("INSERT INTO order_lines VALUES ('o_old0000000000000000', ?, 3, '29.95')", [APPLE])
    conn.close()
    db = Database(path)  # opening it applies the new migration
    try:
        versions = [row[0] for row in db.conn.execute("SELECT version FROM _migrations ORDER BY version")]
        assert versions[-1] == MIGRATIONS[-1].version >= 12
        cart = carts.get(db, "s1", "c_old0000000000000000")
        assert cart.lines[0].measure is None and str(cart.total.amount) == "89.85"
        order = orders.get(db, "o_old0000000000000000")
        assert order.lines[0].measure is None and order.lines[0].label_price is None and order.total == cart.total
    finally:
        db.close()


def test_a_weighed_line_held_for_another_store_of_the_chain_is_held_and_released_in_kilograms(db) -> None:
    before = stock.level(db, "test-a", APPLE).reserved
    line = LineRequest(sku=APPLE, quantity=1, measure=Decimal("1.250"))
    args = remote_orders.HoldArgs(order_id="o_test-b-0000000000000001", kind="pickup", lines=[line], pay_by=utcnow())
    assert remote_orders.hold(db, "test-a", "test-b", args, utcnow()) == (False, [APPLE])
    assert stock.level(db, "test-a", APPLE).reserved == before + 2  # ceil(1.25 kg), not 1 pack
    stored = db.conn.execute("SELECT lines FROM remote_holds").fetchone()[0]
    assert '"measure": "1.250"' in stored  # kept as text, read back the same
    cancel = remote_orders.HoldStatusArgs(order_id=args.order_id, status="cancelled")
    assert remote_orders.hold_status(db, "test-a", "test-b", cancel, utcnow()) == [APPLE]
    assert stock.level(db, "test-a", APPLE).reserved == before
