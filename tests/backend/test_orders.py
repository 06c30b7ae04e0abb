"""Delivery options and orders over a real broker: sources, fees, reservation, idempotency, status events."""

import pytest

from backend import orders, stock
from mqtt.commerce import DeliveryOption, Event, Order
from mqtt.mirror import StoreMirror
from mqtt.payloads import ErrorCode, decode
from mqtt.rpc import RemoteError, RpcClient
from tests.helpers import wait_until

ADDRESS = {"name": "Sara Ahmadi", "street": "Ringvägen 12", "postcode": "118 60", "city": "Stockholm",
           "country": "SE", "email": "sara@example.org"}


@pytest.fixture
def kiosk(service, make_client):
    return RpcClient(make_client(), "test-a", "kiosk-1")


def get_options(rpc: RpcClient, lines: list[dict]) -> dict[str, DeliveryOption]:
    found = [DeliveryOption.model_validate(o) for o in rpc.call("order.options", {"lines": lines})["options"]]
    return {o.option_id: o for o in found}


def test_options_name_source_lead_time_and_price(kiosk) -> None:
    found = get_options(kiosk, [{"sku": "DAI-MILK-1L", "quantity": 2}])
    here = found["pickup:test-a"]
    assert here.kind == "pickup" and here.lead_time_hours == 1 and here.fee.amount == 0
    assert str(here.total.amount) == "33.80" and here.total.currency == "SEK"
    home = found["delivery:test-wh"]
    assert home.kind == "delivery" and home.lead_time_hours == 48 and str(home.fee.amount) == "49.00"
    assert str(home.total.amount) == "82.80"
    assert "pickup:test-b" not in found  # another currency: not offered from a SEK kiosk


def test_empty_here_still_offers_pickup_after_transfer_and_delivery(kiosk) -> None:
    found = get_options(kiosk, [{"sku": "DAI-MILK-1L", "quantity": 50}])  # test-a has 36, the warehouse 120
    assert "pickup:test-a" not in found
    assert found["pickup:test-a:test-wh"].lead_time_hours == 24
    assert found["delivery:test-wh"].fee.amount == 0  # 845.00 SEK is over the free-delivery threshold


def test_order_reserves_stock_once_and_updates_every_device(service, kiosk, make_client, watch_events) -> None:
    mirror = StoreMirror(make_client(), "test-a")
    events = watch_events("test-a", "kiosk-1")
    before = stock.level(service.db, "test-a", "DAI-MILK-1L")
    args = {"order_id": "o_kiosk1-0000000000000001", "option_id": "pickup:test-a",
            "lines": [{"sku": "DAI-MILK-1L", "quantity": 2}]}
    first = kiosk.call("order.place", args)
    again = kiosk.call("order.place", args)
    assert not first["duplicate"] and again["duplicate"]
    order = Order.model_validate(first["order"])
    assert order.status == "awaiting_payment" and order.reference == again["order"]["reference"]
    after = stock.level(service.db, "test-a", "DAI-MILK-1L")
    assert after.reserved == before.reserved + 2 and after.available == before.available - 2
    assert wait_until(lambda: mirror.stock.get("test-a", "DAI-MILK-1L").reserved == 2)
    assert events.wait_for(lambda m: len(m) == 1)
    assert decode(Event, events.messages[0].payload).data["reference"] == order.reference
    assert service.db.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 1


def test_delivery_needs_an_address_and_keeps_it_at_the_backend(service, kiosk) -> None:
    lines = [{"sku": "FRU-APL-GOLDEN", "quantity": 1}]
    with pytest.raises(RemoteError) as err:
        kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000002", "option_id": "delivery:test-wh",
                                   "lines": lines})
    assert err.value.code == ErrorCode.BAD_REQUEST and "address" in err.value.message
    placed = kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000003", "option_id": "delivery:test-wh",
                                        "lines": lines, "address": ADDRESS})
    assert placed["order"]["kind"] == "delivery"
    assert orders.address_of(service.db, "o_kiosk1-0000000000000003").city == "Stockholm"


def test_unavailable_option_is_a_conflict_and_changes_nothing(service, kiosk) -> None:
    ledger = service.db.count("stock_ledger")
    with pytest.raises(RemoteError) as err:
        kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000004", "option_id": "pickup:test-a",
                                   "lines": [{"sku": "DAI-MILK-1L", "quantity": 99}]})
    assert err.value.code == ErrorCode.CONFLICT
    assert service.db.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    assert service.db.count("stock_ledger") == ledger


