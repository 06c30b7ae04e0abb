"""Online carts kept by the backend, priced from the catalogue, and handed between devices by token."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from backend import holds, tokens
from backend.db import Database
from mqtt.commerce import (
    MAX_LINES,
    Cart,
    CartLine,
    Handoff,
    LineRequest,
    PricingError,
    make_line,
    price_line,
    refuse_plain_change,
    total,
)
from mqtt.payloads import ErrorCode, Money
from mqtt.rpc import OpError

HANDOFF_TTL = timedelta(minutes=10)
DEFAULT_PUBLIC_URL = "https://aisle.example"


class CartError(OpError):
    """A cart operation cannot be done; ``code`` says why in protocol terms (a device is answered with it)."""


def new_cart_id() -> str:
    """A fresh unguessable cart id."""
    return "c_" + secrets.token_urlsafe(16)


def store_currency(db: Database, store_id: str) -> str:
    """Currency of a store, or NOT_FOUND."""
    row = db.conn.execute("SELECT currency, kind FROM stores WHERE id = ?", [store_id]).fetchone()
    if row is None or row[1] != "store":
        raise CartError(ErrorCode.NOT_FOUND, f"unknown store {store_id}")
    return str(row[0])


def current_price(db: Database, store_id: str, sku: str) -> Decimal | None:
    """The product's price in this store now, or None when the store does not sell it."""
    row = db.conn.execute("SELECT price FROM store_products WHERE store = ? AND sku = ?", [store_id, sku]).fetchone()
    return Decimal(row[0]) if row else None


def product_unit(db: Database, sku: str) -> str:
    """The catalogue unit of a product ("kg": priced per kg), or "each" when unknown."""
    row = db.conn.execute("SELECT unit FROM products WHERE sku = ?", [sku]).fetchone()
    return str(row[0]) if row else "each"


def priced_request(db: Database, store_id: str, currency: str, line: LineRequest) -> CartLine:
    """A requested line at today's price by the one pricing rule; NOT_FOUND or BAD_REQUEST says why not."""
    price = current_price(db, store_id, line.sku)
    if price is None:
        raise CartError(ErrorCode.NOT_FOUND, f"{line.sku} is not sold in this store")
    try:
        return price_line(line.sku, Money(amount=price, currency=currency), product_unit(db, line.sku),
                          line.quantity, line.measure, line.label_price)
    except PricingError as exc:
        raise CartError(ErrorCode.BAD_REQUEST, str(exc)) from None


def create(db: Database, store_id: str, owner: str, lines: list[LineRequest], now: datetime, *,
           caps: holds.Caps | None = None, open_window: timedelta = holds.HoldLimits.open_cart_window) -> Cart:
    """A new cart owned by ``owner``, optionally pre-filled, unless the owner has its cap of open carts."""
    with db.transaction():
        currency = store_currency(db, store_id)
        if caps is not None and holds.open_carts(db, owner, now - open_window) >= caps.open_carts:
            raise CartError(ErrorCode.LIMIT_REACHED, holds.cart_cap_message(caps, open_window))
        cart_id = new_cart_id()
        db.conn.execute("INSERT INTO carts VALUES (?, ?, ?, 1, ?, ?)",
                           [cart_id, store_id, owner, now.isoformat(), now.isoformat()])
        for position, line in enumerate(lines):
            _put_line(db, store_id, currency, cart_id, line, position)
    return get(db, store_id, cart_id)


def get(db: Database, store_id: str, cart_id: str) -> Cart:
    """The cart priced at today's prices; lines whose price moved are flagged."""
    with db.lock:
        row = db.conn.execute("SELECT owner, version, updated_at FROM carts WHERE cart_id = ? AND store = ?",
                                 [cart_id, store_id]).fetchone()
        if row is None:
            raise CartError(ErrorCode.NOT_FOUND, "no such cart in this store")
        currency = store_currency(db, store_id)
        stored = db.conn.execute(
            "SELECT sku, quantity, unit_price, measure, label_price FROM cart_lines WHERE cart_id = ?"
            " ORDER BY position", [cart_id]).fetchall()
        lines, unavailable = [], []
        for sku, quantity, unit_text, measure, label in stored:
            now_price = current_price(db, store_id, sku)
            if now_price is None:
                unavailable.append(sku)
                continue
            unit = Money(amount=now_price, currency=currency)
            was = Money(amount=Decimal(unit_text), currency=currency)
            lines.append(make_line(sku, unit, quantity, None if measure is None else Decimal(measure),
                                   None if label is None else Money(amount=Decimal(label), currency=currency),
                                   price_changed_from=None if was.amount == unit.amount else was))
    return Cart(cart_id=cart_id, store=store_id, owner=row[0], currency=currency, lines=lines, unavailable=unavailable,
                total=total((line.line_total for line in lines), currency), version=row[1],
                updated_at=datetime.fromisoformat(row[2]))


