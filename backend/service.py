"""The backend service: publishes retained catalogue and stock, answers device requests."""

from __future__ import annotations

import logging
import threading
from typing import Any

from backend import catalog, stock
from backend.db import Store
from mqtt import payloads, topics
from mqtt.client import MqttClient, Will
from mqtt.payloads import DeviceRole, DeviceStatus, ErrorCode, StockAdjustArgs, StockGetArgs, decode, encode
from mqtt.rpc import OpError, RequestContext, RpcServer
from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)

BACKEND_ID = "backend-main"


class BackendService:
    """Owns the database and one MQTT connection; the truth every device mirrors."""

    def __init__(self, store: Store, url: BrokerUrl, *, backend_id: str = BACKEND_ID,
                 watch_interval: float = 1.0) -> None:
        self.store = store
        self.backend_id = backend_id
        offline = DeviceStatus(device=backend_id, role=DeviceRole.BACKEND, state="offline")
        self.client = MqttClient(url, backend_id, will=Will(topics.backend_status(backend_id), encode(offline)))
        self.rpc = RpcServer(self.client, {
            "stock.adjust": self._op_stock_adjust,
            "stock.get": self._op_stock_get,
            "catalog.get": self._op_catalog_get,
        })
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
        self._data_version = self.store.data_version()
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
        self.client.close()

    # -- publishing ---------------------------------------------------------

    def publish_changes(self) -> int:
        """Publish every catalogue and stock entry whose seq moved past what was last published."""
        with self._publish_lock:
            count = 0
            for info in catalog.stores(self.store):
                if self._published_stores.get(info.id) != info:
                    details = catalog.store_payload(info, payloads.utcnow())
                    self.client.publish(topics.store_info(info.id), encode(details), qos=1, retain=True)
                    self._published_stores[info.id] = info
                    count += 1
            for key, seq in catalog.catalog_versions(self.store).items():
                if self._published_catalog.get(key, 0) < seq:
                    count += self._publish_catalog(*key)
            for key, seq in stock.stock_versions(self.store).items():
                if self._published_stock.get(key, 0) < seq:
                    self._publish_stock(stock.level(self.store, *key))
                    count += 1
            return count

    def _publish_catalog(self, store_id: str, sku: str) -> int:
        product = catalog.product_payload(self.store, store_id, sku)
        self.client.publish(topics.catalog(store_id, sku), encode(product), qos=1, retain=True)
        self._published_catalog[(store_id, sku)] = product.seq
        return 1

    def _publish_stock(self, level: payloads.StockLevel) -> None:
        key = (level.store, level.sku)
        # Never publish an older seq over a newer one, even if two changes race here.
        if self._published_stock.get(key, 0) >= level.seq:
            return
        self.client.publish(topics.stock(level.store, level.sku), encode(level), qos=1, retain=True)
        self._published_stock[key] = level.seq

    def _watch(self) -> None:
        # Another process (an import, an admin tool) may commit to the database: publish what it changed.
        while not self._stop.wait(self._watch_interval):
            try:
                version = self.store.data_version()
                if version != self._data_version:
                    self._data_version = version
                    changed = self.publish_changes()
                    if changed:
                        log.info("published %d entries changed outside the service", changed)
            except Exception:
                log.exception("database watch failed; retrying")

    # -- operations (run on the MQTT dispatcher thread) ---------------------

    def _op_stock_adjust(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        request = decode(StockAdjustArgs, args)
        try:
            with self._publish_lock:
                result = stock.adjust(self.store, ctx.store, request.sku, request.location.value, request.delta,
                                      request.reason, device=ctx.device,
                                      idempotency_key=f"{ctx.device}:{ctx.request_id}")
                self._publish_stock(result.level)
        except stock.UnknownItem as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None
        except stock.InsufficientStock as exc:
            raise OpError(ErrorCode.CONFLICT, str(exc)) from None
        return {"stock": result.level.model_dump(mode="json"), "duplicate": result.duplicate}

    def _op_stock_get(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        request = decode(StockGetArgs, args)
        try:
            return {"stock": stock.level(self.store, ctx.store, request.sku).model_dump(mode="json")}
        except stock.StockError as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None

    def _op_catalog_get(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        request = decode(StockGetArgs, args)
        try:
            return {"product": catalog.product_payload(self.store, ctx.store, request.sku).model_dump(mode="json")}
        except catalog.NotFound as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None
