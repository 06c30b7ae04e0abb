"""Pages of a store's catalogue and stock for a device that syncs by request instead of by retained messages."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from backend.db import Database
from backend.payload_cache import PayloadCache
from mqtt.payloads import MAX_PAYLOAD_BYTES, utcnow
from mqtt.rpc import RawResult

# Room left in a reply for its envelope (id, cursor, as_of).
PAGE_BUDGET = MAX_PAYLOAD_BYTES - 1024
MAX_ITEMS = 1000
BATCH = 128

# Which entries come next, and at which seq: the texts of most are in the payload cache already.
_SCAN_SQL = """
SELECT sp.sku, sp.seq, :since = '' OR max(sp.updated_at, p.updated_at) >= :since,
    st.seq, st.seq IS NOT NULL AND (:since = '' OR st.updated_at >= :since)
FROM store_products sp
JOIN products p ON p.sku = sp.sku
LEFT JOIN stock_state st ON st.store = sp.store AND st.sku = sp.sku
WHERE sp.store = :store AND sp.sku > :after
    AND (:since = '' OR max(sp.updated_at, p.updated_at) >= :since OR st.updated_at >= :since)
ORDER BY sp.sku LIMIT :count
"""
# The others, each as its retained payload (catalog.product_payload, stock.level), written by SQLite: a page holds
# about a hundred products, and building them as models in Python cost the backend 130 µs a product.
_ON_HAND = "(SELECT coalesce(sum(quantity), 0) FROM stock k WHERE k.store = sp.store AND k.sku = sp.sku)"
_AT = "coalesce((SELECT quantity FROM stock k WHERE k.store = sp.store AND k.sku = sp.sku AND k.location = '{}'), 0)"
_PAYLOAD_SQL = f"""
SELECT sp.sku, sp.seq, json_object(
        'sku', sp.sku, 'store', sp.store,
        'gtins', (SELECT json_group_array(gtin) FROM (SELECT gtin FROM gtins WHERE sku = sp.sku ORDER BY gtin)),
        'names', (SELECT json_group_object(locale, name) FROM product_names WHERE sku = sp.sku),
        'brand', p.brand, 'category', p.category, 'unit', p.unit, 'shelf_location', sp.shelf_location,
        'price', json_object('amount', sp.price, 'currency', s.currency),
        'image', p.image, 'vision_label', p.vision_label, 'seq', sp.seq,
        'updated_at', max(sp.updated_at, p.updated_at)),
    st.seq, CASE WHEN st.seq IS NOT NULL THEN json_object(
        'sku', sp.sku, 'store', sp.store, 'available', max(0, {_ON_HAND} - st.reserved), 'on_hand', {_ON_HAND},
        'reserved', st.reserved, 'shelf', {_AT.format("shelf")}, 'backroom', {_AT.format("backroom")},
        'seq', st.seq, 'updated_at', st.updated_at) END
FROM store_products sp
JOIN products p ON p.sku = sp.sku
JOIN stores s ON s.id = sp.store
LEFT JOIN stock_state st ON st.store = sp.store AND st.sku = sp.sku
WHERE sp.store = :store AND sp.sku IN (SELECT value FROM json_each(:skus))
"""


@dataclass(frozen=True)
class Page:
    """Catalogue entries and stock levels (UTF-8 JSON) of consecutive SKUs; ``next`` is None on the last page."""

    products: list[bytes]
    stock: list[bytes]
    next: str | None
    as_of: str

    def to_result(self) -> RawResult:
        """The ``catalog.snapshot`` result, serialised once."""
        cursor = b"null" if self.next is None else f'"{self.next}"'.encode()  # a SKU needs no escaping
        return RawResult(b'{"products":[' + b",".join(self.products) + b'],"stock":[' + b",".join(self.stock)
                         + b'],"next":' + cursor + b',"as_of":"' + self.as_of.encode() + b'"}')


def page(db: Database, store_id: str, after: str = "", since: datetime | None = None, limit: int = 500,
         budget: int = PAGE_BUDGET, batch: int = BATCH, cache: PayloadCache | None = None) -> Page:
    """The next page of a store's catalogue entries and stock levels in SKU order, as their retained payloads.

    With ``since``, only entries changed at or after it (a device catching up after a reconnect). ``as_of`` is the
    backend time before reading: a device that asks again with ``since=as_of`` misses nothing. Texts come from
    ``cache`` where it holds them at the current seq, and go into it otherwise.
    """
    as_of = utcnow().isoformat()
    cache = cache if cache is not None else PayloadCache()
    limit = max(1, min(limit, MAX_ITEMS))
    since_text = since.isoformat() if since else ""
    products: list[bytes] = []
    levels: list[bytes] = []
    size, taken, cursor = 0, 0, after
    while taken < limit:
        # A batch at a time: a page of a catalogue with long names holds far fewer than ``limit`` entries.
        count = min(batch, limit - taken)
        with db.reading() as conn:
            rows = conn.execute(_SCAN_SQL, {"store": store_id, "after": cursor, "count": count,
                                            "since": since_text}).fetchall()
            texts = _texts(conn, cache, store_id, rows)
        for (sku, *_), (product, level) in zip(rows, texts, strict=True):
            cost = len(product) + 1 if product else 0
            cost += len(level) + 1 if level else 0
            if size + cost > budget and taken:
                return Page(products, levels, cursor, as_of)
            size, taken, cursor = size + cost, taken + 1, sku
            if product:
                products.append(product)
            if level:
                levels.append(level)
        if len(rows) < count:
            return Page(products, levels, None, as_of)
    return Page(products, levels, cursor, as_of)


def _texts(conn: sqlite3.Connection, cache: PayloadCache, store_id: str,
           rows: list[tuple[str, int, int, int | None, int]]) -> list[tuple[bytes | None, bytes | None]]:
    """(catalogue entry, stock level) of each scanned row that is wanted, from the cache or built by SQLite."""
    texts: list[tuple[bytes | None, bytes | None]] = []
    missing: list[str] = []
    for sku, seq, want_product, stock_seq, want_level in rows:
        product = cache.get("catalog", store_id, sku, seq) if want_product else None
        level = cache.get("stock", store_id, sku, stock_seq) if want_level and stock_seq is not None else None
        if (want_product and product is None) or (want_level and level is None):
            missing.append(sku)
        texts.append((product, level))
    if missing:
        built = {}
        for sku, seq, product_text, stock_seq, level_text in conn.execute(
                _PAYLOAD_SQL, {"store": store_id, "skus": json.dumps(missing)}):
            product, level = product_text.encode(), level_text.encode() if level_text is not None else None
            cache.put("catalog", store_id, sku, seq, product)
            if level is not None:
                cache.put("stock", store_id, sku, stock_seq, level)
            built[sku] = (product, level)
        # In one read transaction with the scan: every missing row is there, at the seq the scan saw.
        texts = [(built[row[0]][0] if row[2] else None, built[row[0]][1] if row[4] else None)
                 if row[0] in built else text for row, text in zip(rows, texts, strict=True)]
    return texts
