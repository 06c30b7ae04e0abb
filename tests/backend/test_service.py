"""The backend service against a real Mosquitto: retained state, live changes, bad input, restarts."""

import dataclasses
import json
import time

import pytest

from backend import stock
from backend.db import Database
from backend.service import BackendService
from mqtt import topics
from mqtt.mirror import StoreMirror
from mqtt.payloads import ErrorCode, StockLevel, decode
from mqtt.rpc import RemoteError, RpcClient
from tests.conftest import FIXTURES, clear_retained, load_fixture_catalog, unique
from tests.helpers import wait_until


def test_every_product_has_retained_catalog_and_stock(service, make_client) -> None:
    mirror = StoreMirror(make_client(), "test-a")
    assert wait_until(lambda: len(mirror.catalog) == 3 and len(mirror.stock) == 3)
    milk = mirror.catalog.get("test-a", "DAI-MILK-1L")
    assert milk is not None and str(milk.price.amount) == "16.90" and milk.price.currency == "SEK"
    assert milk.names["fa"] == "شیر کامل" and "02012345678903" in milk.gtins
    assert milk.shelf_location == "F02-B3-S2"
    assert mirror.stock.get("test-a", "DAI-MILK-1L").on_hand == 36
    other = StoreMirror(make_client(), "test-b")
    assert wait_until(lambda: len(other.catalog) == 3)
    assert other.catalog.get("test-b", "DAI-MILK-1L").price.currency == "DKK"
    assert not mirror.stock.rejections


@pytest.mark.parametrize("protocol", [4, 5], ids=["mqtt311", "mqtt5"])
def test_adjust_over_mqtt_reaches_devices_within_a_second(service, make_client, broker_url, protocol) -> None:
    device = make_client(url=dataclasses.replace(broker_url, protocol=protocol))
    mirror = StoreMirror(device, "test-a")
    assert wait_until(lambda: mirror.stock.get("test-a", "DAI-MILK-1L") is not None)
    before = mirror.stock.get("test-a", "DAI-MILK-1L")
    rpc = RpcClient(make_client(), "test-a", "tool-1")
    started = time.monotonic()
    result = rpc.call("stock.adjust", {"sku": "DAI-MILK-1L", "delta": -3, "reason": "sold"})
    assert wait_until(lambda: mirror.stock.get("test-a", "DAI-MILK-1L").seq > before.seq, timeout=1.0)
    assert time.monotonic() - started < 1.0
    after = mirror.stock.get("test-a", "DAI-MILK-1L")
    assert after.shelf == before.shelf - 3 and after.seq == result["stock"]["seq"] == before.seq + 1


def test_repeated_request_id_is_applied_once(service, make_client) -> None:
    rpc = RpcClient(make_client(), "test-a", "tool-2")
    args = {"sku": "FRU-APL-GOLDEN", "delta": 4, "reason": "delivery", "location": "backroom"}
    first = rpc.call("stock.adjust", args, request_id="same-request-id-1")
    second = rpc.call("stock.adjust", args, request_id="same-request-id-1")
    assert not first["duplicate"] and second["duplicate"]
    assert second["stock"]["backroom"] == first["stock"]["backroom"] == 24
    assert stock.level(service.db, "test-a", "FRU-APL-GOLDEN").backroom == 24


@pytest.mark.parametrize("args,code", [
    ({"sku": "DAI-MILK-1L", "delta": "lots", "reason": "x"}, ErrorCode.BAD_REQUEST),
    ({"sku": "DAI-MILK-1L", "delta": 1}, ErrorCode.BAD_REQUEST),
    ({"sku": "DAI-MILK-1L", "delta": 1, "reason": "x", "extra": True}, ErrorCode.BAD_REQUEST),
    ({"sku": "NOPE", "delta": 1, "reason": "x"}, ErrorCode.NOT_FOUND),
    ({"sku": "DAI-MILK-1L", "delta": -1000, "reason": "x"}, ErrorCode.CONFLICT),
])
def test_bad_requests_get_error_replies_and_change_nothing(service, make_client, args, code) -> None:
    before = service.db.count("stock_ledger")
    rpc = RpcClient(make_client(), "test-a", "tool-3")
    with pytest.raises(RemoteError) as err:
        rpc.call("stock.adjust", args)
    assert err.value.code == code and err.value.message
    assert service.db.count("stock_ledger") == before
    assert rpc.call("stock.get", {"sku": "DAI-MILK-1L"})["stock"]["sku"] == "DAI-MILK-1L"


def test_garbage_on_request_topics_is_rejected_and_service_keeps_running(service, make_client) -> None:
    client = make_client()
    before = service.rpc.rejected
    for payload in (b"not json", b"[]", b"{" * 1000, b"\x00" * 70_000, json.dumps({"op": "stock.adjust"}).encode()):
        client.publish(topics.request("test-a", "kiosk-9"), payload)
    assert wait_until(lambda: service.rpc.rejected == before + 5)
    assert RpcClient(client, "test-a", "kiosk-9").call("stock.get", {"sku": "DAI-MILK-1L"})["stock"]


