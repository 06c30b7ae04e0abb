"""Stock and price of one product in the chain's other stores, nearest first, fetched on demand."""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from codes import ids
from edge.cache import LocalCache, Outcome, Payload, RejectedMessage, parse_message
from mqtt import topics
from mqtt.client import Message, MqttClient
from mqtt.payloads import Money, Product, StockLevel, StoreDetails

log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
QUIET = 0.25  # retained messages follow the SUBACK at once; this long without one means no more are coming


@dataclass(frozen=True)
class StoreStock:
    """One other store's stock and price of the product; ``live`` when the broker sent it during this query."""

    store: str
    name: str
    kind: str
    distance_km: float | None
    available: int | None
    on_hand: int | None
    price: Decimal | None
    currency: str | None
    seq: int | None
    updated_at: datetime | None
    received_at: datetime | None
    live: bool

    @property
    def is_warehouse(self) -> bool:
        """Whether this is a warehouse (no shop floor, no shoppers)."""
        return self.kind == "warehouse"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (money as a decimal string)."""
        return {
            "store": self.store, "name": self.name, "kind": self.kind, "warehouse": self.is_warehouse,
            "distance_km": None if self.distance_km is None else round(self.distance_km, 2),
            "available": self.available, "on_hand": self.on_hand,
            "price": None if self.price is None else {"amount": format(self.price, "f"), "currency": self.currency},
            "seq": self.seq, "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "received_at": self.received_at.isoformat() if self.received_at else None, "live": self.live,
        }


@dataclass(frozen=True)
class NearbyStock:
    """A product's stock in the other shops (nearest first) and in the warehouses, listed apart."""

    sku: str
    home: str
    stores: tuple[StoreStock, ...]
    warehouses: tuple[StoreStock, ...]
    missing: tuple[str, ...]  # known stores that sent nothing in time (shown as last known, if cached)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"sku": self.sku, "home": self.home, "stores": [s.to_json() for s in self.stores],
                "warehouses": [w.to_json() for w in self.warehouses], "missing": list(self.missing)}


def from_backend(home: str, sku: str, rows: list[dict[str, Any]]) -> NearbyStock:
    """The backend's ``stock.nearby`` answer as a NearbyStock; raises ValueError for a malformed row."""
    entries = []
    for row in rows:
        if not isinstance(row, dict):
            raise TypeError(f"a nearby row must be an object, not {type(row).__name__}")
        if not isinstance(row.get("live", True), bool):
            raise TypeError("live must be true or false")
        price = Money.model_validate(row["price"]) if row.get("price") else None
        as_of = row.get("as_of")
        entries.append(StoreStock(
            store=ids.store_id(row["store"]), name=str(row.get("name") or row["store"])[:200],
            kind="warehouse" if row.get("kind") == "warehouse" else "store",
            distance_km=None if row.get("distance_km") is None else float(row["distance_km"]),
            available=None if row.get("available") is None else max(0, int(row["available"])), on_hand=None,
            price=price.amount if price else None, currency=price.currency if price else None,
            seq=None if row.get("seq") is None else int(row["seq"]), updated_at=None,
            received_at=datetime.fromisoformat(as_of) if as_of else None, live=row.get("live", True)))
    entries.sort(key=lambda e: (e.distance_km is None, e.distance_km or 0.0, e.store))
    return NearbyStock(sku, home, tuple(e for e in entries if not e.is_warehouse),
                       tuple(e for e in entries if e.is_warehouse),
                       tuple(sorted(e.store for e in entries if not e.live)))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS 84 points in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


