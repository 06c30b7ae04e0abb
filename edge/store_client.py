"""This device's client of its store: edge device, cart, order outbox, staff actions and shopper sessions.

Construct it (no I/O), register listeners, then ``start``; ``close`` releases what ``start`` took, newest first.
Methods that wait for the backend block; call them from worker threads, never from the UI thread.
Listeners registered here are called through ``dispatch`` (the UI thread) with immutable values.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from codes.scanned import Intent
from edge.batches import RecallBook, ScannedProduct, resolve_scan
from edge.cart import CartError, CartSnapshot, DeviceCart
from edge.cleanup import Cleanup
from edge.client_types import CartOpened, ClientError, StoreNotReady
from edge.device import Edge
from edge.link_health import LinkHealth, LinkMonitor
from edge.nearby import NearbyStock, from_backend
from edge.outbox import LocalOrder, OrderOutbox, new_order_id
from edge.session import Session, SessionManager
from edge.settings import DeviceSettings
from edge.staff_actions import ActionOutcome, StaffActionQueue
from edge.views import ProductView, StockView, pick_name
from mqtt import topics
from mqtt.alerts import Alert, AlertReason, AlertState
from mqtt.client import Message
from mqtt.commerce import Address, Cart, DeliveryOption, Event, Handoff, LineRequest, PlaceOrderArgs
from mqtt.dispatch import Dispatch, Listeners
from mqtt.enrolment import EnrolmentCode
from mqtt.payloads import Money, PayloadError, StockLevel, StoreDetails, decode, decode_or_none
from mqtt.recalls import Recall, RecallList
from mqtt.rpc import RemoteError, RpcError

log = logging.getLogger(__name__)

NO_IDLE = 10 * 365 * 24 * 3600.0  # phones keep their session; SessionManager needs some timeout


class StoreClient:
    """Edge + DeviceCart + OrderOutbox + StaffActionQueue + SessionManager for one store, wired for the app."""

    def __init__(self, settings: DeviceSettings, dispatch: Dispatch, *, rpc_timeout: float = 6.0) -> None:
        self.settings = settings
        self.device_id = settings.device_id
        self._dispatch = dispatch
        self._timeout = rpc_timeout
        self.edge = Edge.for_device(settings)
        idle = settings.idle_timeout or NO_IDLE
        self.sessions = SessionManager(idle, min(settings.idle_warning, idle / 3))
        self.sessions.on_end.append(self._end_session)
        self.outbox: OrderOutbox  # opened by start()
        self.staff_actions: StaffActionQueue  # opened by start()
        self._monitor = LinkMonitor(self.edge, settings.data_dir / f"synced-{settings.store}.txt")
        self._lock = threading.Lock()
        self._cart: DeviceCart | None = None
        self._cart_listeners: Listeners[CartSnapshot] = Listeners(dispatch)
        self._order_listeners: Listeners[LocalOrder] = Listeners(dispatch)
        self._opened_listeners: Listeners[CartOpened] = Listeners(dispatch)
        self._enrolment_listeners: Listeners[str] = Listeners(dispatch)
        self._session_listeners: Listeners[Session] = Listeners(dispatch)
        self._action_listeners: Listeners[ActionOutcome] = Listeners(dispatch)
        self._alerts: dict[str, Alert] = {}
        self._alert_listeners: Listeners[tuple[Alert, ...]] = Listeners(dispatch)
        self._reported: set[str] = set()
        self.recalls = RecallBook(settings.store, lambda: self.edge.cache)
        self._recall_listeners: Listeners[RecallList] = Listeners(dispatch)
        self.recalls.listeners.append(self._recall_listeners.emit)
        self._cleanup = Cleanup(f"store client {settings.device_id}")
        self._started = False

    def start(self) -> None:
        """Connect (without waiting), open the order and staff-action queues, subscribe and start sending."""
        if self._started:
            raise RuntimeError(f"store client {self.device_id} was already started")
        self._started = True
        settings, client = self.settings, self.edge.client
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._cleanup.add(self.edge.on_product(self._on_product))
            self.edge.start()
            self._cleanup.add(self.edge.close)
            self.outbox = OrderOutbox(settings.data_dir / "orders.db", settings.store, self.edge.rpc)
            self._cleanup.add(self.outbox.close)
            self.outbox.listeners.append(self._order_listeners.emit)
            self.staff_actions = StaffActionQueue(settings.data_dir / "staff_actions.db", self.edge.rpc,
                                                  lambda: client.connected, call_timeout=self._timeout)
            self._cleanup.add(self.staff_actions.close)
            self.staff_actions.listeners.append(self._action_listeners.emit)
            self._cleanup.add(client.subscribe(topics.event(settings.store, self.device_id), self._on_event))
            self._cleanup.add(client.subscribe(topics.alerts_filter(settings.store), self._on_alert, qos=0))
            self._cleanup.add(client.subscribe(self.recalls.topic, self.recalls.on_message, qos=1))
            self._monitor.load()
            self.outbox.start()
            self.staff_actions.start()
            self._cleanup.add(self.edge.on_connection(lambda up: self.staff_actions.wake() if up else None))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop sending, say goodbye, close the queues and the cache (what ``start`` took, newest first)."""
        self._cleanup.run()

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

    def on_cart(self, listener: Callable[[CartSnapshot], None]) -> Callable[[], None]:
        """Every cart change, as a snapshot."""
        return self._cart_listeners.add(listener)

    def on_order(self, listener: Callable[[LocalOrder], None]) -> Callable[[], None]:
        """Every change of an order placed here (queued, confirmed, refused, status events)."""
        return self._order_listeners.add(listener)

    def on_cart_opened(self, listener: Callable[[CartOpened], None]) -> Callable[[], None]:
        """A handoff code shown here was scanned on another device."""
        return self._opened_listeners.add(listener)

    def on_enrolment_used(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """A phone registered with this kiosk's enrolment code (the code's login)."""
        return self._enrolment_listeners.add(listener)

    def on_session_end(self, listener: Callable[[Session], None]) -> Callable[[], None]:
        """A shopper session ended (idle or done); the UI goes back to the start."""
        return self._session_listeners.add(listener)

    def on_staff_action(self, listener: Callable[[ActionOutcome], None]) -> Callable[[], None]:
        """A staff action queued while offline was sent, or refused for good."""
        return self._action_listeners.add(listener)

    def on_alerts(self, listener: Callable[[tuple[Alert, ...]], None]) -> Callable[[], None]:
        """Live restock alerts of this store (open and claimed), most urgent first, whenever they change."""
        return self._alert_listeners.add(listener)

    # -- look-ups (fast, local cache; any thread) ---------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self.edge.client.connected

    def synced(self, quiet: float = 0.3) -> bool:
        """Whether the cache has caught up with the store (see ``Edge.synced``)."""
        return self.edge.synced(quiet)

    def on_staff_revocations(self, listener: Callable[[Message], None]) -> None:
        """The store's list of revoked staff badges (retained), kept on the device for offline checks."""
        self.edge.client.subscribe(topics.staff_revoked(self.settings.store), listener)

    def store_details(self, store: str | None = None) -> StoreDetails | None:
        """Details of this (or another) store, from the cache."""
        return self.edge.store_details(store)

    def product(self, code: str | Intent) -> ProductView | None:
        """A product by SKU, GTIN, shelf link or Digital Link, or by a scan parsed already."""
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
        for sku in self.edge.cache.skus(self.settings.store):
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
                self._cart = DeviceCart(details.currency, self._price_of, self._available_of, self._unit_of)
                self._cart.listeners.append(self._cart_listeners.emit)
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

    def _unit_of(self, sku: str) -> str | None:
        view = self.edge.product(sku)
        return view.unit if view else None

    def _available_of(self, sku: str) -> int | None:
        return self.edge.stock(sku).available

    def _on_product(self, view: ProductView) -> None:
        with self._lock:
            cart = self._cart
        if cart is not None:
            cart.reprice(view.sku)  # a price change while in the cart is kept and flagged

    # -- backend operations (blocking: worker threads only) ------------------------

    def nearby(self, sku: str) -> NearbyStock:
        """Stock and price in the other stores, nearest first: the backend's answer, else what the broker has."""
        try:
            # The backend sees every store of its region (over the chain's bridge), a device only its own store.
            rows = self.edge.rpc.call("stock.nearby", {"sku": sku}, timeout=2.0)["stores"]
            return from_backend(self.edge.store, sku, rows)
        except (RpcError, KeyError, TypeError, ValueError) as exc:
            log.info("nearby stock from the backend failed (%s); asking the broker", exc)
        return self.edge.nearby(sku, timeout=2.0)

    def export_cart(self) -> Handoff:
        """Copy the cart to the backend and get a single-use code that opens it on a phone."""
        lines = self.cart.requests()
        created = self._call("cart.create", {"lines": [x.model_dump(mode="json") for x in lines]})
        result = self._call("cart.handoff", {"cart_id": created["cart"]["cart_id"]})
        return Handoff.model_validate(result["handoff"])

    def enrolment_code(self) -> EnrolmentCode:
        """A one-use code a shopper's phone connects with (a kiosk; its broker must have the phone registry)."""
        result = self._call("phone.enrolment")
        try:
            return decode(EnrolmentCode, json.dumps(result).encode())
        except PayloadError:
            raise ClientError("other", "the backend's answer is not an enrolment code") from None

    def redeem(self, token: str, issuer: str | None = None) -> tuple[CartSnapshot, tuple[str, ...]]:
        """Open the online cart behind a scanned handoff code in this device's cart; returns it and the SKUs of
        the code's cart that this store does not sell (``issuer``: the site whose code it is, "hq" for the web shop)."""
        args = {"token": token} if issuer is None else {"token": token, "issuer": issuer}
        result = self._call("cart.redeem", args)
        cart = Cart.model_validate(result["cart"])
        left_out = tuple(str(sku) for sku in result.get("not_sold_here") or ())
        try:
            return self.cart.load(cart), left_out
        except CartError as exc:
            raise ClientError("currency", str(exc)) from None

    def options(self, lines: list[LineRequest]) -> list[DeliveryOption]:
        """Pickup and delivery options for lines, fastest and cheapest first."""
        result = self._call("order.options", {"lines": [x.model_dump(mode="json") for x in lines]})
        return [DeliveryOption.model_validate(o) for o in result["options"]]

    def place_order(self, option: DeliveryOption, lines: list[LineRequest], address: Address | None,
                    cart_id: str | None) -> LocalOrder:
        """Write the order to the outbox (durable at once); the outbox sends it until the backend confirms."""
        args = PlaceOrderArgs(order_id=new_order_id(), option_id=option.option_id, lines=lines, address=address,
                              cart_id=cart_id)
        return self.outbox.place(args, self.sessions.session.id)

    def adjust_stock(self, sku: str, delta: int, location: str, reason: str) -> StockLevel:
        """Staff: add or remove units through the backend's ledger."""
        result = self._call("stock.adjust", {"sku": sku, "delta": delta, "location": location, "reason": reason})
        return StockLevel.model_validate(result["stock"])

    def _call(self, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return self.edge.rpc.call(op, args, timeout=self._timeout)
        except RemoteError as exc:
            raise ClientError(exc.code.value, exc.message) from None
        except RpcError as exc:
            raise ClientError("offline", str(exc)) from None

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
            alert = decode_or_none(Alert, message.payload, f"alert on {message.topic}", log)
            if alert is None:
                return
            with self._lock:
                known = self._alerts.get(alert.alert_id)
                if known is not None and known.seq >= alert.seq:
                    return  # a replayed or older state never wins
                self._alerts[alert.alert_id] = alert
        self._alert_listeners.emit(self.alerts())

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
                result = self._call(op, args)
            except ClientError as exc:
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
        self._call("alert.report", {"sku": sku, "reason": AlertReason.SCAN_OUT_OF_STOCK.value})
        return True

    # -- batches: variable-measure codes, recalls, expired batches ----------------------

    def resolve_scan(self, intent: Intent) -> ScannedProduct | None:
        """A scan's product here with its measure, GS1 data, recall and expiry (see edge.batches.resolve_scan)."""
        return resolve_scan(self.edge, intent, self.recalls.current())

    def on_recalls(self, listener: Callable[[RecallList], None]) -> Callable[[], None]:
        """A newer recall list of this store arrived (a shown product may have become recalled)."""
        return self._recall_listeners.add(listener)

    def recall_for(self, sku: str | None, gtin: str | None = None, batch: str | None = None) -> Recall | None:
        """The recall in force here for a product (and batch), from the last list received; None if none."""
        return self.recalls.recall_for(sku, gtin, batch)

    def product_recall(self, product: ProductView, batch: str | None = None) -> Recall | None:
        """The recall in force here for a product by its SKU or any of its GTINs (and batch), as a scan finds it."""
        recalls = self.recalls.current()
        return recalls.recall_of(product.sku, product.gtins, batch) if recalls is not None else None

    def report_expired(self, sku: str, batch: str, expiry: date) -> bool:
        """A scan found an expired batch: ask staff to remove it (once per batch and session); True when sent."""
        key = f"{sku}/{batch}"  # no SKU holds a '/': never mistaken for an empty-shelf report
        with self._lock:
            if key in self._reported:
                return False
            self._reported.add(key)
        self._call("alert.report", {"sku": sku, "reason": AlertReason.SCAN_EXPIRED_BATCH.value, "batch": batch,
                                    "expiry": expiry.isoformat()})
        return True

    # -- health ------------------------------------------------------------------------

    def health(self) -> LinkHealth:
        """Connection and sync state now; from one thread (the UI tick), as it saves "last known at" and logs."""
        return self._monitor.health()

    # -- sessions and events -------------------------------------------------------

    def _end_session(self, session: Session) -> None:
        with self._lock:
            cart = self._cart
        if cart is not None:
            cart.clear()
        self.outbox.forget_session(session.id)
        with self._lock:
            self._reported.clear()
        self._session_listeners.emit(session)

    def _on_event(self, message: Message) -> None:
        event = decode_or_none(Event, message.payload, "event", log)
        if event is None:
            return
        if event.type == "order.status":
            self.outbox.apply_event(event)
        elif event.type == "cart.opened":
            opened = CartOpened(str(event.data.get("cart_id", "")), str(event.data.get("device", "")))
            self._opened_listeners.emit(opened)
        elif event.type == "enrolment.used":
            self._enrolment_listeners.emit(str(event.data.get("login", "")))
