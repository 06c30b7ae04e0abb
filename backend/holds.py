"""How much one device may hold at once: open carts, unpaid orders and the units they reserve; the payment deadline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from backend.db import Database
from mqtt.commerce import stock_units

UNPAID = "awaiting_payment"


@dataclass(frozen=True)
class Caps:
    """The most one device may hold at once."""

    open_carts: int
    unpaid_orders: int
    unpaid_units: int

    def __post_init__(self) -> None:
        if min(self.open_carts, self.unpaid_orders, self.unpaid_units) < 0:
            raise ValueError("caps cannot be negative")


# A phone or a staff phone is one shopper: a few orders waiting for the till is plenty.
PERSONAL_CAPS = Caps(open_carts=5, unpaid_orders=3, unpaid_units=60)
# A kiosk serves shoppers one after another, each walking to the till to pay within the payment deadline.
KIOSK_CAPS = Caps(open_carts=10, unpaid_orders=6, unpaid_units=150)
# The web shop is one device for every online shopper; it limits each of them itself.
WEB_CAPS = Caps(open_carts=5000, unpaid_orders=1000, unpaid_units=20000)
UNCAPPED_ROLES = ("admin", "backend")  # the store's own tools and tills


@dataclass(frozen=True)
class HoldLimits:
    """Caps per device role and the payment deadline; unknown roles get the personal caps."""

    personal: Caps = PERSONAL_CAPS
    kiosk: Caps = KIOSK_CAPS
    web: Caps = WEB_CAPS
    payment_deadline: timedelta = timedelta(minutes=30)
    # A cart counts as open while it was changed within this window and no order was placed from it.
    open_cart_window: timedelta = timedelta(hours=2)
    uncapped_roles: tuple[str, ...] = field(default=UNCAPPED_ROLES)

    def __post_init__(self) -> None:
        if self.payment_deadline <= timedelta(0) or self.open_cart_window <= timedelta(0):
            raise ValueError("the payment deadline and the open-cart window must be positive")

    def caps_for(self, role: str) -> Caps | None:
        """The caps of a device of this role; None for the store's own tools (and for every role with "*")."""
        if role in self.uncapped_roles or "*" in self.uncapped_roles:
            return None
        if role == "kiosk":
            return self.kiosk
        if role == "web":
            return self.web
        return self.personal


def unpaid_holds(db: Database, device: str) -> tuple[int, int]:
    """(orders, units) this device holds unpaid, over every site the stock is held at."""
    rows = db.conn.execute(
        "SELECT o.order_id, l.quantity, l.measure FROM orders o"
        " JOIN order_lines l ON l.order_id = o.order_id WHERE o.device = ? AND o.status = ?", [device, UNPAID]
    ).fetchall()  # a few rows: the caps bound them; the weighed lines' units are counted by the one rule
    units = sum(stock_units(quantity, None if measure is None else Decimal(measure)) for _, quantity, measure in rows)
    return len({row[0] for row in rows}), units


def open_carts(db: Database, owner: str, since: datetime) -> int:
    """Carts of this device changed since ``since`` that no order was placed from."""
    row = db.conn.execute(
        "SELECT count(*) FROM carts c WHERE c.owner = ? AND c.updated_at > ?"
        " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.cart_id = c.cart_id)", [owner, since.isoformat()]
    ).fetchone()
    return int(row[0])


def cart_cap_message(caps: Caps, window: timedelta) -> str:
    """What a device is told when it has too many carts open."""
    hours = max(1, round(window.total_seconds() / 3600))
    return (f"this device already has {caps.open_carts} open carts, the most it may keep at once; "
            f"use one of them, or start a new one when a cart has been left for {hours} h")


def order_cap_message(caps: Caps, held_orders: int, held_units: int, new_units: int, deadline: timedelta) -> str | None:
    """Why this order would take the device over its caps, or None when it fits."""
    minutes = max(1, round(deadline.total_seconds() / 60))
    later = f"pay for or cancel an order first (an unpaid order is released {minutes} minutes after it is due)"
    if held_orders + 1 > caps.unpaid_orders:
        return (f"this device already has {held_orders} orders waiting for payment, the most it may hold; "
                f"{later}")
    if held_units + new_units > caps.unpaid_units:
        room = max(0, caps.unpaid_units - held_units)
        return (f"this order would hold {new_units} items, but a device may hold at most {caps.unpaid_units} "
                f"unpaid items and {room} are left; order fewer items or {later}")
    return None


NO_CAPS = HoldLimits(uncapped_roles=("*",))  # fault-injection tests and benchmarks that place orders in bulk
