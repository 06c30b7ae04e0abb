"""One device's connection to its store: retained catalogue and stock written into the local cache."""

from __future__ import annotations

import logging
import queue
import secrets
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from importlib import metadata
from pathlib import Path

from codes import ids, scanned
from edge.cache import CachedProduct, CacheError, LocalCache, Outcome, Payload, RejectedMessage, parse_message
from edge.cleanup import Cleanup
from edge.nearby import NearbyQuery, NearbyStock
from edge.settings import DeviceSettings
from edge.snapshot import CATCH_UP_OVERLAP, SnapshotError, SnapshotResult
from edge.snapshot import fetch as fetch_snapshot
from edge.views import ProductView, StockView, stock_view
from mqtt import topics
from mqtt.client import Message, MqttClient, Will
from mqtt.dispatch import Dispatch, Listeners
from mqtt.payloads import DeviceRole, DeviceStatus, ErrorCode, Product, StockLevel, StoreDetails, encode, utcnow
from mqtt.rpc import RemoteError, RpcClient, RpcError
from mqtt.url import BrokerUrl, parse_broker_url

log = logging.getLogger(__name__)

StockListener = Callable[["StockView"], None]
ProductListener = Callable[["ProductView"], None]


def _version() -> str:
    try:
        return metadata.version("aisle")[:40]
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return ""


