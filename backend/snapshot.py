"""Pages of a store's catalogue and stock for a device that syncs by request instead of by retained messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.db import Store
from mqtt.payloads import MAX_PAYLOAD_BYTES, utcnow
from mqtt.rpc import RawResult

# Room left in a reply for its envelope (id, cursor, as_of).
PAGE_BUDGET = MAX_PAYLOAD_BYTES - 1024
MAX_ITEMS = 1000
BATCH = 128

# Each entry as its retained payload (catalog.product_payload, stock.level), written by SQLite: a page holds about
# a hundred products, and building them as models in Python cost the backend 130 µs a product.
_ON_HAND = "(SELECT coalesce(sum(quantity), 0) FROM stock k WHERE k.store = sp.store AND k.sku = sp.sku)"
_AT = "coalesce((SELECT quantity FROM stock k WHERE k.store = sp.store AND k.sku = sp.sku AND k.location = '{}'), 0)"
_BATCH_SQL = f"""
SELECT sp.sku,
    CASE WHEN :since = '' OR max(sp.updated_at, p.updated_at) >= :since THEN json_object(
        'sku', sp.sku, 'store', sp.store,
        'gtins', (SELECT json_group_array(gtin) FROM (SELECT gtin FROM gtins WHERE sku = sp.sku ORDER BY gtin)),
        'names', (SELECT json_group_object(locale, name) FROM product_names WHERE sku = sp.sku),
        'brand', p.brand, 'category', p.category, 'unit', p.unit, 'shelf_location', sp.shelf_location,
        'price', json_object('amount', sp.price, 'currency', s.currency),
        'image', p.image, 'vision_label', p.vision_label, 'seq', sp.seq,
        'updated_at', max(sp.updated_at, p.updated_at)) END,
    CASE WHEN st.seq IS NOT NULL AND (:since = '' OR st.updated_at >= :since) THEN json_object(
        'sku', sp.sku, 'store', sp.store, 'available', max(0, {_ON_HAND} - st.reserved), 'on_hand', {_ON_HAND},
        'reserved', st.reserved, 'shelf', {_AT.format("shelf")}, 'backroom', {_AT.format("backroom")},
        'seq', st.seq, 'updated_at', st.updated_at) END
FROM store_products sp
JOIN products p ON p.sku = sp.sku
JOIN stores s ON s.id = sp.store
LEFT JOIN stock_state st ON st.store = sp.store AND st.sku = sp.sku
WHERE sp.store = :store AND sp.sku > :after
    AND (:since = '' OR max(sp.updated_at, p.updated_at) >= :since OR st.updated_at >= :since)
ORDER BY sp.sku LIMIT :count
"""


@dataclass(frozen=True)
class Page:
    """Catalogue entries and stock levels (JSON texts) of consecutive SKUs; ``next`` is None on the last page."""

    products: list[str]
    stock: list[str]
    next: str | None
    as_of: str

    def to_result(self) -> RawResult:
        """The ``catalog.snapshot`` result, serialised once."""
        cursor = "null" if self.next is None else f'"{self.next}"'  # a SKU needs no escaping
        return RawResult((f'{{"products":[{",".join(self.products)}],"stock":[{",".join(self.stock)}],'
                          f'"next":{cursor},"as_of":"{self.as_of}"}}').encode())


def page(store: Store, store_id: str, after: str = "", since: datetime | None = None, limit: int = 500,
         budget: int = PAGE_BUDGET, batch: int = BATCH) -> Page:
    """The next page of a store's catalogue entries and stock levels in SKU order, as their retained payloads.

    With ``since``, only entries changed at or after it (a device catching up after a reconnect). ``as_of`` is the
    backend time before reading: a device that asks again with ``since=as_of`` misses nothing.
    """
    as_of = utcnow().isoformat()
    limit = max(1, min(limit, MAX_ITEMS))
    since_text = since.isoformat() if since else ""
    products: list[str] = []
    levels: list[str] = []
    size, taken, cursor = 0, 0, after
    while taken < limit:
        # A batch at a time: a page of a catalogue with long names holds far fewer than ``limit`` entries.
        count = min(batch, limit - taken)
        with store.lock:
            rows = store.conn.execute(_BATCH_SQL, {"store": store_id, "after": cursor, "count": count,
                                                   "since": since_text}).fetchall()
        for sku, product, level in rows:
            cost = len(product.encode()) + 1 if product else 0
            cost += len(level.encode()) + 1 if level else 0
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
