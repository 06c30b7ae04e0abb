"""Fault injection: broker SIGKILLs, network cuts and device SIGKILLs while orders and stock changes flow.

Some faults land between answered requests, others while a request is in flight: the link dies after the backend
applied it and before its reply reaches the device, which then sends the same request again.
"""

import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace

from backend import roles, stock
from backend.db import Database
from backend.holds import NO_CAPS
from backend.service import BackendService
from edge.outbox import OrderOutbox, new_order_id
from mqtt.brokers import MosquittoBroker
from mqtt.client import MqttClient
from mqtt.commerce import LineRequest, PlaceOrderArgs
from mqtt.rpc import RemoteError, RpcClient, RpcError, new_request_id
from tests import helpers
from tests.conftest import ROOT, load_fixture_catalog, unique
from tests.reliability.proxy import CuttableProxy

SKUS = ["FRU-APL-GOLDEN", "DAI-MILK-1L", "DRY-PASTA-500"]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what``."""
    assert helpers.wait_until(check, timeout), f"timed out waiting for {what}"


def adjust_until_answered(rpc: RpcClient, args: dict, deadline: float,
                          request_id: str | None = None) -> tuple[dict, int]:
    """What a careful tool does: resend the same request id until the backend answers; returns (result, attempts)."""
    request_id = request_id or new_request_id()
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            return rpc.call("stock.adjust", args, timeout=1.0, request_id=request_id), attempts
        except RemoteError:
            raise
        except RpcError:
            time.sleep(0.1)
    raise AssertionError("stock adjustment never answered")


# Steps whose reply is swallowed by the link after the backend applied the request: the device must retry it.
ADJUST_IN_FLIGHT = (3, 14, 31, 44, 57)
ORDER_IN_FLIGHT = (6, 24, 47)


def test_orders_and_stock_changes_survive_broker_kills_and_network_cuts(tmp_path) -> None:
    rng = random.Random(7)
    broker = MosquittoBroker(workdir=tmp_path / "broker").start()
    proxy = CuttableProxy(broker.port)
    db = Database(tmp_path / "backend.db")
    load_fixture_catalog(db)
    # Faults, not limits, are under test here: one kiosk places 60 orders in a few seconds.
    service = BackendService(db, broker.url, backend_id=unique("backend"), limits=NO_CAPS,
                             request_limits=None)
    service.start()
    device_url = replace(broker.url, port=proxy.port)  # the device reaches the broker over the flaky link
    device = MqttClient(device_url, unique("kiosk"), keepalive=2)
    device.connect()
    tool = MqttClient(device_url, unique("till"), keepalive=2)
    tool.connect()
    box = OrderOutbox(tmp_path / "device.db", "test-a", RpcClient(device, "test-a", "kiosk-rel"),
                      retry_min=0.1, retry_max=0.5, call_timeout=1.0)
    box.start()
    tool_rpc = RpcClient(tool, "test-a", "till-1")
    placed: list[str] = []
    adjustments: list[str] = []  # request ids, one per adjustment the tool meant to make
    swallowed: list[str] = []  # order and request ids whose reply the link swallowed
    expected_delta = {sku: 0 for sku in SKUS}
    faults = 0
    try:
        for step in range(60):
            order_id = new_order_id()
            if step in ORDER_IN_FLIGHT:
                proxy.drop_before(order_id.encode())  # the reply names the order: it dies on its way back
                swallowed.append(order_id)
            placed.append(box.place(PlaceOrderArgs(order_id=order_id, option_id="pickup:test-a",
                                                   lines=[LineRequest(sku="FRU-APL-GOLDEN", quantity=1)]),
                                    "s_rel").order_id)
            if step in ORDER_IN_FLIGHT:
                wait_until(lambda: not proxy.armed, 30, f"the reply to order {order_id} to be swallowed")
                faults += 1
            sku, delta = rng.choice(SKUS), rng.choice([1, 2, 3])
            request_id = new_request_id()
            if step in ADJUST_IN_FLIGHT:
                proxy.drop_before(request_id.encode())
                swallowed.append(request_id)
            result, attempts = adjust_until_answered(
                tool_rpc, {"sku": sku, "delta": delta, "location": "backroom", "reason": "delivery"},
                time.monotonic() + 30, request_id)
            adjustments.append(request_id)
            expected_delta[sku] += delta
            if step in ADJUST_IN_FLIGHT:
                # Applied, its reply lost, sent again: the backend must know the second one as the first.
                assert not proxy.armed and attempts >= 2, f"step {step}: the fault did not land in flight"
                assert result["duplicate"] is True, f"step {step}: a retried adjustment was applied again"
                faults += 1
            if step in (10, 35):
                broker.kill()  # SIGKILL: no clean shutdown
                faults += 1
                time.sleep(0.3)
                broker.start()
            if step in (20, 28, 50):
                proxy.cut()
                faults += 1
                time.sleep(0.5)
                proxy.restore()
        assert box.flush(60), f"{box.pending()} orders never confirmed"
        assert sorted(m.decode() for m in proxy.drops) == sorted(swallowed)  # every fault landed in flight
    finally:
        box.close()
        device.close()
        tool.close()
        service.stop()
        proxy.close()
        broker.close()
    try:
        rows = [r[0] for r in db.conn.execute("SELECT order_id FROM orders ORDER BY order_id")]
        assert rows == sorted(placed), "an order was lost or doubled"
        reserved = db.conn.execute("SELECT reserved FROM stock_state WHERE store = 'test-a' AND sku = 'FRU-APL-GOLDEN'")
        assert reserved.fetchone()[0] == len(placed)
        backroom = {"FRU-APL-GOLDEN": 20, "DAI-MILK-1L": 24, "DRY-PASTA-500": 10}
        for sku in SKUS:
            assert stock.level(db, "test-a", sku).backroom == backroom[sku] + expected_delta[sku], sku
        # Exactly one ledger row per adjustment, however often it was sent.
        keys = [r[0] for r in db.conn.execute("SELECT idempotency_key FROM stock_ledger WHERE device = 'till-1'")]
        assert sorted(keys) == sorted(f"till-1:{request_id}" for request_id in adjustments)
        assert stock.ledger_balances(db) == []
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert faults == 5 + len(ADJUST_IN_FLIGHT) + len(ORDER_IN_FLIGHT)
    finally:
        db.close()
    conn = sqlite3.connect(tmp_path / "device.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


DEVICE = """
import sys, time
from edge.outbox import OrderOutbox, new_order_id
from mqtt.client import MqttClient
from mqtt.commerce import LineRequest, PlaceOrderArgs
from mqtt.rpc import RpcClient
from mqtt.url import parse_broker_url
url, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = MqttClient(parse_broker_url(url), "kiosk-kill-" + str(time.monotonic_ns()))
client.connect()
box = OrderOutbox(path, "test-a", RpcClient(client, "test-a", "kiosk-kill"), retry_min=0.05, retry_max=0.2,
                  call_timeout=1.0)