class Edge:
    """A device of one store: mirrors its catalogue, stock and every store's details into a LocalCache.

    Handlers only enqueue; one writer thread applies messages in batches (one transaction each), so look-ups work
    while a large retained burst is still arriving. Listeners run on the writer thread, or on ``dispatch``.
    Constructing does no I/O; ``start`` (or ``with``) opens the cache and connects, ``close`` undoes it.
    """

    def __init__(
        self,
        url_or_client: str | BrokerUrl | MqttClient,
        store: str,
        device_id: str,
        cache_path: str | Path,
        role: str | DeviceRole = "kiosk",
        *,
        locale: str | None = None,
        code_config: scanned.IntentConfig = scanned.DEFAULT_CONFIG,
        connect_timeout: float | None = 10.0,
        dispatch: Dispatch | None = None,
        batch_size: int = 2000,
        snapshot: bool = True,
    ) -> None:
        self.store = ids.store_id(store)
        self.device_id = ids.device_id(device_id)
        self.role = DeviceRole(role)
        self.code_config = code_config
        self._locale = locale
        self._batch_size = batch_size
        self._cache_path = Path(cache_path)
        self._connect_timeout = connect_timeout
        self.cache: LocalCache  # opened by start()
        self._lock = threading.Lock()
        self._applied = threading.Condition(self._lock)
        self._session = 0
        self._connected = False
        self._confirmed: dict[str, tuple[int, datetime]] = {}  # sku -> (session, time) the broker last sent it
        self._pending = 0
        self._warned = 0
        self._counts: Counter[str] = Counter()
        self._last_message = time.monotonic()
        self._stock_listeners: Listeners[StockView] = Listeners(dispatch)
        self._product_listeners: Listeners[ProductView] = Listeners(dispatch)
        self.rejections: deque[tuple[str, str]] = deque(maxlen=100)
        self._inbox: queue.SimpleQueue[tuple[Message, int] | None] = queue.SimpleQueue()
        self._cleanup = Cleanup(f"edge {self.device_id}")
        self._started = False
        self._closed = False
        if isinstance(url_or_client, MqttClient):
            self.client, self._owns_client = url_or_client, False
        else:
            url = parse_broker_url(url_or_client) if isinstance(url_or_client, str) else url_or_client
            status = topics.device_status(self.store, self.device_id)
            self.client = MqttClient(url, f"{self.device_id}-{secrets.token_hex(4)}",
                                     will=Will(status, self._status("offline", since=False)), dispatch=dispatch)
            self._owns_client = True
        # Over MQTT 5 the catalogue and stock come as catalog.snapshot pages (edge/snapshot.py), and the retained
        # topics only bring changes; MQTT 3.1.1 cannot skip retained messages, so there they bring everything.
        self._use_snapshot = snapshot and self.client.url.protocol == 5
        self._snapshot_session = 0  # the session whose snapshot is complete
        self.last_snapshot: SnapshotResult | None = None
        self._rpc: RpcClient | None = None
        # QoS 0 is enough for retained state: within a connection TCP loses nothing, and after a reconnect the
        # broker sends every retained message again. It halves the packets of a cold sync (no PUBACKs).
        self._filters = (topics.store_info_filter(), topics.catalog_filter(self.store), topics.stock_filter(self.store))
        self._unsubscribe: list[Callable[[], None]] = []

    @classmethod
    def for_device(cls, settings: DeviceSettings, *, dispatch: Dispatch | None = None,
                   connect_timeout: float | None = None) -> Edge:
        """The Edge of a configured device (not started): the one way the kiosk and ``python -m edge`` make it."""
        return cls(settings.broker, settings.store, settings.device_id, settings.cache_path, settings.role,
                   locale=settings.locale, code_config=settings.code_config, connect_timeout=connect_timeout,
                   dispatch=dispatch)

    def start(self) -> None:
        """Open the cache, start the writer, subscribe, connect (waiting ``connect_timeout`` unless None)."""
        if self._started:
            raise RuntimeError(f"edge {self.device_id} was already started")
        self._started = True
        try:
            self.cache = LocalCache(self._cache_path)
            self._cleanup.add(self.cache.close)  # each resource recorded as taken: close releases just those
            writer = threading.Thread(target=self._run_writer, name=f"edge-writer-{self.device_id}", daemon=True)
            writer.start()
            self._cleanup.add(lambda: self._stop_writer(writer))
            self._cleanup.add(self.client.add_connection_listener(self._on_connection))
            self._unsubscribe = [self.client.subscribe(f, self._on_message, qos=0,
                                                       skip_retained=self._use_snapshot and f != self._filters[0])
                                 for f in self._filters]
            self._cleanup.add(lambda: [unsubscribe() for unsubscribe in self._unsubscribe])
            if self.client.connected:
                self._on_connection(True)
            if self._owns_client:
                self._cleanup.add(self.client.close)
                timeout = self._connect_timeout
                self.client.connect(timeout or 10.0, wait=timeout is not None)
        except BaseException:
            self._shutdown(publish_offline=False)
            raise

    @property
    def rpc(self) -> RpcClient:
        """Request/response for this store and device on the shared connection (subscribes on first use)."""
        with self._lock:
            if self._rpc is None:
                # Created on demand: every subscription of the client costs a topic match on every message.
                self._rpc = RpcClient(self.client, self.store, self.device_id)
                self._cleanup.add(self._rpc.close)
            return self._rpc

    # -- look-ups -----------------------------------------------------------

    @property
    def locales(self) -> tuple[str, ...]:
        """Languages product names are shown in, most preferred first."""
        details = self.store_details()
        preferred = [self._locale] if self._locale else []
        if details is not None:
            preferred += [details.locale, *details.locales]
        return tuple(dict.fromkeys(preferred))

    def product(self, code: str | scanned.Intent) -> ProductView | None:
        """The product a SKU, a GTIN in any form, a GS1 Digital Link or a shelf QR text stands for.

        A scan the caller has parsed already (``codes.scanned``) is passed as its intent, not parsed again.
        """
        found = self._find(code)
        return ProductView.of(found.product, found.received_at, self.locales) if found else None

    def _find(self, code: str | scanned.Intent) -> CachedProduct | None:
        if isinstance(code, str):
            kind, text = scanned.product_intent(code, self.code_config), code.strip().upper()
        else:
            kind, text = code, ""  # an intent's SKU or GTIN is already checked: no raw text to retry as a SKU
        if isinstance(kind, scanned.ProductCode):
            for gtin in kind.candidates:
                found = self.cache.product_by_gtin(self.store, gtin)
                if found is not None:
                    return found
        if isinstance(kind, scanned.SkuCode | scanned.ProductLink):
            # A shelf label of another store names a chain-wide SKU: show it as this store sells it.
            return self.cache.product_by_sku(self.store, kind.sku)
        # A numeric SKU can look like a GTIN, or like one with a wrong check digit.
        return self.cache.product_by_sku(self.store, text) if ids.SKU_RE.fullmatch(text) else None

    def stock(self, sku: str) -> StockView:
        """Stock of a product here; ``live`` only while connected and confirmed since the last (re)connect."""
        sku = sku.upper()
        cached = self.cache.stock(self.store, sku)
        with self._lock:
            confirmed = self._confirmed.get(sku)
            live = self._connected and confirmed is not None and confirmed[0] == self._session
            confirming = self.last_snapshot if self._snapshot_session == self._session else None
            live = live or (self._connected and confirming is not None)
        if cached is None:
            return StockView(self.store, sku, known=False, live=False, as_of=None)
        as_of = max(cached.received_at, confirmed[1]) if confirmed else cached.received_at
        if live and confirming is not None:  # the snapshot confirmed every level it did not need to send
            as_of = max(as_of, confirming.as_of)
        return stock_view(cached.level, live, as_of)

    def search(self, text: str, limit: int = 20) -> list[ProductView]:
        """Products matching text (names in every language, brand, category, SKU), best first; a code first."""
        locales = self.locales
        exact = self._find(text) if text.strip() else None
        hits = self.cache.search(self.store, text, limit)
        if exact is not None:
            hits = [exact, *[h for h in hits if h.product.sku != exact.product.sku]][:limit]
        return [ProductView.of(h.product, h.received_at, locales) for h in hits]

    def store_details(self, store: str | None = None) -> StoreDetails | None:
        """Cached details of this store (or another one)."""
        found = self.cache.store_details(store or self.store)
        return found.details if found else None

    def nearby(self, sku: str, timeout: float = 2.0) -> NearbyStock:
        """Stock and price of a product in the chain's other stores, nearest first (blocks up to ``timeout``)."""
        return self.nearby_async(sku, timeout).result(timeout + 5)

    def nearby_async(self, sku: str, timeout: float = 2.0) -> Future[NearbyStock]:
        """Like ``nearby`` without blocking: never wait for the future on the dispatcher thread."""
        return NearbyQuery(self.client, self.cache, self.store, sku, timeout).start()

    # -- state ----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up (as last reported on the dispatcher)."""
        with self._lock:
            return self._connected

    def on_stock(self, listener: StockListener) -> Callable[[], None]:
        """Call ``listener(StockView)`` whenever this store's stock of a product changes; returns a remover."""
        return self._stock_listeners.add(listener)

    def on_product(self, listener: ProductListener) -> Callable[[], None]:
        """Call ``listener(ProductView)`` whenever a catalogue entry of this store changes; returns a remover."""
        return self._product_listeners.add(listener)

    def on_connection(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        """Call ``listener(connected)`` when the connection changes (stock views stop or start being live)."""
        return self.client.add_connection_listener(listener)

    def stats(self) -> dict[str, int]:
        """Messages applied per kind (``catalog``, ``stock``, ``info``), ``same``, ``rejected`` and ``pending``."""
        with self._lock:
            return {**self._counts, "pending": self._pending}

    def synced(self, quiet: float = 0.3) -> bool:
        """Connected, subscribed, every received message applied, and nothing arrived for ``quiet`` seconds."""
        with self._lock:
            idle = self._connected and self._pending == 0 and time.monotonic() - self._last_message >= quiet
            idle = idle and (not self._use_snapshot or self._snapshot_session == self._session)
        return idle and all(self.client.wait_subscribed(f, 0) for f in self._filters)

    def wait_synced(self, timeout: float = 10.0, quiet: float = 0.3) -> bool:
        """Wait until the retained burst after (re)connecting has been applied; False on timeout."""
        done = self._wait(lambda: self.synced(quiet), timeout, quiet / 3)
        if done:
            self._check_complete()
        return done

    def _check_complete(self) -> None:
        # A broker whose queue limit is below the retained burst drops messages silently (Mosquitto's default
        # max_queued_messages is 1000): say so once per connection rather than show a partial catalogue.
        with self._lock:
            session, confirmed = self._session, sum(1 for s, _ in self._confirmed.values() if s == self._session)
            if self._warned == session or self._use_snapshot:
                return
            self._warned = session
        products = self.cache.count("products", self.store)
        if confirmed < products:
            log.warning("%s: %d products but only %d stock levels arrived since connecting; is the broker dropping "
                        "retained messages (Mosquitto: raise max_queued_messages)?", self.store, products, confirmed)

    def wait_product(self, code: str, timeout: float = 10.0, quiet: float = 0.3) -> ProductView | None:
        """Wait until the product of ``code`` and its live stock arrived, or the sync ended without them."""
        found: list[ProductView | None] = [None]

        def ready() -> bool:
            found[0] = view = self.product(code)
            return (view is not None and self.stock(view.sku).live) or self.synced(quiet)

        self._wait(ready, timeout, quiet / 3)
        return found[0]

    def _wait(self, ready: Callable[[], bool], timeout: float, poll: float) -> bool:
        deadline = time.monotonic() + timeout
        while not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._applied:  # woken by every applied batch and connection change
                self._applied.wait(min(remaining, poll))
        return True

    # -- receiving ------------------------------------------------------------

    def _on_connection(self, up: bool) -> None:
        with self._lock:
            if up:
                self._session += 1
                self._last_message = time.monotonic()
            self._connected = up
            self._applied.notify_all()
        if up:
            self.client.publish(topics.device_status(self.store, self.device_id), self._status("online"), qos=1,
                                retain=True)
            if self._use_snapshot:
                threading.Thread(target=self._run_snapshot, args=(self._session,), daemon=True,
                                 name=f"edge-snapshot-{self.device_id}").start()

    def _run_snapshot(self, session: int) -> None:
        delay = 1.0
        while self._current(session):
            try:
                self._snapshot_once(session)
                return
            except RemoteError as exc:
                if exc.code == ErrorCode.UNKNOWN_OP:
                    self._fall_back_to_retained()
                    return
                log.warning("%s: snapshot refused (%s); retrying in %.0f s", self.store, exc, delay)
            except (FutureTimeout, RpcError, SnapshotError, CacheError, sqlite3.Error) as exc:
                log.warning("%s: snapshot failed (%s); retrying in %.0f s", self.store, exc or type(exc).__name__,
                            delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _current(self, session: int) -> bool:
        with self._lock:
            return not self._closed and self._connected and self._session == session

    def _snapshot_once(self, session: int) -> None:
        as_of = self.cache.snapshot_as_of(self.store)
        since = datetime.fromisoformat(as_of) - CATCH_UP_OVERLAP if as_of else None
        if since is None:
            self.cache.begin_bulk()  # a whole catalogue: index names once at the end
        try:
            self.rpc.wait_ready(10)
            result = fetch_snapshot(self.rpc, self.store, since, lambda items: self._apply_items(items, session),
                                    self._reject, still_wanted=lambda: self._current(session),
                                    busy=self.cache.writer_busy)
        finally:
            if since is None:
                self.cache.end_bulk()
        if result is not None:
            self.cache.set_snapshot_as_of(self.store, result.as_of.isoformat())
            with self._applied:
                self._snapshot_session, self.last_snapshot = session, result
                self._applied.notify_all()

    def _fall_back_to_retained(self) -> None:
        log.warning("%s: the backend has no catalog.snapshot; syncing from retained messages", self.store)
        self._use_snapshot = False
        for index in (1, 2):
            self._unsubscribe[index]()
            self._unsubscribe[index] = self.client.subscribe(self._filters[index], self._on_message, qos=0)

    def _on_message(self, message: Message) -> None:
        # Dispatcher thread: as little as possible, the writer does the rest.
        with self._lock:
            self._pending += 1
            self._last_message = time.monotonic()
            session = self._session
        self._inbox.put((message, session))

    def _stop_writer(self, writer: threading.Thread) -> None:
        self._inbox.put(None)  # after what is queued: every received message is still written
        writer.join(10)

    def _run_writer(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            batch, stop = [first], False
            while len(batch) < self._batch_size:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._apply(batch)
            except (sqlite3.Error, CacheError):
                log.exception("could not write %d messages to the cache", len(batch))
            except Exception:  # a listener or a bug must not stop the writer: later messages still matter
                log.exception("applying %d messages failed", len(batch))
            finally:
                with self._applied:
                    self._pending -= len(batch)
                    self._applied.notify_all()
            if stop:
                return

    def _apply(self, batch: list[tuple[Message, int]]) -> None:
        kept: list[tuple[Payload, bytes, int, str]] = []
        for message, session in batch:
            try:
                kept.append((parse_message(message.topic, message.payload), message.payload, session, message.topic))
            except RejectedMessage as exc:
                self._reject(message.topic, str(exc))
        if kept:
            outcomes = self.cache.apply_many([k[0] for k in kept], raw=[k[1] for k in kept])
            self._after_apply(kept, outcomes, report_stale=True)

    def _apply_items(self, items: Sequence[Payload], session: int) -> None:
        """Apply validated snapshot entries as if they had arrived as messages in ``session``."""
        if not items:
            return
        # Row by row: the snapshot thread is the only busy one, so it need not leave SQLite the GIL in long stretches.
        outcomes = self.cache.apply_many(items, row_by_row=True)
        # A snapshot entry older than the cache lost a race with a live message: expected, not worth a warning.
        self._after_apply([(i, b"", session, "") for i in items], outcomes, report_stale=False)
        with self._applied:
            self._applied.notify_all()

    def _after_apply(self, kept: list[tuple[Payload, bytes, int, str]], outcomes: list[Outcome],
                     report_stale: bool) -> None:
        now = utcnow()
        changed_stock: list[StockView] = []
        changed_products: list[Product] = []
        with self._lock:
            for (item, _, session, topic), outcome in zip(kept, outcomes, strict=True):
                self._counts[_KINDS[type(item)] if outcome is Outcome.APPLIED else outcome.value] += 1
                if outcome is Outcome.STALE:
                    if report_stale:
                        version = item.updated_at if isinstance(item, StoreDetails) else f"seq {item.seq}"
                        self._reject(topic, f"stale: {version} is older than the cached copy")
                    continue
                if isinstance(item, StockLevel) and item.store == self.store:
                    self._confirmed[item.sku] = (session, now)
                    if outcome is Outcome.APPLIED and self._stock_listeners:
                        live = self._connected and session == self._session
                        changed_stock.append(stock_view(item, live, now))
                elif isinstance(item, Product) and outcome is Outcome.APPLIED and self._product_listeners:
                    changed_products.append(item)
        if changed_products:
            locales = self.locales
            for product in changed_products:
                if product.store == self.store:
                    self._product_listeners.emit(ProductView.of(product, now, locales))
        for view in changed_stock:
            self._stock_listeners.emit(view)

    def _reject(self, topic: str, reason: str) -> None:
        self._counts["rejected"] += 1
        self.rejections.append((topic, reason))
        log.warning("ignored %s: %s", topic[:160], reason)

    # -- closing --------------------------------------------------------------

    def close(self) -> None:
        """Say goodbye (retained offline status), then release what ``start`` acquired, newest first."""
        self._shutdown(publish_offline=True)

    def _shutdown(self, publish_offline: bool) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if publish_offline and self.client.connected:
            info = self.client.publish(topics.device_status(self.store, self.device_id), self._status("offline"),
                                       qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                log.warning("offline status not sent; the broker's Last Will will say it")
        self._cleanup.run()

    def _status(self, state: str, since: bool = True) -> bytes:
        return encode(DeviceStatus(device=self.device_id, store=self.store, role=self.role, state=state,
                                   since=utcnow() if since else None, version=_version()))

    def __enter__(self) -> Edge:
        """Start (if not yet started); leaving the block closes."""
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_KINDS = {Product: "catalog", StockLevel: "stock", StoreDetails: "info"}

