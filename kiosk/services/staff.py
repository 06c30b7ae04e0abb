"""Staff sign-in with the store's PIN or a backend-signed staff badge, with a lock-out against guessing.

Both checks run offline with what provisioning gave the device (the PIN hash and the store's public key); a device
without provisioning has neither and signs nobody in. Revoked badges arrive as a retained list, signed with the
store's key, that the device checks and keeps.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kiosk.config import KioskConfig
from mqtt import badges
from mqtt.client import Message
from mqtt.credentials import pin_matches, write_private
from mqtt.payloads import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LOCKOUT_SECONDS = 60.0
REVOKED_FILE = "staff-revoked.json"
MAX_LIST_BYTES = 64_000


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt."""

    ok: bool
    staff_id: str = ""
    # wrong_pin, locked, not_provisioned, other_store, unknown_badge, expired, revoked
    reason: str = ""
    retry_after: float = 0.0


class StaffAuth:
    """Checks PINs and badges on the device, offline."""

    def __init__(self, config: KioskConfig, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow) -> None:
        self._config = config
        self._clock = clock
        self._now = now
        self._failures = 0
        self._locked_until = 0.0
        self._lock = threading.Lock()
        self._revoked_path = config.data_dir / REVOKED_FILE
        self._warned_unsigned = False  # a forged list may be retained and resent: say so once, not per delivery
        self._revoked_seq, self._revoked = self._load_revoked(self._revoked_path)

    @property
    def enabled(self) -> bool:
        """Whether anyone can sign in as staff on this device."""
        return self._config.staff_enabled

    def _refused(self, key: str) -> SignIn | None:
        """Why no sign-in can be checked now: nothing to check it with (``key``), or locked after failures."""
        if not key:
            return SignIn(False, reason="not_provisioned")
        left = self._locked_until - self._clock()
        return SignIn(False, reason="locked", retry_after=left) if left > 0 else None

    def _fail(self, reason: str) -> SignIn:
        self._failures += 1
        if self._failures >= MAX_ATTEMPTS:
            self._failures = 0
            self._locked_until = self._clock() + LOCKOUT_SECONDS
            return SignIn(False, reason="locked", retry_after=LOCKOUT_SECONDS)
        return SignIn(False, reason=reason)

    def pin(self, pin: str) -> SignIn:
        """Sign in with the store's staff PIN."""
        refused = self._refused(self._config.staff_pin_hash)
        if refused:
            return refused
        if pin_matches(pin, self._config.staff_pin_hash):
            self._failures = 0
            return SignIn(True, staff_id="staff")
        return self._fail("wrong_pin")

    def badge(self, token: str) -> SignIn:
        """Sign in with a scanned badge (the token of a ``StaffBadge`` intent), checked with the store's key."""
        refused = self._refused(self._config.badge_public_key)
        if refused:
            return refused
        with self._lock:
            revoked = self._revoked
        try:
            claims = badges.verify(token, self._config.badge_public_key, self._config.store, self._now(), revoked)
        except badges.BadgeError as exc:
            log.info("staff badge refused: %s", exc.reason)
            reason = exc.reason if exc.reason in ("other_store", "expired", "revoked") else "unknown_badge"
            return self._fail(reason)
        self._failures = 0
        log.info("staff %s signed in with badge %s", claims.staff_id, claims.badge_id)
        return SignIn(True, staff_id=claims.staff_id)

    # -- revocation list ------------------------------------------------------

    @property
    def revoked(self) -> frozenset[str]:
        """Badge ids this device refuses."""
        with self._lock:
            return self._revoked

    def on_revocation_message(self, message: Message) -> None:
        """A retained revocation list arrived (MQTT thread): keep it when it is newer than the one we have."""
        if len(message.payload) > MAX_LIST_BYTES:
            log.warning("ignoring an oversized staff revocation list")
            return
        if not self._config.badge_public_key:
            return  # nobody signs in with a badge here, and nothing could check the list's signature
        try:
            data = json.loads(message.payload)
            seq, revoked = badges.parse_revocation_list(data, self._config.store, self._config.badge_public_key)
        except (ValueError, badges.BadgeError) as exc:  # ValueError: not JSON
            with self._lock:
                warned, self._warned_unsigned = self._warned_unsigned, True
            if not warned:
                log.warning("refusing a staff revocation list, keeping the previous one: %s", str(exc)[:80])
            return
        with self._lock:
            # A broker that lost its retained state may send nothing or an old list: never forget a revocation.
            if seq < self._revoked_seq:
                return
            self._revoked_seq, self._revoked = seq, revoked
            self._warned_unsigned = False
            body = json.dumps(data)  # as signed, so it is checked again when it is loaded
        try:
            write_private(self._revoked_path, body)
        except OSError as exc:
            log.warning("cannot keep the staff revocation list: %s", exc)

    def _load_revoked(self, path: Path) -> tuple[int, frozenset[str]]:
        if not self._config.badge_public_key:
            return -1, frozenset()
        try:
            return badges.parse_revocation_list(json.loads(path.read_bytes()), self._config.store,
                                                self._config.badge_public_key)
        except FileNotFoundError:
            return -1, frozenset()
        except (OSError, ValueError, badges.BadgeError) as exc:
            log.warning("ignoring unreadable staff revocation list %s: %s", path, str(exc)[:80])
            return -1, frozenset()
