"""Delivery and pickup options, and orders that reserve stock, applied once per order id."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from backend import holds, stock
from backend.carts import CartError, priced_request, store_currency
from backend.db import Database
from mqtt.commerce import (
    Address,
    CartLine,
    DeliveryOption,
    Fulfilment,
    LineRequest,
    Order,
    OrderStatus,
    make_line,
    stock_units,
    total,
)
from mqtt.payloads import ErrorCode, Money

log = logging.getLogger(__name__)

REFERENCE_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, 8/B) for reading aloud at a till
S = OrderStatus
# Where an order may go next. Ready means on the pickup shelf, or packed for the courier; shipped (handed to the
# carrier) and collected are sales; a paid pickup may be handed over at the till at once.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.AWAITING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.READY, S.SHIPPED, S.COLLECTED, S.CANCELLED}),
    S.READY: frozenset({S.SHIPPED, S.COLLECTED, S.CANCELLED}),
    S.SHIPPED: frozenset(),
    S.COLLECTED: frozenset(),
    S.CANCELLED: frozenset(),
}
ONLY_FOR = {S.COLLECTED: Fulfilment.PICKUP, S.SHIPPED: Fulfilment.DELIVERY}
SALES = frozenset({S.COLLECTED, S.SHIPPED})
FINISHED = (S.COLLECTED.value, S.SHIPPED.value, S.CANCELLED.value)
EXPIRED_REASON = "payment_deadline"
# A sale takes the units where staff pick orders: the warehouse, then the backroom, then the shelf.
SALE_LOCATIONS = ("warehouse", "backroom", "shelf")


@dataclass(frozen=True)
class FeeRule:
    """Delivery fees in one currency."""

    home: Decimal
    courier: Decimal
    free_from: Decimal


FEES = {
    "SEK": FeeRule(Decimal("49.00"), Decimal("79.00"), Decimal("500.00")),
    "DKK": FeeRule(Decimal("39.00"), Decimal("59.00"), Decimal("350.00")),
    "EUR": FeeRule(Decimal("4.90"), Decimal("7.90"), Decimal("50.00")),
}
DEFAULT_FEES = FeeRule(Decimal("5.00"), Decimal("8.00"), Decimal("60.00"))
LEAD_HOURS = {"pickup-here": 1, "pickup-transfer": 24, "pickup-other": 1, "delivery-warehouse": 48,
              "delivery-store": 4}


def _priced_lines(db: Database, store_id: str, lines: list[LineRequest]) -> tuple[str, list[CartLine]]:
    currency = store_currency(db, store_id)
    return currency, [priced_request(db, store_id, currency, line) for line in lines]


def _sources(db: Database, lines: list[LineRequest]) -> list[tuple[str, str, str, float | None, float | None]]:
    """Stores and warehouses that can supply every line now: (id, kind, currency, lat, lon)."""
    found = []
    for sid, kind, currency, lat, lon in db.conn.execute("SELECT id, kind, currency, lat, lon FROM stores"):
        if all(_available(db, sid, line.sku) >= stock_units(line.quantity, line.measure) for line in lines):
            found.append((sid, kind, currency, lat, lon))
    return found


def _available(db: Database, store_id: str, sku: str) -> int:
    row = db.conn.execute(
        "SELECT coalesce((SELECT sum(quantity) FROM stock WHERE store = ?1 AND sku = ?2), 0)"
        " - coalesce((SELECT reserved FROM stock_state WHERE store = ?1 AND sku = ?2), 0)", [store_id, sku]
    ).fetchone()
    return int(row[0])


Source = tuple[str, str, str, float | None, float | None]  # (site, kind, currency, lat, lon)
# Holds the units of an order at another site of the chain before the order is written here (backend/chain/).
HoldRemote = Callable[[str, DeliveryOption, list[LineRequest], datetime], None]


def options(db: Database, store_id: str, lines: list[LineRequest], remote: Sequence[Source] = ()
            ) -> list[DeliveryOption]:
    """Every way to get these lines: pickup here, here after a transfer, in another store, or delivered home.

    ``remote``: other sites of a chain that can supply every line now (their stock is not in this database).
    """
    with db.lock:
        currency, priced = _priced_lines(db, store_id, lines)
        goods = total((line.line_total for line in priced), currency)
        fees = FEES.get(currency, DEFAULT_FEES)
        free = goods.amount >= fees.free_from
        result: list[DeliveryOption] = []

        def add(option_id: str, kind: Fulfilment, source: str, pickup: str | None, lead: str, fee: Decimal) -> None:
            fee_money = Money(amount=Decimal(0) if free or kind == Fulfilment.PICKUP else fee, currency=currency)
            result.append(DeliveryOption(option_id=option_id, kind=kind, source_store=source, pickup_store=pickup,
                                         lead_time_hours=LEAD_HOURS[lead], fee=fee_money, goods=goods,
                                         total=total([goods, fee_money], currency)))

        sources = _sources(db, lines)
        local = {known[0] for known in sources}
        sources += [s for s in remote if s[0] not in local]
        here = any(s[0] == store_id for s in sources)
        if here:
            add(f"pickup:{store_id}", Fulfilment.PICKUP, store_id, store_id, "pickup-here", Decimal(0))
        for sid, kind, source_currency, _, _ in sources:
            if sid == store_id:
                continue
            if not here:
                add(f"pickup:{store_id}:{sid}", Fulfilment.PICKUP, sid, store_id, "pickup-transfer", Decimal(0))
            if kind == "store" and source_currency == currency:
                add(f"pickup:{sid}", Fulfilment.PICKUP, sid, sid, "pickup-other", Decimal(0))
            lead = "delivery-warehouse" if kind == "warehouse" else "delivery-store"
            add(f"delivery:{sid}", Fulfilment.DELIVERY, sid, None, lead,
                fees.home if kind == "warehouse" else fees.courier)
        if here:
            add(f"delivery:{store_id}", Fulfilment.DELIVERY, store_id, None, "delivery-store", fees.courier)
    return sorted(result, key=lambda o: (o.kind != Fulfilment.PICKUP, o.lead_time_hours, o.total.amount))


def place(db: Database, store_id: str, device: str, order_id: str, option_id: str, lines: list[LineRequest],
          address: Address | None, cart_id: str | None, now: datetime, *, caps: holds.Caps | None = None,
          payment_deadline: timedelta = holds.HoldLimits.payment_deadline, remote: Sequence[Source] = (),
          hold_remote: HoldRemote | None = None) -> tuple[Order, bool, list[str]]:
    """Write the order and reserve its stock, within the device's caps; the same order id returns the first result.

    An option whose source is another site of the chain (in ``remote``) is held there first, by ``hold_remote``
    (idempotent by order id, outside this database's transaction: a slow link must not hold the store's lock), then
    written here without a local reservation. Returns (order, duplicate, source store ids whose stock changed here).
    """
    elsewhere = {s[0] for s in remote} - {store_id}
    with db.transaction():
        if (first := _placed(db, order_id, device)) is not None:
            return first
        option = next((o for o in options(db, store_id, lines, remote) if o.option_id == option_id), None)
        if option is None or (option.source_store in elsewhere and hold_remote is None):
            raise CartError(ErrorCode.CONFLICT, "that option is no longer available for these items; ask again")
        if option.kind == Fulfilment.DELIVERY and address is None:
            raise CartError(ErrorCode.BAD_REQUEST, "a delivery needs an address")
        if caps is not None:  # checked in the transaction that reserves, so no two requests slip past together
            _check_caps(db, device, caps, lines, payment_deadline)
        if option.source_store not in elsewhere:
            return _write(db, store_id, device, order_id, option, lines, address, cart_id, now, payment_deadline,
                          reserve=True)
    assert hold_remote is not None
    hold_remote(order_id, option, lines, pay_by(option, now, payment_deadline))
    with db.transaction():
        if (first := _placed(db, order_id, device)) is not None:  # written meanwhile by a retry of this request
            return first
        if caps is not None:
            _check_caps(db, device, caps, lines, payment_deadline)
        return _write(db, store_id, device, order_id, option, lines, address, cart_id, now, payment_deadline,
                      reserve=False)


def _placed(db: Database, order_id: str, device: str) -> tuple[Order, bool, list[str]] | None:
    """The first result of an order id already placed by this device (inside the caller's transaction)."""
    existing = db.conn.execute("SELECT device FROM orders WHERE order_id = ?", [order_id]).fetchone()
    if existing is None:
        return None
    if existing[0] != device:
        raise CartError(ErrorCode.CONFLICT, "order id already used by another device")
    return get(db, order_id), True, []


def _check_caps(db: Database, device: str, caps: holds.Caps, lines: list[LineRequest], deadline: timedelta) -> None:
    held_orders, held_units = holds.unpaid_holds(db, device)
    asked = sum(stock_units(line.quantity, line.measure) for line in lines)
    refused = holds.order_cap_message(caps, held_orders, held_units, asked, deadline)
    if refused:
        raise CartError(ErrorCode.LIMIT_REACHED, refused)


def _write(db: Database, store_id: str, device: str, order_id: str, option: DeliveryOption, lines: list[LineRequest],
           address: Address | None, cart_id: str | None, now: datetime, payment_deadline: timedelta, *,
           reserve: bool) -> tuple[Order, bool, list[str]]:
    """Insert the order (inside the caller's transaction) and, if asked, reserve its units here."""
    _, priced = _priced_lines(db, store_id, lines)
    reference = _new_reference(db)
    db.conn.execute(
        "INSERT INTO orders (order_id, reference, store, device, kind, source_store, pickup_store, fee, total,"
        " currency, status, lead_time_hours, address, cart_id, created_at, updated_at, pay_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [order_id, reference, store_id, device, option.kind.value, option.source_store, option.pickup_store,
         format(option.fee.amount, "f"), format(option.total.amount, "f"), option.total.currency,
         OrderStatus.AWAITING_PAYMENT.value, option.lead_time_hours,
         address.model_dump_json() if address else None, cart_id, now.isoformat(), now.isoformat(),
         pay_by(option, now, payment_deadline).isoformat()],
    )
    for line in priced:  # a weighed line keeps its weight, so the order costs what the cart did to the cent
        db.conn.execute(
            "INSERT INTO order_lines (order_id, sku, quantity, unit_price, measure, label_price)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [order_id, line.sku, line.quantity, format(line.unit_price.amount, "f"),
             None if line.measure is None else format(line.measure, "f"),
             None if line.label_price is None else format(line.label_price.amount, "f")])
        if reserve:
            _reserve(db, option.source_store, line.sku, stock_units(line.quantity, line.measure), now)
    return get(db, order_id), False, [option.source_store] if reserve else []


