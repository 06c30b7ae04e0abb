"""A device-side mirror of a store's retained catalogue and stock that ignores stale or invalid updates."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mqtt import topics
from mqtt.client import Message, MqttClient
from mqtt.payloads import PayloadError, Product, StockLevel, decode

log = logging.getLogger(__name__)

T = TypeVar("T", Product, StockLevel)


@dataclass(frozen=True)
class Rejection:
    """Why one received message was not applied."""

    topic: str
    reason: str


class SeqMirror(Generic[T]):
    """Latest payload per (store, sku); an update whose seq is not newer is dropped and counted."""

    def __init__(self, model: type[T], kind: str) -> None:
        self.model = model
        self.kind = kind
        self._items: dict[tuple[str, str], T] = {}
        self._lock = threading.Lock()
        self.rejections: list[Rejection] = []
        self.listeners: list[Callable[[T], None]] = []

    def apply(self, message: Message) -> T | None:
        """Validate and apply one message; returns the payload when it was newer."""
        try:
            where = topics.parse(message.topic)
            if where.kind != self.kind:
                raise PayloadError(f"expected a {self.kind} topic")
            item = decode(self.model, message.payload)
            if (item.store, item.sku) != (where.store, where.key):
                raise PayloadError(f"payload names {item.store}/{item.sku}, topic names {where.store}/{where.key}")
        except (PayloadError, topics.TopicError) as exc:
            self._reject(message.topic, str(exc))
            return None
        key = (item.store, item.sku)
        with self._lock:
            current = self._items.get(key)
            if current is not None and item.seq <= current.seq:
                stale = f"stale seq {item.seq} (have {current.seq})"
            else:
                stale = ""
                self._items[key] = item
        if stale:
            self._reject(message.topic, stale)
            return None
        for listener in list(self.listeners):
            listener(item)
        return item

    def get(self, store: str, sku: str) -> T | None:
        """The latest payload of one item, if any arrived."""
        with self._lock:
            return self._items.get((store, sku))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _reject(self, topic: str, reason: str) -> None:
        with self._lock:
            self.rejections.append(Rejection(topic, reason))
            del self.rejections[:-100]
        log.warning("ignored %s: %s", topic[:160], reason)


class StoreMirror:
    """Catalogue and stock of one store, mirrored from the retained topics."""

    def __init__(self, client: MqttClient, store: str) -> None:
        self.store = store
        self.catalog: SeqMirror[Product] = SeqMirror(Product, "catalog")
        self.stock: SeqMirror[StockLevel] = SeqMirror(StockLevel, "stock")
        # QoS 0, as edge.Edge: retained state loses nothing within a TCP connection and is sent again after a
        # reconnect; QoS 1 would add a PUBACK per device per change, which the broker cannot afford at fan-out.
        self._unsubscribe = [
            client.subscribe(topics.catalog_filter(store), self.catalog.apply, qos=0),
            client.subscribe(topics.stock_filter(store), self.stock.apply, qos=0),
        ]

    def close(self) -> None:
        """Stop mirroring."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