box.start()
for _ in range(count):
    order_id = new_order_id()
    box.place(PlaceOrderArgs(order_id=order_id, option_id="pickup:test-a",
                             lines=[LineRequest(sku="DAI-MILK-1L", quantity=1)]), "s_kill")
    print(order_id, flush=True)
    time.sleep(0.01)
box.flush(30)
print("done", flush=True)
time.sleep(30)
"""


def test_device_sigkilled_at_random_points_while_sending(tmp_path, broker_url, db, service) -> None:
    rng = random.Random(11)
    url = f"mqtt://127.0.0.1:{broker_url.port}"
    roles.register(db, "kiosk-kill", "-", "admin")  # 24 unpaid orders: more than a kiosk may hold
    printed: list[str] = []
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", DEVICE, url, str(tmp_path / "device.db"), "4"],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.stdout is not None
        deadline = time.monotonic() + rng.uniform(0.6, 1.6)
        while time.monotonic() < deadline:
            line = proc.stdout.readline().strip()
            if line.startswith("o_"):
                printed.append(line)
            if line == "done" or not line:
                break
        proc.kill()  # at a random point: placing, sending, or waiting for a reply
        proc.wait()
        printed += [x for x in proc.stdout.read().split() if x.startswith("o_")]
    final = subprocess.run([sys.executable, "-c", DEVICE, url, str(tmp_path / "device.db"), "0"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "done" in final.stdout, final.stderr[-1500:]
    # The device's own database says what it promised: a kill may land after the commit, before the print.
    conn = sqlite3.connect(tmp_path / "device.db")
    placed = [r[0] for r in conn.execute("SELECT order_id FROM device_orders")]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert set(printed) <= set(placed) and len(placed) >= 6
    rows = [r[0] for r in db.conn.execute("SELECT order_id FROM orders WHERE device = 'kiosk-kill'")]
    assert sorted(rows) == sorted(placed) and len(set(rows)) == len(rows)
    assert stock.ledger_balances(db) == []
