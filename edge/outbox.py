"""Orders placed on a device: written with an outbox row in one transaction, sent until the backend confirms."""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mqtt.commerce import Event, Order, PlaceOrderArgs
from mqtt.payloads import ErrorCode, utcnow
from mqtt.rpc import RemoteError, RpcClient, RpcError
from storage import Durability, Migration, open_migrated, transaction

log = logging.getLogger(__name__)

# Answers that will not change however often the order is resent.
PERMANENT = {ErrorCode.BAD_REQUEST, ErrorCode.CONFLICT, ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN,
             ErrorCode.LIMIT_REACHED, ErrorCode.UNKNOWN_OP, ErrorCode.EXPIRED, ErrorCode.USED}

# IF NOT EXISTS: files written before the schema had versions hold these tables already and are adopted as they are.
M001_ORDERS = """
CREATE TABLE IF NOT EXISTS device_orders (
    order_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    store TEXT NOT NULL,
    status TEXT NOT NULL,
    reference TEXT,
    total TEXT,
    currency TEXT,
    kind TEXT,
    error TEXT,
    session_ended INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The payload holds the delivery address: it lives only as long as the order is unsent.
CREATE TABLE IF NOT EXISTS outbox (
    order_id TEXT PRIMARY KEY REFERENCES device_orders(order_id),
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
"""

# The orders file's schema, applied by storage.migrate; append only, never edit a released migration.
MIGRATIONS = [Migration(1, "orders and their outbox", M001_ORDERS)]


@dataclass(frozen=True)
class LocalOrder:
    """What the device knows about one of its orders."""

    order_id: str
    session_id: str
    store: str
    status: str  # queued until confirmed, then the backend's status, or rejected
    reference: str | None
    total: str | None
    currency: str | None
    kind: str | None
    error: str | None


class OutboxError(RuntimeError):
    """The order could not be recorded on this device (e.g. its storage is full); nothing was written."""


def new_order_id() -> str:
    """A fresh order id, made on the device so a resend can never create a second order."""
    return "o_" + secrets.token_urlsafe(18)


