"""Staff sign-in with a PIN or a staff badge, with a lock-out against guessing."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.config import KioskConfig, pin_matches

MAX_ATTEMPTS = 5
LOCKOUT_SECONDS = 60.0


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt."""

    ok: bool
    staff_id: str = ""
    reason: str = ""  # "wrong_pin", "locked", "other_store", "unknown_badge"
    retry_after: float = 0.0


class StaffAuth:
    """Checks PINs and badges on the device.

    The backend has no badge-verification operation yet, so a badge is accepted when it names this store
    and (if the configuration lists badge key hashes) its key is one of them.
    """

    def __init__(self, config: KioskConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._failures = 0
        self._locked_until = 0.0

    def _locked(self) -> SignIn | None:
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
        """Sign in with the staff PIN."""
        locked = self._locked()
        if locked:
            return locked
        if pin_matches(pin, self._config.staff_pin_hash):
            self._failures = 0
            return SignIn(True, staff_id="staff")
        return self._fail("wrong_pin")

    def badge(self, store: str, staff_id: str, key: str) -> SignIn:
        """Sign in with a scanned badge (``StaffBadge`` intent)."""
        locked = self._locked()
        if locked:
            return locked
        if store != self._config.store:
            return self._fail("other_store")
        allowed = self._config.staff_badge_keys
        digest = hashlib.sha256(key.encode()).hexdigest()
        if allowed and not any(hmac.compare_digest(digest, k) for k in allowed):
            return self._fail("unknown_badge")
        self._failures = 0
        return SignIn(True, staff_id=staff_id)
