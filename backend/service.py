"""The backend service: publishes retained catalogue and stock, answers device requests."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from backend import alerts, catalog, roles, stock
from backend.alert_ops import AlertOperations
from backend.carts import DEFAULT_PUBLIC_URL
from backend.db import Store
from backend.operations import Operations
from backend.payload_cache import PayloadCache
from mqtt import payloads, topics
from mqtt.client import MqttClient, Will
from mqtt.commerce import Event
from mqtt.payloads import DeviceRole, DeviceStatus, ErrorCode, encode
from mqtt.rpc import OpError, OpHandler, RequestContext, RpcServer
from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)

BACKEND_ID = "backend-main"


class BackendService:
    """Owns the database and one MQTT connection; the truth every device mirrors."""

    def __init__(self, store: Store, url: BrokerUrl, *, backend_id: str = BACKEND_ID,
                 watch_interval: float = 1.0, public_url: str = DEFAULT_PUBLIC_URL,
                 clock: Callable[[], datetime] = payloads.utcnow,
                 escalate_after: timedelta = alerts.DEFAULT_ESCALATE_AFTER, alert_tick: float = 5.0) -> None:
        self.store = store
        self.backend_id = backend_id
        offline = DeviceStatus(device=backend_id, role=DeviceRole.BACKEND, state="offline")
        self.client = MqttClient(url, backend_id, will=Will(topics.backend_status(backend_id), encode(offline)))
        # State goes out on a connection of its own: on one shared connection the broker drained requests,
        # replies and the retained fan-out in turn, and stock updates queued behind them (bench/stock_fanout.py).
        self.publisher = MqttClient(url, f"{backend_id}-state")
        self.clock = clock
        self.escalate_after = escalate_after
        self.alert_ops = AlertOperations(store, clock, self.publish_alert, self._publish_stock_locked)
        # Every payload published, by seq: a device's snapshot pages are made of them (backend/payload_cache.py).
        self.payload_cache = PayloadCache()
        self.operations = Operations(store, self._publish_stock_locked, self.send_event, public_url,
                                     after_stock_change=self.alert_ops.after_stock_change,
                                     payload_cache=self.payload_cache)
        table = {**self.operations.table(), **self.alert_ops.table()}
        self.rpc = RpcServer(self.client, {name: _storage_guard(handler) for name, handler in table.items()},
                             identify=lambda store_id, device: roles.role_of(self.store, device, store_id),
                             authorize=lambda ctx: roles.may(ctx.role, ctx.op))
        self._published_alerts: dict[tuple[str, str], tuple[int, int]] = {}
        self._alert_tick = alert_tick
        self._published_stores: dict[str, catalog.StoreInfo] = {}
        self._published_stock: dict[tuple[str, str], int] = {}
        self._published_catalog: dict[tuple[str, str], int] = {}
        self._publish_lock = threading.Lock()
        self._watch_interval = watch_interval
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._data_version = 0

    def start(self, timeout: float = 10.0) -> None:
        """Connect, publish every retained message, then start answering requests."""
        self.client.connect(timeout)
        self.publisher.connect(timeout)
        self._data_version = self.store.data_version()
        self._sweep_alerts()
        count = self.publish_changes()
        self.rpc.start()
        self.client.wait_subscribed(topics.request_filter(), timeout)
        online = DeviceStatus(device=self.backend_id, role=DeviceRole.BACKEND, state="online",
                              since=payloads.utcnow())
        self.client.publish(topics.backend_status(self.backend_id), encode(online), qos=1, retain=True)
        self._watcher = threading.Thread(target=self._watch, name="backend-db-watch", daemon=True)
        self._watcher.start()
        log.info("backend %s serving on %s: published %d retained messages", self.backend_id, self.client.url,
                 count)

    def stop(self) -> None:
        """Mark the backend offline and disconnect."""
        self._stop.set()
        if self._watcher:
            self._watcher.join(5)
        offline = DeviceStatus(device=self.backend_id, role=DeviceRole.BACKEND, state="offline",
                               since=payloads.utcnow())
        info = self.client.publish(topics.backend_status(self.backend_id), encode(offline), qos=1, retain=True)
        info.wait_for_publish(2)
        self.publisher.close()
        self.client.close()

    # -- publishing ---------------------------------------------------------

    def publish_changes(self) -> int:
        """Publish every catalogue and stock entry whose seq moved past what was last published."""
        with self._publish_lock:
            count = 0
            for info in catalog.stores(self.store):
                if self._published_stores.get(info.id) != info:
                    details = catalog.store_payload(info, payloads.utcnow())
                    self.publisher.publish(topics.store_info(info.id), encode(details), qos=1, retain=True)
                    self._published_stores[info.id] = info
                    count += 1
            for key, seq in catalog.catalog_versions(self.store).items():
                if self._published_catalog.get(key, 0) < seq:
                    count += self._publish_catalog(*key)
            for key, seq in stock.stock_versions(self.store).items():
                if self._published_stock.get(key, 0) < seq:
                    self._publish_stock(stock.level(self.store, *key))
                    count += 1
            for (store_id, alert_id), seq in alerts.versions(self.store).items():
                if self._published_alerts.get((store_id, alert_id), (0, 0))[0] < seq:
                    self._publish_alert_unlocked(alert_id)
                    count += 1
            return count

    def publish_alert(self, alert_id: str) -> None:
        """Publish the retained state of one alert."""
        with self._publish_lock:
            self._publish_alert_unlocked(alert_id)

    def _publish_alert_unlocked(self, alert_id: str) -> None:
        alert = alerts.payload(self.store, alert_id, self.clock())
        self.publisher.publish(topics.alert(alert.store, alert.alert_id), encode(alert), qos=1, retain=True)
        self._published_alerts[(alert.store, alert.alert_id)] = (alert.seq, alert.priority)

    def tick_alerts(self) -> None:
        """Escalate alerts left unclaimed too long and republish live alerts whose priority moved."""
        now = self.clock()
        for alert_id in alerts.escalate_due(self.store, now, self.escalate_after):
            log.info("alert %s escalated", alert_id)
        with self._publish_lock:
            for store_id, alert_id in alerts.live(self.store):
                current = alerts.payload(self.store, alert_id, now)
                seq, prio = self._published_alerts.get((store_id, alert_id), (0, -1))
                if current.seq > seq or current.priority != prio:
                    if current.seq <= seq:  # same state, new priority: a new seq so devices take it
                        alerts.bump(self.store, alert_id, now)
                    self._publish_alert_unlocked(alert_id)

    def _publish_catalog(self, store_id: str, sku: str) -> int:
        product = catalog.product_payload(self.store, store_id, sku)
        data = encode(product)
        self.payload_cache.put("catalog", store_id, sku, product.seq, data)
        self.publisher.publish(topics.catalog(store_id, sku), data, qos=1, retain=True)
        self._published_catalog[(store_id, sku)] = product.seq
        return 1

    def _publish_stock(self, level: payloads.StockLevel) -> None:
        key = (level.store, level.sku)
        # Never publish an older seq over a newer one, even if two changes race here.
        if self._published_stock.get(key, 0) >= level.seq:
            return
        data = encode(level)
        self.payload_cache.put("stock", level.store, level.sku, level.seq, data)
        self.publisher.publish(topics.stock(level.store, level.sku), data, qos=1, retain=True)
        self._published_stock[key] = level.seq

    def _watch(self) -> None:
        # Another process (an import, an admin tool) may commit to the database: publish what it changed.
        last_tick = 0.0
        while not self._stop.wait(self._watch_interval):
            try:
                if time.monotonic() - last_tick >= self._alert_tick:
                    last_tick = time.monotonic()
                    self.tick_alerts()
                version = self.store.data_version()
                if version != self._data_version:
                    self._data_version = version
                    self._sweep_alerts()
                    changed = self.publish_changes()
                    if changed:
                        log.info("published %d entries changed outside the service", changed)
            except Exception:
                log.exception("database watch failed; retrying")

    def _sweep_alerts(self) -> None:
        # Stock that arrived at or below its threshold (demo data, an import) never crossed it here.
        try:
            opened = alerts.sweep(self.store, self.clock())
        except sqlite3.OperationalError as exc:  # a full or read-only disk must not keep the service down
            log.error("cannot open restock alerts for low shelves: %s", exc)
            return
        if opened:
            log.info("opened %d restock alerts for shelves already at their threshold", len(opened))

    def _publish_stock_locked(self, level: payloads.StockLevel) -> None:
        with self._publish_lock:
            self._publish_stock(level)

    def send_event(self, store_id: str, device: str, event: Event) -> None:
        """Push an event to one device (QoS 1, not retained)."""
        self.publisher.publish(topics.event(store_id, device), encode(event), qos=1)


def _storage_guard(handler: OpHandler) -> OpHandler:
    """Answer 'unavailable' when the database cannot be written (disk full), instead of an internal error."""

    def guarded(ctx: RequestContext, args: dict[str, Any]) -> Any:
        try:
            return handler(ctx, args)
        except sqlite3.OperationalError as exc:
            if "full" in str(exc) or "readonly" in str(exc):
                log.error("database cannot be written: %s", exc)
                raise OpError(ErrorCode.UNAVAILABLE, "the store's database cannot be written right now (disk full);"
                              " nothing was changed, try again later") from None
            raise

    return guarded
