"""Per-device caps on carts and unpaid holds, and the payment deadline, against a real broker and real SQLite."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend import holds, orders, roles, stock
from backend.db import Database
from backend.importer import import_file
from mqtt.commerce import Event, LineRequest
from mqtt.mirror import StoreMirror
from mqtt.payloads import ErrorCode, decode
from mqtt.rpc import RemoteError, RpcClient
from tests.backend.test_orders import ADDRESS
from tests.conftest import Clock
from tests.helpers import wait_until

ITEMS = [f"TST-ITEM-{i:03d}" for i in range(64)]
SHOP, WAREHOUSE = 150, 400  # units of each item in test-a (50 shelf, 100 backroom) and in the warehouse


@pytest.fixture
def clock(service) -> Clock:
    fake = Clock()
    service.clock = fake
    return fake


@pytest.fixture
def big_catalog(db: Database, tmp_path: Path) -> list[str]:
    """64 more products, each well stocked in test-a and in the warehouse, so a 60 x 99 order is possible."""
    products = tmp_path / "products.csv"
    products.write_text("sku,gtins,name_en\n" + "".join(f"{sku},,Item {sku}\n" for sku in ITEMS))
    inventory = tmp_path / "inventory.csv"
    rows = ["store,sku,price,shelf_location,shelf,backroom,warehouse,reorder_threshold"]
    for sku in ITEMS:
        rows += [f"test-a,{sku},10.00,A01,50,100,,5", f"test-wh,{sku},,,0,0,{WAREHOUSE},"]
    inventory.write_text("\n".join(rows) + "\n")
    for path in (products, inventory):
        report = import_file(db, path, progress=False)
        assert not report.errors, report.errors
    return ITEMS


def order_args(n: int, option: str, items: list[str], quantity: int, device: str) -> dict:
    args = {"order_id": f"o_{device}-{n:016d}", "option_id": option,
            "lines": [{"sku": sku, "quantity": quantity} for sku in items]}
    return {**args, "address": ADDRESS} if option.startswith("delivery") else args


def patiently(rpc: RpcClient, op: str, args: dict) -> dict:
    """A call that waits as long as the backend's rate limit asks, as a determined attacker would."""
    for _ in range(50):
        try:
            return rpc.call(op, args)
        except RemoteError as exc:
            if exc.code not in (ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE):
                raise
            time.sleep(exc.retry_after or 0.1)  # the backend names the wait; nothing to poll for meanwhile
    raise AssertionError(f"{op} stayed rate limited")


def held(db: Database, device: str) -> tuple[int, int]:
    return holds.unpaid_holds(db, device)


def total_reserved(db: Database) -> int:
    return db.conn.execute("SELECT coalesce(sum(reserved), 0) FROM stock_state").fetchone()[0]


def test_one_kiosk_cannot_hold_more_than_its_cap(service, big_catalog, make_client) -> None:
    """Issue 17's attack: 22 order.place calls of 60 lines x 99 units, then smaller orders up to the cap."""
    roles.register(service.db, "kiosk-evil", "test-a", "kiosk")
    caps = holds.HoldLimits().kiosk
    evil = RpcClient(make_client(), "test-a", "kiosk-evil")
    lines = big_catalog[:60]
    options = [o["option_id"] for o in patiently(evil, "order.options", {"lines": [
        {"sku": sku, "quantity": 99} for sku in lines]})["options"]]
    assert {"pickup:test-a", "delivery:test-wh", "delivery:test-a"} <= set(options)  # every site could be held
    for n in range(22):
        with pytest.raises(RemoteError) as err:
            patiently(evil, "order.place", order_args(n, options[n % len(options)], lines, 99, "kiosk-evil"))
        assert err.value.code == ErrorCode.LIMIT_REACHED and f"at most {caps.unpaid_units} unpaid items" in \
            err.value.message
    assert held(service.db, "kiosk-evil") == (0, 0) and total_reserved(service.db) == 0
    # The attacker adapts: as many orders of one unit per line as it is let through, over every site.
    placed = refused = 0
    for n in range(22, 44):
        try:
            patiently(evil, "order.place", order_args(n, options[n % len(options)], lines[: 10 + n % 50], 1,
                                                      "kiosk-evil"))
            placed += 1
        except RemoteError as exc:
            assert exc.code == ErrorCode.LIMIT_REACHED and "unpaid" in exc.message
            refused += 1
        orders_held, units_held = held(service.db, "kiosk-evil")
        assert orders_held <= caps.unpaid_orders and units_held <= caps.unpaid_units
    assert (placed, refused) == (4, 18)  # 32 + 33 + 34 + 35 = 134 units; a 36-line order would pass 150
    assert total_reserved(service.db) == held(service.db, "kiosk-evil")[1] <= caps.unpaid_units
    for sku in big_catalog:  # the rest of the chain's stock stays on offer: one unit per order at most
        assert stock.level(service.db, "test-a", sku).available >= SHOP - caps.unpaid_orders
        assert stock.level(service.db, "test-wh", sku).available >= WAREHOUSE - caps.unpaid_orders
    shopper = RpcClient(make_client(), "test-a", "phone-1")
    assert shopper.call("order.place", order_args(0, "pickup:test-a", lines, 1, "phone-1"))["order"]["status"] == \
        "awaiting_payment"


