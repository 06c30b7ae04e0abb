"""A store's side of HQ's catalogue: apply pulled pages once each, keep local price overrides, list them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from backend import catalog
from backend.catalog import ProductRecord
from backend.db import Database
from codes.catalog_csv import StoreInfo
from mqtt.chain import HqEntry, HqPage

log = logging.getLogger(__name__)

HQ_SEQ = "hq_seq"


class ChainApplyError(ValueError):
    """A page from HQ cannot be applied to this store."""


@dataclass(frozen=True)
class Override:
    """A product whose price this store sets itself: its own price, and HQ's (None for a local product)."""

    sku: str
    price: Decimal
    hq_price: Decimal | None


def applied_seq(db: Database) -> int:
    """The newest HQ version this store has applied."""
    with db.lock:
        row = db.conn.execute("SELECT value FROM chain_state WHERE key = ?", [HQ_SEQ]).fetchone()
    return int(row[0]) if row else 0


def apply_page(db: Database, store_id: str, page: HqPage, now: datetime) -> int:
    """Apply one page in one transaction (entries at or below the applied version are skipped); returns entries applied.

    The applied version moves in the same transaction, so a crash or a repeated page never applies an entry twice.
    """
    if page.store.store != store_id:
        raise ChainApplyError(f"HQ sent the catalogue of {page.store.store}, not of {store_id}")
    applied = 0
    with db.transaction():
        done = applied_seq(db)
        details = page.store
        catalog.upsert_store(db, StoreInfo(details.store, details.name, details.kind, details.currency, details.locale,
                                           tuple(details.locales), details.lat, details.lon, details.address,
                                           details.variable_measure))
        for entry in page.entries:
            if entry.seq <= done:
                continue
            if entry.currency is not None and entry.currency != details.currency:
                raise ChainApplyError(f"{entry.sku}: HQ priced it in {entry.currency}, the store sells in "
                                      f"{details.currency}")
            _apply_entry(db, store_id, entry, now)
            done, applied = entry.seq, applied + 1
        db.conn.execute("INSERT INTO chain_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
                        " value = excluded.value", [HQ_SEQ, done])
    return applied


def _apply_entry(db: Database, store_id: str, entry: HqEntry, now: datetime) -> None:
    conn = db.conn
    if entry.product is None or entry.price is None:
        # HQ no longer lists it here: the store keeps selling what it has, as a local product it can delist itself.
        conn.execute("UPDATE store_products SET hq_price = NULL WHERE store = ? AND sku = ?", [store_id, entry.sku])
        return
    product = entry.product
    if product.gtins:
        # HQ is the truth for which product a GTIN belongs to: a GTIN it moved leaves the old product here too.
        marks = ",".join("?" * len(product.gtins))
        conn.execute(f"DELETE FROM gtins WHERE gtin IN ({marks}) AND sku != ?", [*product.gtins, entry.sku])
    catalog.upsert_product(db, ProductRecord(entry.sku, dict(product.names), tuple(product.gtins), product.brand,
                                             product.category, product.unit, product.image, product.vision_label),
                           now)
    row = conn.execute("SELECT price_override FROM store_products WHERE store = ? AND sku = ?",
                       [store_id, entry.sku]).fetchone()
    if row is None or not row[0]:
        catalog.set_store_product(db, store_id, entry.sku, entry.price, None, None, now)
    conn.execute("UPDATE store_products SET hq_price = ? WHERE store = ? AND sku = ?",
                 [format(entry.price, "f"), store_id, entry.sku])


def set_override(db: Database, store_id: str, sku: str, price: Decimal, now: datetime) -> None:
    """Sell a product at the store's own price, whatever HQ sends later (until ``clear_override``)."""
    with db.transaction():
        if db.conn.execute("SELECT 1 FROM products WHERE sku = ?", [sku]).fetchone() is None:
            raise catalog.NotFound(f"unknown product {sku}")
        catalog.set_store_product(db, store_id, sku, price, None, None, now)
        db.conn.execute("UPDATE store_products SET price_override = 1 WHERE store = ? AND sku = ?", [store_id, sku])


def clear_override(db: Database, store_id: str, sku: str, now: datetime) -> Decimal | None:
    """Go back to HQ's price (returned; None when HQ has none, and the local price stays)."""
    with db.transaction():
        row = db.conn.execute("SELECT hq_price FROM store_products WHERE store = ? AND sku = ?",
                              [store_id, sku]).fetchone()
        if row is None:
            raise catalog.NotFound(f"{sku} is not in the catalogue of {store_id}")
        db.conn.execute("UPDATE store_products SET price_override = 0 WHERE store = ? AND sku = ?", [store_id, sku])
        if row[0] is None:
            return None
        catalog.set_store_product(db, store_id, sku, Decimal(row[0]), None, None, now)
        return Decimal(row[0])


def local_prices(db: Database, store_id: str) -> list[Override]:
    """Products priced by the store itself: overrides of HQ's price, and products HQ does not list here."""
    with db.lock:
        rows = db.conn.execute(
            "SELECT sku, price, hq_price FROM store_products WHERE store = ? AND (price_override = 1 OR hq_price IS"
            " NULL) ORDER BY sku", [store_id]).fetchall()
    return [Override(sku, Decimal(price), None if hq is None else Decimal(hq)) for sku, price, hq in rows]
