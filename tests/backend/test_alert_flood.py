"""Shoppers' out-of-stock reports cannot flood staff: the attack of issue 17 replayed against a real broker.

A shopper device reported ``scan_out_of_stock`` for every product of a store and opened 116 top-priority alerts on
full shelves. Here the same flood, on the demo catalogue (126 products per store), must open at most one
low-priority "check shelf" alert per product and period, and stop at the per-device report limit.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from backend import alerts, roles
from backend.db import Database
from backend.demo import load_demo
from backend.service import BackendService
from mqtt.alerts import Alert, AlertKind, AlertState
from mqtt.payloads import ErrorCode
from mqtt.rpc import RemoteError, RpcClient
from tests.backend.test_alerts import AlertWatcher
from tests.conftest import running_service
from tests.helpers import wait_until

STORE = "sthlm-city"
STAFF = "sthlm-city-staff-1"  # registered as staff by the demo data


@pytest.fixture
def demo_service(tmp_path, broker_url, clock):
    """The demo chain served on the session's Mosquitto, with a clock the test moves."""
    db = Database(tmp_path / "demo.db")
    load_demo(db)
    for i in range(10):
        roles.register(db, f"kiosk-{i}", STORE, "kiosk")
        roles.register(db, f"phone-{i}", STORE, "phone")
        roles.register(db, f"web-{i}", STORE, "web")
    # Without the request budgets of backend/limits.py: a shopper's 40-write burst would cut the flood first, and
    # what is tested here is the alert guard itself, the one that holds at 5 writes a second for an hour.
    with running_service(db, broker_url, watch_interval=0.05, clock=clock, alert_tick=0.05,
                         request_limits=None) as svc:
        yield svc
    db.close()


def shelf_states(db: Database) -> tuple[list[str], list[str]]:
    """SKUs of the store whose shelf the backend believes full, and those it believes at or below threshold."""
    rows = db.conn.execute(
        "SELECT sp.sku, COALESCE(st.quantity, 0) > sp.reorder_threshold FROM store_products sp"
        " LEFT JOIN stock st ON st.store = sp.store AND st.sku = sp.sku AND st.location = 'shelf'"
        " WHERE sp.store = ? ORDER BY sp.sku", [STORE]).fetchall()
    return [sku for sku, full in rows if full], [sku for sku, full in rows if not full]


def alerts_of(svc: BackendService) -> list[Alert]:
    """Every alert of the store, open or closed, as the backend would publish it now."""
    ids = [r[0] for r in svc.db.conn.execute("SELECT alert_id FROM alerts WHERE store = ?", [STORE])]
    return [alerts.payload(svc.db, alert_id, svc.clock()) for alert_id in ids]


def flood(rpc: RpcClient, skus: list[str]) -> Counter[str]:
    """One shopper device reports every product empty; outcome per request."""
    outcomes: Counter[str] = Counter()
    for sku in skus:
        try:
            reply = rpc.call("alert.report", {"sku": sku, "reason": "scan_out_of_stock"})
            outcomes["created" if reply["created"] else "joined"] += 1
        except RemoteError as exc:
            outcomes[exc.code.value] += 1
    return outcomes


def test_many_shoppers_reporting_every_product_open_one_low_priority_check_per_product(
        demo_service, make_client, clock) -> None:
    db = demo_service.db
    demo_service.alert_handlers.policy = alerts.ReportPolicy(reports_per_device=1000)  # this test is about dedup
    full, low = shelf_states(db)
    assert len(full) > 100 and low  # the demo store: most shelves full, a few at their threshold
    before = {a.alert_id: a for a in alerts_of(demo_service)}
    assert {a.sku for a in before.values()} == set(low)  # threshold alerts opened at start, nothing else
    staff = AlertWatcher(make_client(), STORE)
    every = full + low
    shoppers = [RpcClient(make_client(), STORE, device) for device in ("kiosk-1", "phone-1", "web-1", "unregistered-1")]
    outcomes = sum((flood(rpc, every) for rpc in shoppers), Counter())
    assert outcomes == {"created": len(full), "joined": 4 * len(every) - len(full)}, outcomes

    after = alerts_of(demo_service)
    by_sku = Counter(a.sku for a in after)
    assert set(by_sku) == set(every) and max(by_sku.values()) == 1  # one alert per product, no more
    restock_priorities = [a.priority for a in after if a.kind == AlertKind.RESTOCK]
    for alert in after:
        if alert.sku in full:
            assert alert.kind == AlertKind.CHECK_SHELF and alert.state == AlertState.OPEN
            assert alert.priority <= alerts.CHECK_SHELF_MAX < min(restock_priorities)
        else:  # a shopper found a shelf the count calls low: the urgent alert of today, joined not repeated
            assert alert.kind == AlertKind.RESTOCK and alert.alert_id in before and alert.reason == "scan_out_of_stock"
    # staff devices see them, published once each
    assert wait_until(lambda: len(staff.alerts) == len(every), timeout=5)
    assert all(staff.alerts[a.alert_id].kind == a.kind for a in after)

    # Later in the same period: a staff member checks one shelf and dismisses; the flood goes on and opens nothing.
    sku = full[0]
    (checked,) = [a for a in after if a.sku == sku]
    RpcClient(make_client(), STORE, STAFF).call("alert.dismiss", {"alert_id": checked.alert_id,
                                                                  "reason": "shelf is full"})
    clock.now += timedelta(minutes=59)
    again = sum((flood(rpc, every) for rpc in shoppers), Counter())
    assert again == {"joined": 4 * len(every)}, again
    assert len(alerts_of(demo_service)) == len(every)
    # The next period: one new "check shelf" alert for the product, however many shoppers report it.
    clock.now += timedelta(minutes=2)
    assert sum((flood(rpc, [sku]) for rpc in shoppers), Counter()) == {"created": 1, "joined": 3}
    reopened = [a for a in alerts_of(demo_service) if a.sku == sku and a.state == AlertState.OPEN]
    assert [a.kind for a in reopened] == [AlertKind.CHECK_SHELF]


