"""A chain: HQ stages versioned entries, stores pull and apply them once, keep overrides, and mirror nearby stock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from backend import catalog, roles, stock
from backend.chain import apply, hq_entries
from backend.chain.hq_service import HqService
from backend.db import Database
from backend.service import BackendService
from codes.catalog_csv import StoreInfo
from mqtt import topics
from mqtt.chain import HqPage
from mqtt.payloads import ErrorCode, Product, decode, utcnow
from mqtt.routes import chain_route
from mqtt.rpc import RemoteError, RpcClient
from mqtt.url import BrokerUrl
from tests.conftest import clear_retained, load_fixture_catalog, register_test_devices, unique
from tests.helpers import wait_until


def set_price(db: Database, store: str, sku: str, price: str) -> None:
    with db.transaction():
        catalog.set_store_product(db, store, sku, Decimal(price), None, None, utcnow())


def pull_all(hq: Database, store_db: Database, store: str) -> int:
    """What the store's link does, without MQTT: pages after the applied version until none are left."""
    total = 0
    while True:
        page = hq_entries.page(hq, store, apply.applied_seq(store_db), limit=7)
        total += apply.apply_page(store_db, store, page, utcnow())
        if not page.more:
            return total


def prices(db: Database, store: str) -> dict[str, str]:
    with db.lock:
        return dict(db.conn.execute("SELECT sku, price FROM store_products WHERE store = ?", [store]))


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[Database]:
    db = Database(tmp_path / "hq.db")
    load_fixture_catalog(db)
    yield db
    db.close()


@pytest.fixture
def store_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(tmp_path / "store-a.db")
    yield db
    db.close()


def test_staging_versions_only_what_changed(hq: Database) -> None:
    first = hq_entries.stage(hq)
    assert first.changed["test-a"] > 0 and "test-wh" not in first.changed  # warehouses sell nothing
    assert hq_entries.stage(hq).changed == {"test-a": 0, "test-b": 0}
    sku = next(iter(prices(hq, "test-a")))
    set_price(hq, "test-a", sku, "1.25")
    again = hq_entries.stage(hq)
    assert again.changed == {"test-a": 1, "test-b": 0}
    assert again.heads["test-a"] == max(first.heads.values()) + 1


def test_a_store_converges_and_applies_each_entry_once(hq: Database, store_db: Database) -> None:
    hq_entries.stage(hq)
    assert pull_all(hq, store_db, "test-a") == len(prices(hq, "test-a"))
    assert prices(store_db, "test-a") == prices(hq, "test-a")
    page = hq_entries.page(hq, "test-a", 0)
    assert apply.apply_page(store_db, "test-a", page, utcnow()) == 0  # a page delivered twice changes nothing
    assert catalog.get_store(store_db, "test-a").currency == "SEK"


def test_a_local_override_survives_hq_and_is_listed(hq: Database, store_db: Database) -> None:
    hq_entries.stage(hq)
    pull_all(hq, store_db, "test-a")
    sku = sorted(prices(hq, "test-a"))[0]
    apply.set_override(store_db, "test-a", sku, Decimal("9.90"), utcnow())
    set_price(hq, "test-a", sku, "12.00")
    hq_entries.stage(hq)
    pull_all(hq, store_db, "test-a")
    assert prices(store_db, "test-a")[sku] == "9.90"
    assert apply.local_prices(store_db, "test-a") == [apply.Override(sku, Decimal("9.90"), Decimal("12.00"))]
    assert apply.clear_override(store_db, "test-a", sku, utcnow()) == Decimal("12.00")
    assert prices(store_db, "test-a")[sku] == "12.00" and apply.local_prices(store_db, "test-a") == []


def test_a_page_for_another_store_is_refused(hq: Database, store_db: Database) -> None:
    hq_entries.stage(hq)
    with pytest.raises(apply.ChainApplyError):
        apply.apply_page(store_db, "test-a", hq_entries.page(hq, "test-b", 0), utcnow())
    assert apply.applied_seq(store_db) == 0


