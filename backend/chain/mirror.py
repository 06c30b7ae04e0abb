"""The other stores' stock as it reaches this store over the bridge, and how fresh it is.

Levels come from the retained ``aisle/v1/{store}/stock/+`` messages the bridge brings in; the local broker keeps them
retained, so a restarted backend has them again at once. A store is *live* while its heartbeat is recent and this
store's own link to the centre is up; otherwise its levels are shown as last known at its last heartbeat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mqtt import topics
from mqtt.chain import SiteLive
from mqtt.client import Message
from mqtt.payloads import PayloadError, StockLevel, StoreDetails, decode, utcnow

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER = timedelta(minutes=2)  # four missed heartbeats (mqtt.chain: every 30 s)


@dataclass(frozen=True)
class RemoteLevel:
    """One product's stock in another store, as last received."""

    available: int
    on_hand: int
    seq: int
    updated_at: datetime


class NearbyMirror:
    """Other stores' details, stock and heartbeats, fed by the MQTT dispatcher and read by request handlers."""

    def __init__(self, home: str, *, stale_after: timedelta = DEFAULT_STALE_AFTER,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.home = home
        self.stale_after = stale_after
        self.clock = clock
        self.link_up: bool | None = None  # None: no bridge notification seen (a single broker, no centre)
        self.link_down_at: datetime | None = None
        self.rejected = 0
        self._lock = threading.Lock()
        self._own = f"{topics.PREFIX}/{home}/"
        self._levels: dict[str, dict[str, RemoteLevel]] = {}  # sku -> store -> level: a query reads one sku
        self._stores: dict[str, StoreDetails] = {}
        self._heard: dict[str, datetime] = {}

    # -- fed by the dispatcher ----------------------------------------------

    def on_stock(self, message: Message) -> None:
        """A stock level of any store (this store's own are ignored: the database has them)."""
        if message.topic.startswith(self._own) or not message.payload:
            return  # cheaply: this store publishes its own stock at the full rate of its sales
        store = _store_of(message.topic)
        level = self._decode(StockLevel, message) if store is not None else None
        if level is None or level.store != store:
            return
        with self._lock:
            per_store = self._levels.setdefault(level.sku, {})
            old = per_store.get(store)
            if old is None or level.seq > old.seq:  # a replayed or reordered message never wins
                per_store[store] = RemoteLevel(level.available, level.on_hand, level.seq, level.updated_at)

    def on_info(self, message: Message) -> None:
        """Another store's details (name, kind, location, currency)."""
        store = _store_of(message.topic)
        if store is None or store == self.home or not message.payload:
            return
        details = self._decode(StoreDetails, message)
        if details is not None and details.store == store:
            with self._lock:
                self._stores[store] = details

    def on_live(self, message: Message) -> None:
        """A site's heartbeat."""
        if not message.payload:
            return
        live = self._decode(SiteLive, message)
        try:
            where = topics.parse_chain(message.topic)
        except topics.TopicError:
            return
        if live is not None and live.site == where.store and live.state == "online":
            with self._lock:
                if live.at > self._heard.get(live.site, live.at - timedelta(seconds=1)):
                    self._heard[live.site] = live.at

    def on_link(self, message: Message) -> None:
        """The local bridge's notification: "1" while connected to the centre, "0" when cut."""
        up = message.payload.strip() == b"1"
        if self.link_up is not False and not up:
            self.link_down_at = self.clock()
        self.link_up = up
        log.info("link to the chain's central broker is %s", "up" if self.link_up else "DOWN")

    def _decode(self, model: type, message: Message) -> Any:
        try:
            return decode(model, message.payload)
        except PayloadError as exc:
            self.rejected += 1
            log.warning("ignored %s from the chain: %s", message.topic[:120], exc)
            return None

    # -- read by handlers ---------------------------------------------------

    def heard(self, site: str) -> datetime | None:
        """When a site's newest heartbeat was sent."""
        with self._lock:
            return self._heard.get(site)

    def last_known(self, site: str) -> datetime | None:
        """Until when a site's levels are known to have been current: its last heartbeat, or, if it was still live
        when this store's link went down, that moment."""
        heard, down = self.heard(site), self.link_down_at
        if heard is not None and down is not None and not self.link_up and down - heard <= self.stale_after:
            return max(heard, down)
        return heard

    def is_live(self, site: str) -> bool:
        """Whether a site's levels can be shown as live now."""
        heard = self.heard(site)
        return self.link_up is not False and heard is not None and self.clock() - heard <= self.stale_after

    def stores(self) -> dict[str, StoreDetails]:
        """Every other store whose details arrived."""
        with self._lock:
            return dict(self._stores)

    def entries(self, sku: str) -> list[dict[str, Any]]:
        """Each other store holding the product: details, level, and whether it is live or last known (and when)."""
        with self._lock:
            found = [(store, level, self._stores.get(store)) for store, level in self._levels.get(sku, {}).items()]
        result = []
        for store, level, details in found:
            live = self.is_live(store)
            heard = self.last_known(store)
            result.append({
                "store": store, "name": details.name if details else store,
                "kind": details.kind if details else "store", "available": level.available,
                "lat": details.lat if details else None, "lon": details.lon if details else None,
                "seq": level.seq, "live": live,
                "as_of": None if live else (heard or level.updated_at).isoformat(),
            })
        return result

    def size(self) -> int:
        """How many remote levels are held."""
        with self._lock:
            return sum(len(per_store) for per_store in self._levels.values())


def _store_of(topic: str) -> str | None:
    try:
        return topics.parse(topic).store
    except topics.TopicError:
        return None
