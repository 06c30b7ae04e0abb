"""Restock alerts: opened by rules, claimed by one staff member, resolved through the stock ledger."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from backend import stock
from backend.db import Database
from mqtt.alerts import Alert, AlertKind, AlertReason, AlertState
from mqtt.payloads import ErrorCode
from mqtt.rpc import OpError

DEFAULT_ESCALATE_AFTER = timedelta(minutes=10)
VELOCITY_DAYS = 7
BASE_PRIORITY = {AlertReason.THRESHOLD: 30, AlertReason.STAFF_REPORT: 40, AlertReason.SCAN_OUT_OF_STOCK: 50,
                 AlertReason.SCAN_EXPIRED_BATCH: 60}
LIVE = (AlertState.OPEN.value, AlertState.CLAIMED.value)
# A "check shelf" alert stays below every restock alert (the least urgent of which starts at 30).
CHECK_SHELF_BASE = 10
CHECK_SHELF_MAX = 25


@dataclass(frozen=True)
class ReportPolicy:
    """How much shoppers' out-of-stock reports may ask of staff."""

    check_shelf_period: timedelta = timedelta(hours=1)  # at most one "check shelf" alert per product and period
    reports_per_device: int = 30  # a busy kiosk's honest reports fit; a flood does not
    report_window: timedelta = timedelta(hours=1)


class AlertError(OpError):
    """An alert operation cannot be done; ``code`` says why in protocol terms (a device is answered with it)."""


def _shelf_backroom_threshold(db: Database, store_id: str, sku: str) -> tuple[int, int, int]:
    quantities = dict(db.conn.execute("SELECT location, quantity FROM stock WHERE store = ? AND sku = ?",
                                         [store_id, sku]).fetchall())
    row = db.conn.execute("SELECT reorder_threshold FROM store_products WHERE store = ? AND sku = ?",
                             [store_id, sku]).fetchone()
    return quantities.get("shelf", 0), quantities.get("backroom", 0), row[0] if row else 0


def velocity(db: Database, store_id: str, sku: str, now: datetime, days: int = VELOCITY_DAYS) -> float:
    """Units taken off the shelf per day over the last ``days`` days, from the stock ledger."""
    since = (now - timedelta(days=days)).isoformat()
    row = db.conn.execute(
        "SELECT coalesce(-sum(delta), 0) FROM stock_ledger WHERE store = ? AND sku = ? AND location = 'shelf'"
        " AND delta < 0 AND reason NOT IN ('import', 'restock') AND created_at >= ?", [store_id, sku, since]
    ).fetchone()
    return float(row[0]) / days


