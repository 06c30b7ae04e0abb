"""Nearby stores: other stores' stock and own prices, nearest first, warehouse apart, junk ignored."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from edge.nearby import NearbyQuery, NearbyStock, from_backend, haversine_km
from mqtt import topics
from mqtt.payloads import Product, StockLevel, StoreDetails, encode, utcnow
from tests.conftest import clear_retained, unique


def test_haversine() -> None:
    stockholm, copenhagen = (59.33459, 18.06149), (55.67118, 12.54706)
    assert haversine_km(*stockholm, *copenhagen) == pytest.approx(522, abs=3)
    assert haversine_km(*stockholm, *stockholm) == 0


def test_other_stores_with_their_own_price_and_the_warehouse_apart(service, make_edge) -> None:
    edge = make_edge("test-a")
    assert edge.wait_synced(10)
    started = time.monotonic()
    result = edge.nearby("dai-milk-1l")
    assert time.monotonic() - started < 1.5  # every known store answered: no need to wait for the timeout
    assert [s.store for s in result.stores] == ["test-b"] and [w.store for w in result.warehouses] == ["test-wh"]
    copenhagen = result.stores[0]
    assert copenhagen.price == Decimal("11.50") and copenhagen.currency == "DKK"
    assert copenhagen.available == 3 and copenhagen.live and copenhagen.name == "Test Store B"
    assert copenhagen.distance_km == pytest.approx(520, abs=10)
    warehouse = result.warehouses[0]
    assert warehouse.is_warehouse and warehouse.available == 120 and warehouse.price is None
    assert result.missing == ()
    assert result.to_json()["stores"][0]["price"] == {"amount": "11.50", "currency": "DKK"}
    # The subscriptions were only for the query.
    assert not edge.client.wait_subscribed("aisle/v1/+/stock/DAI-MILK-1L", 0)


@pytest.fixture
def chain(make_client, broker_url):
    """Retained details and stock of a small chain on its own store ids: home, near, far, unlocated, warehouse."""
    tag = unique("c")[-8:].replace("-", "")
    ids = {name: f"{name}-{tag}" for name in ("home", "near", "far", "nowhere", "wh")}
    where = {"home": (59.33, 18.06), "near": (59.31, 18.07), "far": (55.67, 12.55), "nowhere": (None, None),
             "wh": (59.61, 17.90)}
    publisher = make_client()
    for name, store in ids.items():
        lat, lon = where[name]
        details = StoreDetails(store=store, name=name.title(), kind="warehouse" if name == "wh" else "store",
                               currency="SEK", locale="sv_SE", locales=["sv"], lat=lat, lon=lon, updated_at=utcnow())
        publisher.publish(topics.store_info(store), encode(details), retain=True)
        level = StockLevel(sku="TEA", store=store, available=len(name), on_hand=len(name), reserved=0, seq=5,
                           updated_at=utcnow())
        publisher.publish(topics.stock(store, "TEA"), encode(level), retain=True)
        if name != "wh":
            product = Product(sku="TEA", store=store, names={"en": "Tea"}, price={"amount": f"{len(name)}.00",
                              "currency": "SEK"}, seq=3, updated_at=utcnow())
            publisher.publish(topics.catalog(store, "TEA"), encode(product), retain=True).wait_for_publish(5)
    yield ids, publisher
    for store in ids.values():
        clear_retained(broker_url, f"aisle/v1/{store}/#", settle=0.1)


def test_stores_are_ordered_by_distance_and_junk_is_ignored(chain, make_edge) -> None:
    ids, publisher = chain
    edge = make_edge(ids["home"])
    assert edge.wait_synced(10)
    assert edge.nearby("TEA").stores[0].available == 4  # the cache now holds "near" at seq 5
    # Invalid or stale messages on the other stores' topics.
    publisher.publish(topics.stock(ids["near"], "TEA"), b"{not json", retain=True)
    stale = StockLevel(sku="TEA", store=ids["far"], available=999, on_hand=999, reserved=0, seq=1, updated_at=utcnow())
    publisher.publish(topics.stock(ids["far"], "TEA"), encode(stale), retain=True)
    wrong = StockLevel(sku="COFFEE", store=ids["nowhere"], available=999, on_hand=999, reserved=0, seq=9,
                       updated_at=utcnow())
    publisher.publish(topics.stock(ids["nowhere"], "TEA"), encode(wrong), retain=True).wait_for_publish(5)
    query = NearbyQuery(edge.client, edge.cache, ids["home"], "TEA", timeout=1.0)
    result = query.run()
    assert [s.store for s in result.stores] == [ids["near"], ids["far"], ids["nowhere"]]
    assert [s.distance_km is None for s in result.stores] == [False, False, True]
    assert [w.store for w in result.warehouses] == [ids["wh"]]
    assert [s.available for s in result.stores] == [4, 3, 7]  # last known values, not the junk
    assert not any(s.live for s in result.stores)
    assert set(result.missing) >= {ids["near"], ids["far"], ids["nowhere"]}
    assert len(query.rejected) == 3
    assert result.stores[0].price == Decimal("4.00")


def test_an_unknown_product_answers_quickly_with_nothing(service, make_edge) -> None:
    edge = make_edge("test-a")
    assert edge.wait_synced(10)
    started = time.monotonic()
    result = edge.nearby_async("NO-SUCH-THING", timeout=3).result(5)
    assert result.stores == () and result.warehouses == ()
    assert time.monotonic() - started < 1.5


def _row(store: str, **fields: object) -> dict[str, object]:
    """One row of the backend's ``stock.nearby`` answer (backend/nearby.py), live unless told otherwise."""
    return {"store": store, "name": store.title(), "kind": "store", "available": 5, "price": None,
            "distance_km": 1.0, "seq": 1, "live": True, "as_of": None, **fields}


