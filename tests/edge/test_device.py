"""Edge against the real backend on a real Mosquitto: sync, every code form, live stock, hostile input."""

from __future__ import annotations

import json
import logging
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from backend import roles
from codes.scanned import Unknown, parse_intent
from edge.device import Edge, StockView
from mqtt import topics
from mqtt.brokers import MosquittoBroker
from mqtt.client import MqttClient
from mqtt.payloads import DeviceStatus, StockLevel, decode, encode, utcnow
from tests.conftest import clear_retained, unique
from tests.helpers import wait_until

PASTA_CODES = [
    "DRY-PASTA-500", "dry-pasta-500", "0036000291452", "036000291452", "00036000291452",
    "https://aisle.example/s/test-a/p/DRY-PASTA-500", "https://aisle.example/s/test-b/p/dry-pasta-500",
    "https://id.gs1.org/01/00036000291452",
]


def test_every_code_form_resolves_to_the_same_product_with_live_stock(service, make_edge) -> None:
    edge = make_edge("test-a")
    assert edge.wait_synced(10)
    views = {code: edge.product(code) for code in PASTA_CODES}
    assert {v.sku if v else None for v in views.values()} == {"DRY-PASTA-500"}, views
    pasta = views["036000291452"]
    assert pasta.price == Decimal("21.50") and pasta.currency == "SEK" and pasta.store == "test-a"
    assert pasta.name == "Spaghetti" and pasta.names["fa"] == "اسپاگتی"
    stock = edge.stock("DRY-PASTA-500")
    assert stock.live and stock.known and stock.available == 10 and stock.shelf == 0 and stock.backroom == 10
    assert stock.as_of is not None and (utcnow() - stock.as_of).total_seconds() < 30
    assert edge.product("0036000291453") is None and edge.product("NO-SUCH") is None
    assert edge.product("https://evil.example/s/test-a/p/DRY-PASTA-500") is None
    # A scan the kiosk has parsed already is passed on as its intent and not parsed again.
    for code in PASTA_CODES:
        intent = parse_intent(code)  # a scanner's reading: a bare SKU is no scan (Unknown)
        assert isinstance(intent, Unknown) or edge.product(intent) == views[code], code
    assert edge.product(parse_intent("0036000291453")) is None and edge.product(Unknown("x")) is None
    assert {s.details.store for s in edge.cache.stores()} == {"test-a", "test-b", "test-wh"}
    assert edge.cache.count("products", "test-a") == 3 and edge.cache.count("stock", "test-a") == 3


def test_names_follow_the_store_language_and_search_finds_every_script(service, make_edge) -> None:
    edge = make_edge("test-a")
    assert edge.wait_synced(10)
    assert edge.product("DAI-MILK-1L").name == "Standardmjölk 3%"  # test-a speaks Swedish
    assert make_edge("test-a", locale="vi").wait_synced(10)
    for query in ("mjö", "milk", "شیر", "حليب", "sua tuoi", "arla"):
        assert [v.sku for v in edge.search(query)][:1] == ["DAI-MILK-1L"], query
    assert [v.sku for v in edge.search("20123451")] == ["DAI-MILK-1L"]  # a code typed into search finds its product


def test_stock_changes_reach_listeners_and_look_ups_at_once(service, db, make_edge) -> None:
    edge = make_edge("test-a", role="staff")
    roles.register(db, edge.device_id, "test-a", "staff")  # only staff may adjust stock
    assert edge.wait_synced(10)
    changes: list[StockView] = []
    got = threading.Event()
    edge.on_stock(lambda view: (changes.append(view), got.set()))
    before = edge.stock("DAI-MILK-1L")
    result = edge.rpc.call("stock.adjust", {"sku": "DAI-MILK-1L", "delta": -2, "reason": "sold"})
    assert result["stock"]["available"] == before.available - 2
    assert got.wait(5)
    assert changes[-1].sku == "DAI-MILK-1L" and changes[-1].available == before.available - 2 and changes[-1].live
    after = edge.stock("dai-milk-1l")
    assert after.available == before.available - 2 and after.seq > before.seq and after.live


def test_presence_is_online_while_connected_and_offline_after_close(service, make_edge, make_client,
                                                                  collector) -> None:
    edge = make_edge("test-a", role="staff")
    got = collector()
    watcher = make_client()
    watcher.subscribe(topics.device_status("test-a", edge.device_id), got)
    assert got.wait_for(lambda m: any(json.loads(x.payload)["state"] == "online" for x in m))
    status = decode(DeviceStatus, got.messages[-1].payload)
    assert status.role == "staff" and status.store == "test-a" and status.since is not None
    edge.close()
    assert got.wait_for(lambda m: json.loads(m[-1].payload)["state"] == "offline")


