"""HQ's side of the catalogue: every product as listed for each store, versioned, read back in pages by the stores.

HQ imports into an ordinary backend database (same schema, same importer); ``stage`` then compares what each store
should list with what was last staged and gives every changed (store, sku) the next chain-wide version. A store pulls
the entries after the version it has applied; an entry changed twice before a store pulls is sent once, as it is now.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from backend import catalog
from backend.db import Database
from codes import ids
from mqtt.chain import PAGE_LIMIT, HqEntry, HqPage
from mqtt.payloads import MAX_PAYLOAD_BYTES, encode, utcnow

log = logging.getLogger(__name__)

PAGE_BYTES = MAX_PAYLOAD_BYTES - 8 * 1024  # room for the reply envelope and the store's details


@dataclass
class StageReport:
    """What one staging changed: entries per store, and each store's newest version."""

    changed: dict[str, int] = field(default_factory=dict)
    heads: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for people."""
        total = sum(self.changed.values())
        return f"staged {total} changed entries for {len(self.changed)} stores" + (
            "" if not total else f" (newest version {max(self.heads.values())})")


def _products(db: Database) -> dict[str, dict]:
    """sku -> the chain-wide part of every product."""
    conn = db.conn
    products = {r[0]: {"brand": r[1], "category": r[2], "unit": r[3], "image": r[4], "vision_label": r[5],
                       "names": {}, "gtins": []}
                for r in conn.execute("SELECT sku, brand, category, unit, image, vision_label FROM products")}
    for sku, locale, name in conn.execute("SELECT sku, locale, name FROM product_names ORDER BY sku, locale"):
        products[sku]["names"][locale] = name
    for gtin, sku in conn.execute("SELECT gtin, sku FROM gtins ORDER BY gtin"):
        products[sku]["gtins"].append(gtin)
    return products


def _store_bodies(db: Database, store_id: str, products: dict[str, dict]) -> dict[str, dict]:
    """sku -> the entry body (without seq) HQ lists for one store now."""
    conn = db.conn
    currency = conn.execute("SELECT currency FROM stores WHERE id = ?", [store_id]).fetchone()[0]
    return {sku: {"sku": sku, "product": products[sku], "price": price, "currency": currency}
            for sku, price in conn.execute("SELECT sku, price FROM store_products WHERE store = ?", [store_id])}


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def stage(db: Database, stores: Iterable[str] | None = None) -> StageReport:
    """Give every (store, sku) whose listing changed since the last staging the next version; one transaction."""
    report = StageReport()
    with db.transaction():
        known = _chain_stores(db)
        wanted = known if stores is None else [s for s in stores if s in known]
        unknown = set(stores or ()) - set(known)
        if unknown:
            raise catalog.NotFound(f"HQ knows no store {', '.join(sorted(unknown))}")
        products = _products(db)
        next_seq = db.conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM hq_entries").fetchone()[0]
        for store_id in wanted:
            bodies = _store_bodies(db, store_id, products)
            staged = dict(db.conn.execute("SELECT sku, digest FROM hq_entries WHERE store = ?", [store_id]))
            changed = 0
            delisted = {sku: {"sku": sku, "product": None, "price": None, "currency": None}
                        for sku in staged.keys() - bodies.keys()}
            for sku, body in sorted({**bodies, **delisted}.items()):
                digest = _digest(body)
                if staged.get(sku) == digest:
                    continue
                db.conn.execute(
                    "INSERT INTO hq_entries (store, sku, seq, digest, body) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (store, sku) DO UPDATE SET seq = excluded.seq, digest = excluded.digest,"
                    " body = excluded.body",
                    [store_id, sku, next_seq, digest, json.dumps(body, ensure_ascii=False)])
                next_seq += 1
                changed += 1
            report.changed[store_id] = changed
    report.heads = heads(db)
    return report


def heads(db: Database) -> dict[str, int]:
    """store -> newest version HQ holds for it (0 for a store with nothing staged yet)."""
    with db.lock:
        found = dict(db.conn.execute("SELECT store, max(seq) FROM hq_entries GROUP BY store"))
        return {store: found.get(store, 0) for store in _chain_stores(db)}


def _chain_stores(db: Database) -> list[str]:
    # Warehouses sell nothing; HQ's own row is the web shop, whose prices HQ keeps.
    return [s.id for s in catalog.stores(db) if s.kind == "store" and s.id != ids.HQ_SITE]


def page(db: Database, store_id: str, after: int, limit: int = PAGE_LIMIT) -> HqPage:
    """The entries for one store after version ``after``, in version order, cut to fit one payload."""
    info = catalog.get_store(db, store_id)
    with db.reading() as conn:
        rows = conn.execute("SELECT seq, body FROM hq_entries WHERE store = ? AND seq > ? ORDER BY seq LIMIT ?",
                            [store_id, after, limit + 1]).fetchall()
        head = conn.execute("SELECT coalesce(max(seq), 0) FROM hq_entries WHERE store = ?", [store_id]).fetchone()[0]
    entries, size = [], 0
    for seq, body in rows[:limit]:
        entry = HqEntry.model_validate({**json.loads(body), "seq": seq})
        size += len(encode(entry))
        if entries and size > PAGE_BYTES:
            break
        entries.append(entry)
    more = len(entries) < len(rows)
    return HqPage(store=catalog.store_payload(info, utcnow()), entries=entries, head=head, more=more)