def test_cancel_releases_the_reservation_and_tells_the_device(service, kiosk, make_client, watch_events) -> None:
    placed = kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000005", "option_id": "pickup:test-a",
                                        "lines": [{"sku": "FRU-APL-GOLDEN", "quantity": 3}]})
    assert stock.level(service.db, "test-a", "FRU-APL-GOLDEN").reserved == 3
    events = watch_events("test-a", "kiosk-1")
    staff = RpcClient(make_client(), "test-a", "staff-1")
    staff.call("order.set_status", {"order_id": placed["order"]["order_id"], "status": "cancelled"})
    assert stock.level(service.db, "test-a", "FRU-APL-GOLDEN").reserved == 0
    assert events.wait_for(lambda m: any(decode(Event, x.payload).data["status"] == "cancelled" for x in m))


@pytest.mark.parametrize("args", [
    {"order_id": "bad", "option_id": "pickup:test-a", "lines": [{"sku": "DAI-MILK-1L", "quantity": 1}]},
    {"order_id": "o_kiosk1-0000000000000006", "option_id": "pickup:test-a", "lines": []},
    {"order_id": "o_kiosk1-0000000000000006", "option_id": "pickup:test-a",
     "lines": [{"sku": "DAI-MILK-1L", "quantity": 1}, {"sku": "DAI-MILK-1L", "quantity": 2}]},
    {"order_id": "o_kiosk1-0000000000000006", "option_id": "pickup:test-a",
     "lines": [{"sku": "DAI-MILK-1L", "quantity": 100}]},
    {"order_id": "o_kiosk1-0000000000000006", "option_id": "delivery:test-wh",
     "lines": [{"sku": "DAI-MILK-1L", "quantity": 1}], "address": {**ADDRESS, "country": "Sweden"}},
])
def test_malformed_orders_are_bad_requests(kiosk, args) -> None:
    with pytest.raises(RemoteError) as err:
        kiosk.call("order.place", args)
    assert err.value.code == ErrorCode.BAD_REQUEST


# -- the order state machine -------------------------------------------------------------------------------------

def place(rpc: RpcClient, n: int, option: str = "pickup:test-a", sku: str = "FRU-APL-GOLDEN", quantity: int = 3,
          address: dict | None = None) -> Order:
    args = {"order_id": f"o_kiosk1-{n:016d}", "option_id": option, "lines": [{"sku": sku, "quantity": quantity}]}
    if address:
        args["address"] = address
    return Order.model_validate(rpc.call("order.place", args)["order"])


def move(rpc: RpcClient, order: Order, *statuses: str) -> dict:
    answer: dict = {}
    for status in statuses:
        answer = rpc.call("order.set_status", {"order_id": order.order_id, "status": status})
    return answer


@pytest.mark.parametrize(("kind", "path", "refused"), [
    ("pickup", [], "collected"),  # unpaid goods never leave the store
    ("pickup", [], "ready"),
    ("pickup", ["paid", "collected"], "awaiting_payment"),  # the attack of issue 17
    ("pickup", ["paid", "collected"], "cancelled"),
    ("pickup", ["cancelled"], "paid"),
    ("pickup", ["paid"], "shipped"),  # a pickup is not shipped
    ("delivery", ["paid"], "collected"),  # a delivery is not collected at a till
    ("delivery", ["paid", "shipped"], "cancelled"),
])
def test_disallowed_transitions_are_refused_and_change_nothing(service, kiosk, make_client, kind, path,
                                                               refused) -> None:
    staff = RpcClient(make_client(), "test-a", "staff-1")
    order = place(kiosk, 20, "delivery:test-wh" if kind == "delivery" else "pickup:test-a", address=ADDRESS)
    move(staff, order, *path)
    source = "test-wh" if kind == "delivery" else "test-a"
    before = stock.level(service.db, source, "FRU-APL-GOLDEN")
    ledger = service.db.count("stock_ledger")
    with pytest.raises(RemoteError) as err:
        move(staff, order, refused)
    assert err.value.code == ErrorCode.CONFLICT and "cannot" in err.value.message
    assert orders.get(service.db, order.order_id).status == (path[-1] if path else "awaiting_payment")
    assert stock.level(service.db, source, "FRU-APL-GOLDEN") == before
    assert service.db.count("stock_ledger") == ledger