def test_backend_rows_become_nearby_stock_nearest_first_warehouses_apart() -> None:
    rows = [
        _row("far-away", distance_km=40.5, live=False, as_of="2026-11-23T17:32:00+00:00"),
        _row("big-wh", kind="warehouse", distance_km=2.0, available=120),
        _row("no-place", distance_km=None, available=None),
        _row("next-door", distance_km=0.8, available=-3, price={"amount": "11.50", "currency": "DKK"}),
        _row("cut-off", distance_km=3.0, live=False, as_of=None),
    ]
    result = from_backend("home-store", "DAI-MILK-1L", rows)
    assert (result.sku, result.home) == ("DAI-MILK-1L", "home-store")
    assert [s.store for s in result.stores] == ["next-door", "cut-off", "far-away", "no-place"]  # unknown last
    assert [w.store for w in result.warehouses] == ["big-wh"] and result.warehouses[0].is_warehouse
    assert result.missing == ("cut-off", "far-away")  # sorted; the warehouse and the live ones are not missing
    near, cut, far, unknown = result.stores
    assert near.live and near.available == 0  # a negative level from a bad ledger is shown as none, not -3
    assert near.price == Decimal("11.50") and near.currency == "DKK" and near.name == "Next-Door"
    assert not cut.live and cut.received_at is None  # "last known", no time to show
    assert not far.live and far.received_at == datetime(2026, 11, 23, 17, 32, tzinfo=UTC)
    assert unknown.available is None and unknown.distance_km is None and unknown.price is None
    assert far.to_json()["received_at"] == "2026-11-23T17:32:00+00:00" and far.to_json()["live"] is False
    assert from_backend("home-store", "X", []) == NearbyStock("X", "home-store", (), (), ())


@pytest.mark.parametrize("row", [
    {"name": "no store id"},
    _row("Not A Store!"),
    _row("ok-store", distance_km="far"),
    _row("ok-store", available="many"),
    _row("ok-store", available=[3]),
    _row("ok-store", seq={"n": 1}),
    _row("ok-store", price={"amount": "lots", "currency": "SEK"}),
    _row("ok-store", price="11.50"),
    _row("ok-store", as_of="yesterday"),
], ids=["no-store", "bad-store-id", "distance", "available", "available-list", "seq", "amount", "price-string",
        "as-of"])
def test_malformed_backend_rows_are_refused_not_shown(row: dict[str, object]) -> None:
    # StoreClient.nearby catches exactly these and asks the broker instead.
    with pytest.raises((ValueError, KeyError, TypeError)):
        from_backend("home-store", "X", [_row("fine-store"), row])


@pytest.mark.parametrize("row", ["fine-store", None, 3])
def test_a_row_that_is_not_an_object_is_refused(row: object) -> None:
    with pytest.raises(TypeError):
        from_backend("home-store", "X", [row])  # type: ignore[list-item]


def test_live_must_be_a_boolean() -> None:
    with pytest.raises(TypeError):
        from_backend("home-store", "X", [{**_row("fine-store"), "live": "false"}])
