"""The app's one connection to its store: edge device, cart, order outbox and shopper sessions, without Kivy.

Methods that wait for the backend block; call them from ``Tasks`` workers, never from the UI thread.
Listeners registered here are called through ``dispatch`` (the UI thread) with immutable values.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from edge.cart import CartError, CartSnapshot, DeviceCart
from edge.device import Edge
from edge.nearby import NearbyStock
from edge.outbox import LocalOrder, OrderOutbox, new_order_id
from edge.session import Session, SessionManager
from edge.staff_actions import ActionOutcome, StaffActionQueue
from edge.views import ProductView, StockView, pick_name
from kiosk.config import KioskConfig, Mode, broker_url
from mqtt import topics
from mqtt.alerts import Alert, AlertReason, AlertState
from mqtt.client import Message
from mqtt.commerce import Address, Cart, DeliveryOption, Event, Handoff, LineRequest, PlaceOrderArgs
from mqtt.enrolment import EnrolmentCode
from mqtt.payloads import Money, PayloadError, StockLevel, StoreDetails, decode, utcnow
from mqtt.rpc import RemoteError, RpcError

log = logging.getLogger(__name__)

Dispatch = Callable[[Callable[[], None]], None]
NO_IDLE = 10 * 365 * 24 * 3600.0  # phones keep their session; SessionManager needs some timeout
SAVE_SYNCED_EVERY = timedelta(minutes=5)  # how stale "last known at" may be after a crash while in sync


class LinkError(Exception):
    """An operation failed; ``code`` is the protocol's error code or "offline"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StoreNotReady(LinkError):
    """The store's details have not arrived yet (first start without a connection)."""

    def __init__(self) -> None:
        super().__init__("not_ready", "the store's details have not arrived yet")


@dataclass(frozen=True)
class LinkHealth:
    """Whether this device has its store's data, and why not: for the attract screen, Settings and the log."""

    connected: bool
    synced: bool  # connected and caught up with the store right now
    ever_synced: bool  # had the store's data once (in this run or an earlier one)
    problem: str | None  # MqttClient.problem while not connected: "unreachable...", "refused: ...", "tls: ..."
    last_known: datetime | None  # when the data here was last known to be current


@dataclass(frozen=True)
class CartOpened:
    """The backend says a cart this device exported was opened elsewhere."""

    cart_id: str
    device: str


@dataclass
class OrderDraft:
    """An order being put together across the address and options screens (UI thread only)."""

    lines: list[LineRequest]
    cart_id: str | None
    kind: str  # "till" (pick up here, pay at the till), "pickup" or "delivery"
    address: Address | None = None