def _reserve(db: Database, store_id: str, sku: str, quantity: int, now: datetime) -> None:
    if _available(db, store_id, sku) < quantity:
        raise CartError(ErrorCode.CONFLICT, f"{sku} sold out at {store_id} meanwhile")
    db.conn.execute(
        "INSERT INTO stock_state (store, sku, reserved, seq, updated_at) VALUES (?, ?, ?, 1, ?)"
        " ON CONFLICT (store, sku) DO UPDATE SET reserved = reserved + excluded.reserved, seq = seq + 1,"
        " updated_at = excluded.updated_at",
        [store_id, sku, quantity, now.isoformat()],
    )


def _new_reference(db: Database) -> str:
    while True:
        text = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
        reference = f"{text[:3]}-{text[3:]}"
        if db.conn.execute("SELECT 1 FROM orders WHERE reference = ?", [reference]).fetchone() is None:
            return reference


def get(db: Database, order_id: str) -> Order:
    """One order as confirmed to the shopper."""
    with db.lock:
        row = db.conn.execute(
            "SELECT order_id, reference, store, kind, source_store, pickup_store, fee, total, currency, status,"
            " lead_time_hours, created_at FROM orders WHERE order_id = ?", [order_id]).fetchone()
        if row is None:
            raise CartError(ErrorCode.NOT_FOUND, "no such order")
        currency = row[8]
        lines = []
        for sku, quantity, unit, measure, label in db.conn.execute(
                "SELECT sku, quantity, unit_price, measure, label_price FROM order_lines WHERE order_id = ?"
                " ORDER BY rowid", [order_id]):
            lines.append(make_line(sku, Money(amount=Decimal(unit), currency=currency), quantity,
                                   None if measure is None else Decimal(measure),
                                   None if label is None else Money(amount=Decimal(label), currency=currency)))
    return Order(order_id=row[0], reference=row[1], store=row[2], kind=Fulfilment(row[3]), source_store=row[4],
                 pickup_store=row[5], lines=lines, fee=Money(amount=Decimal(row[6]), currency=currency),
                 total=Money(amount=Decimal(row[7]), currency=currency), status=OrderStatus(row[9]),
                 lead_time_hours=row[10], created_at=datetime.fromisoformat(row[11]))


