"""Staff alert actions taken offline are kept on disk and reach the backend in order once the device is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import alerts, stock
from backend.db import Database
from backend.service import BackendService
from edge.staff_actions import ActionOutcome, StaffActionError, StaffActionQueue
from mqtt.brokers import free_port
from mqtt.client import MqttClient
from mqtt.payloads import utcnow
from mqtt.rpc import RpcClient
from mqtt.url import BrokerUrl
from tests.conftest import clear_retained, load_fixture_catalog, unique

SKU = "DRY-PASTA-500"  # 0 on the shelf, 10 in the backroom of test-a: its alert is open from the start


@pytest.fixture
def backend(broker_url: BrokerUrl, db_path: Path) -> Iterator[Database]:
    clear_retained(broker_url)
    db = Database(db_path)
    load_fixture_catalog(db)
    service = BackendService(db, broker_url, backend_id=unique("backend"))
    service.start()
    yield db
    service.stop()
    db.close()


def open_alert_for(db: Database, sku: str) -> str:
    (alert_id,) = [a for s, a in alerts.live(db) if s == "test-a" and alerts.payload(db, a, utcnow()).sku == sku]
    return alert_id


def test_actions_taken_offline_survive_a_restart_and_arrive_in_order(backend: Database, tmp_path: Path,
                                                                    make_client) -> None:
    alert_id = open_alert_for(backend, SKU)
    nowhere = MqttClient(BrokerUrl(host="127.0.0.1", port=free_port()), unique("staff"))  # no broker there
    queue = StaffActionQueue(tmp_path / "staff.db", RpcClient(nowhere, "test-a", "staff-1"),
                             lambda: nowhere.connected, retry=0.05)
    queue.start()
    queue.submit("alert.claim", {"alert_id": alert_id})
    queue.submit("alert.resolve", {"alert_id": alert_id, "quantity": 4})
    time.sleep(0.5)
    assert [op for _, op, _ in queue.pending()] == ["alert.claim", "alert.resolve"]
    assert alerts.payload(backend, alert_id, utcnow()).state == "open"
    queue.close()  # the phone is switched off while still offline

    client = make_client()
    outcomes: list[ActionOutcome] = []
    queue = StaffActionQueue(tmp_path / "staff.db", RpcClient(client, "test-a", "staff-1"), lambda: client.connected,
                             retry=0.05)
    queue.listeners.append(outcomes.append)
    queue.start()
    try:
        assert queue.flush(10)
        assert [(o.op, o.ok) for o in outcomes] == [("alert.claim", True), ("alert.resolve", True)]
        assert outcomes[1].result is not None and outcomes[1].result["alert"]["state"] == "resolved"
        assert stock.level(backend, "test-a", SKU).shelf == 4
        # The reply to the resolve got lost and it is sent again: the units moved once.
        again = RpcClient(client, "test-a", "staff-1").call("alert.resolve", {"alert_id": alert_id, "quantity": 4})
        assert again["alert"]["state"] == "resolved" and stock.level(backend, "test-a", SKU).shelf == 4
    finally:
        queue.close()


def test_a_refused_action_is_reported_and_the_rest_still_goes(backend: Database, tmp_path: Path, make_client) -> None:
    alert_id = open_alert_for(backend, SKU)
    other = alerts.open_alert(backend, "test-a", "DAI-MILK-1L", alerts.AlertReason.STAFF_REPORT, "staff-2",
                              utcnow())[0]
    RpcClient(make_client(), "test-a", "staff-2").call("alert.claim", {"alert_id": alert_id})  # a colleague was first
    client = make_client()
    outcomes: list[ActionOutcome] = []
    queue = StaffActionQueue(tmp_path / "staff.db", RpcClient(client, "test-a", "staff-1"), lambda: client.connected,
                             retry=0.05)
    queue.listeners.append(outcomes.append)
    queue.submit("alert.claim", {"alert_id": alert_id})
    queue.submit("alert.dismiss", {"alert_id": other, "reason": "shelf was full after all"})
    queue.start()
    try:
        assert queue.flush(10)
        assert [(o.op, o.ok, o.error_code) for o in outcomes] == [("alert.claim", False, "conflict"),
                                                                   ("alert.dismiss", True, None)]
        assert "staff-2" in (outcomes[0].error or "")
    finally:
        queue.close()


def test_only_alert_actions_are_queued(tmp_path: Path) -> None:
    nowhere = MqttClient(BrokerUrl(host="127.0.0.1", port=free_port()), unique("staff"))
    queue = StaffActionQueue(tmp_path / "staff.db", RpcClient(nowhere, "test-a", "staff-1"), lambda: False)
    with pytest.raises(StaffActionError):
        queue.submit("stock.adjust", {"sku": SKU, "delta": 5})
    assert queue.pending() == []
    queue.close()
