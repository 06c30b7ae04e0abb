"""Restock alerts against a real broker, with a clock the test controls."""

import time
from datetime import timedelta

import pytest

from backend import alerts, stock
from backend.db import Database
from backend.service import BackendService
from mqtt import topics
from mqtt.alerts import Alert
from mqtt.mirror import StoreMirror
from mqtt.payloads import ErrorCode, decode, utcnow
from mqtt.rpc import RemoteError, RpcClient
from tests.conftest import clear_retained, load_fixture_catalog, running_service, unique
from tests.helpers import race, wait_until


@pytest.fixture
def alert_service(db, broker_url, clock):
    with running_service(db, broker_url, watch_interval=0.05, clock=clock, escalate_after=timedelta(minutes=10),
                         alert_tick=0.05) as svc:
        yield svc


class AlertWatcher:
    """A staff device's view of the retained alerts of one store."""

    def __init__(self, client, store: str) -> None:
        self.alerts: dict[str, Alert] = {}
        client.subscribe(topics.alerts_filter(store), self._on)

    def _on(self, message) -> None:
        if message.payload:
            alert = decode(Alert, message.payload)
            self.alerts[alert.alert_id] = alert

    def for_sku(self, sku: str) -> list[Alert]:
        return [a for a in self.alerts.values() if a.sku == sku]


def test_threshold_crossing_reaches_a_staff_device_within_a_second(alert_service, make_client) -> None:
    staff = AlertWatcher(make_client(), "test-a")
    tool = RpcClient(make_client(), "test-a", "till-1")
    # DAI-MILK-1L: 12 on the shelf, threshold 6
    tool.call("stock.adjust", {"sku": "DAI-MILK-1L", "delta": -5, "reason": "sold"})
    time.sleep(0.2)
    assert not staff.for_sku("DAI-MILK-1L")  # 7 > 6: no alert yet
    started = time.monotonic()
    tool.call("stock.adjust", {"sku": "DAI-MILK-1L", "delta": -1, "reason": "sold"})
    assert wait_until(lambda: staff.for_sku("DAI-MILK-1L"), timeout=1.0)
    assert time.monotonic() - started < 1.0
    (alert,) = staff.for_sku("DAI-MILK-1L")
    assert alert.state == "open" and alert.reason == "threshold" and alert.shelf == 6 and alert.backroom == 24
    assert alert.restock_now and alert.threshold == 6
    tool.call("stock.adjust", {"sku": "DAI-MILK-1L", "delta": -1, "reason": "sold"})
    tool.call("alert.report", {"sku": "DAI-MILK-1L", "reason": "scan_out_of_stock"})
    time.sleep(0.2)
    assert len(staff.for_sku("DAI-MILK-1L")) == 1  # at most one live alert per product and location


def test_shelves_already_at_their_threshold_get_alerts_at_start(alert_service, make_client) -> None:
    staff = AlertWatcher(make_client(), "test-a")
    # DRY-PASTA-500 was imported with 0 on the shelf (threshold 4): it never crossed the threshold here.
    assert wait_until(lambda: staff.for_sku("DRY-PASTA-500"), timeout=2.0)
    (alert,) = staff.for_sku("DRY-PASTA-500")
    assert alert.reason == "threshold" and alert.shelf == 0 and alert.backroom == 10
    assert not staff.for_sku("FRU-APL-GOLDEN")  # 40 on the shelf
    assert alerts.sweep(alert_service.db, utcnow()) == []  # at most one live alert


def test_a_dismissed_alert_stays_dismissed_until_the_shelf_changes(alert_service, make_client) -> None:
    db = alert_service.db
    (alert_id,) = [a for s, a in alerts.live(db) if s == "test-a"
                   and alerts.payload(db, a, utcnow()).sku == "DRY-PASTA-500"]
    alerts.dismiss(db, "test-a", alert_id, "staff-0", "delisted next week", utcnow())
    assert alerts.sweep(db, utcnow()) == []  # e.g. the backend restarts
    stock.adjust(db, "test-a", "DRY-PASTA-500", "shelf", 1, "found one", device="staff-0")
    stock.adjust(db, "test-a", "DRY-PASTA-500", "shelf", -1, "sold", device="till-1")
    (reopened,) = alerts.sweep(db, utcnow())
    assert reopened != alert_id