def set_status(db: Database, order_id: str, status: OrderStatus, now: datetime, *, store_id: str | None = None,
               device: str = "", reason: str | None = None,
               only_from: OrderStatus | None = None) -> tuple[Order, str, list[str], bool]:
    """Move an order on by one allowed step; returns (order, ordering device, stores whose stock changed, moved).

    ``store_id`` is the asking device's store: an order that store takes no part in is NOT_FOUND. Cancelling
    releases the reservation; collected and shipped turn it into a sale through the stock ledger. Asking for
    the status the order already has changes nothing (moved is False). ``only_from``: refuse unless the order
    is in that status now.
    """
    with db.transaction():
        row = db.conn.execute("SELECT device, status, source_store, kind, store, pickup_store FROM orders"
                                 " WHERE order_id = ?", [order_id]).fetchone()
        if row is None or (store_id is not None and store_id not in (row[4], row[5], row[2])):
            raise CartError(ErrorCode.NOT_FOUND, "no such order")
        current, source, kind = OrderStatus(row[1]), str(row[2]), Fulfilment(row[3])
        if status == current:
            return get(db, order_id), str(row[0]), [], False
        if only_from is not None and current != only_from:
            raise CartError(ErrorCode.CONFLICT, f"the order is {current.value} now")
        _check_transition(current, status, kind)
        lines = [(sku, stock_units(quantity, None if measure is None else Decimal(measure)))
                 for sku, quantity, measure in db.conn.execute(
                     "SELECT sku, quantity, measure FROM order_lines WHERE order_id = ?", [order_id])]
        held_here = not db.conn.execute("SELECT remote FROM stores WHERE id = ?", [source]).fetchone()[0]
        if not held_here:
            # Held at another site of the chain: it learns the new status from this store's chain outbox, sent
            # until confirmed (backend/chain/remote_orders.py), and releases or sells the units itself.
            db.conn.execute("INSERT INTO chain_outbox (target, op, args, created_at) VALUES (?, ?, ?, ?)",
                            [source, "order.hold_status", json.dumps({"order_id": order_id, "status": status.value}),
                             now.isoformat()])
        elif status == OrderStatus.CANCELLED or status in SALES:
            for sku, quantity in lines:
                _release(db, source, sku, quantity, now)
                if status in SALES:
                    _sell(db, source, sku, quantity, order_id, device, now)
        # The status it was read with: a second writer (another process) cannot make it happen twice.
        cursor = db.conn.execute(
            "UPDATE orders SET status = ?, closed_reason = ?, updated_at = ? WHERE order_id = ? AND status = ?",
            [status.value, reason if status == OrderStatus.CANCELLED else None, now.isoformat(), order_id,
             current.value])
        if cursor.rowcount != 1:
            raise CartError(ErrorCode.CONFLICT, "the order changed meanwhile; look it up again")
        changed = [source] if held_here and (status == OrderStatus.CANCELLED or status in SALES) else []
    return get(db, order_id), str(row[0]), changed, True


