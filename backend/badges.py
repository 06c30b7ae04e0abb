"""Staff credentials a store's backend keeps: its badge signing key, the staff PIN hash, issued and revoked badges."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from backend.db import Database
from codes import ids
from mqtt import badges, topics
from mqtt.credentials import (
    Provisioning,
    ProvisioningError,
    check_ca_pem,
    check_pin,
    hash_pin,
    validate_provisioning,
)
from mqtt.payloads import utcnow
from mqtt.url import BrokerUrlError, parse_broker_url

log = logging.getLogger(__name__)

MAX_BADGE_DAYS = 400
PROVISIONED_ROLES = ("kiosk", "phone", "staff")


class StaffCredentialError(ValueError):
    """A staff credential cannot be issued or changed as asked."""


@dataclass(frozen=True)
class IssuedBadge:
    """A badge the backend signed, as the database records it."""

    badge_id: str
    store: str
    staff_id: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


def _key_name(store_id: str) -> str:
    return f"badge-key:{ids.store_id(store_id)}"


def signing_key(db: Database, store_id: str) -> bytes:
    """The store's Ed25519 badge key, made on first use; it never leaves the backend database."""
    name = _key_name(store_id)
    with db.transaction():
        row = db.conn.execute("SELECT value FROM secrets WHERE name = ?", [name]).fetchone()
        if row is None:
            db.conn.execute("INSERT INTO secrets VALUES (?, ?)", [name, badges.new_private_key()])
            row = db.conn.execute("SELECT value FROM secrets WHERE name = ?", [name]).fetchone()
    return bytes(row[0])


def public_key(db: Database, store_id: str) -> str:
    """The store's badge public key (base64url), as provisioned devices get it."""
    return badges.public_key_of(signing_key(db, store_id))


def set_staff_pin(db: Database, store_id: str, pin: str) -> None:
    """Set the store's staff PIN (only its salted hash is kept); devices get it at their next provisioning."""
    ids.store_id(store_id)
    try:
        check_pin(pin)
    except ProvisioningError as exc:
        raise StaffCredentialError(str(exc)) from None
    with db.transaction():
        db.conn.execute("INSERT INTO staff_pins VALUES (?, ?, ?) ON CONFLICT (store) DO UPDATE SET"
                           " pin_hash = excluded.pin_hash, updated_at = excluded.updated_at",
                           [store_id, hash_pin(pin), utcnow().isoformat()])


def staff_pin_hash(db: Database, store_id: str) -> str:
    """The store's staff PIN hash; raises StaffCredentialError when no PIN was set."""
    with db.lock:
        row = db.conn.execute("SELECT pin_hash FROM staff_pins WHERE store = ?", [store_id]).fetchone()
    if row is None:
        raise StaffCredentialError(f"store {store_id} has no staff PIN yet: "
                                   f"python -m backend devices pin --store {store_id}")
    return str(row[0])


def issue_badge(db: Database, store_id: str, staff_id: str, days: int, now: datetime | None = None) -> str:
    """Sign and record a badge for ``staff_id``; returns its QR text."""
    if not 1 <= days <= MAX_BADGE_DAYS:
        raise StaffCredentialError(f"a badge is valid for 1 to {MAX_BADGE_DAYS} days")
    if not badges.STAFF_RE.fullmatch(staff_id):
        raise StaffCredentialError(f"bad staff id {staff_id!r:.70}")
    now = (now or utcnow()).replace(microsecond=0)
    claims = badges.BadgeClaims(ids.store_id(store_id), staff_id, badges.new_badge_id(), now,
                                now + timedelta(days=days))
    text = badges.issue(signing_key(db, store_id), claims)
    with db.transaction():
        db.conn.execute("INSERT INTO staff_badges (badge_id, store, staff_id, issued_at, expires_at)"
                           " VALUES (?, ?, ?, ?, ?)", [claims.badge_id, store_id, staff_id,
                                                       claims.issued_at.isoformat(), claims.expires_at.isoformat()])
    log.info("issued badge %s to %s of %s until %s", claims.badge_id, staff_id, store_id, claims.expires_at)
    return text


def revoke(db: Database, store_id: str, *, badge_id: str | None = None, staff_id: str | None = None) -> list[str]:
    """Revoke one badge, or every live badge of one person; returns the badge ids revoked now."""
    if (badge_id is None) == (staff_id is None):
        raise StaffCredentialError("name a badge or a staff id")
    where, value = ("badge_id", badge_id) if badge_id is not None else ("staff_id", staff_id)
    now = utcnow().isoformat()
    with db.transaction():
        # {where} is one of two column names above, never input.
        rows = db.conn.execute(f"SELECT badge_id FROM staff_badges WHERE store = ? AND {where} = ?"
                                  " AND revoked_at IS NULL", [store_id, value]).fetchall()
        revoked = [str(r[0]) for r in rows]
        db.conn.executemany("UPDATE staff_badges SET revoked_at = ? WHERE badge_id = ?",
                               [(now, b) for b in revoked])
    return revoked