def test_unpaid_orders_are_counted_over_every_site_and_paying_frees_a_place(service, make_client) -> None:
    phone = RpcClient(make_client(), "test-a", "phone-2")
    staff = RpcClient(make_client(), "test-a", "staff-1")
    apples = ["FRU-APL-GOLDEN"]
    first = phone.call("order.place", order_args(1, "pickup:test-a", apples, 2, "phone-2"))["order"]
    phone.call("order.place", {**order_args(2, "delivery:test-wh", apples, 2, "phone-2"), "address": ADDRESS})
    phone.call("order.place", order_args(3, "pickup:test-a:test-wh", ["DRY-PASTA-500"], 20, "phone-2"))
    assert held(service.db, "phone-2") == (3, 24)
    with pytest.raises(RemoteError) as err:
        phone.call("order.place", order_args(4, "pickup:test-a", apples, 1, "phone-2"))
    assert err.value.code == ErrorCode.LIMIT_REACHED and "3 orders waiting for payment" in err.value.message
    staff.call("order.set_status", {"order_id": first["order_id"], "status": "paid"})
    phone.call("order.place", order_args(4, "pickup:test-a", apples, 1, "phone-2"))
    staff.call("order.set_status", {"order_id": "o_phone-2-0000000000000004", "status": "paid"})
    assert held(service.db, "phone-2") == (2, 22)
    with pytest.raises(RemoteError) as err:  # units: 60 per phone over every site
        phone.call("order.place", order_args(5, "delivery:test-wh", ["DAI-MILK-1L"], 40, "phone-2"))
    assert err.value.code == ErrorCode.LIMIT_REACHED and "at most 60 unpaid items" in err.value.message
    # A retry of an order already placed is answered even at the cap: the device did nothing new.
    assert phone.call("order.place", order_args(3, "pickup:test-a:test-wh", ["DRY-PASTA-500"], 20,
                                                "phone-2"))["duplicate"]


def test_other_sites_stock_is_held_only_through_the_kinds_that_need_it(service, make_client) -> None:
    phone = RpcClient(make_client(), "test-a", "phone-3")
    milk = ["DAI-MILK-1L"]  # test-a has 36
    for n, option in enumerate(["pickup:test-a:test-wh", "pickup:test-b", "pickup:test-wh", "pickup:test-a:test-b"]):
        with pytest.raises(RemoteError) as err:
            phone.call("order.place", order_args(n, option, milk, 2, "phone-3"))
        assert err.value.code == ErrorCode.CONFLICT and "no longer available" in err.value.message
    assert total_reserved(service.db) == 0


def test_open_carts_are_capped_per_device(service, clock, make_client) -> None:
    phone = RpcClient(make_client(), "test-a", "phone-4")
    made = [phone.call("cart.create", {"lines": []})["cart"]["cart_id"] for _ in range(5)]
    with pytest.raises(RemoteError) as err:
        phone.call("cart.create", {"lines": []})
    assert err.value.code == ErrorCode.LIMIT_REACHED and "5 open carts" in err.value.message
    # An order placed from a cart closes it.
    phone.call("order.place", {**order_args(1, "pickup:test-a", ["FRU-APL-GOLDEN"], 1, "phone-4"),
                               "cart_id": made[0]})
    phone.call("cart.create", {"lines": []})
    with pytest.raises(RemoteError):
        phone.call("cart.create", {"lines": []})
    RpcClient(make_client(), "test-a", "phone-5").call("cart.create", {"lines": []})  # others are not affected
    clock.now += holds.HoldLimits().open_cart_window + timedelta(seconds=1)  # left alone: no longer open
    phone.call("cart.create", {"lines": []})


def test_a_cart_cannot_grow_past_the_line_limit(service, big_catalog, make_client) -> None:
    phone = RpcClient(make_client(), "test-a", "phone-6")
    cart = phone.call("cart.create", {"lines": [{"sku": sku, "quantity": 1} for sku in big_catalog[:60]]})["cart"]
    phone.call("cart.set_line", {"cart_id": cart["cart_id"], "sku": big_catalog[0], "quantity": 3})  # a change
    with pytest.raises(RemoteError) as err:
        phone.call("cart.set_line", {"cart_id": cart["cart_id"], "sku": big_catalog[60], "quantity": 1})
    assert err.value.code == ErrorCode.CONFLICT and "at most 60" in err.value.message