def test_shopper_scan_and_staff_report_open_alerts(alert_service, make_client) -> None:
    kiosk = RpcClient(make_client(), "test-a", "kiosk-1")
    staff = AlertWatcher(make_client(), "test-a")
    assert wait_until(lambda: staff.for_sku("DRY-PASTA-500"), timeout=2.0)  # opened at start: shelf 0
    (before,) = staff.for_sku("DRY-PASTA-500")
    first = kiosk.call("alert.report", {"sku": "DRY-PASTA-500", "reason": "scan_out_of_stock"})
    again = kiosk.call("alert.report", {"sku": "DRY-PASTA-500", "reason": "scan_out_of_stock"})
    assert not first["created"] and first["alert_id"] == again["alert_id"] == before.alert_id
    # the shopper's scan makes the live alert urgent, and staff devices see it
    assert wait_until(lambda: [a.reason for a in staff.for_sku("DRY-PASTA-500")] == ["scan_out_of_stock"], 2.0)
    alert = alerts.payload(alert_service.db, first["alert_id"], utcnow())
    assert alert.priority >= 70 and alert.priority > before.priority  # scan of an empty shelf: urgent
    # DAI-MILK-1L counts 12 on the shelf (threshold 6): one shopper's word only asks staff to check the shelf
    fresh = kiosk.call("alert.report", {"sku": "DAI-MILK-1L", "reason": "scan_out_of_stock"})
    assert fresh["created"]
    assert wait_until(lambda: [a.kind for a in staff.for_sku("DAI-MILK-1L")] == ["check_shelf"], 2.0)
    assert staff.for_sku("DAI-MILK-1L")[0].priority <= alerts.CHECK_SHELF_MAX < alert.priority
    with pytest.raises(RemoteError) as err:
        kiosk.call("alert.report", {"sku": "NOPE-1", "reason": "scan_out_of_stock"})
    assert err.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(RemoteError) as err:  # only staff say what a shelf looks like
        kiosk.call("alert.report", {"sku": "DRY-PASTA-500", "reason": "staff_report"})
    assert err.value.code == ErrorCode.FORBIDDEN


def test_concurrent_claims_have_one_winner(alert_service, make_client, db_path) -> None:
    alert_id, _ = alerts.open_alert(alert_service.db, "test-a", "FRU-APL-GOLDEN", alerts.AlertReason.STAFF_REPORT,
                                    "staff-0", utcnow())
    staff = [RpcClient(make_client(), "test-a", f"staff-{i}") for i in range(4)]
    futures = [s.call_async("alert.claim", {"alert_id": alert_id}) for s in staff]
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(5)["alert"]["claimed_by"])
        except RemoteError as exc:
            outcomes.append(exc.code.value)
    assert sorted(outcomes)[:3] == ["conflict"] * 3 and outcomes.count("conflict") == 3
    # and at database level, with separate connections racing
    alert_id2, _ = alerts.open_alert(alert_service.db, "test-a", "DRY-PASTA-500", alerts.AlertReason.STAFF_REPORT,
                                     "staff-0", utcnow())
    connections = [Database(db_path) for _ in range(4)]

    def claim(i: int) -> str:
        try:
            alerts.claim(connections[i], "test-a", alert_id2, f"staff-{i}", utcnow())
        except alerts.AlertError:
            return "lost"
        return "won"

    assert race(4, claim) == ["lost", "lost", "lost", "won"]
    for c in connections:
        c.close()


def test_unclaimed_alert_escalates_on_time(alert_service, make_client, clock) -> None:
    staff = AlertWatcher(make_client(), "test-a")
    alert_id, _ = alerts.open_alert(alert_service.db, "test-a", "FRU-APL-GOLDEN", alerts.AlertReason.STAFF_REPORT,
                                    "staff-0", clock.now)
    alert_service.publish_alert(alert_id)
    assert wait_until(lambda: alert_id in staff.alerts)
    before = staff.alerts[alert_id]
    clock.now += timedelta(minutes=9, seconds=59)
    time.sleep(0.3)
    assert not staff.alerts[alert_id].escalated
    clock.now += timedelta(seconds=1)
    assert wait_until(lambda: staff.alerts[alert_id].escalated, timeout=2)
    assert staff.alerts[alert_id].priority > before.priority


def test_resolving_moves_stock_updates_every_device_and_closes(alert_service, make_client) -> None:
    shopper = StoreMirror(make_client(), "test-a")
    staff_view = AlertWatcher(make_client(), "test-a")
    staff = RpcClient(make_client(), "test-a", "staff-1")
    other = RpcClient(make_client(), "test-a", "staff-2")
    alert_id = staff.call("alert.report", {"sku": "DRY-PASTA-500", "reason": "staff_report"})["alert_id"]
    staff.call("alert.claim", {"alert_id": alert_id})
    with pytest.raises(RemoteError) as err:
        other.call("alert.resolve", {"alert_id": alert_id, "quantity": 1})
    assert err.value.code == ErrorCode.CONFLICT and "staff-1" in err.value.message
    with pytest.raises(RemoteError):
        staff.call("alert.resolve", {"alert_id": alert_id, "quantity": 11})  # backroom holds 10
    done = staff.call("alert.resolve", {"alert_id": alert_id, "quantity": 8})["alert"]
    assert done["state"] == "resolved" and done["resolved_quantity"] == 8
    assert wait_until(lambda: shopper.stock.get("test-a", "DRY-PASTA-500").shelf == 8)
    assert shopper.stock.get("test-a", "DRY-PASTA-500").backroom == 2
    assert wait_until(lambda: staff_view.alerts.get(alert_id) and staff_view.alerts[alert_id].state == "resolved")
    assert stock.ledger_balances(alert_service.db) == []


