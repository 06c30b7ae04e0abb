"""Shopper phones: one-use enrolment codes shown by kiosks, phone identities issued at run time, revocation.

The broker's dynamic security plugin holds the identities (it persists them in its own JSON file); the backend's
``phones`` table records who enrolled when, and which revocations the broker has applied. See docs/protocol.md,
"Shopper phones", for the flow and why it is built this way.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend import roles
from backend.db import Database
from backend.dynsec import DynsecAdmin, DynsecError
from mqtt import topics
from mqtt.client import MqttClient
from mqtt.commerce import Event
from mqtt.enrolment import (
    ENROL_PREFIX,
    PHONE_PREFIX,
    EnrolmentCode,
    PhoneCredentials,
    PhoneRevokeArgs,
    PhoneRevoked,
)
from mqtt.payloads import ErrorCode, decode, utcnow
from mqtt.rpc import OpError, OpHandler, RequestContext

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=2)
CODES_PER_KIOSK = 2  # the code on screen and the one before it, for a phone that scanned just before it rotated
CODES_PER_STORE = 50
REGISTRATIONS_PER_MINUTE = 10  # per store: a code lets one phone in, this caps a kiosk screen filmed and relayed
USED_CODE_GRACE = 3.0  # seconds a used code's login lives on, so the phone's reply is not cut off by its deletion
ROLES_PER_PAGE = 20  # phone roles read per listRoles answer: about 2 kB each, well below a packet's limit


class PhoneRegistryError(RuntimeError):
    """The broker cannot hold phone identities safely (plugin missing, defaults not deniable)."""


class UnknownPhone(LookupError):
    """No such phone (in that store)."""


@dataclass
class _Code:
    login: str
    store: str
    kiosk: str
    expires_at: datetime
    used: bool = False
    delete_after: float | None = None  # monotonic time after which the broker login is deleted


def _read_write(topic: str) -> list[dict[str, Any]]:
    return [{"acltype": "subscribePattern", "topic": topic, "allow": True},
            {"acltype": "publishClientReceive", "topic": topic, "allow": True}]


def phone_acls(store: str, device: str) -> list[dict[str, Any]]:
    """A shopper phone's grants, as literal topics: the plugin does not substitute %u or %c."""
    p, base = topics.PREFIX, topics.device_base(store, device)
    acls: list[dict[str, Any]] = []
    for topic in (f"{p}/{store}/info", f"{p}/{store}/catalog/+", f"{p}/{store}/stock/+", f"{p}/{store}/recalls",
                  f"{p}/_backend/+/status",
                  f"{base}/reply/+", f"{base}/event", f"{base}/status"):
        acls += _read_write(topic)
    acls += [{"acltype": "publishClientSend", "topic": f"{base}/req", "allow": True},
             {"acltype": "publishClientSend", "topic": f"{base}/status", "allow": True}]
    return acls


def enrol_acls(store: str, login: str) -> list[dict[str, Any]]:
    """An enrolment login's grants: send one register request on its own branch and read the reply."""
    base = topics.device_base(store, login)
    return [{"acltype": "publishClientSend", "topic": f"{base}/req", "allow": True}, *_read_write(f"{base}/reply/+")]


