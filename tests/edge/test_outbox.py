"""Orders are never lost nor doubled: backend down, broker killed, device SIGKILLed; personal data is wiped."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.db import Database
from backend.holds import NO_CAPS
from backend.service import BackendService
from edge.outbox import OrderOutbox, new_order_id
from mqtt.brokers import MosquittoBroker
from mqtt.client import MqttClient
from mqtt.commerce import Address, LineRequest, PlaceOrderArgs
from mqtt.rpc import RpcClient
from tests.conftest import ROOT, clear_retained, load_fixture_catalog, unique

ADDRESS = Address(name="Nguyễn Thị Hoa", street="Zanzibarvägen 7", postcode="11122", city="Stockholm",
                  country="SE", email="hoa.nguyen@example.org")


def pickup(order_id: str | None = None, quantity: int = 1) -> PlaceOrderArgs:
    return PlaceOrderArgs(order_id=order_id or new_order_id(), option_id="pickup:test-a",
                          lines=[LineRequest(sku="FRU-APL-GOLDEN", quantity=quantity)])


def backend_orders(db: Database) -> list[str]:
    return [r[0] for r in db.conn.execute("SELECT order_id FROM orders ORDER BY order_id")]


@pytest.fixture
def outbox(tmp_path: Path, make_client):
    rpc = RpcClient(make_client(), "test-a", "kiosk-7")
    box = OrderOutbox(tmp_path / "device.db", "test-a", rpc, retry_min=0.1, retry_max=0.5, call_timeout=1.0)
    yield box
    box.close()


def test_order_waits_for_the_backend_and_arrives_once(outbox, broker_url, db_path) -> None:
    clear_retained(broker_url)
    local = outbox.place(pickup(), "s_1")
    assert local.status == "queued" and outbox.pending() == 1  # durable before any network
    outbox.start()
    time.sleep(1.5)  # no backend yet: retries, nothing lost
    assert outbox.pending() == 1
    backend_db = Database(db_path)
    load_fixture_catalog(backend_db)
    backend = BackendService(backend_db, broker_url, backend_id=unique("backend"), limits=NO_CAPS)
    backend.start()
    try:
        assert outbox.flush(15)
        confirmed = outbox.get(local.order_id)
        assert confirmed.status == "awaiting_payment" and confirmed.reference
        assert backend_orders(backend_db) == [local.order_id]
    finally:
        backend.stop()
        backend_db.close()


def test_broker_killed_during_a_stream_of_orders(tmp_path: Path, db_path) -> None:
    broker = MosquittoBroker(workdir=tmp_path / "broker").start()
    backend_db = Database(db_path)
    load_fixture_catalog(backend_db)
    backend = BackendService(backend_db, broker.url, backend_id=unique("backend"), limits=NO_CAPS)
    backend.start()
    client = MqttClient(broker.url, unique("kiosk"))
    client.connect()
    box = OrderOutbox(tmp_path / "device.db", "test-a", RpcClient(client, "test-a", "kiosk-8"),
                      retry_min=0.1, retry_max=0.5, call_timeout=1.0)
    box.start()
    placed = []
    try:
        for i in range(30):
            placed.append(box.place(pickup(), "s_1").order_id)
            if i == 10:
                broker.kill()
            if i == 20:
                broker.start()
            time.sleep(0.03)
        assert box.flush(40), f"{box.pending()} orders still pending"
        assert backend_orders(backend_db) == sorted(placed)  # every order exactly once
        reserved = backend_db.conn.execute("SELECT reserved FROM stock_state WHERE store = 'test-a'"
                                      " AND sku = 'FRU-APL-GOLDEN'").fetchone()[0]
        assert reserved == 30
        assert backend_db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        box.close()
        client.close()
        backend.stop()
        backend_db.close()
        broker.close()


DEVICE_SCRIPT = """
import sys, time
from edge.outbox import OrderOutbox, new_order_id
from mqtt.client import MqttClient
from mqtt.commerce import LineRequest, PlaceOrderArgs
from mqtt.rpc import RpcClient
from mqtt.url import parse_broker_url
client = MqttClient(parse_broker_url(sys.argv[1]), "kiosk-proc-" + sys.argv[3])
client.connect()
box = OrderOutbox(sys.argv[2], "test-a", RpcClient(client, "test-a", "kiosk-proc"), retry_min=0.1, retry_max=0.3,
                  call_timeout=1.0)
