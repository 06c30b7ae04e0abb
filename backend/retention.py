"""Retention: what the backend deletes once it has served its purpose, and the periodic housekeeping that runs it."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.db import Database

log = logging.getLogger(__name__)

FINISHED = ("collected", "shipped", "cancelled")  # no order status follows these (backend/orders.py TRANSITIONS)
OPEN = ("awaiting_payment", "paid", "ready")
CLOSED_ALERTS = ("resolved", "dismissed")


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of record is kept after it stopped mattering, and how often the job runs."""

    cart_idle: timedelta = timedelta(days=30)  # a cart nobody changed for this long, and no open order uses
    handoff_grace: timedelta = timedelta(hours=1)  # after a handoff code expired (a used one expires too)
    closed_alerts: timedelta = timedelta(days=90)  # after an alert was resolved or dismissed
    personal_data: timedelta = timedelta(days=30)  # delivery address, after the order was finished
    every: timedelta = timedelta(hours=1)
    batch: int = 500  # rows per transaction, so requests wait for at most one short batch

    def __post_init__(self) -> None:
        periods = (self.cart_idle, self.handoff_grace, self.closed_alerts, self.personal_data, self.every)
        if min(periods) < timedelta(0) or self.batch < 1:
            raise ValueError("retention periods cannot be negative and the batch must hold a row")


@dataclass(frozen=True)
class RetentionReport:
    """What one run deleted."""

    carts: int
    handoffs: int
    alerts: list[tuple[str, str]]  # (store, alert id): their retained messages must go too
    addresses: int


def run(db: Database, now: datetime, policy: RetentionPolicy) -> RetentionReport:
    """Delete expired carts, handoffs and closed alerts, and erase personal data of finished orders."""
    carts = _batched(db, policy.batch, "DELETE FROM carts WHERE cart_id IN (SELECT c.cart_id FROM carts c"
                     " WHERE c.updated_at <= ? AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.cart_id = c.cart_id"
                     " AND o.status IN (?, ?, ?)) LIMIT ?)", [(now - policy.cart_idle).isoformat(), *OPEN])
    handoffs = _batched(db, policy.batch, "DELETE FROM handoffs WHERE nonce IN (SELECT nonce FROM handoffs"
                        " WHERE expires_at <= ? LIMIT ?)", [(now - policy.handoff_grace).isoformat()])
    alerts = _delete_closed_alerts(db, (now - policy.closed_alerts).isoformat(), policy.batch)
    addresses = _erase_addresses(db, (now - policy.personal_data).isoformat(), policy.batch)
    return RetentionReport(carts, handoffs, alerts, addresses)


def _batched(db: Database, batch: int, sql: str, params: list[object]) -> int:
    total = 0
    while True:
        with db.transaction():
            deleted = db.conn.execute(sql, [*params, batch]).rowcount
        total += deleted
        if deleted < batch:
            return total


def _delete_closed_alerts(db: Database, cutoff: str, batch: int) -> list[tuple[str, str]]:
    """Closed alerts older than the cutoff, but never a shelf's latest: it keeps a dismissal from being reopened."""
    deleted: list[tuple[str, str]] = []
    while True:
        with db.transaction():
            rows = db.conn.execute(
                "SELECT a.store, a.alert_id FROM alerts a WHERE a.state IN (?, ?) AND a.closed_at <= ?"
                " AND EXISTS (SELECT 1 FROM alerts b WHERE b.store = a.store AND b.sku = a.sku"
                "  AND b.location = a.location AND b.opened_at > a.opened_at) LIMIT ?",
                [*CLOSED_ALERTS, cutoff, batch]).fetchall()
            db.conn.executemany("DELETE FROM alerts WHERE alert_id = ?", [[r[1]] for r in rows])
        deleted.extend((str(r[0]), str(r[1])) for r in rows)
        if len(rows) < batch:
            return deleted


def _erase_addresses(db: Database, cutoff: str, batch: int) -> int:
    # secure_delete overwrites the freed bytes, and the checkpoint below moves the overwritten pages out of the
    # WAL into the database file, so the address is gone from the disk and not only from the table.
    with db.lock:  # the pragma belongs to the shared connection: no other thread's write in between
        previous = int(db.conn.execute("PRAGMA secure_delete").fetchone()[0])
        db.conn.execute("PRAGMA secure_delete = ON")
        try:
            erased = _batched(db, batch, "UPDATE orders SET address = NULL WHERE order_id IN (SELECT order_id"
                              " FROM orders WHERE address IS NOT NULL AND updated_at <= ? AND status IN (?, ?, ?)"
                              " LIMIT ?)", [cutoff, *FINISHED])
        finally:
            db.conn.execute(f"PRAGMA secure_delete = {previous}")
        busy = db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] if erased else 0
    if busy:
        log.warning("erased addresses may stay in the WAL until the next checkpoint: a reader is active")
    return erased


class Housekeeping:
    """Run from the service's watch loop: unpaid orders past their deadline each tick, retention every so often."""

    def __init__(self, db: Database, clock: Callable[[], datetime], expire_unpaid: Callable[[], int],
                 policy: RetentionPolicy, retract_alert: Callable[[str, str], None]) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self._expire_unpaid = expire_unpaid
        self._retract_alert = retract_alert
        self._next_retention: datetime | None = None

    def tick(self) -> None:
        """One round; cheap when nothing is due (an indexed look-up)."""
        try:
            self._expire_unpaid()
            now = self.clock()
            if self._next_retention is None or now >= self._next_retention:
                self._next_retention = now + self.policy.every
                self.retain(now)
        except sqlite3.OperationalError as exc:  # a full or locked disk: try again next tick, keep serving
            log.error("housekeeping failed, will retry: %s", exc)

    def retain(self, now: datetime) -> RetentionReport:
        """Apply the retention policy once and take deleted alerts off the broker."""
        report = run(self.db, now, self.policy)
        for store_id, alert_id in report.alerts:
            self._retract_alert(store_id, alert_id)
        if report.carts or report.handoffs or report.alerts or report.addresses:
            log.info("retention: deleted %d carts, %d handoffs and %d closed alerts; erased %d delivery addresses",
                     report.carts, report.handoffs, len(report.alerts), report.addresses)
        return report
