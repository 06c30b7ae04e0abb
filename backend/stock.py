"""Stock per store and location, changed only through the ledger, with a persistent seq per item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.db import Database
from mqtt.payloads import StockLevel, utcnow

LOCATIONS = ("shelf", "backroom", "warehouse")


class StockError(ValueError):
    """A stock change cannot be applied."""


class UnknownItem(StockError):
    """The store or product does not exist, or the product is not stocked there."""


class InsufficientStock(StockError):
    """The change would take a location below zero."""


@dataclass(frozen=True)
class Adjustment:
    """One applied (or already applied) stock change."""

    level: StockLevel
    duplicate: bool
    ledger_id: int


def level(db: Database, store_id: str, sku: str) -> StockLevel:
    """Current stock of one product in one store."""
    with db.reading():  # one version of the item (see catalog.product_payload)
        state = db.conn.execute(
            "SELECT reserved, seq, updated_at FROM stock_state WHERE store = ? AND sku = ?", [store_id, sku]
        ).fetchone()
        if state is None:
            raise UnknownItem(f"{sku} is not stocked in {store_id}")
        quantities = dict(db.conn.execute(
            "SELECT location, quantity FROM stock WHERE store = ? AND sku = ?", [store_id, sku]).fetchall())
    on_hand = sum(quantities.values())
    reserved = state[0]
    return StockLevel(
        sku=sku, store=store_id, available=max(0, on_hand - reserved), on_hand=on_hand, reserved=reserved,
        shelf=quantities.get("shelf", 0), backroom=quantities.get("backroom", 0), seq=state[1],
        updated_at=datetime.fromisoformat(state[2]),
    )


def adjust(db: Database, store_id: str, sku: str, location: str, delta: int, reason: str, *,
           device: str = "", idempotency_key: str | None = None, now: datetime | None = None) -> Adjustment:
    """Apply one change through the ledger; the same idempotency key is applied only once."""
    if location not in LOCATIONS:
        raise UnknownItem(f"unknown location {location!r}")
    now = now or utcnow()
    with db.transaction():
        if idempotency_key is not None:
            seen = db.conn.execute("SELECT id FROM stock_ledger WHERE idempotency_key = ?",
                                   [idempotency_key]).fetchone()
            if seen is not None:
                return Adjustment(level(db, store_id, sku), True, seen[0])
        ledger_id = _apply(db, store_id, sku, location, delta, reason, device, idempotency_key, now)
    return Adjustment(level(db, store_id, sku), False, ledger_id)


def apply_in_transaction(db: Database, store_id: str, sku: str, location: str, delta: int, reason: str,
                         device: str, idempotency_key: str | None, now: datetime) -> int:
    """One ledger change inside the caller's open transaction; returns the ledger row id."""
    return _apply(db, store_id, sku, location, delta, reason, device, idempotency_key, now)


def set_quantity(db: Database, store_id: str, sku: str, location: str, quantity: int, reason: str,
                 now: datetime) -> bool:
    """Bring a location to an absolute quantity through a ledger row (inside the caller's transaction)."""
    current = db.conn.execute(
        "SELECT quantity FROM stock WHERE store = ? AND sku = ? AND location = ?", [store_id, sku, location]
    ).fetchone()
    delta = quantity - (current[0] if current else 0)
    if current is not None and delta == 0:
        return False
    _apply(db, store_id, sku, location, delta, reason, "", None, now)
    return True


def _apply(db: Database, store_id: str, sku: str, location: str, delta: int, reason: str, device: str,
           idempotency_key: str | None, now: datetime) -> int:
    conn = db.conn
    exists = conn.execute("SELECT 1 FROM products WHERE sku = ?", [sku]).fetchone()
    if exists is None:
        raise UnknownItem(f"unknown product {sku}")
    if conn.execute("SELECT 1 FROM stores WHERE id = ?", [store_id]).fetchone() is None:
        raise UnknownItem(f"unknown store {store_id}")
    row = conn.execute("SELECT quantity FROM stock WHERE store = ? AND sku = ? AND location = ?",
                       [store_id, sku, location]).fetchone()
    before = row[0] if row else 0
    after = before + delta
    if after < 0:
        raise InsufficientStock(f"only {before} of {sku} in {location} at {store_id}; cannot remove {-delta}")
    conn.execute(
        "INSERT INTO stock (store, sku, location, quantity) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (store, sku, location) DO UPDATE SET quantity = excluded.quantity",
        [store_id, sku, location, after],
    )
    stamp = now.isoformat()
    conn.execute(
        "INSERT INTO stock_state (store, sku, reserved, seq, updated_at) VALUES (?, ?, 0, 1, ?)"
        " ON CONFLICT (store, sku) DO UPDATE SET seq = seq + 1, updated_at = excluded.updated_at",
        [store_id, sku, stamp],
    )
    cursor = conn.execute(
        "INSERT INTO stock_ledger (store, sku, location, delta, quantity_after, reason, device, idempotency_key,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [store_id, sku, location, delta, after, reason, device, idempotency_key, stamp],
    )
    return int(cursor.lastrowid or 0)


def stock_versions(db: Database) -> dict[tuple[str, str], int]:
    """(store, sku) -> stock seq of every stocked item."""
    with db.lock:
        return {(r[0], r[1]): r[2] for r in db.conn.execute("SELECT store, sku, seq FROM stock_state")}


def ledger_balances(db: Database) -> list[tuple[str, str, str, int, int]]:
    """Items whose stock differs from the sum of their ledger rows (empty when the ledger balances)."""
    with db.lock:
        return db.conn.execute(
            "SELECT s.store, s.sku, s.location, s.quantity, coalesce(l.total, 0) FROM stock s"
            " LEFT JOIN (SELECT store, sku, location, sum(delta) AS total FROM stock_ledger"
            "  GROUP BY store, sku, location) l USING (store, sku, location)"
            " WHERE s.quantity != coalesce(l.total, 0)"
        ).fetchall()