if sys.argv[3] == "place":
    for _ in range(5):
        args = PlaceOrderArgs(order_id=new_order_id(), option_id="pickup:test-a",
                              lines=[LineRequest(sku="DAI-MILK-1L", quantity=1)])
        print(box.place(args, "s_proc").order_id, flush=True)
    box.start()
    time.sleep(60)
else:
    box.start()
    print("flushed" if box.flush(20) else "pending", flush=True)
    box.close()
"""


def test_device_killed_after_placing_delivers_every_order_once_after_restart(tmp_path, broker_url, db_path) -> None:
    clear_retained(broker_url)
    device_db = tmp_path / "device.db"
    url = f"mqtt://127.0.0.1:{broker_url.port}"
    first = subprocess.Popen([sys.executable, "-c", DEVICE_SCRIPT, url, str(device_db), "place"],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert first.stdout is not None
    placed = [first.stdout.readline().strip() for _ in range(5)]
    first.kill()  # SIGKILL: no clean-up, maybe mid-send (there is no backend yet)
    first.wait()
    backend_db = Database(db_path)
    load_fixture_catalog(backend_db)
    backend = BackendService(backend_db, broker_url, backend_id=unique("backend"), limits=NO_CAPS)
    backend.start()
    try:
        second = subprocess.run([sys.executable, "-c", DEVICE_SCRIPT, url, str(device_db), "resume"],
                                capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert second.stdout.strip() == "flushed", second.stderr[-2000:]
        assert backend_orders(backend_db) == sorted(placed)
    finally:
        backend.stop()
        backend_db.close()


def test_personal_data_leaves_no_trace_after_the_session(service, outbox, tmp_path) -> None:
    outbox.start()
    args = PlaceOrderArgs(order_id=new_order_id(), option_id="delivery:test-wh",
                          lines=[LineRequest(sku="DRY-PASTA-500", quantity=2)], address=ADDRESS)
    outbox.place(args, "s_private")
    assert outbox.flush(10)
    outbox.forget_session("s_private")
    assert outbox.orders("s_private") == []
    files = [p for p in tmp_path.iterdir() if p.name.startswith("device.db")]
    assert files
    for path in files:
        data = path.read_bytes()
        for secret in (ADDRESS.street, ADDRESS.email, ADDRESS.name):
            assert secret.encode() not in data, f"{secret!r} found in {path.name}"
    assert service.db.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 1  # the backend has it


def test_unsent_order_keeps_its_address_until_confirmed_then_forgets_it(outbox, tmp_path, service) -> None:
    args = PlaceOrderArgs(order_id=new_order_id(), option_id="delivery:test-wh",
                          lines=[LineRequest(sku="DRY-PASTA-500", quantity=1)], address=ADDRESS)
    outbox.place(args, "s_late")
    outbox.forget_session("s_late")  # idle reset before the order went out
    assert outbox.pending() == 1  # still needed: the order must not be lost
    outbox.start()
    assert outbox.flush(10)
    assert outbox.orders("s_late") == []
    for path in tmp_path.iterdir():
        if path.name.startswith("device.db"):
            assert ADDRESS.street.encode() not in path.read_bytes()


def test_refused_order_is_marked_and_not_retried(service, outbox) -> None:
    outbox.start()
    local = outbox.place(pickup(quantity=99), "s_2")  # more than the store has
    assert outbox.flush(10)
    refused = outbox.get(local.order_id)
    assert refused.status == "rejected" and "conflict" in refused.error