def test_dismiss_needs_a_reason_and_closes(alert_service, make_client) -> None:
    staff = RpcClient(make_client(), "test-a", "staff-1")
    alert_id = staff.call("alert.report", {"sku": "FRU-APL-GOLDEN", "reason": "staff_report"})["alert_id"]
    with pytest.raises(RemoteError) as err:
        staff.call("alert.dismiss", {"alert_id": alert_id, "reason": ""})
    assert err.value.code == ErrorCode.BAD_REQUEST
    closed = staff.call("alert.dismiss", {"alert_id": alert_id, "reason": "delisted product"})["alert"]
    assert closed["state"] == "dismissed" and closed["dismiss_reason"] == "delisted product"
    with pytest.raises(RemoteError):
        staff.call("alert.claim", {"alert_id": alert_id})


def test_backend_restart_loses_no_alert(tmp_path, broker_url, make_client, clock) -> None:
    clear_retained(broker_url)
    path = tmp_path / "alerts.db"
    db = Database(path)
    load_fixture_catalog(db)
    svc = BackendService(db, broker_url, backend_id=unique("backend"), clock=clock)
    svc.start()
    staff = RpcClient(make_client(), "test-a", "staff-1")
    opened = {staff.call("alert.report", {"sku": sku, "reason": "staff_report"})["alert_id"]
              for sku in ("FRU-APL-GOLDEN", "DAI-MILK-1L")}
    claimed = sorted(opened)[0]
    staff.call("alert.claim", {"alert_id": claimed})
    live = {alert_id for store_id, alert_id in alerts.live(db) if store_id == "test-a"}
    assert opened < live and len(live) == 3  # and DRY-PASTA-500's, opened at start (0 on the shelf)
    svc.stop()
    db.close()
    clear_retained(broker_url)  # even if the broker lost its retained messages too

    db = Database(path)
    svc = BackendService(db, broker_url, backend_id=unique("backend"), clock=clock)
    svc.start()
    try:
        view = AlertWatcher(make_client(), "test-a")
        assert wait_until(lambda: set(view.alerts) == live)
        assert view.alerts[claimed].state == "claimed" and view.alerts[claimed].claimed_by == "staff-1"
        staff.call("alert.resolve", {"alert_id": claimed, "quantity": 1})
    finally:
        svc.stop()
        db.close()


def test_priority_grows_with_sales_speed_and_waiting() -> None:
    from mqtt.alerts import AlertKind, AlertReason

    slow = alerts.priority(AlertReason.THRESHOLD, 3, 0.5, timedelta(0), False)
    fast = alerts.priority(AlertReason.THRESHOLD, 3, 6.0, timedelta(0), False)
    waited = alerts.priority(AlertReason.THRESHOLD, 3, 0.5, timedelta(hours=1), False)
    assert slow < fast and slow < waited
    assert alerts.priority(AlertReason.SCAN_OUT_OF_STOCK, 0, 50, timedelta(days=1), True) == 100
    # a "check shelf" alert never outranks the least urgent restock alert, however long it waits
    check = alerts.priority(AlertReason.SCAN_OUT_OF_STOCK, 40, 50, timedelta(days=1), True, AlertKind.CHECK_SHELF)
    assert check == alerts.CHECK_SHELF_MAX < alerts.priority(AlertReason.THRESHOLD, 40, 0, timedelta(0), False)


def test_report_prints_times_per_day_and_category_and_writes_a_chart(tmp_path, db) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    t0 = utcnow() - timedelta(days=2)
    for i, sku in enumerate(["FRU-APL-GOLDEN", "DAI-MILK-1L", "DRY-PASTA-500"]):
        opened = t0 + timedelta(hours=i)
        alert_id, _ = alerts.open_alert(db, "test-a", sku, alerts.AlertReason.THRESHOLD, "backend", opened)
        alerts.claim(db, "test-a", alert_id, "staff-1", opened + timedelta(minutes=4 + i))
        if i < 2:
            alerts.resolve(db, "test-a", alert_id, "staff-1", 1, opened + timedelta(minutes=20))
    db.close()
    chart = tmp_path / "report.png"
    result = subprocess.run([sys.executable, "-m", "backend", "report", "alerts", "--db", str(tmp_path / "backend.db"),
                             "--days", "7", "--chart", str(chart)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Per day" in result.stdout and "Per category" in result.stdout
    dairy = next(line for line in result.stdout.splitlines() if line.startswith("dairy"))
    assert dairy.split() == ["dairy", "1", "1", "5.0", "1", "20.0"]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
