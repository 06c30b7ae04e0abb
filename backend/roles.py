"""Device roles and which operations each role may request."""

from __future__ import annotations

from backend.db import Database
from mqtt.enrolment import ENROL_PREFIX, PHONE_PREFIX
from mqtt.payloads import utcnow

ROLES = ("kiosk", "phone", "web", "staff", "admin", "backend")
SHOPPER_OPS = frozenset({
    "catalog.get", "catalog.snapshot", "stock.get", "stock.nearby", "cart.create", "cart.get", "cart.set_line",
    "cart.handoff", "cart.redeem", "order.options", "order.place", "order.get", "alert.report",
})
STAFF_OPS = SHOPPER_OPS | {"stock.adjust", "alert.claim", "alert.resolve", "alert.dismiss", "order.set_status",
                           "phone.revoke"}
# An enrolment login (a kiosk's QR code) may only trade itself for a phone identity, nothing a shopper may do.
ENROL_ROLE = "enrol"
ALLOWED = {"kiosk": SHOPPER_OPS | {"phone.enrolment"}, "phone": SHOPPER_OPS, "web": SHOPPER_OPS, "staff": STAFF_OPS,
           ENROL_ROLE: frozenset({"phone.register"})}
DEFAULT_ROLE = "phone"  # an unknown device gets the least a shopper needs, never more


def register(db: Database, device: str, store_id: str, role: str) -> None:
    """Give a device a role (replacing any earlier one)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if device.startswith(ENROL_PREFIX) or (device.startswith(PHONE_PREFIX) and role != "phone"):
        # Names the broker hands out to enrolled shopper phones at run time: never more than a shopper.
        raise ValueError(f"{device!r:.70} is a reserved shopper-phone name; it cannot be given the role {role}")
    with db.transaction():
        db.conn.execute("INSERT INTO devices VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
                           " store = excluded.store, role = excluded.role", [device, store_id, role,
                                                                             utcnow().isoformat()])


def role_of(db: Database, device: str, store_id: str) -> str:
    """The role of a device in a store; unknown devices, or devices of another store, are plain shoppers."""
    if device.startswith(ENROL_PREFIX):  # a reserved name: no static login has it, so no table row can grant more
        return ENROL_ROLE
    with db.lock:
        row = db.conn.execute("SELECT role, store FROM devices WHERE device_id = ?", [device]).fetchone()
    if row is None or (row[1] != store_id and row[0] not in ("admin", "backend")):
        return DEFAULT_ROLE
    return str(row[0])


def may(role: str, op: str) -> bool:
    """Whether a role may request an operation."""
    if role in ("admin", "backend"):
        return True
    return op in ALLOWED.get(role, frozenset())