def set_line(db: Database, store_id: str, cart_id: str, sku: str, quantity: int, expected_version: int | None,
             now: datetime, *, measure: Decimal | None = None, label_price: Money | None = None) -> Cart:
    """Set one line's quantity (0 removes it), and for a weighed item its weight (kg of the whole line) or label
    price, optionally only if nobody changed the cart meanwhile. A line added from a label changes only with a new
    weight or label price."""
    with db.transaction():
        row = db.conn.execute("SELECT version FROM carts WHERE cart_id = ? AND store = ?",
                                 [cart_id, store_id]).fetchone()
        if row is None:
            raise CartError(ErrorCode.NOT_FOUND, "no such cart in this store")
        if expected_version is not None and row[0] != expected_version:
            raise CartError(ErrorCode.CONFLICT, f"the cart changed meanwhile (now version {row[0]})")
        held = db.conn.execute("SELECT measure IS NOT NULL OR label_price IS NOT NULL FROM cart_lines"
                               " WHERE cart_id = ? AND sku = ?", [cart_id, sku]).fetchone()
        try:
            refuse_plain_change(sku, bool(held and held[0]), quantity, measure, label_price)
        except PricingError as exc:
            raise CartError(ErrorCode.BAD_REQUEST, str(exc)) from None
        if quantity == 0:
            db.conn.execute("DELETE FROM cart_lines WHERE cart_id = ? AND sku = ?", [cart_id, sku])
        else:
            count = db.conn.execute("SELECT count(*) FROM cart_lines WHERE cart_id = ? AND sku != ?",
                                       [cart_id, sku]).fetchone()[0]
            if count >= MAX_LINES:  # the same bound as cart.create, so one cart cannot grow without end
                raise CartError(ErrorCode.CONFLICT, f"a cart holds at most {MAX_LINES} different products")
            position = db.conn.execute("SELECT coalesce(max(position), -1) + 1 FROM cart_lines WHERE cart_id = ?",
                                          [cart_id]).fetchone()[0]
            _put_line(db, store_id, store_currency(db, store_id), cart_id,
                      LineRequest(sku=sku, quantity=quantity, measure=measure, label_price=label_price), position)
        db.conn.execute("UPDATE carts SET version = version + 1, updated_at = ? WHERE cart_id = ?",
                           [now.isoformat(), cart_id])
    return get(db, store_id, cart_id)


def _put_line(db: Database, store_id: str, currency: str, cart_id: str, line: LineRequest, position: int) -> None:
    priced = priced_request(db, store_id, currency, line)
    db.conn.execute(
        "INSERT INTO cart_lines (cart_id, sku, quantity, unit_price, position, measure, label_price)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = excluded.quantity,"
        " unit_price = excluded.unit_price, measure = excluded.measure, label_price = excluded.label_price",
        [cart_id, line.sku, line.quantity, format(priced.unit_price.amount, "f"), position,
         _text(priced.measure), _text(priced.label_price.amount if priced.label_price else None)],
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def issue_handoff(db: Database, store_id: str, cart_id: str, device: str, now: datetime,
                  public_url: str = DEFAULT_PUBLIC_URL, ttl: timedelta = HANDOFF_TTL) -> Handoff:
    """A single-use code that opens this cart on another device of the same store."""
    get(db, store_id, cart_id)
    expires = now + ttl
    token, nonce = tokens.issue(tokens.signing_key(db), store_id, expires)
    with db.transaction():
        db.conn.execute("INSERT INTO handoffs VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                           [nonce, cart_id, store_id, device, expires.isoformat()])
    return Handoff(token=token, url=f"{public_url.rstrip('/')}/s/{store_id}/cart/{token}", store=store_id,
                   cart_id=cart_id, expires_at=expires.replace(microsecond=0))


def redeem(db: Database, store_id: str, device: str, token: str, now: datetime) -> tuple[Cart, str]:
    """Open the cart behind a token exactly once; returns the cart and the device that issued the token."""
    try:
        claims = tokens.verify(tokens.signing_key(db), store_id, token)
    except tokens.TokenError as exc:
        raise CartError(ErrorCode.BAD_REQUEST, str(exc)) from None
    if claims.expires_at <= now:
        raise CartError(ErrorCode.EXPIRED, "this cart code has expired; ask for a new one")
    with db.transaction():
        # One statement decides the winner, so two kiosks scanning at once cannot both open the cart.
        cursor = db.conn.execute(
            "UPDATE handoffs SET redeemed_at = ?, redeemed_by = ?"
            " WHERE nonce = ? AND store = ? AND redeemed_at IS NULL",
            [now.isoformat(), device, claims.nonce, store_id],
        )
        row = db.conn.execute("SELECT cart_id, issued_by, redeemed_by FROM handoffs WHERE nonce = ?",
                                 [claims.nonce]).fetchone()
    if row is None:
        raise CartError(ErrorCode.NOT_FOUND, "this cart code is unknown here")
    if cursor.rowcount != 1:
        raise CartError(ErrorCode.USED, "this cart code has already been used; ask for a new one")
    cart_id, issued_by = row[0], row[1]
    owner = db.conn.execute("SELECT owner FROM carts WHERE cart_id = ?", [cart_id]).fetchone()
    return get(db, store_id, cart_id), str(owner[0] if owner else issued_by)
