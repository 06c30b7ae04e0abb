"""Pages of a store's catalogue and stock for a device that syncs by request instead of by retained messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from backend.db import Store
from mqtt.payloads import MAX_PAYLOAD_BYTES, utcnow

# Room left in a reply for its envelope (id, cursor, as_of) and JSON escaping differences.
PAGE_BUDGET = MAX_PAYLOAD_BYTES - 4096
MAX_ITEMS = 1000
BATCH = 128


@dataclass(frozen=True)
class Page:
    """Catalogue entries and stock levels of consecutive SKUs, and the SKU to continue after (None: the last)."""

    products: list[dict[str, Any]]
    stock: list[dict[str, Any]]
    next: str | None
    as_of: str

    def to_json(self) -> dict[str, Any]:
        """The ``catalog.snapshot`` reply."""
        return {"products": self.products, "stock": self.stock, "next": self.next, "as_of": self.as_of}


def page(store: Store, store_id: str, after: str = "", since: datetime | None = None, limit: int = 500,
         budget: int = PAGE_BUDGET, batch: int = BATCH) -> Page:
    """The next page of a store's catalogue entries and stock levels in SKU order, as their retained payloads.

    With ``since``, only entries changed at or after it (a device catching up after a reconnect). ``as_of`` is the
    backend time before reading: a device that asks again with ``since=as_of`` misses nothing.
    """
    as_of = utcnow().isoformat()
    limit = max(1, min(limit, MAX_ITEMS))
    since_text = since.isoformat() if since else ""
    products: list[dict[str, Any]] = []
    levels: list[dict[str, Any]] = []
    size, taken, cursor = 0, 0, after
    while taken < limit:
        # A batch at a time: a page of a catalogue with long names holds far fewer than ``limit`` entries.
        count = min(batch, limit - taken)
        rows, names, gtins, quantities = _read_batch(store, store_id, cursor, since_text, count)
        for row in rows:
            sku = row[0]
            product_changed = not since_text or (row[9] or "") >= since_text
            stock_changed = row[12] is not None and (not since_text or row[13] >= since_text)
            product = _product(store_id, row, names.get(sku, {}), gtins.get(sku, [])) if product_changed else None
            level = _level(store_id, sku, row, quantities.get(sku, {})) if stock_changed else None
            cost = len(json.dumps([product, level], ensure_ascii=False).encode())
            if size + cost > budget and taken:
                return Page(products, levels, cursor, as_of)
            size, taken, cursor = size + cost, taken + 1, sku
            if product is not None:
                products.append(product)
            if level is not None:
                levels.append(level)
        if len(rows) < count:
            return Page(products, levels, None, as_of)
    return Page(products, levels, cursor, as_of)


def _read_batch(store: Store, store_id: str, after: str, since: str, count: int) -> tuple[
        list[Any], dict[str, dict[str, str]], dict[str, list[str]], dict[str, dict[str, int]]]:
    with store.lock:
        rows = store.conn.execute(
            "SELECT sp.sku, p.brand, p.category, p.unit, p.image, p.vision_label, sp.price, sp.shelf_location,"
            " sp.seq, max(sp.updated_at, p.updated_at), s.currency, st.reserved, st.seq, st.updated_at"
            " FROM store_products sp JOIN products p ON p.sku = sp.sku JOIN stores s ON s.id = sp.store"
            " LEFT JOIN stock_state st ON st.store = sp.store AND st.sku = sp.sku"
            " WHERE sp.store = ? AND sp.sku > ?"
            " AND (? = '' OR max(sp.updated_at, p.updated_at) >= ? OR st.updated_at >= ?)"
            " ORDER BY sp.sku LIMIT ?",
            [store_id, after, since, since, since, count]).fetchall()
        skus = json.dumps([r[0] for r in rows])
        names: dict[str, dict[str, str]] = {}
        for sku, locale, name in store.conn.execute(
                "SELECT sku, locale, name FROM product_names WHERE sku IN (SELECT value FROM json_each(?))"
                " ORDER BY sku, locale", [skus]):
            names.setdefault(sku, {})[locale] = name
        gtins: dict[str, list[str]] = {}
        for gtin, sku in store.conn.execute(
                "SELECT gtin, sku FROM gtins WHERE sku IN (SELECT value FROM json_each(?)) ORDER BY sku, gtin",
                [skus]):
            gtins.setdefault(sku, []).append(gtin)
        quantities: dict[str, dict[str, int]] = {}
        for sku, location, quantity in store.conn.execute(
                "SELECT sku, location, quantity FROM stock WHERE store = ? AND sku IN (SELECT value FROM json_each(?))",
                [store_id, skus]):
            quantities.setdefault(sku, {})[location] = quantity
    return rows, names, gtins, quantities


def _product(store_id: str, row: Any, names: dict[str, str], gtins: list[str]) -> dict[str, Any]:
    # The retained catalogue payload (catalog.product_payload), built without a model: a page holds hundreds.
    return {
        "sku": row[0], "store": store_id, "gtins": gtins, "names": names, "brand": row[1], "category": row[2],
        "unit": row[3], "shelf_location": row[7],
        "price": {"amount": format(Decimal(row[6]), "f"), "currency": row[10]},
        "image": row[4], "vision_label": row[5], "seq": row[8], "updated_at": row[9] or utcnow().isoformat(),
    }


def _level(store_id: str, sku: str, row: Any, quantities: dict[str, int]) -> dict[str, Any]:
    # The retained stock payload (stock.level).
    on_hand = sum(quantities.values())
    return {
        "sku": sku, "store": store_id, "available": max(0, on_hand - row[11]), "on_hand": on_hand,
        "reserved": row[11], "shelf": quantities.get("shelf", 0), "backroom": quantities.get("backroom", 0),
        "seq": row[12], "updated_at": row[13],
    }
