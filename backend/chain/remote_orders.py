"""Orders that hold stock at another site of the chain: the source holds the units, the ordering store keeps the order.

The ordering store asks the source store to hold the order's units (``order.hold``, idempotent by order id) before it
writes the order itself, so a retried or crossed request never holds twice, and an order is never confirmed without
its units held. Every later status goes to the source through the ordering store's chain outbox, written in the same
transaction as the status and sent until the source confirms; the source releases or sells the units once. An order
never paid is released on both sides at the same deadline, so a hold whose order was lost with a cut link ends too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field

from backend import catalog, orders
from backend.carts import CartError
from backend.chain.mirror import NearbyMirror
from backend.db import Database
from codes.catalog_csv import StoreInfo
from mqtt.commerce import DeliveryOption, Fulfilment, LineRequest, OrderId, OrderStatus, UniqueLines
from mqtt.payloads import ErrorCode, Payload, Timestamp, decode
from mqtt.rpc import OpError, RemoteError, RequestContext, RpcError

log = logging.getLogger(__name__)

UNREACHABLE = "orders from our other stores are unavailable right now: this store cannot reach {site}; pickup " \
              "and delivery from this store work as usual"
CALL_TIMEOUT = 5.0

CallSite = Callable[[str, str, dict[str, Any], float], dict[str, Any]]  # (site, op, args, timeout) -> result
StockChanged = Callable[[list[str]], None]  # skus whose level changed here


class HoldArgs(Payload):
    """``order.hold``: hold these units here for an order placed at the asking store."""

    order_id: OrderId
    kind: Fulfilment
    lines: UniqueLines
    pay_by: Timestamp


class HoldStatusArgs(Payload):
    """``order.hold_status``: the order this store holds units for has a new status."""

    order_id: OrderId
    status: OrderStatus = Field(description="cancelled releases the units, collected or shipped sells them")


# -- the source store ---------------------------------------------------------------

def hold(db: Database, store: str, for_store: str, args: HoldArgs, now: datetime) -> tuple[bool, list[str]]:
    """Hold the units once per order id; returns (duplicate, skus whose level changed)."""
    with db.transaction():
        row = db.conn.execute("SELECT for_store FROM remote_holds WHERE order_id = ?", [args.order_id]).fetchone()
        if row is not None:
            if row[0] != for_store:
                raise CartError(ErrorCode.CONFLICT, "order id already used by another store")
            return True, []
        for line in args.lines:
            orders._reserve(db, store, line.sku, line.units, now)
        db.conn.execute("INSERT INTO remote_holds VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            args.order_id, for_store, args.kind.value, OrderStatus.AWAITING_PAYMENT.value,
            json.dumps([line.model_dump(mode="json") for line in args.lines]), args.pay_by.isoformat(), now.isoformat(),
            now.isoformat()])
    return False, [line.sku for line in args.lines]


def hold_status(db: Database, store: str, for_store: str, args: HoldStatusArgs, now: datetime) -> list[str]:
    """Follow the order's new status once: release the units, or sell them; returns skus whose level changed."""
    with db.transaction():
        row = db.conn.execute("SELECT for_store, status, lines FROM remote_holds WHERE order_id = ?",
                              [args.order_id]).fetchone()
        if row is None or row[0] != for_store:
            raise CartError(ErrorCode.NOT_FOUND, "no such held order")
        current = OrderStatus(row[1])
        if current == args.status or current in (OrderStatus.CANCELLED, *orders.SALES):
            return []  # told twice, or already closed here (expired at its deadline): nothing more to do
        lines = [LineRequest.model_validate(line) for line in json.loads(row[2])]
        if args.status == OrderStatus.CANCELLED or args.status in orders.SALES:
            for line in lines:
                orders._release(db, store, line.sku, line.units, now)
                if args.status in orders.SALES:
                    orders._sell(db, store, line.sku, line.units, args.order_id, f"order-of-{for_store}", now)
        db.conn.execute("UPDATE remote_holds SET status = ?, updated_at = ? WHERE order_id = ?",
                        [args.status.value, now.isoformat(), args.order_id])
    return [line.sku for line in lines] if args.status == OrderStatus.CANCELLED or args.status in orders.SALES else []