def _client_commands(login: str, password: str, acls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # One role per login, named like it: the plugin's ACLs hang on roles, and these topics name the login.
    return [{"command": "createRole", "rolename": login, "acls": acls},
            {"command": "createClient", "username": login, "password": password, "roles": [{"rolename": login}]}]


def _delete_commands(login: str) -> list[dict[str, Any]]:
    return [{"command": "deleteClient", "username": login}, {"command": "deleteRole", "rolename": login}]


def _grant_commands(role: str, held: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plugin commands that turn a role's grants ``held`` into exactly ``wanted`` (none when they match)."""
    def key(acl: dict[str, Any]) -> tuple[str, str, bool]:
        return str(acl.get("acltype")), str(acl.get("topic")), acl.get("allow") is True

    have, want = {key(a) for a in held}, {key(a) for a in wanted}
    # Removals first: a grant dropped from phone_acls since the phone enrolled must not outlive the change.
    commands = [{"command": "removeRoleACL", "rolename": role, "acltype": t, "topic": topic}
                for t, topic, _ in sorted(have - want)]
    return commands + [{"command": "addRoleACL", "rolename": role, "acltype": t, "topic": topic, "allow": allow}
                       for t, topic, allow in sorted(want - have)]


class PhoneRegistry:
    """Issues enrolment codes to kiosks, registers phones that present one, and revokes phones."""

    def __init__(self, db: Database, admin_client: MqttClient, *, code_ttl: timedelta = CODE_TTL,
                 codes_per_kiosk: int = CODES_PER_KIOSK, codes_per_store: int = CODES_PER_STORE,
                 registrations_per_minute: int = REGISTRATIONS_PER_MINUTE, used_code_grace: float = USED_CODE_GRACE,
                 poll_interval: float = 0.5, clock: Callable[[], datetime] = utcnow,
                 send_event: Callable[[str, str, Event], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._send_event = send_event  # tells a kiosk its code was used, so it shows a fresh one at once
        self.client = admin_client
        self.admin = DynsecAdmin(admin_client)
        self.code_ttl = code_ttl
        self.codes_per_kiosk = codes_per_kiosk
        self.codes_per_store = codes_per_store
        self.registrations_per_minute = registrations_per_minute
        self.used_code_grace = used_code_grace
        self._poll = poll_interval
        self.clock = clock
        self._monotonic = monotonic
        self._codes: dict[str, _Code] = {}
        self._lock = threading.RLock()  # codes and registrations; broker commands run under it, one at a time
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Connect the admin login, make the plugin deny by default, drop stale codes, apply pending revocations."""
        self.client.connect(timeout)
        if not self.admin.wait_ready(timeout):
            raise PhoneRegistryError("the broker did not confirm the admin login's subscription to its "
                                     "dynamic security responses")
        try:
            self.admin.secure_defaults()
            # Codes live in memory only: any enrolment login left from before a restart can no longer be honoured.
            stale = [name for name in self.admin.list_clients() if name.startswith(ENROL_PREFIX)]
            for login in stale:
                self.admin.run(*_delete_commands(login), tolerate=("not found",))
            updated = self.update_grants()
        except DynsecError as exc:
            self.client.close()
            raise PhoneRegistryError(f"shopper phones cannot be enrolled safely: {exc}") from None
        if stale:
            log.info("deleted %d enrolment logins left from before the restart", len(stale))
        if updated:
            log.info("brought the broker grants of %d phones up to date", updated)
        self.apply_revocations()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="phone-registry-sweep", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop sweeping and disconnect the admin login (live codes are deleted at the next start)."""
        self._stop.set()
        if self._sweeper:
            self._sweeper.join(5)
        self.admin.close()
        self.client.close()

    def table(self) -> dict[str, OpHandler]:
        """Operation name -> handler, for the RPC server."""
        return {"phone.enrolment": self.enrolment_op, "phone.register": self.register_op,
                "phone.revoke": self.revoke_op}

    # -- operations ----------------------------------------------------------

    def enrolment_op(self, ctx: RequestContext, args: dict[str, Any]) -> EnrolmentCode:
        """A fresh one-use code for the asking kiosk's screen; its oldest code beyond the per-kiosk cap is retired."""
        if args:
            raise OpError(ErrorCode.BAD_REQUEST, "phone.enrolment takes no arguments")
        login, password = f"{ENROL_PREFIX}{secrets.token_hex(10)}", secrets.token_urlsafe(24)
        with self._lock:
            live = [c for c in self._codes.values() if c.store == ctx.store and c.delete_after is None]
            if len(live) >= self.codes_per_store:
                raise OpError(ErrorCode.UNAVAILABLE, f"{len(live)} enrolment codes are live in this store; "
                              f"try again in {int(self.code_ttl.total_seconds())} s")
            mine = sorted((c for c in live if c.kiosk == ctx.device), key=lambda c: c.expires_at)
            for old in mine[:max(0, len(mine) - self.codes_per_kiosk + 1)]:
                old.delete_after = self._monotonic()  # rotated off the screen: gone at the next sweep
            self._broker(lambda: self.admin.run(*_client_commands(login, password, enrol_acls(ctx.store, login))))
            code = _Code(login, ctx.store, ctx.device, self.clock() + self.code_ttl)
            self._codes[login] = code
        log.info("kiosk %s/%s issued enrolment code %s", ctx.store, ctx.device, login)
        return EnrolmentCode(store=ctx.store, login=login, password=password, expires_at=code.expires_at)

    def register_op(self, ctx: RequestContext, args: dict[str, Any]) -> PhoneCredentials:
        """Trade the asking enrolment login (once) for a phone identity of its store."""
        if args:
            raise OpError(ErrorCode.BAD_REQUEST, "phone.register takes no arguments")
        now = self.clock()
        with self._lock:
            code = self._codes.get(ctx.device)
            if code is None or code.store != ctx.store:
                raise OpError(ErrorCode.NOT_FOUND, "no such enrolment code in this store")
            if code.used:
                raise OpError(ErrorCode.USED, "this enrolment code was used already; scan the kiosk's new one")
            if code.delete_after is not None or now >= code.expires_at:
                raise OpError(ErrorCode.EXPIRED, "this enrolment code has expired; scan the kiosk's new one")
            recent = self._registrations_since(ctx.store, now - timedelta(minutes=1))
            if recent >= self.registrations_per_minute:
                # The code is not spent: the phone can try again once the minute has passed.
                raise OpError(ErrorCode.UNAVAILABLE, "too many phones registered in this store just now; "
                              "try again in a minute")
            device, password = f"{PHONE_PREFIX}{secrets.token_hex(10)}", secrets.token_urlsafe(24)
            self._broker(lambda: self.admin.run(*_client_commands(device, password, phone_acls(ctx.store, device))))
            try:
                self._record(device, ctx.store, code.kiosk, now)
            except sqlite3.Error:  # not recorded, so never handed out: the broker must not keep the login either
                self._broker(lambda: self.admin.run(*_delete_commands(device), tolerate=("not found",)))
                raise
            code.used = True
            code.delete_after = self._monotonic() + self.used_code_grace
        log.info("phone %s registered in %s with a code from %s", device, ctx.store, code.kiosk)
        if self._send_event is not None:
            self._send_event(ctx.store, code.kiosk, Event(type="enrolment.used", at=now, data={"login": code.login}))
        return PhoneCredentials(store=ctx.store, device=device, password=password)

    def revoke_op(self, ctx: RequestContext, args: dict[str, Any]) -> PhoneRevoked:
        """Cut a phone off at once: staff only for their own store's phones."""
        request = decode(PhoneRevokeArgs, args)
        scope = None if ctx.role in ("admin", "backend") else ctx.store
        try:
            store_id, at = self.revoke(request.device, f"{ctx.store}/{ctx.device}", only_store=scope)
        except UnknownPhone as exc:
            raise OpError(ErrorCode.NOT_FOUND, str(exc)) from None
        return PhoneRevoked(device=request.device, store=store_id, revoked_at=at)

    # -- revocation ----------------------------------------------------------

    def revoke(self, device: str, by: str, *, only_store: str | None = None) -> tuple[str, datetime]:
        """Record the revocation and disable the phone's login in the broker (which disconnects it)."""
        store_id, at = revoke_in_db(self.db, device, by, self.clock(), store_id=only_store)
        self.apply_revocations()
        return store_id, at

    def apply_revocations(self) -> int:
        """Disable in the broker every phone revoked in the database and not yet disabled there (e.g. by the CLI)."""
        with self.db.lock:
            pending = [row[0] for row in self.db.conn.execute(
                "SELECT device_id FROM phones WHERE revoked_at IS NOT NULL AND broker_revoked = 0")]
        for device in pending:
            with self._lock:
                # A phone unknown to the plugin cannot log in at all: nothing left to disable.
                self._broker(lambda d=device: self.admin.run({"command": "disableClient", "username": d},
                                                             tolerate=("not found",)))
            with self.db.transaction():
                self.db.conn.execute("UPDATE phones SET broker_revoked = 1 WHERE device_id = ?", [device])
            log.info("phone %s revoked: disabled in the broker", device)
        return len(pending)

    def enable_unless_revoked(self, device: str) -> bool:
        """Enable a login disabled for a while (backend/cutoffs.py), unless it was revoked meanwhile."""
        with self._lock:  # a revocation disables under this lock too, so it cannot land between check and enable
            with self.db.lock:
                row = self.db.conn.execute("SELECT revoked_at FROM phones WHERE device_id = ?",
                                              [device]).fetchone()
            if row is not None and row[0] is not None:
                return False
            self.admin.run({"command": "enableClient", "username": device}, tolerate=("not found",))
            return True

    # -- housekeeping --------------------------------------------------------

    def sweep(self) -> None:
        """Delete used, rotated and expired codes from the broker, and apply revocations made elsewhere."""
        now, tick = self.clock(), self._monotonic()
        with self._lock:
            due = [c for c in self._codes.values()
                   if (c.delete_after is not None and tick >= c.delete_after) or now >= c.expires_at]
            for code in due:
                self._broker(lambda c=code: self.admin.run(*_delete_commands(c.login), tolerate=("not found",)))
                del self._codes[code.login]
        self.apply_revocations()

    def update_grants(self) -> int:
        """Give every enrolled phone's role exactly today's ``phone_acls`` (e.g. a topic added since it enrolled).

        Each phone has a role of its own, created with the grants of its day: this is the one way they change.
        Runs at start, before requests are served, so no role is added or deleted while the pages are read.
        """
        with self.db.lock:
            phones = dict(self.db.conn.execute("SELECT device_id, store FROM phones WHERE revoked_at IS NULL"))
        updated = offset = 0
        while phones:
            data = self.admin.run({"command": "listRoles", "verbose": True, "count": ROLES_PER_PAGE,
                                   "offset": offset})[0].get("data", {})
            page = data.get("roles", [])
            for role in page:
                name = role.get("rolename") if isinstance(role, dict) else None
                if name not in phones:  # kiosks' enrolment logins, revoked phones, phones never recorded
                    continue
                commands = _grant_commands(name, role.get("acls", []), phone_acls(phones[name], name))
                if commands:
                    with self._lock:
                        self.admin.run(*commands)
                    updated += 1
            offset += len(page)
            if not page or offset >= int(data.get("totalCount", 0)):
                break
        return updated

    def live_codes(self, store: str) -> int:
        """How many codes of a store can still be used."""
        with self._lock:
            return sum(1 for c in self._codes.values() if c.store == store and not c.used and c.delete_after is None)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.sweep()
            except (DynsecError, OpError) as exc:
                log.warning("phone registry sweep failed, retrying: %s", exc)
            except Exception:
                log.exception("phone registry sweep failed; retrying")

    def _broker(self, command: Callable[[], object]) -> None:
        try:
            command()
        except DynsecError as exc:
            log.error("broker refused a phone identity change: %s", exc)
            raise OpError(ErrorCode.UNAVAILABLE, "the broker cannot change phone logins right now; try again "
                          "later") from None

    def _registrations_since(self, store_id: str, since: datetime) -> int:
        with self.db.lock:
            row = self.db.conn.execute("SELECT count(*) FROM phones WHERE store = ? AND created_at >= ?",
                                          [store_id, _stamp(since)]).fetchone()
        return int(row[0])

    def _record(self, device: str, store_id: str, kiosk: str, now: datetime) -> None:
        # The role first: a role row without a phone row leaves a plain shopper, which an unknown device is anyway.
        roles.register(self.db, device, store_id, "phone")
        with self.db.transaction():
            self.db.conn.execute("INSERT INTO phones (device_id, store, enrolled_via, created_at) VALUES "
                                    "(?, ?, ?, ?)", [device, store_id, kiosk, _stamp(now)])


def revoke_in_db(db: Database, device: str, by: str, now: datetime, *,
                 store_id: str | None = None) -> tuple[str, datetime]:
    """Mark a phone revoked (the backend disables it in the broker); raises UnknownPhone."""
    with db.transaction():
        row = db.conn.execute("SELECT store, revoked_at FROM phones WHERE device_id = ?", [device]).fetchone()
        if row is None or (store_id is not None and row[0] != store_id):
            raise UnknownPhone(f"no phone {device} in {store_id or 'any store'}")
        if row[1] is not None:
            return str(row[0]), datetime.fromisoformat(row[1])
        db.conn.execute("UPDATE phones SET revoked_at = ?, revoked_by = ?, broker_revoked = 0 WHERE device_id = ?",
                           [_stamp(now), by, device])
    return str(row[0]), now


def _stamp(moment: datetime) -> str:
    # Fixed width, so that stored times compare as text in SQL.
    return moment.isoformat(timespec="microseconds")


def list_phones(db: Database, store_id: str | None = None) -> list[dict[str, str | None]]:
    """Enrolled phones, newest first, optionally of one store."""
    sql = "SELECT device_id, store, enrolled_via, created_at, revoked_at FROM phones"
    params: list[str] = []
    if store_id is not None:
        sql, params = sql + " WHERE store = ?", [store_id]
    with db.lock:
        rows = db.conn.execute(sql + " ORDER BY created_at DESC", params).fetchall()
    return [dict(zip(("device", "store", "enrolled_via", "created_at", "revoked_at"), row, strict=True))
            for row in rows]