def test_two_crossing_pushes_converge_to_hq(hq: Database, store_db: Database, tmp_path: Path) -> None:
    hq_entries.stage(hq)
    pull_all(hq, store_db, "test-a")
    skus = sorted(prices(hq, "test-a"))
    other = Database(tmp_path / "hq.db")  # a second HQ process importing at the same time

    def push(db: Database, price: str) -> None:
        for sku in skus:
            set_price(db, "test-a", sku, price)
            hq_entries.stage(db, ["test-a"])

    try:
        threads = [threading.Thread(target=push, args=(db, p)) for db, p in ((hq, "2.00"), (other, "3.00"))]
        for t in threads:
            t.start()
        pulled = 0
        while any(t.is_alive() for t in threads):  # the store pulls while the pushes cross
            pulled += pull_all(hq, store_db, "test-a")
        for t in threads:
            t.join()
        pull_all(hq, store_db, "test-a")
    finally:
        other.close()
    assert prices(store_db, "test-a") == prices(hq, "test-a")


# -- over a real broker ------------------------------------------------------

@pytest.fixture
def chain(tmp_path: Path, broker_url: BrokerUrl) -> Iterator[dict]:
    """HQ and two store backends (test-a, test-b) on one broker, each with its own database."""
    clear_retained(broker_url)
    with ExitStack() as stack:
        hq_db = Database(tmp_path / "hq.db")
        stack.callback(hq_db.close)
        load_fixture_catalog(hq_db)
        hq_entries.stage(hq_db)
        hq = HqService(hq_db, broker_url, client_id=unique("hq"), heartbeat=0.5, watch_interval=0.1)
        hq.start()
        stack.callback(hq.stop)
        stores = {}
        for store in ("test-a", "test-b"):
            db = Database(tmp_path / f"{store}.db")
            stack.callback(db.close)
            register_test_devices(db)
            svc = BackendService(db, broker_url, backend_id=unique("backend"), site=store, watch_interval=0.1)
            svc.start()
            stack.callback(svc.stop)
            stores[store] = svc
        yield {"hq": hq, **stores}


def test_an_hq_price_reaches_every_store_and_its_devices(chain: dict, make_client) -> None:
    hq, a, b = chain["hq"], chain["test-a"], chain["test-b"]
    assert wait_until(lambda: a.chain.applied == hq_entries.heads(hq.db)["test-a"] > 0, timeout=15)
    assert wait_until(lambda: b.chain.applied == hq_entries.heads(hq.db)["test-b"] > 0, timeout=15)
    sku = sorted(prices(hq.db, "test-a"))[0]
    seen: list[Product] = []
    device = make_client()
    device.subscribe(topics.catalog("test-a", sku), lambda m: seen.append(decode(Product, m.payload)), qos=1)
    assert device.wait_subscribed(topics.catalog("test-a", sku), 5)
    set_price(hq.db, "test-a", sku, "77.50")
    hq.stage()
    assert wait_until(lambda: any(p.price.amount == Decimal("77.50") for p in seen), timeout=15)
    assert prices(b.db, "test-b") == prices(hq.db, "test-b")


def test_stock_in_one_store_shows_as_nearby_in_the_other(chain: dict, make_client) -> None:
    a, b = chain["test-a"], chain["test-b"]
    assert wait_until(lambda: a.chain.applied > 0 and b.chain.applied > 0, timeout=15)
    sku = sorted(set(prices(a.db, "test-a")) & set(prices(b.db, "test-b")))[0]
    stock.adjust(a.db, "test-a", sku, "shelf", 7, "delivery")
    a.publish_changes()
    client = make_client()
    rpc = RpcClient(client, "test-b", "staff-1")

    def nearby() -> list[dict]:
        return rpc.call("stock.nearby", {"sku": sku}, timeout=5)["stores"]

    assert wait_until(lambda: any(e["store"] == "test-a" and e["available"] == 7 and e["live"] for e in nearby()),
                      timeout=10)
    assert b.chain.mirror.link_up is None  # one broker, no bridge: the link is not judged


def test_a_store_restarted_during_a_push_converges(chain: dict, broker_url: BrokerUrl, tmp_path: Path) -> None:
    hq, a = chain["hq"], chain["test-a"]
    assert wait_until(lambda: a.chain.applied > 0, timeout=15)
    a.stop()
    for i, sku in enumerate(sorted(prices(hq.db, "test-a"))):
        set_price(hq.db, "test-a", sku, f"{i + 1}.05")
    hq.stage()
    again = BackendService(a.db, broker_url, backend_id=unique("backend"), site="test-a", watch_interval=0.1)
    again.start()
    try:
        assert wait_until(lambda: prices(a.db, "test-a") == prices(hq.db, "test-a"), timeout=20)
        assert again.chain.applied == hq_entries.heads(hq.db)["test-a"]
    finally:
        again.stop()