def _rpc(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except RemoteError as exc:
        raise LinkError(exc.code.value, exc.message) from None
    except RpcError as exc:
        raise LinkError("offline", str(exc)) from None


class StoreLink:
    """Edge + DeviceCart + OrderOutbox + SessionManager for one store, wired the way the kiosk needs them."""

    def __init__(self, config: KioskConfig, device_id: str, dispatch: Dispatch, *,
                 rpc_timeout: float = 6.0) -> None:
        self.config = config
        self.device_id = device_id
        self._dispatch = dispatch
        self._timeout = rpc_timeout
        config.data_dir.mkdir(parents=True, exist_ok=True)
        role = {Mode.KIOSK: "kiosk", Mode.PHONE: "phone", Mode.STAFF: "staff"}[config.mode]
        self.edge = Edge(broker_url(config), config.store, device_id, config.data_dir / f"cache-{config.store}.db",
                         role, connect_timeout=None)
        idle = NO_IDLE if config.mode is Mode.PHONE or config.idle_timeout <= 0 else config.idle_timeout
        self.sessions = SessionManager(idle, min(config.idle_warning, idle / 3))
        self.sessions.on_end.append(self._end_session)
        self.outbox = OrderOutbox(config.data_dir / "orders.db", config.store, self.edge.rpc)
        self.outbox.listeners.append(lambda order: self._emit(self._order_listeners, order))
        self.staff_actions = StaffActionQueue(config.data_dir / "staff_actions.db", self.edge.rpc,
                                              lambda: self.edge.client.connected, call_timeout=rpc_timeout)
        self.staff_actions.listeners.append(lambda outcome: self._emit(self._action_listeners, outcome))
        self._action_listeners: list[Callable[[ActionOutcome], None]] = []
        self._lock = threading.Lock()
        self._cart: DeviceCart | None = None
        self._cart_listeners: list[Callable[[CartSnapshot], None]] = []
        self._order_listeners: list[Callable[[LocalOrder], None]] = []
        self._opened_listeners: list[Callable[[CartOpened], None]] = []
        self._enrolment_listeners: list[Callable[[str], None]] = []
        self._session_listeners: list[Callable[[Session], None]] = []
        self._alerts: dict[str, Alert] = {}
        self._alert_listeners: list[Callable[[tuple[Alert, ...]], None]] = []
        self._reported: set[str] = set()
        self.edge.on_product(self._on_product)
        self._unsubscribe_events = self.edge.client.subscribe(topics.event(config.store, device_id), self._on_event)
        self._unsubscribe_alerts = self.edge.client.subscribe(topics.alerts_filter(config.store), self._on_alert,
                                                              qos=0)
        self._synced_path = config.data_dir / f"synced-{config.store}.txt"
        self._last_live = self._read_last_live()
        self._saved_live = self._last_live
        self._logged: tuple[str, str] | None = None
        self.outbox.start()
        self.staff_actions.start()
        self._remove_wake = self.edge.on_connection(lambda up: self.staff_actions.wake() if up else None)

    # -- listeners (called on the UI thread) -----------------------------------

    def on_stock(self, listener: Callable[[StockView], None]) -> Callable[[], None]:
        """Live stock changes of this store."""
        return self.edge.on_stock(lambda view: self._dispatch(lambda: listener(view)))

    def on_product(self, listener: Callable[[ProductView], None]) -> Callable[[], None]:
        """Catalogue changes of this store (prices, names)."""
        return self.edge.on_product(lambda view: self._dispatch(lambda: listener(view)))

    def on_connection(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        """Broker connection up or down."""
        return self.edge.on_connection(lambda up: self._dispatch(lambda: listener(up)))

    def on_cart(self, listener: Callable[[CartSnapshot], None]) -> None:
        """Every cart change, as a snapshot."""
        self._cart_listeners.append(listener)

    def on_order(self, listener: Callable[[LocalOrder], None]) -> None:
        """Every change of an order placed here (queued, confirmed, refused, status events)."""
        self._order_listeners.append(listener)

    def on_cart_opened(self, listener: Callable[[CartOpened], None]) -> None:
        """A handoff code shown here was scanned on another device."""
        self._opened_listeners.append(listener)

    def on_enrolment_used(self, listener: Callable[[str], None]) -> None:
        """A phone registered with this kiosk's enrolment code (the code's login)."""
        self._enrolment_listeners.append(listener)

    def on_session_end(self, listener: Callable[[Session], None]) -> None:
        """A shopper session ended (idle or done); the UI goes back to the start."""
        self._session_listeners.append(listener)

    def on_staff_action(self, listener: Callable[[ActionOutcome], None]) -> None:
        """A staff action queued while offline was sent, or refused for good."""
        self._action_listeners.append(listener)

    def on_alerts(self, listener: Callable[[tuple[Alert, ...]], None]) -> None:
        """Live restock alerts of this store (open and claimed), most urgent first, whenever they change."""
        self._alert_listeners.append(listener)

    def _emit(self, listeners: list[Callable[[Any], None]], value: Any) -> None:
        for listener in list(listeners):
            self._dispatch(lambda listener=listener: listener(value))

    # -- look-ups (fast, local cache; any thread) ---------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self.edge.client.connected

    def store_details(self, store: str | None = None) -> StoreDetails | None:
        """Details of this (or another) store, from the cache."""
        return self.edge.store_details(store)

    def product(self, code: str) -> ProductView | None:
        """A product by SKU, GTIN, shelf link or Digital Link."""
        return self.edge.product(code)

    def stock(self, sku: str) -> StockView:
        """Stock here, with ``live`` and ``as_of``."""
        return self.edge.stock(sku)

    def name_of(self, view: ProductView, lang: str) -> str:
        """A product's name in the shopper's language, else the store's."""
        details = self.store_details()
        fallback = (details.locale, *details.locales) if details else ()
        return pick_name(view.names, (lang, *fallback))

    def low_stock(self, threshold: int = 5, limit: int = 40) -> list[tuple[ProductView, StockView]]:
        """Products with few units on the shelf here (a stand-in until restock alerts arrive)."""
        found = []
        for sku in self.edge.cache.skus(self.config.store):
            view = self.edge.stock(sku)
            if view.known and view.shelf is not None and view.shelf <= threshold:
                product = self.edge.product(sku)
                if product is not None:
                    found.append((product, view))
        found.sort(key=lambda pair: (pair[1].shelf or 0, pair[0].sku))
        return found[:limit]

    # -- cart ---------------------------------------------------------------------

    @property
    def cart(self) -> DeviceCart:
        """The session's cart, made when the store's currency is known."""
        with self._lock:
            if self._cart is None:
                details = self.store_details()
                if details is None:
                    raise StoreNotReady()
                self._cart = DeviceCart(details.currency, self._price_of, self._available_of)
                self._cart.listeners.append(lambda snap: self._emit(self._cart_listeners, snap))
            return self._cart

    def cart_snapshot(self) -> CartSnapshot | None:
        """The cart now, or None before the store is known."""
        try:
            return self.cart.snapshot()
        except StoreNotReady:
            return None

    def _price_of(self, sku: str) -> Money | None:
        view = self.edge.product(sku)
        return Money(amount=view.price, currency=view.currency) if view else None

    def _available_of(self, sku: str) -> int | None:
        return self.edge.stock(sku).available

    def _on_product(self, view: ProductView) -> None:
        with self._lock:
            cart = self._cart
        if cart is not None:
            cart.reprice(view.sku)  # a price change while in the cart is kept and flagged

    # -- backend operations (blocking: worker threads only) ------------------------

    def nearby(self, sku: str) -> NearbyStock:
        """Stock and price in the other stores, nearest first."""
        return self.edge.nearby(sku, timeout=2.0)

    def export_cart(self) -> Handoff:
        """Copy the cart to the backend and get a single-use code that opens it on a phone."""
        lines = self.cart.requests()
        created = _rpc(lambda: self.edge.rpc.call("cart.create", {"lines": [x.model_dump() for x in lines]},
                                                  timeout=self._timeout))
        cart_id = created["cart"]["cart_id"]
        result = _rpc(lambda: self.edge.rpc.call("cart.handoff", {"cart_id": cart_id}, timeout=self._timeout))
        return Handoff.model_validate(result["handoff"])

    def enrolment_code(self) -> EnrolmentCode:
        """A one-use code a shopper's phone connects with (a kiosk; its broker must have the phone registry)."""
        result = _rpc(lambda: self.edge.rpc.call("phone.enrolment", timeout=self._timeout))
        try:
            return decode(EnrolmentCode, json.dumps(result).encode())
        except PayloadError:
            raise LinkError("other", "the backend's answer is not an enrolment code") from None

    def redeem(self, token: str) -> CartSnapshot:
        """Open the online cart behind a scanned handoff code in this device's cart."""
        result = _rpc(lambda: self.edge.rpc.call("cart.redeem", {"token": token}, timeout=self._timeout))
        cart = Cart.model_validate(result["cart"])
        try:
            return self.cart.load(cart)
        except CartError as exc:
            raise LinkError("currency", str(exc)) from None

    def options(self, lines: list[LineRequest]) -> list[DeliveryOption]:
        """Pickup and delivery options for lines, fastest and cheapest first."""
        result = _rpc(lambda: self.edge.rpc.call("order.options", {"lines": [x.model_dump() for x in lines]},
                                                 timeout=self._timeout))
        return [DeliveryOption.model_validate(o) for o in result["options"]]

    def place_order(self, option: DeliveryOption, lines: list[LineRequest], address: Address | None,
                    cart_id: str | None) -> LocalOrder:
        """Write the order to the outbox (durable at once); the outbox sends it until the backend confirms."""
        args = PlaceOrderArgs(order_id=new_order_id(), option_id=option.option_id, lines=lines, address=address,
                              cart_id=cart_id)
        return self.outbox.place(args, self.sessions.session.id)

    def adjust_stock(self, sku: str, delta: int, location: str, reason: str) -> StockLevel:
        """Staff: add or remove units through the backend's ledger."""
        result = _rpc(lambda: self.edge.rpc.call("stock.adjust", {"sku": sku, "delta": delta, "location": location,
                                                                  "reason": reason}, timeout=self._timeout))
        return StockLevel.model_validate(result["stock"])

    # -- restock alerts -----------------------------------------------------------------

    def alerts(self) -> tuple[Alert, ...]:
        """Live alerts, most urgent first."""
        with self._lock:
            live = [a for a in self._alerts.values() if a.state in (AlertState.OPEN, AlertState.CLAIMED)]
        return tuple(sorted(live, key=lambda a: (-a.priority, a.opened_at)))

    def _on_alert(self, message: Message) -> None:
        alert_id = message.topic.rsplit("/", 1)[-1]
        if not message.payload:
            with self._lock:
                self._alerts.pop(alert_id, None)
        else:
            try:
                alert = decode(Alert, message.payload)
            except PayloadError as exc:
                log.warning("ignored malformed alert on %s: %s", message.topic, exc)
                return
            with self._lock:
                known = self._alerts.get(alert.alert_id)
                if known is not None and known.seq >= alert.seq:
                    return  # a replayed or older state never wins
                self._alerts[alert.alert_id] = alert
        self._emit(self._alert_listeners, self.alerts())

    def claim_alert(self, alert_id: str) -> Alert | None:
        """Staff take an alert on; None when offline (kept and sent when back online)."""
        return self._staff_action("alert.claim", {"alert_id": alert_id})

    def resolve_alert(self, alert_id: str, quantity: int) -> Alert | None:
        """Staff moved ``quantity`` units from the backroom to the shelf; None when queued offline."""
        return self._staff_action("alert.resolve", {"alert_id": alert_id, "quantity": quantity})

    def dismiss_alert(self, alert_id: str, reason: str) -> Alert | None:
        """Staff close an alert without restocking; None when queued offline."""
        return self._staff_action("alert.dismiss", {"alert_id": alert_id, "reason": reason})

    def _staff_action(self, op: str, args: dict[str, Any]) -> Alert | None:
        # Online: at once, so the answer (a colleague was quicker) shows on the spot. Offline, or the call
        # found no backend: kept on disk and sent in order later; the backend takes a resend as done.
        if self.edge.client.connected and not self.staff_actions.pending():
            try:
                result = _rpc(lambda: self.edge.rpc.call(op, args, timeout=self._timeout))
            except LinkError as exc:
                if exc.code != "offline":
                    raise
            else:
                return Alert.model_validate(result["alert"])
        self.staff_actions.submit(op, args)
        return None

    def report_empty(self, sku: str) -> bool:
        """A shopper found the shelf empty: tell the staff (once per product and session); True when sent."""
        with self._lock:
            if sku in self._reported:
                return False
            self._reported.add(sku)
        _rpc(lambda: self.edge.rpc.call("alert.report", {"sku": sku, "reason": AlertReason.SCAN_OUT_OF_STOCK.value},
                                        timeout=self._timeout))
        return True

    # -- health ------------------------------------------------------------------------

    def health(self) -> LinkHealth:
        """Connection and sync state now; from one thread (the UI tick), as it saves "last known at" and logs."""
        # Each change of trouble is logged once here; the MQTT client repeats its own line at backoff intervals.
        client = self.edge.client
        connected = client.connected
        synced = connected and self.edge.synced()
        problem = None if connected else client.problem
        if synced:
            self._last_live = utcnow()
            if self._saved_live is None or self._last_live - self._saved_live >= SAVE_SYNCED_EVERY:
                self._save_live(self._last_live)
        elif not connected and self._last_live is not None and self._saved_live != self._last_live:
            self._save_live(self._last_live)  # the moment the link went down is what the data is as of
        health = LinkHealth(connected, synced, self._last_live is not None, problem, self._last_live)
        self._log_health(health)
        return health

    def _log_health(self, health: LinkHealth) -> None:
        if health.connected:
            key = ("connected", "")
        elif health.problem is None:
            key = ("connecting", "")  # the first attempt has not failed yet: nothing to say
        else:
            key = ("offline" if health.ever_synced else "not_ready", health.problem.split(":", 1)[0])
        if key == self._logged:
            return
        was, self._logged = self._logged, key
        if key[0] == "not_ready":
            log.warning("store %s not ready: no data yet and no connection to the broker (%s)", self.config.store,
                        health.problem)
        elif key[0] == "offline":
            log.warning("store %s offline: showing data last known at %s (%s)", self.config.store,
                        health.last_known.isoformat(timespec="seconds") if health.last_known else "?", health.problem)
        elif key[0] == "connected" and was is not None and was[0] in ("not_ready", "offline"):
            log.info("store %s: connected again", self.config.store)

    def _read_last_live(self) -> datetime | None:
        try:
            moment = datetime.fromisoformat(self._synced_path.read_text(encoding="ascii").strip())
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            return moment
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("ignored unreadable %s: %s", self._synced_path, exc)
        found = self.edge.cache.store_details(self.config.store)  # a cache from before this file existed
        return found.received_at if found else None

    def _save_live(self, moment: datetime) -> None:
        try:
            temporary = self._synced_path.with_suffix(".tmp")
            temporary.write_text(moment.isoformat(), encoding="ascii")
            temporary.replace(self._synced_path)
        except OSError as exc:  # a full disk must not stop the kiosk; "last known at" is only less exact
            log.warning("cannot save %s: %s", self._synced_path, exc)
        self._saved_live = moment

    # -- sessions and events -------------------------------------------------------

    def _end_session(self, session: Session) -> None:
        with self._lock:
            cart = self._cart
        if cart is not None:
            cart.clear()
        self.outbox.forget_session(session.id)
        with self._lock:
            self._reported.clear()
        self._emit(self._session_listeners, session)

    def _on_event(self, message: Message) -> None:
        try:
            event = decode(Event, message.payload)
        except PayloadError as exc:
            log.warning("ignored malformed event: %s", exc)
            return
        if event.type == "order.status":
            self.outbox.apply_event(event)
        elif event.type == "cart.opened":
            opened = CartOpened(str(event.data.get("cart_id", "")), str(event.data.get("device", "")))
            self._emit(self._opened_listeners, opened)
        elif event.type == "enrolment.used":
            self._emit(self._enrolment_listeners, str(event.data.get("login", "")))

    def close(self) -> None:
        """Stop sending, say goodbye, close the caches."""
        self._unsubscribe_events()
        self._unsubscribe_alerts()
        self._remove_wake()
        self.staff_actions.close()
        self.outbox.close()
        self.edge.close()