def test_stale_seq_is_ignored_by_devices(service, make_client) -> None:
    device = make_client()
    mirror = StoreMirror(device, "test-a")
    assert wait_until(lambda: mirror.stock.get("test-a", "DAI-MILK-1L") is not None)
    current = mirror.stock.get("test-a", "DAI-MILK-1L")
    forged = current.model_copy(update={"seq": current.seq - 1, "shelf": 999})
    make_client().publish(topics.stock("test-a", "DAI-MILK-1L"), forged.model_dump_json().encode(), retain=False)
    assert wait_until(lambda: any("stale seq" in r.reason for r in mirror.stock.rejections))
    assert mirror.stock.get("test-a", "DAI-MILK-1L") == current


def test_restart_keeps_state_and_seq_keeps_increasing(tmp_path, broker_url, make_client) -> None:
    clear_retained(broker_url)
    path = tmp_path / "restart.db"
    db = Database(path)
    load_fixture_catalog(db)
    backend_id = unique("backend")
    svc = BackendService(db, broker_url, backend_id=backend_id)
    svc.start()
    rpc = RpcClient(make_client(), "test-b", "tool-4")
    seq1 = rpc.call("stock.adjust", {"sku": "DRY-PASTA-500", "delta": -2, "reason": "sold"})["stock"]["seq"]
    svc.stop()
    db.close()

    db = Database(path)
    svc = BackendService(db, broker_url, backend_id=backend_id)
    svc.start()
    try:
        level = rpc.call("stock.get", {"sku": "DRY-PASTA-500"})["stock"]
        assert level["shelf"] == 6 and level["seq"] == seq1
        seq2 = rpc.call("stock.adjust", {"sku": "DRY-PASTA-500", "delta": 1, "reason": "found"})["stock"]["seq"]
        assert seq2 == seq1 + 1
    finally:
        svc.stop()
        db.close()


def test_changes_committed_by_another_process_are_published(service, make_client, db_path) -> None:
    mirror = StoreMirror(make_client(), "test-a")
    assert wait_until(lambda: mirror.catalog.get("test-a", "DAI-MILK-1L") is not None)
    other = Database(db_path)  # e.g. `python -m backend import-catalog` while the service runs
    try:
        stock.adjust(other, "test-a", "DAI-MILK-1L", "shelf", 10, "counted")
        assert wait_until(lambda: mirror.stock.get("test-a", "DAI-MILK-1L").shelf == 22)
        text = (FIXTURES / "inventory.csv").read_text().replace("test-a,DAI-MILK-1L,16.90", "test-a,DAI-MILK-1L,15.90")
        from backend.importer import import_file

        path = db_path.parent / "inv.csv"
        path.write_text(text)
        import_file(other, path, progress=False)
    finally:
        other.close()
    assert wait_until(lambda: str(mirror.catalog.get("test-a", "DAI-MILK-1L").price.amount) == "15.90")
    assert wait_until(lambda: mirror.stock.get("test-a", "DAI-MILK-1L").shelf == 12)  # the file's count wins


def test_backend_presence_is_retained(service, make_client, collector) -> None:
    got = collector()
    client = make_client()
    client.subscribe(topics.backend_status(service.backend_id), got)
    assert got.wait_for(lambda m: bool(m))
    status = json.loads(got.messages[-1].payload)
    assert status["state"] == "online" and status["role"] == "backend"


def test_stock_payload_published_matches_database(service, make_client, collector) -> None:
    got = collector()
    make_client().subscribe(topics.stock("test-b", "FRU-APL-GOLDEN"), got)
    assert got.wait_for(lambda m: bool(m))
    assert decode(StockLevel, got.messages[-1].payload) == stock.level(service.db, "test-b", "FRU-APL-GOLDEN")


def test_store_details_are_retained_for_every_store(service, make_client, collector) -> None:
    from mqtt.payloads import StoreDetails

    got = collector()
    make_client().subscribe(topics.store_info_filter(), got)
    assert got.wait_for(lambda m: len({x.topic for x in m}) == 3)
    details = {d.store: d for d in (decode(StoreDetails, m.payload) for m in got.messages)}
    assert details["test-b"].currency == "DKK" and details["test-wh"].kind == "warehouse"
    assert details["test-a"].lat == pytest.approx(59.3326)


def test_nearby_stock_is_ordered_by_distance_with_each_stores_currency(service, make_client) -> None:
    rpc = RpcClient(make_client(), "test-a", "kiosk-3")
    stores = rpc.call("stock.nearby", {"sku": "DAI-MILK-1L"})["stores"]
    assert [s["store"] for s in stores] == ["test-wh", "test-b"]  # Arlanda ~35 km, Copenhagen ~520 km
    assert stores[1]["price"] == {"amount": "11.50", "currency": "DKK"} and stores[1]["available"] == 3
    assert stores[0]["kind"] == "warehouse" and stores[0]["price"] is None and stores[0]["available"] == 120
    assert 30 < stores[0]["distance_km"] < 40 and 500 < stores[1]["distance_km"] < 540