def list_badges(db: Database, store_id: str) -> list[IssuedBadge]:
    """Every badge issued for a store, newest first."""
    with db.lock:
        rows = db.conn.execute("SELECT badge_id, store, staff_id, issued_at, expires_at, revoked_at"
                                  " FROM staff_badges WHERE store = ? ORDER BY issued_at DESC, badge_id",
                                  [store_id]).fetchall()
    return [IssuedBadge(r[0], r[1], r[2], datetime.fromisoformat(r[3]), datetime.fromisoformat(r[4]),
                        datetime.fromisoformat(r[5]) if r[5] else None) for r in rows]


def revocation_state(db: Database, now: datetime | None = None) -> dict[str, tuple[int, list[str]]]:
    """Per store: (seq, revoked badge ids not yet expired). seq grows with every revocation."""
    now_text = (now or utcnow()).isoformat()
    with db.lock:
        rows = db.conn.execute("SELECT store, badge_id, expires_at > ? FROM staff_badges"
                                  " WHERE revoked_at IS NOT NULL ORDER BY store, badge_id", [now_text]).fetchall()
        seqs = dict(db.conn.execute("SELECT store, COUNT(*) FROM staff_badges WHERE revoked_at IS NOT NULL"
                                       " GROUP BY store").fetchall())
    state: dict[str, tuple[int, list[str]]] = {}
    for store_id, badge_id, live in rows:
        _seq, listed = state.setdefault(store_id, (int(seqs[store_id]), []))
        if live:  # an expired badge is refused anyway: the list stays short
            listed.append(badge_id)
    return state


def publish_revocations(db: Database, publisher: Any, published: dict[str, int]) -> int:
    """Publish (retained) the revocation list of every store whose list changed; returns how many."""
    count = 0
    for store_id, (seq, revoked) in revocation_state(db).items():
        if published.get(store_id) == seq:
            continue
        # Signed with the badge key: a device trusts the list only as far as it trusts the badges themselves.
        payload = badges.revocation_list(store_id, revoked, seq, signing_key(db, store_id))
        data = json.dumps(payload, separators=(",", ":")).encode()
        publisher.publish(topics.staff_revoked(store_id), data, qos=1, retain=True)
        published[store_id] = seq
        count += 1
    return count


def device_password(credentials: Path, device: str, store_id: str) -> tuple[str, str]:
    """(role, password) of ``device`` from the devices.csv ``broker-config`` wrote."""
    try:
        with credentials.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StaffCredentialError(f"cannot read {credentials}: {exc}") from None
    for row in rows:
        if row.get("device") == device:
            if row.get("store") != store_id:
                raise StaffCredentialError(f"{device} belongs to store {row.get('store')!r}, not {store_id}")
            if row.get("role") not in PROVISIONED_ROLES or not row.get("password"):
                raise StaffCredentialError(f"{device} has role {row.get('role')!r}; provision kiosks, phones "
                                           "and staff devices only")
            return str(row["role"]), str(row["password"])
    raise StaffCredentialError(f"{device} is not in {credentials}")


def read_ca(path: Path) -> str:
    """The broker's CA certificate (PEM) from ``path``, checked; raises StaffCredentialError."""
    try:
        return check_ca_pem(path.read_bytes())
    except OSError as exc:
        raise StaffCredentialError(f"cannot read the CA certificate {path}: {exc.strerror}") from None
    except ProvisioningError as exc:
        raise StaffCredentialError(f"{path}: {exc}") from None


def provisioning(db: Database, store_id: str, device: str, broker: str, password: str,
                 ca_file: Path | None = None) -> Provisioning:
    """Everything ``device`` needs to run in production; the broker URL must not carry the password.

    The broker's CA certificate travels with it: from ``ca_file``, else from the URL's ``ca=`` path on this machine.
    """
    try:
        url = parse_broker_url(broker)
    except BrokerUrlError as exc:
        raise StaffCredentialError(str(exc)) from None
    if "@" in broker:
        raise StaffCredentialError("give the broker URL without user or password: the file carries the login")
    ca_path = ca_file or (Path(url.ca_file) if url.ca_file else None)
    if ca_path is not None and not url.tls:
        raise StaffCredentialError("a CA certificate is for an mqtts:// broker")
    data = Provisioning(store=store_id, device=device, broker=broker, username=device,
                        password=password, staff_pin_hash=staff_pin_hash(db, store_id),
                        badge_public_key=public_key(db, store_id),
                        broker_ca=read_ca(ca_path) if ca_path is not None else "")
    try:
        return validate_provisioning(asdict(data))
    except ProvisioningError as exc:
        raise StaffCredentialError(str(exc)) from None
