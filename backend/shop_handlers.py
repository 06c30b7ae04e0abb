"""Handlers of the shop's operations (stock, catalogue, carts, orders), each validating its arguments."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from backend import carts, catalog, nearby, orders, snapshot, stock
from backend.chain import remote_orders, web_carts
from backend.chain.link import ChainLink
from backend.db import Database
from backend.holds import HoldLimits
from backend.payload_cache import PayloadCache
from codes import ids
from mqtt.commerce import (
    CartCreateArgs,
    CartRef,
    CartSetLineArgs,
    Event,
    LineRequest,
    OptionsArgs,
    Order,
    OrderStatusArgs,
    PlaceOrderArgs,
    RedeemArgs,
)
from mqtt.payloads import (
    CatalogSnapshotArgs,
    ErrorCode,
    StockAdjustArgs,
    StockGetArgs,
    StockLevel,
    decode,
    utcnow,
)
from mqtt.rpc import OpError, OpHandler, RawResult, RequestContext

log = logging.getLogger(__name__)

PublishStock = Callable[[StockLevel], None]
SendEvent = Callable[[str, str, Event], None]


class ShopHandlers:
    """Maps the ``stock.*``, ``catalog.*``, ``cart.*`` and ``order.*`` operation names to handlers."""

    def __init__(self, db: Database, publish_stock: PublishStock, send_event: SendEvent,
                 public_url: str = carts.DEFAULT_PUBLIC_URL,
                 after_stock_change: Callable[[str, str], None] | None = None,
                 payload_cache: PayloadCache | None = None, limits: HoldLimits | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.limits = limits if limits is not None else HoldLimits()
        self.clock = clock  # carts and orders are stamped with it, so the payment deadline runs on the same time
        self.payload_cache = payload_cache if payload_cache is not None else PayloadCache()
        # The stock rule writes in the request's transaction (a group commit's savepoint) and defers its publishes.
        self._after_stock_change = after_stock_change or (lambda store_id, sku: None)
        self._publish_stock_now = publish_stock
        self._send_event_now = send_event
        self.public_url = public_url
        self.chain: ChainLink | None = None  # this store's place in a chain (backend/chain/link.py), if any

    # In a group commit (backend/group_commit.py) these wait for the COMMIT that makes them true; else run at once.

    def _publish_stock(self, level: StockLevel) -> None:
        self.db.after_commit(lambda: self._publish_stock_now(level))

    def _send_event(self, store_id: str, device: str, event: Event) -> None:
        self.db.after_commit(lambda: self._send_event_now(store_id, device, event))

    def table(self) -> dict[str, OpHandler]:
        """Operation name -> handler, for the RPC server."""
        return {
            "stock.adjust": self.stock_adjust,
            "stock.get": self.stock_get,
            "catalog.get": self.catalog_get,
            "catalog.snapshot": self.catalog_snapshot,
            "stock.nearby": self.stock_nearby,
            "cart.create": self.cart_create,
            "cart.get": self.cart_get,
            "cart.set_line": self.cart_set_line,
            "cart.handoff": self.cart_handoff,
            "cart.redeem": self.cart_redeem,
            "order.options": self.order_options,
            "order.place": self.order_place,
            "order.get": self.order_get,
            "order.set_status": self.order_set_status,
        }

    # -- stock and catalogue -------------------------------------------------

    def stock_adjust(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Add or remove units through the ledger, once per request id."""
        request = decode(StockAdjustArgs, args)
        try:
            result = stock.adjust(self.db, ctx.store, request.sku, request.location.value, request.delta,
                                  request.reason, device=ctx.device, idempotency_key=f"{ctx.device}:{ctx.request_id}")
        except stock.UnknownItem as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None
        except stock.InsufficientStock as exc:
            raise OpError(ErrorCode.CONFLICT, str(exc)) from None
        self._publish_stock(result.level)
        if not result.duplicate:
            self._after_stock_change(ctx.store, request.sku)
        return {"stock": result.level.model_dump(mode="json"), "duplicate": result.duplicate}

    def stock_get(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Current stock of one product."""
        request = decode(StockGetArgs, args)
        try:
            return {"stock": stock.level(self.db, ctx.store, request.sku).model_dump(mode="json")}
        except stock.StockError as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None

    def catalog_get(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """One catalogue entry."""
        request = decode(StockGetArgs, args)
        try:
            return {"product": catalog.product_payload(self.db, ctx.store, request.sku).model_dump(mode="json")}
        except catalog.NotFound as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None

    def catalog_snapshot(self, ctx: RequestContext, args: dict[str, Any]) -> RawResult:
        """A page of the store's catalogue entries and stock levels, for a device syncing without retained messages."""
        request = decode(CatalogSnapshotArgs, args)
        return snapshot.page(self.db, ctx.store, request.after or "", request.since, request.limit,
                             cache=self.payload_cache).to_result()

    def stock_nearby(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Stock and price of a product in the chain's other stores, nearest first (for ACL-restricted devices)."""
        request = decode(StockGetArgs, args)
        mirror = self.chain.mirror if self.chain is not None else None
        return {"stores": nearby.nearby_stock(self.db, ctx.store, request.sku, mirror)}

    # -- carts ---------------------------------------------------------------

    def cart_create(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """A new cart owned by the requesting device (a web shop, a kiosk exporting its cart, a phone)."""
        request = decode(CartCreateArgs, args)
        cart = carts.create(self.db, ctx.store, ctx.device, request.lines, self.clock(),
                            caps=self.limits.caps_for(ctx.role), open_window=self.limits.open_cart_window)
        return {"cart": cart.model_dump(mode="json")}

    def cart_get(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """A cart at today's prices."""
        request = decode(CartRef, args)
        return {"cart": carts.get(self.db, ctx.store, request.cart_id).model_dump(mode="json")}

    def cart_set_line(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Set or remove one line."""
        request = decode(CartSetLineArgs, args)
        cart = carts.set_line(self.db, ctx.store, request.cart_id, request.sku, request.quantity,
                              request.expected_version, self.clock(), measure=request.measure,
                              label_price=request.label_price)
        return {"cart": cart.model_dump(mode="json")}

    def cart_handoff(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """A single-use code (and its URL for a QR code) that opens the cart elsewhere."""
        request = decode(CartRef, args)
        handoff = carts.issue_handoff(self.db, ctx.store, request.cart_id, ctx.device, self.clock(),
                                      self.public_url)
        return {"handoff": handoff.model_dump(mode="json")}

    def cart_redeem(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Open the cart behind a code; its owner is told which device opened it. A web-shop code goes to HQ."""
        request = decode(RedeemArgs, args)
        if request.issuer is not None and request.issuer != ctx.store:
            if request.issuer != ids.HQ_SITE:
                raise OpError(ErrorCode.BAD_REQUEST, "this cart code belongs to another store")
            cart, missing = web_carts.open_remote_cart(
                self.chain.call_site if self.chain else None, self.db, ctx.store, ctx.device, request.token,
                self.clock(), caps=self.limits.caps_for(ctx.role), open_window=self.limits.open_cart_window)
            return {"cart": cart.model_dump(mode="json"), "not_sold_here": missing}
        cart, owner = carts.redeem(self.db, ctx.store, ctx.device, request.token, self.clock())
        if owner != ctx.device:
            event = Event(type="cart.opened", at=utcnow(),
                          data={"cart_id": cart.cart_id, "store": ctx.store, "device": ctx.device})
            self._send_event(ctx.store, owner, event)
        return {"cart": cart.model_dump(mode="json")}

    # -- orders --------------------------------------------------------------

    def order_options(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Pickup and delivery options with source, lead time and price."""
        request = decode(OptionsArgs, args)
        remote = remote_orders.remote_sources(self.chain.mirror, request.lines) if self.chain else ()
        found = orders.options(self.db, ctx.store, request.lines, remote)
        return {"options": [o.model_dump(mode="json") for o in found]}

    def order_place(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Write the order, reserve its stock, and confirm it with a reference."""
        request = decode(PlaceOrderArgs, args)
        order, duplicate, changed = orders.place(self.db, ctx.store, ctx.device, request.order_id,
                                                 request.option_id, request.lines, request.address,
                                                 request.cart_id, self.clock(),
                                                 caps=self.limits.caps_for(ctx.role),
                                                 payment_deadline=self.limits.payment_deadline,
                                                 **self._remote_orders(request.lines))
        for store_id in changed:
            for line in order.lines:
                self._publish_stock(stock.level(self.db, store_id, line.sku))
        if not duplicate:
            self._send_event(ctx.store, ctx.device, Event(type="order.status", at=self.clock(), data={
                "order_id": order.order_id, "reference": order.reference, "status": order.status.value}))
        return {"order": order.model_dump(mode="json"), "duplicate": duplicate}

    def _remote_orders(self, lines: list[LineRequest]) -> dict[str, Any]:
        """In a chain: the other stores that could supply these lines, and how to hold units there."""
        if self.chain is None:
            return {}
        return {"remote": remote_orders.remote_sources(self.chain.mirror, lines),
                "hold_remote": remote_orders.hold_at_source(self.chain.call_site, self.db, self.chain.mirror)}

    def order_get(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """One order."""
        order_id = args.get("order_id") if isinstance(args, dict) else None
        if not isinstance(order_id, str):
            raise OpError(ErrorCode.BAD_REQUEST, "order_id: field required")
        order = orders.get(self.db, order_id)
        if order.store != ctx.store:
            raise OpError(ErrorCode.NOT_FOUND, "no such order")
        return {"order": order.model_dump(mode="json")}

    def order_set_status(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Move an order one allowed step on (orders.TRANSITIONS) and tell the ordering device; once per status."""
        request = decode(OrderStatusArgs, args)
        order, device, changed, moved = orders.set_status(self.db, request.order_id, request.status,
                                                          self.clock(), store_id=ctx.store, device=ctx.device)
        if moved:
            self._after_order_change(order, device, changed)
        return {"order": order.model_dump(mode="json"), "duplicate": not moved}

    def expire_unpaid_orders(self) -> int:
        """Cancel orders left unpaid past the payment deadline, republish their stock, tell their devices."""
        expired = orders.expire_unpaid(self.db, self.clock())
        for order, device, changed, _ in expired:
            log.info("order %s (%s) expired unpaid; its stock is released", order.order_id, order.reference)
            self._after_order_change(order, device, changed, reason=orders.EXPIRED_REASON)
        return len(expired)

    def _after_order_change(self, order: Order, device: str, changed: list[str], reason: str | None = None) -> None:
        for store_id in changed:
            for line in order.lines:
                self._publish_stock(stock.level(self.db, store_id, line.sku))
                if order.status in orders.SALES:  # the shelf may have gone below its threshold
                    self._after_stock_change(store_id, line.sku)
        data = {"order_id": order.order_id, "reference": order.reference, "status": order.status.value}
        if reason:
            data["reason"] = reason
        self._send_event(order.store, device, Event(type="order.status", at=self.clock(), data=data))