def test_hostile_messages_are_logged_and_change_nothing(service, make_edge, make_client,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    edge = make_edge("test-a")
    assert edge.wait_synced(10)
    good = edge.stock("DAI-MILK-1L")
    attacker = make_client()
    topic = topics.stock("test-a", "DAI-MILK-1L")
    real = StockLevel(sku="DAI-MILK-1L", store="test-a", available=999, on_hand=999, reserved=0, seq=good.seq,
                      updated_at=utcnow())
    junk = [
        b"\xff\xfe not json",
        json.dumps({**real.model_dump(mode="json"), "available": [1]}).encode(),
        encode(real.model_copy(update={"seq": good.seq - 1})),  # stale
        encode(real.model_copy(update={"seq": good.seq})),  # equal: a replay, not news
        encode(real.model_copy(update={"sku": "DRY-PASTA-500", "seq": good.seq + 50})),  # names another sku
        b"",  # a cleared retained message keeps the last known value
    ]
    with caplog.at_level(logging.WARNING):
        for payload in junk:
            attacker.publish(topic, payload).wait_for_publish(5)
        assert wait_until(lambda: len(edge.rejections) >= 5)
        assert edge.wait_synced(5)
    reasons = " | ".join(reason for _, reason in edge.rejections)
    for expected in ("JSON", "available", "stale", "payload names test-a/DRY-PASTA-500", "empty"):
        assert expected.lower() in reasons.lower(), reasons
    assert "ignored aisle/v1/test-a/stock/DAI-MILK-1L" in caplog.text
    now = edge.stock("DAI-MILK-1L")
    assert (now.available, now.seq) == (good.available, good.seq)
    assert edge.stock("DRY-PASTA-500").available == 10


def test_cold_sync_of_a_large_catalogue_is_batched(make_edge, make_client, broker_url) -> None:
    store = unique("big")[:32]
    publisher = make_client()
    n = 2000
    try:
        for i in range(n):
            sku = f"SKU-{i:05d}"
            level = StockLevel(sku=sku, store=store, available=i, on_hand=i, reserved=0, seq=1, updated_at=utcnow())
            info = publisher.publish(topics.stock(store, sku), encode(level), retain=True)
        info.wait_for_publish(10)
        started = time.monotonic()
        edge = make_edge(store)
        assert wait_until(lambda: edge.cache.count("stock", store) == n, 10)
        assert time.monotonic() - started < 5
        assert edge.stock("SKU-01999").available == 1999 and edge.stock("SKU-01999").live
    finally:
        clear_retained(broker_url, f"aisle/v1/{store}/#")


def test_an_edge_on_a_shared_client_leaves_the_client_open(service, make_client, tmp_path: Path) -> None:
    client = make_client()
    with Edge(client, "test-b", unique("phone"), tmp_path / "shared.db", role="phone") as edge:
        assert edge.wait_synced(10)
        assert edge.product("DRY-PASTA-500").currency == "DKK"
        assert edge.rpc.call("stock.get", {"sku": "DRY-PASTA-500"})["stock"]["store"] == "test-b"
    assert client.connected


def test_stock_is_last_known_while_the_broker_is_down_and_live_again_after(tmp_path: Path) -> None:
    broker = MosquittoBroker(workdir=tmp_path / "broker").start()
    publisher = MqttClient(broker.url, unique("fake-backend"))
    try:
        publisher.connect(10)

        def publish(sku: str, available: int, seq: int) -> None:
            level = StockLevel(sku=sku, store="off-a", available=available, on_hand=available, reserved=0, seq=seq,
                               updated_at=utcnow())
            publisher.publish(topics.stock("off-a", sku), encode(level), retain=True).wait_for_publish(5)

        publish("MILK", 5, 1)
        publish("PASTA", 7, 1)
        with Edge(broker.url, "off-a", "kiosk-1", tmp_path / "edge.db") as edge:
            assert edge.wait_synced(10)
            live = edge.stock("MILK")
            assert live.live and live.available == 5
            seen: list[bool] = []
            edge.on_connection(seen.append)
            publisher.close()
            broker.kill()
            assert wait_until(lambda: not edge.connected, 10)
            offline = edge.stock("MILK")
            assert not offline.live and offline.available == 5 and offline.as_of == live.as_of
            broker.start()  # same port, same persistence directory: the retained state is back
            publisher = MqttClient(broker.url, unique("fake-backend"))
            publisher.connect(10)
            publish("MILK", 4, 2)  # sold one while the kiosk was away
            assert wait_until(lambda: edge.stock("MILK").live, 20)
            assert edge.stock("MILK").available == 4
            publish("PASTA", 7, 1)  # the backend republishes on start: same seq, confirms the value
            assert wait_until(lambda: edge.stock("PASTA").live, 5)
            assert edge.stock("PASTA").as_of > offline.as_of
            assert seen[:2] == [False, True]
        # A kiosk that starts while the broker is unreachable still shows what it knew.
        broker.stop()
        with Edge(broker.url, "off-a", "kiosk-1", tmp_path / "edge.db", connect_timeout=None) as cold:
            view = cold.stock("MILK")
            assert view.known and not view.live and view.available == 4 and view.as_of is not None
    finally:
        publisher.close()
        broker.close()


def test_a_broker_dropping_retained_messages_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Mosquitto drops what exceeds max_queued_messages when a client subscribes (its default is 1000).
    broker = MosquittoBroker(workdir=tmp_path / "broker", extra_config="max_queued_messages 50\n").start()
    publisher = MqttClient(broker.url, unique("fake-backend"))
    try:
        publisher.connect(10)
        # Large enough to fill the socket buffers, so the broker has to queue (and drop) the rest.
        names = {f"{a}{b}": "x" * 200 for a in "abcdefgh" for b in "abcde"}
        for i in range(1000):
            level = StockLevel(sku=f"S{i}", store="tiny", available=1, on_hand=1, reserved=0, seq=1,
                               updated_at=utcnow())
            product = {"sku": f"S{i}", "store": "tiny", "names": names, "seq": 1,
                       "updated_at": "2026-01-01T00:00:00Z", "price": {"amount": "1.00", "currency": "SEK"}}
            publisher.publish(topics.catalog("tiny", f"S{i}"), json.dumps(product).encode(), retain=True)
            info = publisher.publish(topics.stock("tiny", f"S{i}"), encode(level), retain=True)
        info.wait_for_publish(10)
        with Edge(broker.url, "tiny", "kiosk-1", tmp_path / "edge.db") as edge, caplog.at_level(logging.WARNING):
            assert edge.wait_synced(10)
            assert edge.stats().get("stock", 0) < 1000
        assert "is the broker dropping retained messages" in caplog.text
    finally:
        publisher.close()
        broker.close()