def test_one_device_flooding_reports_is_cut_off_at_its_limit(demo_service, make_client, clock) -> None:
    db = demo_service.db
    limit = alerts.ReportPolicy().reports_per_device
    full, low = shelf_states(db)
    attacker = RpcClient(make_client(), STORE, "kiosk-2")
    outcomes = flood(attacker, full + low + full)  # the attack: every product, and again
    assert outcomes["rate_limited"] == 2 * len(full) + len(low) - limit, outcomes
    assert outcomes["created"] + outcomes["joined"] == limit
    assert sum(1 for a in alerts_of(demo_service) if a.kind == AlertKind.CHECK_SHELF) <= limit
    with pytest.raises(RemoteError) as err:
        attacker.call("alert.report", {"sku": full[-1], "reason": "scan_out_of_stock"})
    assert err.value.code == ErrorCode.RATE_LIMITED
    assert f"at most {limit} shelf reports per device per 1 h" in err.value.message
    assert "try again in 60 min" in err.value.message

    # Other shoppers and staff are not limited by it; staff reports keep their urgent behaviour.
    assert RpcClient(make_client(), STORE, "phone-3").call("alert.report", {"sku": full[-1],
                                                                            "reason": "scan_out_of_stock"})
    staff = RpcClient(make_client(), STORE, STAFF)
    for sku in full[:limit + 5]:
        staff.call("alert.report", {"sku": sku, "reason": "staff_report"})
    urgent = [a for a in alerts_of(demo_service) if a.sku in full[:limit + 5]]
    assert all(a.kind == AlertKind.RESTOCK and a.reason == "staff_report" for a in urgent)

    # The limit is a sliding window on the backend's clock, and it holds across connections to the database.
    clock.now += timedelta(minutes=59)
    other = Database(db.path)
    with pytest.raises(alerts.AlertError) as limited:
        alerts.count_report(other, STORE, full[0], "kiosk-2", clock.now, alerts.ReportPolicy())
    other.close()
    assert limited.value.code == ErrorCode.RATE_LIMITED
    clock.now += timedelta(minutes=1, seconds=1)
    assert attacker.call("alert.report", {"sku": full[-1], "reason": "scan_out_of_stock"})


def test_a_check_shelf_alert_becomes_a_restock_alert_when_the_count_agrees(demo_service, make_client) -> None:
    db = demo_service.db
    full, _ = shelf_states(db)
    sku = full[0]
    staff = AlertWatcher(make_client(), STORE)
    opened = RpcClient(make_client(), STORE, "phone-4").call("alert.report", {"sku": sku,
                                                                              "reason": "scan_out_of_stock"})
    assert opened["created"]
    assert wait_until(lambda: opened["alert_id"] in staff.alerts)
    assert staff.alerts[opened["alert_id"]].kind == AlertKind.CHECK_SHELF
    shelf = alerts.payload(db, opened["alert_id"], demo_service.clock()).shelf
    threshold = alerts.payload(db, opened["alert_id"], demo_service.clock()).threshold
    till = RpcClient(make_client(), STORE, "admin-cli")
    till.call("stock.adjust", {"sku": sku, "delta": threshold - shelf, "reason": "sold"})
    assert wait_until(lambda: staff.alerts[opened["alert_id"]].kind == AlertKind.RESTOCK, timeout=2)
    upgraded = staff.alerts[opened["alert_id"]]
    assert upgraded.reason == "threshold" and upgraded.priority > alerts.CHECK_SHELF_MAX
    assert alerts.sweep(db, demo_service.clock()) == []  # still one live alert for the product