def _check_transition(current: OrderStatus, target: OrderStatus, kind: Fulfilment) -> None:
    allowed = TRANSITIONS[current]
    if not allowed:
        raise CartError(ErrorCode.CONFLICT, f"the order is already {current.value}; it cannot change any more")
    if target not in allowed:
        raise CartError(ErrorCode.CONFLICT, f"a {current.value} order cannot become {target.value};"
                        f" it can become {' or '.join(sorted(s.value for s in allowed))}")
    needed = ONLY_FOR.get(target)
    if needed is not None and kind != needed:
        raise CartError(ErrorCode.CONFLICT, f"a {kind.value} order cannot be {target.value}")


def _release(db: Database, source: str, sku: str, quantity: int, now: datetime) -> None:
    db.conn.execute("UPDATE stock_state SET reserved = max(0, reserved - ?), seq = seq + 1, updated_at = ?"
                       " WHERE store = ? AND sku = ?", [quantity, now.isoformat(), source, sku])


def _sell(db: Database, source: str, sku: str, quantity: int, order_id: str, device: str, now: datetime) -> None:
    """Take sold units off the books through the ledger, once per order and item."""
    held = dict(db.conn.execute("SELECT location, quantity FROM stock WHERE store = ? AND sku = ?",
                                   [source, sku]).fetchall())
    if sum(held.values()) < quantity:
        raise CartError(ErrorCode.CONFLICT, f"the books show only {sum(held.values())} of {sku} at {source}, not"
                        f" {quantity}: count the stock (stock.adjust) before handing this order over")
    left = quantity
    for location in SALE_LOCATIONS:
        take = min(left, held.get(location, 0))
        if take:
            stock.apply_in_transaction(db, source, sku, location, -take, "sold", device,
                                       f"sale:{order_id}:{sku}:{location}", now)
            left -= take


