"""Catalogue queries and writes: products, names, GTINs and per-store prices."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from backend.db import Database
from codes.catalog_csv import StoreInfo
from mqtt.payloads import Money, Product, StoreDetails, utcnow


class NotFound(LookupError):
    """No such store or product."""


@dataclass(frozen=True)
class ProductRecord:
    """A product as the importer writes it (store-independent part)."""

    sku: str
    names: dict[str, str]
    gtins: tuple[str, ...] = ()
    brand: str = ""
    category: str = ""
    unit: str = "each"
    image: str = ""
    vision_label: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def stores(db: Database) -> list[StoreInfo]:
    """Every store and warehouse."""
    with db.lock:
        rows = _dicts(db.conn.execute("SELECT * FROM stores ORDER BY id"))
    return [_store_info(r) for r in rows]


def get_store(db: Database, store_id: str) -> StoreInfo:
    """One store, or NotFound."""
    with db.lock:
        rows = _dicts(db.conn.execute("SELECT * FROM stores WHERE id = ?", [store_id]))
    if not rows:
        raise NotFound(f"unknown store {store_id!r}")
    return _store_info(rows[0])


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _store_info(row: dict) -> StoreInfo:
    return StoreInfo(row["id"], row["name"], row["kind"], row["currency"], row["locale"],
                     tuple(row["locales"].split()), row["lat"], row["lon"], row["address"], row["variable_measure"])


def store_payload(info: StoreInfo, now: datetime) -> StoreDetails:
    """The retained details message of a store."""
    return StoreDetails(store=info.id, name=info.name, kind=info.kind, currency=info.currency, locale=info.locale,
                        locales=list(info.locales) or ["en"], lat=info.lat, lon=info.lon, address=info.address,
                        variable_measure=info.variable_measure, updated_at=now)


def upsert_store(db: Database, info: StoreInfo) -> None:
    """Create or update a store (inside the caller's transaction)."""
    old = db.conn.execute("SELECT currency FROM stores WHERE id = ?", [info.id]).fetchone()
    db.conn.execute(
        "INSERT INTO stores (id, name, kind, currency, locale, locales, lat, lon, address, variable_measure)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " kind = excluded.kind, currency = excluded.currency, locale = excluded.locale, locales = excluded.locales,"
        " lat = excluded.lat, lon = excluded.lon, address = excluded.address,"
        " variable_measure = excluded.variable_measure",
        [info.id, info.name, info.kind, info.currency, info.locale, " ".join(info.locales), info.lat, info.lon,
         info.address, info.variable_measure],
    )
    if old is not None and old[0] != info.currency:
        # Every catalogue entry of the store prices in its currency: each one changed, and gets a new seq.
        db.conn.execute("UPDATE store_products SET seq = seq + 1, updated_at = ? WHERE store = ?",
                        [utcnow().isoformat(), info.id])


def upsert_product(db: Database, record: ProductRecord, now: datetime) -> bool:
    """Create or update a product with its names and GTINs; return True when anything changed."""
    existing = _dicts(db.conn.execute("SELECT * FROM products WHERE sku = ?", [record.sku]))
    row = {"sku": record.sku, "brand": record.brand, "category": record.category, "unit": record.unit,
           "image": record.image, "vision_label": record.vision_label}
    old_names = dict(db.conn.execute("SELECT locale, name FROM product_names WHERE sku = ?", [record.sku]))
    old_gtins = {r[0] for r in db.conn.execute("SELECT gtin FROM gtins WHERE sku = ?", [record.sku])}
    changed = (
        not existing
        or any(existing[0][k] != v for k, v in row.items())
        or old_names != record.names
        or old_gtins != set(record.gtins)
    )
    if not changed:
        return False
    # An upsert, never a REPLACE: deleting the row would cascade to its names, GTINs and store prices.
    db.conn.execute(
        "INSERT INTO products (sku, brand, category, unit, image, vision_label, updated_at)"
        " VALUES (:sku, :brand, :category, :unit, :image, :vision_label, :updated_at) ON CONFLICT (sku) DO UPDATE SET"
        " brand = excluded.brand, category = excluded.category, unit = excluded.unit, image = excluded.image,"
        " vision_label = excluded.vision_label, updated_at = excluded.updated_at",
        {**row, "updated_at": now.isoformat()},
    )
    db.conn.execute("DELETE FROM product_names WHERE sku = ?", [record.sku])
    db.conn.executemany("INSERT INTO product_names (sku, locale, name) VALUES (?, ?, ?)",
                        [(record.sku, loc, name) for loc, name in record.names.items()])
    db.conn.execute("DELETE FROM gtins WHERE sku = ?", [record.sku])
    for gtin in record.gtins:
        owner = db.conn.execute("SELECT sku FROM gtins WHERE gtin = ?", [gtin]).fetchone()
        if owner is not None:
            raise DuplicateGtin(f"GTIN {gtin} already belongs to {owner[0]}")
        db.conn.execute("INSERT INTO gtins (gtin, sku) VALUES (?, ?)", [gtin, record.sku])
    # Every store's catalogue entry of this product changes with it.
    db.conn.execute("UPDATE store_products SET seq = seq + 1, updated_at = ? WHERE sku = ?",
                    [now.isoformat(), record.sku])
    return True


class DuplicateGtin(ValueError):
    """A GTIN is already assigned to another product."""


def set_store_product(db: Database, store_id: str, sku: str, price: Decimal, shelf_location: str | None,
                      reorder_threshold: int | None, now: datetime) -> bool:
    """Set a product's price and placement in one store; return True when anything changed."""
    rows = _dicts(db.conn.execute("SELECT * FROM store_products WHERE store = ? AND sku = ?", [store_id, sku]))
    price_text = format(price, "f")
    if rows:
        row = rows[0]
        new = {"price": price_text,
               "shelf_location": row["shelf_location"] if shelf_location is None else shelf_location,
               "reorder_threshold": row["reorder_threshold"] if reorder_threshold is None else reorder_threshold}
        if all(row[k] == v for k, v in new.items()):
            return False
        db.conn.execute(
            "UPDATE store_products SET price = ?, shelf_location = ?, reorder_threshold = ?, seq = seq + 1,"
            " updated_at = ? WHERE store = ? AND sku = ?",
            [new["price"], new["shelf_location"], new["reorder_threshold"], now.isoformat(), store_id, sku],
        )
        return True
    db.conn.execute(
        "INSERT INTO store_products (store, sku, price, shelf_location, reorder_threshold, seq, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 1, ?)",
        [store_id, sku, price_text, shelf_location or "", 5 if reorder_threshold is None else reorder_threshold,
         now.isoformat()],
    )
    return True


def product_payload(db: Database, store_id: str, sku: str) -> Product:
    """The retained catalogue message of one product in one store."""
    # One read transaction: its text is kept by seq (backend/payload_cache.py), so it must not mix two versions.
    with db.reading():
        row = db.conn.execute(
            "SELECT p.sku, p.brand, p.category, p.unit, p.image, p.vision_label, sp.price, sp.shelf_location,"
            " sp.seq, max(sp.updated_at, p.updated_at), s.currency FROM store_products sp"
            " JOIN products p ON p.sku = sp.sku JOIN stores s ON s.id = sp.store"
            " WHERE sp.store = ? AND sp.sku = ?",
            [store_id, sku],
        ).fetchone()
        if row is None:
            raise NotFound(f"{sku} is not in the catalogue of {store_id}")
        names = dict(db.conn.execute(
            "SELECT locale, name FROM product_names WHERE sku = ? ORDER BY locale", [sku]).fetchall())
        gtins = [r[0] for r in db.conn.execute("SELECT gtin FROM gtins WHERE sku = ? ORDER BY gtin", [sku])]
    return Product(
        sku=row[0], store=store_id, gtins=gtins, names=names, brand=row[1], category=row[2], unit=row[3],
        image=row[4], vision_label=row[5], shelf_location=row[7],
        price=Money(amount=Decimal(row[6]), currency=row[10]), seq=row[8],
        updated_at=datetime.fromisoformat(row[9]) if row[9] else utcnow(),
    )


def catalog_versions(db: Database) -> dict[tuple[str, str], int]:
    """(store, sku) -> catalogue seq of every published catalogue entry."""
    with db.lock:
        return {(r[0], r[1]): r[2] for r in db.conn.execute("SELECT store, sku, seq FROM store_products")}


def find_sku_by_gtin(db: Database, gtin14: str) -> str | None:
    """The SKU a GTIN-14 belongs to, if any."""
    with db.lock:
        row = db.conn.execute("SELECT sku FROM gtins WHERE gtin = ?", [gtin14]).fetchone()
    return row[0] if row else None