class OrderOutbox:
    """Durable queue of orders and the thread that delivers them exactly once."""

    def __init__(self, path: str | Path, store: str, rpc: RpcClient, *, retry_min: float = 0.5,
                 retry_max: float = 15.0, call_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.store = store
        self._rpc = rpc
        # POWER_CUT: an order the shopper saw confirmed survives a power cut; secure_delete: deleted personal data
        # is overwritten, not just unlinked.
        self._conn = open_migrated(self.path, MIGRATIONS, what=f"order outbox {self.path.name}",
                                   durability=Durability.POWER_CUT, secure_delete=True)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry = (retry_min, retry_max)
        self._timeout = call_timeout
        self.listeners: list[Callable[[LocalOrder], None]] = []

    # -- placing -------------------------------------------------------------

    def place(self, args: PlaceOrderArgs, session_id: str) -> LocalOrder:
        """Record the order durably (order row and outbox row in one transaction) and wake the sender."""
        now = utcnow().isoformat()
        with self._lock:
            try:
                with transaction(self._conn):
                    self._conn.execute(
                        "INSERT INTO device_orders (order_id, session_id, store, status, created_at, updated_at)"
                        " VALUES (?, ?, ?, 'queued', ?, ?)", [args.order_id, session_id, self.store, now, now])
                    self._conn.execute("INSERT INTO outbox (order_id, payload) VALUES (?, ?)",
                                       [args.order_id, args.model_dump_json()])
            except sqlite3.OperationalError as exc:
                raise OutboxError(f"the order could not be saved on this device: {exc}") from None
        self._wake.set()
        order = self.get(args.order_id)
        self._notify(order)
        return order

    def get(self, order_id: str) -> LocalOrder:
        """One order as the device knows it."""
        with self._lock:
            row = self._conn.execute(
                "SELECT order_id, session_id, store, status, reference, total, currency, kind, error"
                " FROM device_orders WHERE order_id = ?", [order_id]).fetchone()
        if row is None:
            raise KeyError(order_id)
        return LocalOrder(*row)

    def orders(self, session_id: str | None = None) -> list[LocalOrder]:
        """Every order this device still holds (of one session, if given)."""
        query = "SELECT order_id, session_id, store, status, reference, total, currency, kind, error FROM device_orders"
        params: list[str] = []
        if session_id is not None:
            query += " WHERE session_id = ?"
            params.append(session_id)
        with self._lock:
            return [LocalOrder(*r) for r in self._conn.execute(query + " ORDER BY created_at", params)]

    def pending(self) -> int:
        """Orders not yet confirmed by the backend."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    # -- sending -------------------------------------------------------------

    def start(self) -> None:
        """Start delivering queued orders (also those left by a previous run)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="order-outbox", daemon=True)
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Stop the sender; queued orders stay on disk."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self._timeout + 2)
            self._thread = None

    def close(self) -> None:
        """Stop and close the database."""
        self.stop()
        with self._lock:
            self._conn.close()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued order is confirmed or refused."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pending() == 0

    def _run(self) -> None:
        delay = self._retry[0]
        while not self._stop.is_set():
            with self._lock:
                batch = self._conn.execute("SELECT order_id, payload FROM outbox ORDER BY rowid LIMIT 20").fetchall()
            if not batch:
                self._wake.wait()
                self._wake.clear()
                continue
            failed = False
            for order_id, payload in batch:
                if self._stop.is_set():
                    return
                failed |= not self._send(order_id, payload)
            if failed:
                self._wake.wait(delay)
                self._wake.clear()
                delay = min(delay * 2, self._retry[1])
            else:
                delay = self._retry[0]

    def _send(self, order_id: str, payload: str) -> bool:
        try:
            result = self._rpc.call("order.place", json.loads(payload), timeout=self._timeout)
        except RemoteError as exc:
            if exc.code in PERMANENT:
                self._finish(order_id, None, f"{exc.code.value}: {exc.message}")
                return True
            self._note_failure(order_id, str(exc))
            return False
        except (RpcError, OSError) as exc:  # no answer: the same order id is resent later, applied once
            self._note_failure(order_id, str(exc) or type(exc).__name__)
            return False
        self._finish(order_id, Order.model_validate(result["order"]), None)
        return True

    def _note_failure(self, order_id: str, reason: str) -> None:
        log.info("order %s not sent yet: %s", order_id, reason)
        with self._lock:
            self._conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE order_id = ?",
                               [reason[:300], order_id])

    def _finish(self, order_id: str, order: Order | None, error: str | None) -> None:
        now = utcnow().isoformat()
        with self._lock:
            with transaction(self._conn):
                if order is not None:
                    self._conn.execute(
                        "UPDATE device_orders SET status = ?, reference = ?, total = ?, currency = ?, kind = ?,"
                        " updated_at = ? WHERE order_id = ?",
                        [order.status.value, order.reference, format(order.total.amount, "f"), order.total.currency,
                         order.kind.value, now, order_id])
                else:
                    self._conn.execute("UPDATE device_orders SET status = 'rejected', error = ?, updated_at = ?"
                                       " WHERE order_id = ?", [error, now, order_id])
                self._conn.execute("DELETE FROM outbox WHERE order_id = ?", [order_id])
                self._conn.execute("DELETE FROM device_orders WHERE order_id = ? AND session_ended = 1", [order_id])
            remaining = self._conn.execute("SELECT 1 FROM device_orders WHERE order_id = ?", [order_id]).fetchone()
            # Scrub under the same lock: nobody sees the order as sent while its address is still in the WAL.
            self._scrub()
        if remaining:
            self._notify(self.get(order_id))

    # -- events and privacy --------------------------------------------------

    def apply_event(self, event: Event) -> LocalOrder | None:
        """Apply an ``order.status`` event from the backend."""
        if event.type != "order.status":
            return None
        order_id, status = event.data.get("order_id"), event.data.get("status")
        if not isinstance(order_id, str) or not isinstance(status, str):
            return None
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE device_orders SET status = ?, updated_at = ? WHERE order_id = ? AND status != 'queued'",
                [status, utcnow().isoformat(), order_id])
        if cursor.rowcount != 1:
            return None
        order = self.get(order_id)
        self._notify(order)
        return order

    def forget_session(self, session_id: str) -> None:
        """Remove what a finished session left: confirmed orders now, unsent ones as soon as they are confirmed."""
        with self._lock:
            with transaction(self._conn):
                self._conn.execute("UPDATE device_orders SET session_ended = 1 WHERE session_id = ?", [session_id])
                self._conn.execute("DELETE FROM device_orders WHERE session_id = ? AND order_id NOT IN"
                                   " (SELECT order_id FROM outbox)", [session_id])
            self._scrub()

    def _scrub(self) -> None:
        # Old page images with deleted rows linger in the WAL until it is checkpointed and truncated.
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _notify(self, order: LocalOrder) -> None:
        for listener in list(self.listeners):
            try:
                listener(order)
            except Exception:
                log.exception("order listener failed")
