"""Orders placed in one store of a chain with units held at another: held once, released or sold once, never lost."""

from __future__ import annotations

import secrets

import pytest

from backend import stock
from backend.service import BackendService
from mqtt.payloads import ErrorCode
from mqtt.routes import chain_route
from mqtt.rpc import RemoteError, RpcClient
from mqtt.url import BrokerUrl
from tests.backend.test_chain import chain, prices  # noqa: F401 - the chain fixture: HQ, test-a and test-b
from tests.conftest import unique
from tests.helpers import wait_until


def new_order_id() -> str:
    return f"o_{secrets.token_urlsafe(16)}"


@pytest.fixture
def stocked(chain: dict, make_client) -> dict:  # noqa: F811
    """test-b holds 10 of a product test-a sells but has none of; test-a's devices see it as live nearby."""
    a, b = chain["test-a"], chain["test-b"]
    assert wait_until(lambda: a.chain.applied > 0 and b.chain.applied > 0, timeout=15)
    sku = sorted(set(prices(a.db, "test-a")) & set(prices(b.db, "test-b")))[0]
    stock.adjust(b.db, "test-b", sku, "backroom", 10, "delivery")
    b.publish_changes()
    assert wait_until(lambda: any(e["store"] == "test-b" and e["available"] == 10 and e["live"]
                                  for e in a.chain.mirror.entries(sku)), timeout=10)
    shopper = RpcClient(make_client(), "test-a", "kiosk-1")
    staff = RpcClient(make_client(), "test-a", "staff-1")
    return {**chain, "sku": sku, "shopper": shopper, "staff": staff}


def reserved_at_b(stocked: dict) -> int:
    return stock.level(stocked["test-b"].db, "test-b", stocked["sku"]).reserved


def place(stocked: dict, order_id: str, option: str = "pickup:test-a:test-b") -> dict:
    return stocked["shopper"].call("order.place", {"order_id": order_id, "option_id": option, "lines": [
        {"sku": stocked["sku"], "quantity": 3}]}, timeout=15)


def test_another_stores_stock_is_offered_held_once_and_released(stocked: dict) -> None:
    options = stocked["shopper"].call("order.options", {"lines": [{"sku": stocked["sku"], "quantity": 3}]},
                                      timeout=5)["options"]
    assert {"pickup:test-a:test-b", "delivery:test-b"} <= {o["option_id"] for o in options}
    order_id = new_order_id()
    first = place(stocked, order_id)
    assert first["order"]["source_store"] == "test-b" and not first["duplicate"]
    assert reserved_at_b(stocked) == 3
    assert place(stocked, order_id)["duplicate"]  # the outbox's retry: held once
    assert reserved_at_b(stocked) == 3
    stocked["staff"].call("order.set_status", {"order_id": order_id, "status": "cancelled"}, timeout=5)
    assert wait_until(lambda: reserved_at_b(stocked) == 0, timeout=15)


def test_a_collected_order_is_sold_at_the_source_through_its_ledger(stocked: dict) -> None:
    order_id = new_order_id()
    place(stocked, order_id)
    for status in ("paid", "ready", "collected"):
        stocked["staff"].call("order.set_status", {"order_id": order_id, "status": status}, timeout=5)
    b = stocked["test-b"]
    assert wait_until(lambda: stock.level(b.db, "test-b", stocked["sku"]).on_hand == 7, timeout=15)
    assert stock.level(b.db, "test-b", stocked["sku"]).reserved == 0
    assert stock.ledger_balances(b.db) == []


def test_without_the_source_the_order_is_refused_and_nothing_is_held(stocked: dict) -> None:
    stocked["test-b"].stop()  # its heartbeat is recent: the option is still offered, the hold cannot be made
    order_id = new_order_id()
    with pytest.raises(RemoteError) as refused:
        place(stocked, order_id)
    assert refused.value.code is ErrorCode.CHAIN_UNAVAILABLE and "test-b" in refused.value.message
    a = stocked["test-a"]
    with a.db.lock:
        assert a.db.conn.execute("SELECT count(*) FROM orders WHERE order_id = ?", [order_id]).fetchone()[0] == 0
    assert reserved_at_b(stocked) == 0


def test_a_cancellation_made_while_the_source_is_down_reaches_it_later(stocked: dict,
                                                                       broker_url: BrokerUrl) -> None:
    order_id = new_order_id()
    place(stocked, order_id)
    b = stocked["test-b"]
    b.stop()
    stocked["staff"].call("order.set_status", {"order_id": order_id, "status": "cancelled"}, timeout=5)
    assert reserved_at_b(stocked) == 3  # not told yet: the store is down
    again = BackendService(b.db, broker_url, backend_id=unique("backend"), site="test-b", watch_interval=0.1)
    again.start()
    try:
        assert wait_until(lambda: reserved_at_b(stocked) == 0, timeout=20)
        a = stocked["test-a"]
        assert wait_until(lambda: a.db.count("chain_outbox") == 0, timeout=5)
    finally:
        again.stop()


def test_a_hold_asked_twice_holds_once(stocked: dict, make_client) -> None:
    # The reply to the first hold was lost with the link: the ordering store asks again with the same order id.
    as_a = RpcClient(make_client(), "test-b", "test-a", route=chain_route("test-a"))
    args = {"order_id": new_order_id(), "kind": "pickup", "lines": [{"sku": stocked["sku"], "quantity": 3}],
            "pay_by": "2099-01-01T00:00:00Z"}
    assert not as_a.call("order.hold", args, timeout=5)["duplicate"]
    assert as_a.call("order.hold", args, timeout=5)["duplicate"]
    assert reserved_at_b(stocked) == 3
    other = RpcClient(make_client(), "test-b", "test-c", route=chain_route("test-c"))
    with pytest.raises(RemoteError) as taken:  # another store cannot reuse, or cancel, that order's hold
        other.call("order.hold_status", {"order_id": args["order_id"], "status": "cancelled"}, timeout=5)
    assert taken.value.code is ErrorCode.NOT_FOUND and reserved_at_b(stocked) == 3