def test_hq_refuses_a_page_for_an_unknown_store(chain: dict, make_client) -> None:
    rpc = RpcClient(make_client(), "hq", "nowhere", route=chain_route("nowhere"))
    with pytest.raises(RemoteError) as failure:
        rpc.call("hq.changes", {"after": 0}, timeout=5)
    assert failure.value.code is ErrorCode.NOT_FOUND and "nowhere" in failure.value.message
    known = RpcClient(make_client(), "hq", "test-a", route=chain_route("test-a"))
    page = decode(HqPage, known.call("hq.changes", {"after": 0}, timeout=5))
    assert page.store.store == "test-a" and page.entries


# -- carts started in the chain's web shop ----------------------------------------

def open_web_shop(hq: HqService) -> str:
    """HQ's own row (the web shop, SEK) with the prices of test-a, and a web device; returns one sku it sells."""
    with hq.db.transaction():
        catalog.upsert_store(hq.db, StoreInfo("hq", "Aisle Online", "store", "SEK", "sv_SE", ("sv", "en"),
                                              None, None, ""))
        for sku, price in prices(hq.db, "test-a").items():
            catalog.set_store_product(hq.db, "hq", sku, Decimal(price) + 1, None, None, utcnow())
    roles.register(hq.db, "web-1", "hq", "web")
    return sorted(prices(hq.db, "test-a"))[0]


def test_a_web_cart_opens_once_at_any_store_at_that_stores_prices(chain: dict, make_client) -> None:
    hq, a, b = chain["hq"], chain["test-a"], chain["test-b"]
    sku = open_web_shop(hq)
    assert wait_until(lambda: a.chain.applied > 0 and b.chain.applied > 0, timeout=15)
    web = make_client()
    events: list[dict] = []
    web.subscribe(topics.event("hq", "web-1"), lambda m: events.append(json.loads(m.payload)), qos=1)
    assert web.wait_subscribed(topics.event("hq", "web-1"), 5)
    shop = RpcClient(web, "hq", "web-1")
    cart = shop.call("cart.create", {"lines": [{"sku": sku, "quantity": 2}]}, timeout=5)["cart"]
    token = shop.call("cart.handoff", {"cart_id": cart["cart_id"]}, timeout=5)["handoff"]["token"]

    kiosk = RpcClient(make_client(), "test-a", "kiosk-1")
    opened = kiosk.call("cart.redeem", {"token": token, "issuer": "hq"}, timeout=10)
    assert [(line["sku"], line["quantity"]) for line in opened["cart"]["lines"]] == [(sku, 2)]
    assert opened["cart"]["lines"][0]["unit_price"]["amount"] == prices(a.db, "test-a")[sku]  # the store's price
    assert wait_until(lambda: any(e["type"] == "cart.opened" and e["data"]["store"] == "test-a" for e in events))

    again = RpcClient(make_client(), "test-b", "kiosk-2")
    with pytest.raises(RemoteError) as used:
        again.call("cart.redeem", {"token": token, "issuer": "hq"}, timeout=10)
    assert used.value.code is ErrorCode.USED  # HQ issued it, HQ decides: once, whichever store asks


def test_without_hq_a_web_cart_is_unavailable_and_the_store_works_on(chain: dict, make_client) -> None:
    hq = chain["hq"]
    sku = open_web_shop(hq)
    shop = RpcClient(make_client(), "hq", "web-1")
    cart = shop.call("cart.create", {"lines": [{"sku": sku, "quantity": 1}]}, timeout=5)["cart"]
    token = shop.call("cart.handoff", {"cart_id": cart["cart_id"]}, timeout=5)["handoff"]["token"]
    hq.stop()
    kiosk = RpcClient(make_client(), "test-a", "kiosk-1")
    with pytest.raises(RemoteError) as cut:
        kiosk.call("cart.redeem", {"token": token, "issuer": "hq"}, timeout=15)
    assert cut.value.code is ErrorCode.CHAIN_UNAVAILABLE and "online carts are unavailable" in cut.value.message
    local = kiosk.call("cart.create", {"lines": [{"sku": sku, "quantity": 1}]}, timeout=5)["cart"]
    assert local["lines"][0]["sku"] == sku  # everything local keeps working
