"""Recalled products and batches: kept per store in the database, published as one retained list per store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.db import Database
from codes import ids
from mqtt import topics
from mqtt.payloads import encode
from mqtt.recalls import MAX_RECALLS, Recall, RecallList

log = logging.getLogger(__name__)


class RecallError(ValueError):
    """A recall cannot be added or removed; the message says why."""


@dataclass(frozen=True)
class RecallTarget:
    """What a recall names: a product by SKU and/or GTIN, and one batch of it or (None) every batch."""

    sku: str | None = None
    gtin: str | None = None
    batch: str | None = None

    @classmethod
    def checked(cls, sku: str | None, gtin: str | None, batch: str | None) -> RecallTarget:
        """The target with every part validated and normalised (GTIN-14, SKU upper case); raises RecallError."""
        if not sku and not gtin:
            raise RecallError("name the product: --sku or --gtin")
        try:
            return cls(ids.sku(sku.upper()) if sku else None, ids.gtin14(gtin) if gtin else None,
                       ids.batch(batch) if batch is not None else None)
        except ids.InvalidIdentifier as exc:
            raise RecallError(str(exc)) from None


def shops(db: Database) -> list[str]:
    """The stores (not warehouses, not other sites of a chain) whose devices get the recall list."""
    with db.lock:
        return [r[0] for r in db.conn.execute("SELECT id FROM stores WHERE kind = 'store' AND remote = 0 ORDER BY id")]


def add(db: Database, target: RecallTarget, reason: str, stores: list[str], now: datetime) -> list[str]:
    """Recall ``target`` in ``stores`` (every shop when empty); returns the stores whose list changed."""
    reason = reason.strip()
    if not 1 <= len(reason) <= 200:
        raise RecallError(f"the reason must be 1 to 200 characters, not {len(reason)}")
    with db.transaction():
        chosen = _stores(db, stores)
        if target.sku is not None and db.conn.execute("SELECT 1 FROM products WHERE sku = ?",
                                                      [target.sku]).fetchone() is None:
            raise RecallError(f"unknown product {target.sku}")
        changed = []
        for store_id in chosen:
            count = db.conn.execute("SELECT count(*) FROM recalls WHERE store = ?", [store_id]).fetchone()[0]
            if count >= MAX_RECALLS:
                raise RecallError(f"{store_id} already has {MAX_RECALLS} recalls; remove old ones first")
            cursor = db.conn.execute(
                "INSERT INTO recalls (store, gtin, sku, batch, reason, since) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [store_id, target.gtin, target.sku, target.batch, reason, now.isoformat()])
            if cursor.rowcount:
                _bump(db, store_id, now)
                changed.append(store_id)
    return changed


def remove(db: Database, target: RecallTarget, stores: list[str], now: datetime) -> list[str]:
    """End the recall of exactly ``target`` in ``stores`` (every shop when empty); the stores whose list changed."""
    with db.transaction():
        changed = []
        for store_id in _stores(db, stores):
            cursor = db.conn.execute(
                "DELETE FROM recalls WHERE store = ? AND sku IS ? AND gtin IS ? AND batch IS ?",
                [store_id, target.sku, target.gtin, target.batch])
            if cursor.rowcount:
                _bump(db, store_id, now)
                changed.append(store_id)
    return changed


def recall_list(db: Database, store_id: str, now: datetime) -> RecallList:
    """A store's list as devices get it (seq 1 and no entries when nothing was ever recalled there)."""
    with db.lock:
        rows = db.conn.execute("SELECT gtin, sku, batch, reason, since FROM recalls WHERE store = ? ORDER BY id",
                               [store_id]).fetchall()
        state = db.conn.execute("SELECT seq, updated_at FROM recall_lists WHERE store = ?", [store_id]).fetchone()
    entries = [Recall(gtin=r[0], sku=r[1], batch=r[2], reason=r[3], since=datetime.fromisoformat(r[4])) for r in rows]
    seq, updated = (state[0], datetime.fromisoformat(state[1])) if state else (1, now)
    return RecallList(store=store_id, entries=entries, seq=seq, updated_at=updated)


def publish(db: Database, publisher: Any, published: dict[str, int], now: datetime,
            ours: Callable[[str], bool] = lambda store_id: True) -> int:
    """Publish (retained) the list of every shop whose list is new or changed; returns how many."""
    count = 0
    for store_id in shops(db):
        if not ours(store_id):
            continue
        current = recall_list(db, store_id, now)
        if published.get(store_id) == current.seq:
            continue
        publisher.publish(topics.recalls(store_id), encode(current), qos=1, retain=True)
        published[store_id] = current.seq
        count += 1
    return count


def _stores(db: Database, stores: list[str]) -> list[str]:
    known = {r[0] for r in db.conn.execute("SELECT id FROM stores WHERE kind = 'store' AND remote = 0")}
    unknown = [s for s in stores if s not in known]
    if unknown:
        raise RecallError(f"not a store here: {', '.join(unknown)}")
    if not (stores or known):
        raise RecallError("no stores in the database; import stores.csv first")
    return sorted(set(stores) or known)


def _bump(db: Database, store_id: str, now: datetime) -> None:
    db.conn.execute("INSERT INTO recall_lists VALUES (?, 2, ?) ON CONFLICT (store) DO UPDATE SET seq = seq + 1,"
                    " updated_at = excluded.updated_at", [store_id, now.isoformat()])
