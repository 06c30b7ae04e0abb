"""Stock of a product in the other stores of the chain, nearest first."""

from __future__ import annotations

import math
from typing import Any

from backend import catalog, stock
from backend.chain.mirror import NearbyMirror
from backend.db import Database

EARTH_RADIUS_KM = 6371.0


def distance_km(a: tuple[float | None, float | None], b: tuple[float | None, float | None]) -> float | None:
    """Great-circle distance between two (lat, lon) points, or None when either is unknown."""
    if None in a or None in b:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))  # type: ignore[arg-type]
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def nearby_stock(db: Database, store_id: str, sku: str, mirror: NearbyMirror | None = None) -> list[dict[str, Any]]:
    """Every other store and warehouse holding the product: availability, its own price and currency, distance.

    With a chain ``mirror``, a store whose levels came over the bridge is answered from them (live, or last known at
    its last heartbeat); stores in this database answer from it, live.
    """
    stores = catalog.stores(db)
    here = next((s for s in stores if s.id == store_id), None)
    origin = (here.lat, here.lon) if here else (None, None)
    result = []
    remote = mirror.entries(sku) if mirror is not None else []
    for entry in remote:
        lat, lon = entry.pop("lat"), entry.pop("lon")
        entry["price"] = None  # catalogues stay in their stores: only levels travel between them
        entry["distance_km"] = None if (d := distance_km(origin, (lat, lon))) is None else round(d, 1)
        result.append(entry)
    mirrored = {entry["store"] for entry in remote}
    for other in stores:
        if other.id == store_id or other.id in mirrored:
            continue
        try:
            level = stock.level(db, other.id, sku)
        except stock.UnknownItem:
            continue
        with db.lock:
            price = db.conn.execute("SELECT price FROM store_products WHERE store = ? AND sku = ?",
                                       [other.id, sku]).fetchone()
        result.append({
            "store": other.id, "name": other.name, "kind": other.kind, "available": level.available,
            "price": {"amount": price[0], "currency": other.currency} if price else None,
            "distance_km": None if (d := distance_km(origin, (other.lat, other.lon))) is None else round(d, 1),
            "seq": level.seq, "live": True, "as_of": None,
        })
    return sorted(result, key=lambda r: (r["distance_km"] is None, r["distance_km"] or 0.0))