def expire_holds(db: Database, store: str, now: datetime) -> list[str]:
    """Release holds still unpaid past their deadline (the ordering store cancels its order at the same time)."""
    with db.lock:
        due = db.conn.execute("SELECT order_id, for_store FROM remote_holds WHERE status = ? AND pay_by <= ?"
                              " LIMIT 500", [OrderStatus.AWAITING_PAYMENT.value, now.isoformat()]).fetchall()
    changed: list[str] = []
    for order_id, for_store in due:
        changed += hold_status(db, store, for_store, HoldStatusArgs(order_id=order_id, status=OrderStatus.CANCELLED),
                               now)
    return changed


def handlers(db: Database, store: str, clock: Callable[[], datetime], stock_changed: StockChanged
             ) -> dict[str, Callable[[RequestContext, dict[str, Any]], dict[str, Any]]]:
    """The chain operations a store answers for other sites (``ctx.device`` is the asking site)."""

    def hold_op(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        duplicate, skus = hold(db, store, ctx.device, decode(HoldArgs, args), clock())
        stock_changed(skus)
        return {"held": True, "duplicate": duplicate}

    def status_op(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        stock_changed(hold_status(db, store, ctx.device, decode(HoldStatusArgs, args), clock()))
        return {"ok": True}

    return {"order.hold": hold_op, "order.hold_status": status_op}


# -- the ordering store --------------------------------------------------------------

def remote_sources(mirror: NearbyMirror, lines: list[LineRequest]) -> list[orders.Source]:
    """Other stores whose live stock covers every line now (a store only last known is never promised)."""
    available = [{entry["store"]: entry["available"] for entry in mirror.entries(line.sku) if entry["live"]}
                 for line in lines]  # one look per line, not one per line and store
    return [(site, details.kind, details.currency, details.lat, details.lon)
            for site, details in sorted(mirror.stores().items())
            if details.kind == "store" and all(levels.get(site, 0) >= line.units
                                                for levels, line in zip(available, lines, strict=True))]


def hold_at_source(call: CallSite, db: Database, mirror: NearbyMirror) -> orders.HoldRemote:
    """``orders.place``'s hold: ask the source site, mapping a cut link to a clear refusal."""

    def hold_remote(order_id: str, option: DeliveryOption, lines: list[LineRequest], pay_by: datetime) -> None:
        _know_store(db, mirror, option.source_store)
        args = HoldArgs(order_id=order_id, kind=option.kind, lines=lines, pay_by=pay_by)
        try:
            call(option.source_store, "order.hold", args.model_dump(mode="json"), CALL_TIMEOUT)
        except RemoteError as exc:
            raise OpError(exc.code, f"{option.source_store}: {exc.message}") from None
        except RpcError:
            raise OpError(ErrorCode.CHAIN_UNAVAILABLE, UNREACHABLE.format(site=option.source_store)) from None

    return hold_remote


def _know_store(db: Database, mirror: NearbyMirror, site: str) -> None:
    """Write the source store's details here (the order names it), marked as a store whose stock is not here."""
    details = mirror.stores().get(site)
    if details is None:
        raise OpError(ErrorCode.CONFLICT, f"{site} is not known here; ask again")
    with db.transaction():
        catalog.upsert_store(db, StoreInfo(details.store, details.name, details.kind, details.currency,
                                           details.locale, tuple(details.locales), details.lat, details.lon,
                                           details.address, details.variable_measure))
        db.conn.execute("UPDATE stores SET remote = 1 WHERE id = ?", [site])


def drain_outbox(db: Database, call: CallSite) -> int:
    """Send what other sites must still be told, oldest first; stops at the first site that does not answer."""
    with db.lock:
        rows = db.conn.execute("SELECT id, target, op, args FROM chain_outbox ORDER BY id LIMIT 200").fetchall()
    sent = 0
    for row_id, target, op, args in rows:
        try:
            call(target, op, json.loads(args), CALL_TIMEOUT)
        except RemoteError as exc:  # the site answered, and will never accept it: keep a trace, do not retry forever
            log.error("%s refused %s %s: %s (dropped)", target, op, args[:200], exc.message)
        except RpcError:
            return sent
        with db.transaction():
            db.conn.execute("DELETE FROM chain_outbox WHERE id = ?", [row_id])
        sent += 1
    return sent
