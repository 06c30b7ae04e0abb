"""A store backend's place in the chain: its heartbeat, the nearby mirror, and HQ's catalogue pulled and applied.

Everything travels over the store's own broker; its bridge carries the chain topics to and from the centre. HQ's
retained head tells the store that there is something new; the store pulls pages after the version it has applied
and applies each in one transaction, so a cut link, a restart or two crossing pushes lose nothing and apply nothing
twice: the store simply pulls again from where its database says it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from backend.chain import remote_orders
from backend.chain.apply import ChainApplyError, applied_seq, apply_page
from backend.chain.mirror import DEFAULT_STALE_AFTER, NearbyMirror
from backend.db import Database
from codes import ids
from mqtt import topics
from mqtt.chain import HqHead, HqPage, SiteLive
from mqtt.client import Message, MqttClient
from mqtt.payloads import PayloadError, decode, encode, utcnow
from mqtt.routes import chain_route
from mqtt.rpc import RemoteError, RpcClient, RpcError, RpcServer

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
RETRY_SECONDS = 5.0  # while behind HQ and HQ does not answer, ask again this often
PULL_TIMEOUT = 10.0


class ChainLink:
    """Joins one store backend to the chain; construct, then ``start()``, ``stop()``."""

    def __init__(self, db: Database, client: MqttClient, store: str, *, on_applied: Callable[[], Any],
                 on_stock_changed: Callable[[list[str]], Any] = lambda skus: None,
                 clock: Callable[[], datetime] = utcnow, heartbeat: float = HEARTBEAT_SECONDS,
                 retry: float = RETRY_SECONDS, stale_after: timedelta = DEFAULT_STALE_AFTER) -> None:
        self.db = db
        self.client = client
        self.store = ids.chain_store_id(store)
        self.clock = clock
        self.mirror = NearbyMirror(self.store, stale_after=stale_after, clock=clock)
        self.hq_head = 0
        self._on_applied = on_applied
        self._heartbeat = heartbeat
        self._retry = retry
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._undo: list[Callable[[], None]] = []
        self._hq: RpcClient | None = None
        self._sites: dict[str, RpcClient] = {}  # requests to other stores, one client each
        self._sites_lock = threading.Lock()
        self._on_stock_changed = on_stock_changed
        # Other sites' requests to this store: holds for their orders (backend/chain/remote_orders.py).
        self.server = RpcServer(client, remote_orders.handlers(db, self.store, clock, on_stock_changed),
                                route=chain_route(self.store),
                                authorize=lambda ctx: ctx.store == self.store and ctx.device != self.store)

    def start(self) -> None:
        """Subscribe to the chain topics and start the heartbeat and the puller."""
        sub = self.client.subscribe
        self._undo += [
            sub(topics.stock_filter("+"), self.mirror.on_stock, qos=1),
            sub(topics.store_info_filter(), self.mirror.on_info, qos=1),
            sub(topics.chain_live_filter(), self.mirror.on_live, qos=1),
            sub(topics.chain_link(self.store), self._on_link, qos=1),
            sub(topics.hq_head(self.store), self._on_head, qos=1),
        ]
        self._hq = RpcClient(self.client, ids.HQ_SITE, self.store, route=chain_route(self.store))
        self._undo.append(self._hq.close)
        self.server.start()
        self._undo += [self.server.stop, self._close_sites]
        for target, name in ((self._beat, "chain-heartbeat"), (self._pull_loop, "chain-pull"),
                             (self._outbox_loop, "chain-outbox")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._wake.set()  # a store that restarted behind HQ pulls at once

    def stop(self) -> None:
        """Say offline, stop the threads and unsubscribe."""
        self._stop.set()
        self._wake.set()
        if self.client.connected:
            self._publish_live("offline")
        for thread in self._threads:
            thread.join(PULL_TIMEOUT + 2)
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def call_site(self, site: str, op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A request to another site of the chain (HQ or a store); raises RpcError when it does not answer, at once
        while the link is known to be cut."""
        if self.mirror.link_up is False:
            raise RpcError(f"the link to the chain is down; {site} cannot be reached")
        with self._sites_lock:
            rpc = self._hq if site == ids.HQ_SITE else self._sites.get(site)
            if rpc is None:
                rpc = self._sites[site] = RpcClient(self.client, ids.site_id(site), self.store,
                                                    route=chain_route(self.store))
        return rpc.call(op, args, timeout=timeout)

    def _close_sites(self) -> None:
        with self._sites_lock:
            sites, self._sites = self._sites, {}
        for rpc in sites.values():
            rpc.close()

    def _outbox_loop(self) -> None:
        # What other sites must be told (order statuses), and this store's holds for them left unpaid.
        while not self._stop.wait(self._retry / 2):
            try:
                self._on_stock_changed(remote_orders.expire_holds(self.db, self.store, self.clock()))
                remote_orders.drain_outbox(self.db, self.call_site)  # stops at once while the link is cut
            except Exception:
                log.exception("chain outbox failed; retrying")

    @property
    def applied(self) -> int:
        """The newest HQ version this store has applied."""
        return applied_seq(self.db)

    # -- heartbeat ----------------------------------------------------------

    def _beat(self) -> None:
        while True:
            if self.client.connected:
                self._publish_live("online")
            if self._stop.wait(self._heartbeat):
                return

    def _publish_live(self, state: str) -> None:
        live = SiteLive(site=self.store, at=self.clock(), state=state)  # type: ignore[arg-type]
        self.client.publish(topics.chain_live(self.store), encode(live), qos=1, retain=True)

    # -- HQ's catalogue -----------------------------------------------------

    def _on_head(self, message: Message) -> None:
        try:
            head = decode(HqHead, message.payload)
        except PayloadError as exc:
            log.warning("ignored HQ head: %s", exc)
            return
        if head.store == self.store and head.seq > self.hq_head:
            self.hq_head = head.seq
            self._wake.set()

    def _on_link(self, message: Message) -> None:
        self.mirror.on_link(message)
        if self.mirror.link_up:
            self._wake.set()  # back from a cut: catch up with HQ now, not at the next retry
            self._publish_live("online")  # and tell the others at once that this store is live again

    def _pull_loop(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self._retry)
            self._wake.clear()
            if self._stop.is_set():
                return
            if woken or self.applied < self.hq_head:
                self.pull()

    def pull(self) -> int:
        """Pull and apply every page after the applied version; returns entries applied (0 if HQ is unreachable)."""
        assert self._hq is not None, "start() first"
        total = 0
        while not self._stop.is_set():
            after = self.applied
            try:
                result = self.call_site(ids.HQ_SITE, "hq.changes", {"after": after}, PULL_TIMEOUT)
                page = decode(HqPage, result)
                total += apply_page(self.db, self.store, page, self.clock())
            except (RemoteError, PayloadError, ChainApplyError) as exc:
                log.error("HQ's catalogue page after %d refused: %s", after, exc)
                break
            except RpcError as exc:  # no answer in time (the link is cut, HQ is down) or the client is closing
                log.info("cannot pull HQ's catalogue now (%s); will retry", exc)
                break
            self.hq_head = max(self.hq_head, page.head)
            if page.entries:
                self._on_applied()
            if not page.more:
                break
        if total:
            log.info("applied %d catalogue entries from HQ (now at version %d)", total, self.applied)
        return total