def test_another_stores_staff_cannot_see_or_move_an_order(service, kiosk, make_client) -> None:
    from backend import roles

    roles.register(service.db, "staff-b1", "test-b", "staff")
    order = place(kiosk, 21)
    other = RpcClient(make_client(), "test-b", "staff-b1")
    for status in ("paid", "cancelled", "collected"):
        with pytest.raises(RemoteError) as err:
            other.call("order.set_status", {"order_id": order.order_id, "status": status})
        assert err.value.code == ErrorCode.NOT_FOUND, status
    with pytest.raises(RemoteError) as err:  # on test-a's topic it is no staff of test-a at all
        RpcClient(make_client(), "test-a", "staff-b1").call("order.set_status",
                                                            {"order_id": order.order_id, "status": "paid"})
    assert err.value.code == ErrorCode.FORBIDDEN
    assert orders.get(service.db, order.order_id).status == "awaiting_payment"
    assert stock.level(service.db, "test-a", "FRU-APL-GOLDEN").reserved == 3


def test_pickup_store_staff_may_hand_over_an_order_placed_elsewhere(service, make_client) -> None:
    from backend import roles

    roles.register(service.db, "staff-b1", "test-b", "staff")
    with service.db.transaction():  # test-b in SEK, so a test-a kiosk is offered pickup there
        service.db.conn.execute("UPDATE stores SET currency = 'SEK' WHERE id = 'test-b'")
    kiosk = RpcClient(make_client(), "test-a", "kiosk-1")
    order = place(kiosk, 22, option="pickup:test-b", quantity=2)
    assert order.source_store == "test-b" and order.pickup_store == "test-b"
    move(RpcClient(make_client(), "test-b", "staff-b1"), order, "paid", "ready", "collected")
    assert stock.level(service.db, "test-b", "FRU-APL-GOLDEN").on_hand == 8


def test_collected_turns_the_reservation_into_a_sale_once(service, kiosk, make_client, watch_events) -> None:
    events = watch_events("test-a", "kiosk-1")
    mirror = StoreMirror(make_client(), "test-a")
    staff = RpcClient(make_client(), "test-a", "staff-1")
    before = stock.level(service.db, "test-a", "FRU-APL-GOLDEN")
    order = place(kiosk, 23, quantity=25)  # more than the backroom's 20: the rest comes off the shelf
    move(staff, order, "paid", "ready")
    assert stock.level(service.db, "test-a", "FRU-APL-GOLDEN").reserved == 25
    first = move(staff, order, "collected")
    again = move(staff, order, "collected")  # a retry: the sale happens once
    assert not first["duplicate"] and again["duplicate"] and again["order"]["status"] == "collected"
    after = stock.level(service.db, "test-a", "FRU-APL-GOLDEN")
    assert after.reserved == before.reserved and after.on_hand == before.on_hand - 25
    assert after.available == before.available - 25  # sold, not back on offer
    assert (after.backroom, after.shelf) == (0, before.shelf - 5)
    sold = service.db.conn.execute(
        "SELECT location, delta, device FROM stock_ledger WHERE reason = 'sold' ORDER BY location").fetchall()
    assert sold == [("backroom", -20, "staff-1"), ("shelf", -5, "staff-1")]
    total = service.db.conn.execute("SELECT sum(delta) FROM stock_ledger WHERE store = 'test-a'"
                                       " AND sku = 'FRU-APL-GOLDEN'").fetchone()[0]
    assert total == after.on_hand and stock.ledger_balances(service.db) == []
    assert wait_until(lambda: mirror.stock.get("test-a", "FRU-APL-GOLDEN").on_hand == after.on_hand)
    statuses = lambda: [decode(Event, m.payload).data["status"] for m in events.messages]  # noqa: E731
    assert events.wait_for(lambda m: len(m) >= 4)
    assert statuses() == ["awaiting_payment", "paid", "ready", "collected"]


def test_shipped_delivery_is_sold_from_the_warehouse(service, kiosk, make_client) -> None:
    staff = RpcClient(make_client(), "test-a", "staff-1")
    order = place(kiosk, 24, option="delivery:test-wh", quantity=4, address=ADDRESS)
    move(staff, order, "paid", "shipped")
    level = stock.level(service.db, "test-wh", "FRU-APL-GOLDEN")
    assert (level.on_hand, level.reserved) == (296, 0)
    assert stock.ledger_balances(service.db) == []


def test_cancel_is_applied_once(service, kiosk, make_client) -> None:
    staff = RpcClient(make_client(), "test-a", "staff-1")
    order = place(kiosk, 25, quantity=5)
    move(staff, order, "paid")
    assert not move(staff, order, "cancelled")["duplicate"]
    assert move(staff, order, "cancelled")["duplicate"]
    level = stock.level(service.db, "test-a", "FRU-APL-GOLDEN")
    assert (level.reserved, level.on_hand) == (0, 60)