def test_payment_deadline_expires_the_hold_and_tells_the_device(service, clock, make_client, watch_events) -> None:
    events = watch_events("test-a", "phone-7")
    mirror = StoreMirror(make_client(), "test-a")
    phone = RpcClient(make_client(), "test-a", "phone-7")
    staff = RpcClient(make_client(), "test-a", "staff-1")
    unpaid = phone.call("order.place", order_args(1, "pickup:test-a", ["FRU-APL-GOLDEN"], 4, "phone-7"))["order"]
    paid = phone.call("order.place", order_args(2, "pickup:test-a", ["FRU-APL-GOLDEN"], 3, "phone-7"))["order"]
    staff.call("order.set_status", {"order_id": paid["order_id"], "status": "paid"})
    assert wait_until(lambda: mirror.stock.get("test-a", "FRU-APL-GOLDEN").reserved == 7)
    # A pickup is paid at the till: its 30 minutes start once it is ready (pickup here: 1 h).
    clock.now += timedelta(hours=1, minutes=29)
    service.housekeeping.tick()  # what the watch loop runs: nothing is due yet
    assert orders.get(service.db, unpaid["order_id"]).status == "awaiting_payment"
    clock.now += timedelta(minutes=1, seconds=1)
    assert wait_until(lambda: orders.get(service.db, unpaid["order_id"]).status == "cancelled")
    assert orders.get(service.db, paid["order_id"]).status == "paid"  # paid in time: kept
    assert wait_until(lambda: mirror.stock.get("test-a", "FRU-APL-GOLDEN").reserved == 3)
    level = stock.level(service.db, "test-a", "FRU-APL-GOLDEN")
    assert (level.on_hand, level.reserved) == (60, 3)
    assert events.wait_for(lambda m: any(decode(Event, x.payload).data.get("reason") == "payment_deadline"
                                         for x in m))
    expired = [decode(Event, x.payload).data for x in events.messages if decode(Event, x.payload).data.get("reason")]
    assert expired == [{"order_id": unpaid["order_id"], "reference": unpaid["reference"], "status": "cancelled",
                        "reason": "payment_deadline"}]
    reason = service.db.conn.execute("SELECT closed_reason FROM orders WHERE order_id = ?",
                                        [unpaid["order_id"]]).fetchone()[0]
    assert reason == orders.EXPIRED_REASON
    with pytest.raises(RemoteError) as err:  # too late to pay: the shopper orders again
        staff.call("order.set_status", {"order_id": unpaid["order_id"], "status": "paid"})
    assert err.value.code == ErrorCode.CONFLICT


def test_expiry_skips_an_order_paid_meanwhile_and_runs_once(db: Database) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    lines = [LineRequest(sku="DAI-MILK-1L", quantity=2)]
    for n in range(3):
        orders.place(db, "test-a", "kiosk-1", f"o_kiosk1-{n:016d}", "pickup:test-a", lines, None, None, now)
    orders.set_status(db, "o_kiosk1-0000000000000001", orders.OrderStatus.PAID, now)
    later = now + timedelta(minutes=31)
    expired = orders.expire_unpaid(db, later + timedelta(hours=1))  # pickup here: ready in 1 h, then 30 min
    assert sorted(o.order_id for o, *_ in expired) == ["o_kiosk1-0000000000000000", "o_kiosk1-0000000000000002"]
    assert orders.expire_unpaid(db, later + timedelta(hours=1)) == []
    assert stock.level(db, "test-a", "DAI-MILK-1L").reserved == 2
    # The race the sweep guards against: paid (by another process) after the sweep listed it as unpaid.
    with pytest.raises(orders.CartError) as err:
        orders.set_status(db, "o_kiosk1-0000000000000001", orders.OrderStatus.CANCELLED, later,
                          reason=orders.EXPIRED_REASON, only_from=orders.OrderStatus.AWAITING_PAYMENT)
    assert err.value.code == ErrorCode.CONFLICT
    assert orders.get(db, "o_kiosk1-0000000000000001").status == "paid"
    plan = " ".join(r[3] for r in db.conn.execute(
        "EXPLAIN QUERY PLAN SELECT order_id FROM orders WHERE status = ? AND created_at <= ?", ["x", "y"]))
    assert "orders_status_created" in plan  # the sweep is an index look-up, not a scan of every order


def test_a_delivery_is_paid_within_the_deadline_and_a_pickup_once_it_is_ready(db: Database) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    found = orders.options(db, "test-a", [LineRequest(sku="DAI-MILK-1L", quantity=1)])
    due = {o.option_id: orders.pay_by(o, now, timedelta(minutes=30)) - now for o in found}
    assert due["pickup:test-a"] == timedelta(hours=1, minutes=30)  # ready in 1 h, then paid at the till
    assert due["delivery:test-a"] == timedelta(minutes=30)  # paid online right away
    assert all(d >= timedelta(minutes=30) for d in due.values())
