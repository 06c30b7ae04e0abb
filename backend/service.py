"""The backend service: publishes retained catalogue and stock, answers device requests."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from backend import alerts, badges, catalog, recalls, roles, stock
from backend.alert_handlers import AlertHandlers
from backend.carts import DEFAULT_PUBLIC_URL
from backend.chain.link import ChainLink
from backend.cutoffs import Cutoffs
from backend.db import Database
from backend.group_commit import BATCHED_OPS, GroupCommit
from backend.holds import HoldLimits
from backend.limits import DEFAULT_LIMITS, RequestLimits
from backend.payload_cache import PayloadCache
from backend.phones import PhoneRegistry
from backend.retention import Housekeeping, RetentionPolicy
from backend.shop_handlers import ShopHandlers
from backend.state_marker import StateMarker
from mqtt import payloads, topics
from mqtt.admission import Admission
from mqtt.batching import Batcher
from mqtt.client import MqttClient, Will
from mqtt.commerce import Event
from mqtt.payloads import DeviceRole, DeviceStatus, ErrorCode, encode
from mqtt.routes import device_route
from mqtt.rpc import OpError, OpHandler, RequestContext, RpcServer
from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)

BACKEND_ID = "backend-main"
RECONNECT_DELAY = 3.0  # the longest wait between the backend's reconnect attempts


class BackendService:
    """Owns the database and one MQTT connection; the truth every device mirrors."""

    def __init__(self, db: Database, url: BrokerUrl, *, backend_id: str = BACKEND_ID,
                 watch_interval: float = 1.0, public_url: str = DEFAULT_PUBLIC_URL,
                 clock: Callable[[], datetime] = payloads.utcnow,
                 escalate_after: timedelta = alerts.DEFAULT_ESCALATE_AFTER, alert_tick: float = 5.0,
                 limits: HoldLimits | None = None, retention: RetentionPolicy | None = None,
                 admin_url: BrokerUrl | None = None, state_url: BrokerUrl | None = None,
                 request_limits: RequestLimits | None = DEFAULT_LIMITS,
                 reports: alerts.ReportPolicy | None = None, site: str | None = None,
                 group_commit: bool = True) -> None:
        self.db = db
        # A store of a chain (backend/chain/): it publishes only its own store's state, mirrors its neighbours' stock
        # from the bridge and applies HQ's catalogue. Without it, one backend serves every store in its database.
        self.site = site
        self.backend_id = backend_id
        self._republish_all = threading.Event()  # set when the broker lost what was published
        offline = DeviceStatus(device=backend_id, role=DeviceRole.BACKEND, state="offline")
        # One backend: it should come back as soon as the broker does, not spread out like a store's kiosks.
        # No cap on replies in flight: their acknowledgements come back behind the incoming requests, and under a
        # request flood a cap of 100 held every shopper's reply until they did (bench/abuse.py).
        self.client = MqttClient(url, backend_id, will=Will(topics.backend_status(backend_id), encode(offline)),
                                 max_reconnect_delay=RECONNECT_DELAY, max_inflight=0)
        # State goes out on a connection of its own: on one shared connection the broker drained requests,
        # replies and the retained fan-out in turn, and stock updates queued behind them (bench/stock_fanout.py).
        # In production it has a login of its own too (``state_url``): the broker pins client ids to logins.
        self.publisher = MqttClient(state_url or url, f"{backend_id}-state", max_reconnect_delay=RECONNECT_DELAY)
        self.marker = StateMarker(self.publisher, backend_id, self._republish_all.set)
        self.clock = clock
        self.escalate_after = escalate_after
        self.alert_handlers = AlertHandlers(db, clock, self.publish_alert, self._publish_stock_locked, reports)
        # Every payload published, by seq: a device's snapshot pages are made of them (backend/payload_cache.py).
        self.payload_cache = PayloadCache()
        self.shop_handlers = ShopHandlers(db, self._publish_stock_locked, self.send_event, public_url,
                                          after_stock_change=self.alert_handlers.after_stock_change,
                                          payload_cache=self.payload_cache, limits=limits, clock=lambda: self.clock())
        self.housekeeping = Housekeeping(db, lambda: self.clock(), self.shop_handlers.expire_unpaid_orders,
                                         retention or RetentionPolicy(), self._retract_alert)
        table = {**self.shop_handlers.table(), **self.alert_handlers.table()}
        # Shopper phones need the broker's dynamic security plugin and the login allowed to drive it (production).
        self.phones = PhoneRegistry(db, MqttClient(admin_url, f"{backend_id}-admin"),
                                    send_event=self.send_event) if admin_url else None
        if self.phones is not None:
            table.update(self.phones.table())
        def role_of(store_id: str, device: str) -> str:
            return roles.role_of(self.db, device, store_id)

        # With the plugin there, a device that floods after being refused is also disconnected for its penalty.
        self.cutoffs = Cutoffs(self.phones.admin, role_of, self.phones.enable_unless_revoked) if self.phones else None
        # Queued stock changes and orders share one commit, each in its own savepoint (backend/group_commit.py).
        # In a chain an order may be held at another store first, a network round trip that must not keep a batch's
        # transaction (and the database) waiting: there only stock changes share a commit.
        self.group_commit = GroupCommit(db, BATCHED_OPS if site is None else frozenset({"stock.adjust"}))
        table = self.group_commit.wrap(table)
        admission = None
        if request_limits is not None:
            admission = Admission(request_limits, on_penalty=self.cutoffs.request if self.cutoffs else None)
        self.rpc = RpcServer(self.client, {name: _storage_guard(handler) for name, handler in table.items()},
                             identify=role_of,
                             authorize=lambda ctx: roles.may(ctx.role, ctx.op),
                             # Per-device budgets and a bounded queue (backend/limits.py); None: the old unbounded path.
                             admission=admission, route=device_route(site))
        if group_commit:  # off only to measure what it buys (bench/stock_fanout.py --no-group-commit)
            self.rpc.batcher = Batcher(self.group_commit)
        self._published_alerts: dict[tuple[str, str], tuple[int, int]] = {}
        self._alert_tick = alert_tick
        self._published_stores: dict[str, catalog.StoreInfo] = {}
        self._published_stock: dict[tuple[str, str], int] = {}
        self._published_catalog: dict[tuple[str, str], int] = {}
        self._published_revocations: dict[str, int] = {}  # store -> seq of its staff badge revocation list
        self._published_recalls: dict[str, int] = {}  # store -> seq of its recall list
        self._publish_lock = threading.Lock()
        self._cleanup: list[Callable[[], None]] = []
        self._watch_interval = watch_interval
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._data_version = 0
        self.chain: ChainLink | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Connect, publish every retained message, then start answering requests."""
        self.client.connect(timeout)
        self.publisher.connect(timeout)
        if self.phones is not None:
            self.phones.start(timeout)
            self._cleanup.append(self.phones.stop)
        if self.cutoffs is not None:
            self.cutoffs.start()
            self._cleanup.append(self.cutoffs.stop)
        self._data_version = self.db.data_version()
        self._sweep_alerts()
        count = self.publish_changes()
        self.marker.flush()
        self.marker.start()
        self._cleanup.append(self.marker.stop)
        if self.site is not None:
            self.chain = ChainLink(self.db, self.client, self.site, on_applied=self.publish_changes,
                                   on_stock_changed=self._site_stock_changed,
                                   clock=lambda: self.clock())
            self.shop_handlers.chain = self.chain
            self.chain.start()
            self._cleanup.append(self.chain.stop)
        self.rpc.start()
        self.client.wait_subscribed(topics.request_filter(self.site or "+"), timeout)
        self._publish_online()
        # The Last Will marked us offline when the connection dropped: say online again after every reconnect.
        self._cleanup.append(self.client.add_connection_listener(lambda up: up and self._publish_online()))
        self._watcher = threading.Thread(target=self._watch, name="backend-db-watch", daemon=True)
        self._watcher.start()
        log.info("backend %s serving on %s: published %d retained messages", self.backend_id, self.client.url,
                 count)

    def _publish_online(self) -> None:
        online = DeviceStatus(device=self.backend_id, role=DeviceRole.BACKEND, state="online",
                              since=payloads.utcnow())
        self.client.publish(topics.backend_status(self.backend_id), encode(online), qos=1, retain=True)

    def stop(self) -> None:
        """Mark the backend offline and disconnect."""
        self._stop.set()
        for undo in reversed(self._cleanup):
            undo()
        self._cleanup = []
        if self._watcher:
            self._watcher.join(5)
        self.rpc.stop()  # queued requests are answered "unavailable" before the connection goes
        offline = DeviceStatus(device=self.backend_id, role=DeviceRole.BACKEND, state="offline",
                               since=payloads.utcnow())
        if self.client.connected:  # otherwise the broker already published our Last Will, which says the same
            info = self.client.publish(topics.backend_status(self.backend_id), encode(offline), qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):  # the link went down meanwhile: the Last Will covers it
                log.info("could not say offline before closing: the broker connection is gone")
        self.publisher.close()
        self.client.close()

    # -- publishing ---------------------------------------------------------

    def publish_changes(self) -> int:
        """Publish every catalogue and stock entry whose seq moved past what was last published."""
        with self._publish_lock:
            count = 0
            for info in catalog.stores(self.db):
                if self._published_stores.get(info.id) != info and self._ours(info.id):
                    details = catalog.store_payload(info, payloads.utcnow())
                    self.publisher.publish(topics.store_info(info.id), encode(details), qos=1, retain=True)
                    self._published_stores[info.id] = info
                    count += 1
            for key, seq in catalog.catalog_versions(self.db).items():
                if self._published_catalog.get(key, 0) < seq and self._ours(key[0]):
                    count += self._publish_catalog(*key)
            for key, seq in stock.stock_versions(self.db).items():
                if self._published_stock.get(key, 0) < seq and self._ours(key[0]):
                    self._publish_stock(stock.level(self.db, *key))
                    count += 1
            for (store_id, alert_id), seq in alerts.versions(self.db).items():
                if self._published_alerts.get((store_id, alert_id), (0, 0))[0] < seq:
                    self._publish_alert_unlocked(alert_id)
                    count += 1
            count += badges.publish_revocations(self.db, self.publisher, self._published_revocations)
            count += recalls.publish(self.db, self.publisher, self._published_recalls, payloads.utcnow(), self._ours)
            return count

    def _site_stock_changed(self, skus: list[str]) -> None:
        # Units held, released or sold here for another store's order (backend/chain/remote_orders.py).
        for sku in dict.fromkeys(skus):
            self._publish_stock_locked(stock.level(self.db, str(self.site), sku))
            self.alert_handlers.after_stock_change(str(self.site), sku)

    def _ours(self, store_id: str) -> bool:
        # In a chain the neighbours' retained state comes over the bridge: publishing a copy would contend with it.
        return self.site is None or store_id == self.site

    def publish_alert(self, alert_id: str) -> None:
        """Publish the retained state of one alert."""
        with self._publish_lock:
            self._publish_alert_unlocked(alert_id)

    def _publish_alert_unlocked(self, alert_id: str) -> None:
        alert = alerts.payload(self.db, alert_id, self.clock())
        self.publisher.publish(topics.alert(alert.store, alert.alert_id), encode(alert), qos=1, retain=True)
        self._published_alerts[(alert.store, alert.alert_id)] = (alert.seq, alert.priority)

    def _retract_alert(self, store_id: str, alert_id: str) -> None:
        """Take a deleted alert's retained message off the broker."""
        with self._publish_lock:
            self.publisher.publish(topics.alert(store_id, alert_id), b"", qos=1, retain=True)
            self._published_alerts.pop((store_id, alert_id), None)

    def tick_alerts(self) -> None:
        """Escalate alerts left unclaimed too long and republish live alerts whose priority moved."""
        now = self.clock()
        for alert_id in alerts.escalate_due(self.db, now, self.escalate_after):
            log.info("alert %s escalated", alert_id)
        with self._publish_lock:
            for store_id, alert_id in alerts.live(self.db):
                current = alerts.payload(self.db, alert_id, now)
                seq, prio = self._published_alerts.get((store_id, alert_id), (0, -1))
                if current.seq > seq or current.priority != prio:
                    if current.seq <= seq:  # same state, new priority: a new seq so devices take it
                        alerts.bump(self.db, alert_id, now)
                    self._publish_alert_unlocked(alert_id)

    def _publish_catalog(self, store_id: str, sku: str) -> int:
        product = catalog.product_payload(self.db, store_id, sku)
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
                self.housekeeping.tick()  # unpaid orders past their deadline; retention now and then
                version = self.db.data_version()
                if version != self._data_version:
                    self._data_version = version
                    self._sweep_alerts()
                    changed = self.publish_changes()
                    if changed:
                        log.info("published %d entries changed outside the service", changed)
                if self._republish_all.is_set():
                    self._republish_all.clear()
                    log.info("republished %d retained messages the broker had lost", self.republish_all())
                self.marker.flush()
            except Exception:
                log.exception("database watch failed; retrying")

    def republish_all(self) -> int:
        """Publish every retained message again, as on a first start (the broker lost them)."""
        with self._publish_lock:
            for published in (self._published_stores, self._published_stock, self._published_catalog,
                              self._published_alerts, self._published_revocations, self._published_recalls):
                published.clear()
        return self.publish_changes()

    def _sweep_alerts(self) -> None:
        # Stock that arrived at or below its threshold (demo data, an import) never crossed it here.
        try:
            opened = alerts.sweep(self.db, self.clock())
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
