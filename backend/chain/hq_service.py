"""HQ on the central broker: publishes each store's catalogue head and answers the stores' ``hq.changes`` pulls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from backend import catalog, roles
from backend.carts import DEFAULT_PUBLIC_URL
from backend.chain import hq_entries
from backend.chain.web_carts import serve_remote_redeem
from backend.db import Database
from backend.shop_handlers import ShopHandlers
from codes import ids
from mqtt import topics
from mqtt.chain import HqChangesArgs, HqHead, SiteLive
from mqtt.client import MqttClient, Will
from mqtt.commerce import Event
from mqtt.payloads import ErrorCode, decode, encode, utcnow
from mqtt.routes import chain_route, device_route
from mqtt.rpc import OpError, RequestContext, RpcServer
from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
WEB_OPS = frozenset({"cart.create", "cart.get", "cart.set_line", "cart.handoff"})


class HqService:
    """The chain's HQ; construct, then ``start()``, ``stop()``."""

    def __init__(self, db: Database, url: BrokerUrl, *, client_id: str = "hq", heartbeat: float = HEARTBEAT_SECONDS,
                 watch_interval: float = 1.0, public_url: str = DEFAULT_PUBLIC_URL) -> None:
        self.db = db
        offline = SiteLive(site=ids.HQ_SITE, at=utcnow(), state="offline")
        self.client = MqttClient(url, client_id, will=Will(topics.chain_live(ids.HQ_SITE), encode(offline)),
                                 max_reconnect_delay=3.0)
        self.rpc = RpcServer(self.client, {"hq.changes": self.changes,
                                           "cart.redeem": serve_remote_redeem(db, self.send_event, utcnow)},
                             route=chain_route(ids.HQ_SITE), authorize=self._authorize)
        # The chain's web shop: its devices (role web, registered in HQ's database for site hq) keep carts here.
        shop = ShopHandlers(db, publish_stock=lambda _level: None, send_event=self.send_event,
                            public_url=public_url)
        self.web = RpcServer(self.client, {op: handler for op, handler in shop.table().items() if op in WEB_OPS},
                             identify=lambda store, device: roles.role_of(db, device, store),
                             authorize=lambda ctx: ctx.store == ids.HQ_SITE and roles.may(ctx.role, ctx.op),
                             route=device_route(ids.HQ_SITE))
        self.served = 0  # pages answered
        self._published: dict[str, int] = {}
        self._heartbeat = heartbeat
        self._watch_interval = watch_interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._undo: list[Callable[[], None]] = []

    def start(self, timeout: float = 10.0) -> None:
        """Connect, publish every store's head, answer pulls; heads follow every later staging (any process)."""
        self.client.connect(timeout)
        self.publish_heads()
        self.rpc.start()
        self.web.start()
        self.client.wait_subscribed(topics.chain_request_filter(ids.HQ_SITE), timeout)
        self.client.wait_subscribed(topics.request_filter(ids.HQ_SITE), timeout)
        # After a reconnect the heads may be gone (a central broker without persistence): publish them again.
        self._undo.append(self.client.add_connection_listener(lambda up: up and self.publish_heads(force=True)))
        for target, name in ((self._beat, "hq-heartbeat"), (self._watch, "hq-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("HQ serving %d stores on %s", len(self._published), self.client.url)

    def stop(self) -> None:
        """Stop answering and disconnect."""
        self._stop.set()
        for undo in reversed(self._undo):
            undo()
        for thread in self._threads:
            thread.join(5)
        self.rpc.stop()
        self.web.stop()
        self.client.close()

    def stage(self, stores: Iterable[str] | None = None) -> hq_entries.StageReport:
        """Version what changed since the last staging and tell the stores."""
        report = hq_entries.stage(self.db, stores)
        self.publish_heads()
        return report

    def publish_heads(self, force: bool = False) -> int:
        """Publish the retained head of every store whose newest version moved; returns how many."""
        with self._lock:
            count = 0
            for store, seq in hq_entries.heads(self.db).items():
                if force or self._published.get(store) != seq:
                    head = HqHead(store=store, seq=seq, at=utcnow())
                    self.client.publish(topics.hq_head(store), encode(head), qos=1, retain=True)
                    self._published[store] = seq
                    count += 1
            return count

    def changes(self, ctx: RequestContext, args: dict[str, Any]) -> Any:
        """``hq.changes``: a page of the asking store's entries; the bridge's login pins which store asks."""
        request = decode(HqChangesArgs, args)
        try:
            page = hq_entries.page(self.db, ctx.device, request.after, request.limit)
        except catalog.NotFound as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None
        self.served += 1
        return page

    def _authorize(self, ctx: RequestContext) -> bool:
        # ctx.device is the asking site, taken from the topic the central broker let that store's bridge write.
        return ctx.store == ids.HQ_SITE and ctx.op in ("hq.changes", "cart.redeem")

    def send_event(self, site: str, device: str, event: Event) -> None:
        """Tell one web-shop device something (a store opened its cart)."""
        self.client.publish(topics.event(site, device), encode(event), qos=1)

    def _beat(self) -> None:
        while True:
            if self.client.connected:
                live = SiteLive(site=ids.HQ_SITE, at=utcnow())
                self.client.publish(topics.chain_live(ids.HQ_SITE), encode(live), qos=1, retain=True)
            if self._stop.wait(self._heartbeat):
                return

    def _watch(self) -> None:
        # `hq import` stages in its own process: its commits show here as a new data version.
        version = self.db.data_version()
        while not self._stop.wait(self._watch_interval):
            try:
                now = self.db.data_version()
                if now != version:
                    version = now
                    if published := self.publish_heads():
                        log.info("published %d new catalogue heads", published)
            except Exception:
                log.exception("HQ database watch failed; retrying")