def priority(reason: AlertReason, shelf: int, units_per_day: float, waited: timedelta, escalated: bool,
             kind: AlertKind = AlertKind.RESTOCK) -> int:
    """Urgency 0-100: what opened it, an empty shelf, how fast it sells, how long it has waited."""
    if kind == AlertKind.CHECK_SHELF:
        # Nobody has seen the shelf empty but one shopper: waiting raises it a little, never above a restock.
        score = CHECK_SHELF_BASE + min(10, int(waited.total_seconds() // 360)) + (5 if escalated else 0)
        return max(0, min(CHECK_SHELF_MAX, score))
    score = BASE_PRIORITY[reason]
    if kind == AlertKind.REMOVE_BATCH:
        # Expired goods must leave the shelf whatever its stock or sales: only waiting makes it more urgent.
        return max(0, min(100, score + min(20, int(waited.total_seconds() // 180)) + (10 if escalated else 0)))
    score += 20 if shelf == 0 else 0
    score += min(30, int(units_per_day * 5))
    score += min(20, int(waited.total_seconds() // 180))
    score += 10 if escalated else 0
    return max(0, min(100, score))


def _live_alert(db: Database, store_id: str, sku: str, location: str) -> tuple[str, AlertReason, AlertKind] | None:
    # A batch to remove is a task of its own beside the shelf's restock alert.
    row = db.conn.execute("SELECT alert_id, reason, kind FROM alerts WHERE store = ? AND sku = ? AND location = ?"
                             " AND batch IS NULL AND state IN (?, ?)", [store_id, sku, location, *LIVE]).fetchone()
    return (row[0], AlertReason(row[1]), AlertKind(row[2])) if row else None


def _require_sold(db: Database, store_id: str, sku: str) -> None:
    if db.conn.execute("SELECT 1 FROM store_products WHERE store = ? AND sku = ?",
                          [store_id, sku]).fetchone() is None:
        raise AlertError(ErrorCode.NOT_FOUND, f"{sku} is not sold at {store_id}")


def _insert(db: Database, store_id: str, sku: str, location: str, reason: AlertReason, kind: AlertKind,
            device: str, now: datetime, batch: str | None = None, expiry: date | None = None) -> str:
    alert_id = "a_" + secrets.token_urlsafe(12)
    db.conn.execute(
        "INSERT INTO alerts (alert_id, store, sku, location, state, reason, kind, opened_by, opened_at, updated_at,"
        " batch, expiry) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
        [alert_id, store_id, sku, location, reason.value, kind.value, device, now.isoformat(), now.isoformat(), batch,
         expiry.isoformat() if expiry else None])
    return alert_id


def batch_report(db: Database, store_id: str, sku: str, batch: str, expiry: date, device: str,
                 now: datetime) -> tuple[str, bool]:
    """A scan found an expired batch: open a "remove batch" alert unless one is live for it; (alert id, opened)."""
    with db.transaction():
        _require_sold(db, store_id, sku)
        row = db.conn.execute("SELECT alert_id FROM alerts WHERE store = ? AND sku = ? AND location = 'shelf'"
                                 " AND batch = ? AND state IN (?, ?)", [store_id, sku, batch, *LIVE]).fetchone()
        if row is not None:
            return row[0], False
        return _insert(db, store_id, sku, "shelf", AlertReason.SCAN_EXPIRED_BATCH, AlertKind.REMOVE_BATCH, device,
                       now, batch, expiry), True


def _open_in_transaction(db: Database, store_id: str, sku: str, reason: AlertReason, device: str, now: datetime,
                         location: str) -> tuple[str, bool, bool]:
    """(alert id, newly opened, live alert changed); the caller holds the transaction."""
    _require_sold(db, store_id, sku)
    live = _live_alert(db, store_id, sku, location)
    if live is None:
        return _insert(db, store_id, sku, location, reason, AlertKind.RESTOCK, device, now), True, False
    existing, current, kind = live
    # A "check shelf" alert becomes a restock alert once the count or staff agree the shelf is low.
    if kind == AlertKind.CHECK_SHELF or BASE_PRIORITY[reason] > BASE_PRIORITY[current]:
        db.conn.execute("UPDATE alerts SET reason = ?, kind = ?, seq = seq + 1, updated_at = ? WHERE alert_id = ?",
                           [reason.value, AlertKind.RESTOCK.value, now.isoformat(), existing])
        return existing, False, True
    return existing, False, False


def open_alert(db: Database, store_id: str, sku: str, reason: AlertReason, device: str, now: datetime,
               location: str = "shelf") -> tuple[str, bool]:
    """Open an alert unless one is live for this product and location; returns (alert id, newly opened).

    A live alert takes on a more urgent reason (a shopper found the shelf empty) with a new seq.
    """
    with db.transaction():
        alert_id, created, _ = _open_in_transaction(db, store_id, sku, reason, device, now, location)
    return alert_id, created


def count_report(db: Database, store_id: str, sku: str, device: str, now: datetime, policy: ReportPolicy) -> None:
    """Count one shopper report against the device's budget; raises AlertError(RATE_LIMITED) over it."""
    since = (now - policy.report_window).isoformat()
    with db.transaction():
        # Rows older than the window count for nothing: keep the table the size of one window.
        db.conn.execute("DELETE FROM alert_reports WHERE created_at < ?", [since])
        rows = db.conn.execute("SELECT created_at FROM alert_reports WHERE device = ? ORDER BY created_at",
                                  [device]).fetchall()
        if len(rows) >= policy.reports_per_device:
            # The oldest report that must leave the window before another fits.
            free_at = datetime.fromisoformat(rows[len(rows) - policy.reports_per_device][0]) + policy.report_window
            minutes = max(1, -int(-(free_at - now).total_seconds() // 60))
            raise AlertError(ErrorCode.RATE_LIMITED,
                             f"at most {policy.reports_per_device} shelf reports per device per"
                             f" {_span(policy.report_window)}; try again in {minutes} min")
        db.conn.execute("INSERT INTO alert_reports (device, store, sku, created_at) VALUES (?, ?, ?, ?)",
                           [device, store_id, sku, now.isoformat()])


def _span(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def shopper_report(db: Database, store_id: str, sku: str, device: str, now: datetime,
                   policy: ReportPolicy) -> tuple[str, bool, bool]:
    """A shopper's scan says the shelf is empty; returns (alert id, newly opened, live alert changed).

    On a shelf the stock count calls low this is today's urgent alert (joined when one is live). On a shelf it calls
    full, one shopper's word opens at most one low-priority "check shelf" alert per product and period, and never
    raises a live alert's urgency: anyone can send this, so it must not be able to flood staff.
    """
    with db.transaction():
        _require_sold(db, store_id, sku)
        shelf, _, threshold = _shelf_backroom_threshold(db, store_id, sku)
        if shelf <= threshold:
            return _open_in_transaction(db, store_id, sku, AlertReason.SCAN_OUT_OF_STOCK, device, now, "shelf")
        live = _live_alert(db, store_id, sku, "shelf")
        if live is not None:
            return live[0], False, False
        recent = db.conn.execute(
            "SELECT alert_id FROM alerts WHERE store = ? AND sku = ? AND location = 'shelf' AND kind = ?"
            " AND opened_at > ? ORDER BY opened_at DESC LIMIT 1",
            [store_id, sku, AlertKind.CHECK_SHELF.value, (now - policy.check_shelf_period).isoformat()]).fetchone()
        if recent is not None:
            return recent[0], False, False
        alert_id = _insert(db, store_id, sku, "shelf", AlertReason.SCAN_OUT_OF_STOCK, AlertKind.CHECK_SHELF,
                           device, now)
    return alert_id, True, False


def evaluate(db: Database, store_id: str, sku: str, now: datetime) -> str | None:
    """Open a threshold alert when the shelf fell to its reorder threshold; returns the id of a new or changed alert.

    A live "check shelf" alert becomes a threshold alert then: the count now agrees with the shopper.
    """
    with db.lock:
        shelf, _, threshold = _shelf_backroom_threshold(db, store_id, sku)
        is_shop = db.conn.execute("SELECT kind FROM stores WHERE id = ?", [store_id]).fetchone()
    if is_shop is None or is_shop[0] != "store" or shelf > threshold:
        return None
    with db.transaction():
        alert_id, created, changed = _open_in_transaction(db, store_id, sku, AlertReason.THRESHOLD, "backend", now,
                                                          "shelf")
    return alert_id if created or changed else None


def sweep(db: Database, now: datetime) -> list[str]:
    """Open threshold alerts for shop products already at their threshold (at start, after an import); new ids.

    A product whose alert was dismissed or resolved is left alone until its shelf stock changes again, so a
    dismissal survives restarts. A live "check shelf" alert of a low shelf becomes a threshold alert.
    """
    with db.lock:
        rows = db.conn.execute(
            "SELECT sp.store, sp.sku FROM store_products sp JOIN stores s ON s.id = sp.store"
            " LEFT JOIN stock st ON st.store = sp.store AND st.sku = sp.sku AND st.location = 'shelf'"
            " WHERE s.kind = 'store' AND COALESCE(st.quantity, 0) <= sp.reorder_threshold"
            " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.store = sp.store AND a.sku = sp.sku"
            "  AND a.location = 'shelf' AND a.kind = 'restock' AND (a.state IN (?, ?) OR a.updated_at >= COALESCE(("
            "   SELECT MAX(l.created_at) FROM stock_ledger l WHERE l.store = sp.store AND l.sku = sp.sku"
            "   AND l.location = 'shelf'), '')))"
            " ORDER BY sp.store, sp.sku", LIVE).fetchall()
    opened = []
    for store_id, sku in rows:
        alert_id, created = open_alert(db, store_id, sku, AlertReason.THRESHOLD, "backend", now)
        if created:
            opened.append(alert_id)
    return opened


def _row(db: Database, store_id: str, alert_id: str) -> tuple:
    row = db.conn.execute("SELECT state, claimed_by, sku FROM alerts WHERE alert_id = ? AND store = ?",
                             [alert_id, store_id]).fetchone()
    if row is None:
        raise AlertError(ErrorCode.NOT_FOUND, "no such alert in this store")
    return row


def _closed_by(db: Database, alert_id: str) -> str | None:
    row = db.conn.execute("SELECT closed_by FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
    return row[0] if row else None


def claim(db: Database, store_id: str, alert_id: str, device: str, now: datetime) -> None:
    """Take the alert on; of two simultaneous claims exactly one wins."""
    with db.transaction():
        cursor = db.conn.execute(
            "UPDATE alerts SET state = 'claimed', claimed_by = ?, claimed_at = ?, seq = seq + 1, updated_at = ?"
            " WHERE alert_id = ? AND store = ? AND state = 'open'",
            [device, now.isoformat(), now.isoformat(), alert_id, store_id])
        if cursor.rowcount == 1:
            return
        state, claimed_by, _ = _row(db, store_id, alert_id)
    if state == AlertState.CLAIMED and claimed_by == device:
        return  # a resent claim from the same device
    who = f" by {claimed_by}" if claimed_by else ""
    raise AlertError(ErrorCode.CONFLICT, f"this alert is already {state}{who}")


def resolve(db: Database, store_id: str, alert_id: str, device: str, quantity: int, now: datetime) -> bool:
    """Close the alert, moving ``quantity`` units from backroom to shelf through the ledger; True if stock moved."""
    with db.transaction():
        state, claimed_by, sku = _row(db, store_id, alert_id)
        if state == AlertState.RESOLVED and _closed_by(db, alert_id) == device:
            return False  # a resent resolve (its reply was lost): the ledger moved the units once
        if state in (AlertState.RESOLVED, AlertState.DISMISSED):
            raise AlertError(ErrorCode.CONFLICT, f"this alert is already {state}")
        if state == AlertState.CLAIMED and claimed_by != device:
            raise AlertError(ErrorCode.CONFLICT, f"this alert is claimed by {claimed_by}")
        if quantity and db.conn.execute("SELECT batch FROM alerts WHERE alert_id = ?",
                                        [alert_id]).fetchone()[0] is not None:
            # Taking an expired batch away refills nothing: units moved here would be fresh stock, not this task.
            raise AlertError(ErrorCode.BAD_REQUEST, "a batch removal is resolved with quantity 0")
        if quantity:
            _, backroom, _ = _shelf_backroom_threshold(db, store_id, sku)
            if quantity > backroom:
                raise AlertError(ErrorCode.CONFLICT, f"only {backroom} in the backroom")
            for location, delta in (("backroom", -quantity), ("shelf", quantity)):
                stock.apply_in_transaction(db, store_id, sku, location, delta, "restock", device,
                                           f"{alert_id}:resolve:{location}", now)
        db.conn.execute(
            "UPDATE alerts SET state = 'resolved', closed_by = ?, closed_at = ?, resolved_quantity = ?,"
            " claimed_by = coalesce(claimed_by, ?), claimed_at = coalesce(claimed_at, ?), seq = seq + 1,"
            " updated_at = ? WHERE alert_id = ?",
            [device, now.isoformat(), quantity, device, now.isoformat(), now.isoformat(), alert_id])
    return quantity > 0


def dismiss(db: Database, store_id: str, alert_id: str, device: str, reason: str, now: datetime) -> None:
    """Close the alert without restocking."""
    with db.transaction():
        state, _, _ = _row(db, store_id, alert_id)
        if state == AlertState.DISMISSED and _closed_by(db, alert_id) == device:
            return  # a resent dismissal
        if state in (AlertState.RESOLVED, AlertState.DISMISSED):
            raise AlertError(ErrorCode.CONFLICT, f"this alert is already {state}")
        db.conn.execute(
            "UPDATE alerts SET state = 'dismissed', closed_by = ?, closed_at = ?, dismiss_reason = ?, seq = seq + 1,"
            " updated_at = ? WHERE alert_id = ?", [device, now.isoformat(), reason, now.isoformat(), alert_id])


def escalate_due(db: Database, now: datetime, after: timedelta = DEFAULT_ESCALATE_AFTER) -> list[str]:
    """Escalate open alerts nobody claimed for ``after``; returns their ids."""
    cutoff = (now - after).isoformat()
    with db.transaction():
        due = [r[0] for r in db.conn.execute(
            "SELECT alert_id FROM alerts WHERE state = 'open' AND escalated_at IS NULL AND opened_at <= ?", [cutoff])]
        for alert_id in due:
            db.conn.execute("UPDATE alerts SET escalated_at = ?, seq = seq + 1, updated_at = ? WHERE alert_id = ?",
                               [now.isoformat(), now.isoformat(), alert_id])
    return due


def payload(db: Database, alert_id: str, now: datetime) -> Alert:
    """The retained message of one alert, with its priority as of ``now``."""
    with db.lock:
        row = db.conn.execute(
            "SELECT alert_id, store, sku, location, state, reason, opened_at, claimed_by, claimed_at, closed_at,"
            " resolved_quantity, dismiss_reason, escalated_at, seq, updated_at, kind, batch, expiry FROM alerts"
            " WHERE alert_id = ?",
            [alert_id]).fetchone()
        if row is None:
            raise AlertError(ErrorCode.NOT_FOUND, "no such alert")
        shelf, backroom, threshold = _shelf_backroom_threshold(db, row[1], row[2])
        speed = velocity(db, row[1], row[2], now)
    opened = datetime.fromisoformat(row[6])
    state = AlertState(row[4])
    closed = datetime.fromisoformat(row[9]) if row[9] else None
    waited = (closed or now) - opened if state != AlertState.CLAIMED else datetime.fromisoformat(row[8]) - opened
    kind = AlertKind(row[15])
    return Alert(
        alert_id=row[0], store=row[1], sku=row[2], location=row[3], state=state, reason=AlertReason(row[5]), kind=kind,
        priority=priority(AlertReason(row[5]), shelf, speed, waited, row[12] is not None, kind), opened_at=opened,
        claimed_by=row[7], claimed_at=datetime.fromisoformat(row[8]) if row[8] else None, closed_at=closed,
        resolved_quantity=row[10], dismiss_reason=row[11], escalated=row[12] is not None, shelf=shelf,
        backroom=backroom, threshold=threshold, restock_now=backroom > 0 and shelf + backroom > threshold,
        seq=row[13], updated_at=datetime.fromisoformat(row[14]), batch=row[16],
        expiry=date.fromisoformat(row[17]) if row[17] else None)


def bump(db: Database, alert_id: str, now: datetime) -> None:
    """Give an alert a new seq (its priority moved with time)."""
    with db.transaction():
        db.conn.execute("UPDATE alerts SET seq = seq + 1, updated_at = ? WHERE alert_id = ?",
                           [now.isoformat(), alert_id])


def versions(db: Database) -> dict[tuple[str, str], int]:
    """(store, alert id) -> seq of every alert."""
    with db.lock:
        return {(r[0], r[1]): r[2] for r in db.conn.execute("SELECT store, alert_id, seq FROM alerts")}


def live(db: Database) -> list[tuple[str, str]]:
    """(store, alert id) of every open or claimed alert."""
    with db.lock:
        return [(r[0], r[1]) for r in db.conn.execute("SELECT store, alert_id FROM alerts WHERE state IN (?, ?)",
                                                         LIVE)]