class NearbyQuery:
    """Subscribes to ``aisle/v1/+/{stock,catalog}/{sku}``, collects the retained answers, then unsubscribes.

    Everything received is validated and written to the cache (seq guard), so stale or replayed messages never
    win and the next query offline still shows the last known numbers.
    """

    def __init__(self, client: MqttClient, cache: LocalCache, home: str, sku: str, timeout: float = 2.0) -> None:
        self.client = client
        self.cache = cache
        self.home = ids.store_id(home)
        self.sku = ids.sku(sku.upper())
        self.timeout = timeout
        self._filters = (f"{topics.PREFIX}/+/stock/{self.sku}", f"{topics.PREFIX}/+/catalog/{self.sku}")
        self._cond = threading.Condition()
        self._received: list[Payload] = []
        self._last = time.monotonic()
        self.rejected: list[tuple[str, str]] = []

    def start(self) -> Future[NearbyStock]:
        """Run the query on its own thread; the future completes within about ``timeout`` seconds."""
        future: Future[NearbyStock] = Future()
        threading.Thread(target=self._run, args=(future,), name=f"nearby-{self.sku}", daemon=True).start()
        return future

    def run(self) -> NearbyStock:
        """Run the query on this thread (never on the MQTT dispatcher thread: it delivers the answers)."""
        deadline = time.monotonic() + self.timeout
        stores = {s.details.store: s.details for s in self.cache.stores() if s.details.store != self.home}
        unsubscribe = [self.client.subscribe(f, self._on_message, qos=0) for f in self._filters]
        try:
            acked = all(self.client.wait_subscribed(f, max(0.0, deadline - time.monotonic())) for f in self._filters)
            with self._cond:
                self._last = time.monotonic()
                while True:
                    now = time.monotonic()
                    if now >= deadline or (acked and self._complete(stores)) or (acked and now - self._last >= QUIET):
                        break
                    self._cond.wait(min(deadline - now, QUIET / 3))
                received = list(self._received)
        finally:
            for stop in unsubscribe:
                stop()
        return self._result(stores, received)

    def _run(self, future: Future[NearbyStock]) -> None:
        try:
            future.set_result(self.run())
        except Exception as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    def _on_message(self, message: Message) -> None:
        try:
            item = parse_message(message.topic, message.payload)
        except RejectedMessage as exc:
            self.rejected.append((message.topic, str(exc)))
            log.warning("ignored %s: %s", message.topic[:160], exc)
            return
        if not isinstance(item, Product | StockLevel) or item.sku != self.sku or item.store == self.home:
            return  # the home store's own messages reach the device's main subscription as well
        with self._cond:
            self._received.append(item)
            self._last = time.monotonic()
            self._cond.notify_all()

    def _complete(self, stores: dict[str, StoreDetails]) -> bool:
        # Every known store answered: its stock, and its catalogue entry unless it is a warehouse (no prices).
        have = {(type(i).__name__, i.store) for i in self._received}
        return bool(stores) and all(("StockLevel", s) in have and (d.kind == "warehouse" or ("Product", s) in have)
                                    for s, d in stores.items())

    def _result(self, stores: dict[str, StoreDetails], received: list[Payload]) -> NearbyStock:
        outcomes = self.cache.apply_many(received) if received else []
        live = set()
        for item, outcome in zip(received, outcomes, strict=True):
            if outcome is Outcome.STALE:
                self.rejected.append((f"{item.store}/{self.sku}", "stale seq"))
                log.warning("ignored stale %s of %s in %s (seq %d)", type(item).__name__, self.sku, item.store,
                            item.seq)  # type: ignore[union-attr]
            elif isinstance(item, StockLevel):
                live.add(item.store)
        home = self.cache.store_details(self.home)
        origin = home.details if home else None
        names = set(stores) | {i.store for i in received}
        entries = [self._entry(store, stores.get(store), origin, store in live) for store in sorted(names)]
        entries = [e for e in entries if e is not None]
        entries.sort(key=lambda e: (e.distance_km is None, e.distance_km or 0.0, e.store))
        missing = tuple(sorted(s for s in stores if s not in live))
        return NearbyStock(self.sku, self.home, tuple(e for e in entries if not e.is_warehouse),
                           tuple(e for e in entries if e.is_warehouse), missing)

    def _entry(self, store: str, details: StoreDetails | None, origin: StoreDetails | None,
               live: bool) -> StoreStock | None:
        stock = self.cache.stock(store, self.sku)
        product = self.cache.product_by_sku(store, self.sku)
        if stock is None and product is None:
            return None
        distance = None
        if details is not None and origin is not None and None not in (details.lat, details.lon, origin.lat,
                                                                          origin.lon):
            distance = haversine_km(origin.lat, origin.lon, details.lat, details.lon)  # type: ignore[arg-type]
        level = stock.level if stock else None
        price = product.product.price if product else None
        return StoreStock(
            store=store, name=details.name if details else store, kind=details.kind if details else "store",
            distance_km=distance, available=level.available if level else None,
            on_hand=level.on_hand if level else None, price=price.amount if price else None,
            currency=price.currency if price else None, seq=level.seq if level else None,
            updated_at=level.updated_at if level else None, received_at=stock.received_at if stock else None,
            live=live,
        )