def pay_by(option: DeliveryOption, now: datetime, deadline: timedelta) -> datetime:
    """When an order placed now is released unless paid: a pickup (paid at the till) gets the deadline once ready."""
    ready = timedelta(hours=option.lead_time_hours) if option.kind == Fulfilment.PICKUP else timedelta(0)
    return now + ready + deadline


def expire_unpaid(db: Database, now: datetime) -> list[tuple[Order, str, list[str], bool]]:
    """Cancel every order still unpaid past its ``pay_by`` time, releasing its stock."""
    with db.lock:
        due = [r[0] for r in db.conn.execute(
            "SELECT order_id FROM orders WHERE status = ? AND pay_by <= ? ORDER BY pay_by LIMIT 500",
            [OrderStatus.AWAITING_PAYMENT.value, now.isoformat()])]
    expired = []
    for order_id in due:
        try:
            result = set_status(db, order_id, OrderStatus.CANCELLED, now, device="backend",
                                reason=EXPIRED_REASON, only_from=OrderStatus.AWAITING_PAYMENT)
        except CartError as exc:  # paid at the till a moment ago: nothing to expire
            log.info("order %s not expired: %s", order_id, exc.message)
            continue
        if result[3]:  # not cancelled by staff in the meantime
            expired.append(result)
    return expired


def address_of(db: Database, order_id: str) -> Address | None:
    """The delivery address of an order (backend only: devices forget it once the order is sent)."""
    with db.lock:
        row = db.conn.execute("SELECT address FROM orders WHERE order_id = ?", [order_id]).fetchone()
    return Address(**json.loads(row[0])) if row and row[0] else None
