"""Delivery options and orders over a real broker: sources, fees, reservation, idempotency, status events."""

import pytest

from backend import orders, stock
from mqtt import topics
from mqtt.commerce import DeliveryOption, Event, Order
from mqtt.mirror import StoreMirror
from mqtt.payloads import ErrorCode, decode
from mqtt.rpc import RemoteError, RpcClient
from tests.backend.test_service import wait_until

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


def test_order_reserves_stock_once_and_updates_every_device(service, kiosk, make_client, collector) -> None:
    mirror = StoreMirror(make_client(), "test-a")
    events = collector()
    watcher = make_client()
    watcher.subscribe(topics.event("test-a", "kiosk-1"), events)
    assert watcher.wait_subscribed(topics.event("test-a", "kiosk-1"))
    before = stock.level(service.store, "test-a", "DAI-MILK-1L")
    args = {"order_id": "o_kiosk1-0000000000000001", "option_id": "pickup:test-a",
            "lines": [{"sku": "DAI-MILK-1L", "quantity": 2}]}
    first = kiosk.call("order.place", args)
    again = kiosk.call("order.place", args)
    assert not first["duplicate"] and again["duplicate"]
    order = Order.model_validate(first["order"])
    assert order.status == "awaiting_payment" and order.reference == again["order"]["reference"]
    after = stock.level(service.store, "test-a", "DAI-MILK-1L")
    assert after.reserved == before.reserved + 2 and after.available == before.available - 2
    assert wait_until(lambda: mirror.stock.get("test-a", "DAI-MILK-1L").reserved == 2)
    assert events.wait_for(lambda m: len(m) == 1)
    assert decode(Event, events.messages[0].payload).data["reference"] == order.reference
    assert service.store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 1


def test_delivery_needs_an_address_and_keeps_it_at_the_backend(service, kiosk) -> None:
    lines = [{"sku": "FRU-APL-GOLDEN", "quantity": 1}]
    with pytest.raises(RemoteError) as err:
        kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000002", "option_id": "delivery:test-wh",
                                   "lines": lines})
    assert err.value.code == ErrorCode.BAD_REQUEST and "address" in err.value.message
    placed = kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000003", "option_id": "delivery:test-wh",
                                        "lines": lines, "address": ADDRESS})
    assert placed["order"]["kind"] == "delivery"
    assert orders.address_of(service.store, "o_kiosk1-0000000000000003").city == "Stockholm"


def test_unavailable_option_is_a_conflict_and_changes_nothing(service, kiosk) -> None:
    ledger = service.store.db["stock_ledger"].count
    with pytest.raises(RemoteError) as err:
        kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000004", "option_id": "pickup:test-a",
                                   "lines": [{"sku": "DAI-MILK-1L", "quantity": 99}]})
    assert err.value.code == ErrorCode.CONFLICT
    assert service.store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    assert service.store.db["stock_ledger"].count == ledger


def test_cancel_releases_the_reservation_and_tells_the_device(service, kiosk, make_client, collector) -> None:
    placed = kiosk.call("order.place", {"order_id": "o_kiosk1-0000000000000005", "option_id": "pickup:test-a",
                                        "lines": [{"sku": "FRU-APL-GOLDEN", "quantity": 3}]})
    assert stock.level(service.store, "test-a", "FRU-APL-GOLDEN").reserved == 3
    events = collector()
    watcher = make_client()
    watcher.subscribe(topics.event("test-a", "kiosk-1"), events)
    assert watcher.wait_subscribed(topics.event("test-a", "kiosk-1"))
    staff = RpcClient(make_client(), "test-a", "staff-1")
    staff.call("order.set_status", {"order_id": placed["order"]["order_id"], "status": "cancelled"})
    assert stock.level(service.store, "test-a", "FRU-APL-GOLDEN").reserved == 0
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
