"""Carts started in the chain's web shop (at HQ) and opened at any store's kiosk by their code.

HQ issued the code, so HQ alone decides whether it is still good (single use, expiry): the store asks HQ over the
chain, gets the cart's lines, and opens them as a cart of its own, priced at its own prices. The web shop is told
which store opened it. Without the link the store says so, and nothing local is touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from backend import carts, holds
from backend.chain.remote_orders import CallSite
from backend.db import Database
from codes import ids
from mqtt.commerce import Cart, Event, LineRequest, RedeemArgs, as_request
from mqtt.payloads import DeviceId, ErrorCode, decode
from mqtt.rpc import OpError, RemoteError, RequestContext, RpcError

log = logging.getLogger(__name__)

UNREACHABLE = "online carts are unavailable right now: this store cannot reach the chain's web shop; everything " \
              "in this store works as usual"
HQ_TIMEOUT = 5.0

SendEvent = Callable[[str, str, Event], None]


class RemoteCartArgs(RedeemArgs):
    """``cart.redeem`` as a store asks HQ: the code, and the kiosk that scanned it."""

    device: DeviceId


def serve_remote_redeem(db: Database, send_event: SendEvent, clock: Callable[[], datetime]
                        ) -> Callable[[RequestContext, dict[str, Any]], dict[str, Any]]:
    """HQ's ``cart.redeem`` for stores (``ctx.device`` is the asking store, pinned by the central broker's ACL)."""

    def redeem(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        request = decode(RemoteCartArgs, args)
        # Used, expired or unknown: carts.CartError is an OpError, and its answer travels back to the store as it is.
        cart, owner = carts.redeem(db, ids.HQ_SITE, f"{ctx.device}/{request.device}", request.token, clock())
        send_event(ids.HQ_SITE, owner, Event(type="cart.opened", at=clock(), data={
            "cart_id": cart.cart_id, "store": ctx.device, "device": request.device}))
        return {"lines": [as_request(line).model_dump(mode="json") for line in cart.lines]}

    return redeem


def open_remote_cart(call: CallSite | None, db: Database, store_id: str, device: str,
                     token: str, now: datetime, *, caps: holds.Caps | None, open_window: timedelta
                     ) -> tuple[Cart, list[str]]:
    """Redeem a web-shop code at HQ and open its lines here, at this store's prices; returns the cart and the skus
    left out because this store does not sell them."""
    if call is None:  # not a store of a chain
        raise OpError(ErrorCode.CHAIN_UNAVAILABLE, UNREACHABLE)
    try:
        result = call(ids.HQ_SITE, "cart.redeem", {"token": token, "device": device}, HQ_TIMEOUT)
    except RemoteError as exc:
        raise OpError(exc.code, exc.message) from None  # used, expired, unknown: HQ's word, passed on as it is
    except RpcError:
        raise OpError(ErrorCode.CHAIN_UNAVAILABLE, UNREACHABLE) from None
    try:
        wanted = [LineRequest.model_validate(line) for line in result["lines"]]
    except (KeyError, TypeError, ValueError) as exc:
        log.error("HQ sent a cart this store cannot read: %s", exc)
        raise OpError(ErrorCode.INTERNAL, "the web shop's cart could not be read; ask the staff") from None
    with db.lock:
        sold = [line for line in wanted if carts.current_price(db, store_id, line.sku) is not None]
    if len(sold) < len(wanted):
        log.info("web cart opened in %s without %d products not sold here", store_id, len(wanted) - len(sold))
    missing = [line.sku for line in wanted if line not in sold]
    return carts.create(db, store_id, device, sold, now, caps=caps, open_window=open_window), missing
