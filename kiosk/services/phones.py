"""Shopper phones: the kiosk's rotating enrolment code, and a phone trading a scanned code for a login of its own.

No Kivy here: ``PhoneCodes.tick`` and its callbacks run on the UI thread (through ``Tasks``), ``enrol_phone`` runs on a
worker. See docs/protocol.md, "Shopper phones: enrolment, rights, revocation".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta

from edge.client_types import ClientError
from edge.enrolment import register_phone
from kiosk.config import KioskConfig, broker_url, save_phone_login
from kiosk.services.tasks import Tasks
from mqtt.client import ConnectError, ConnectRefused
from mqtt.enrolment import EnrolmentCode
from mqtt.payloads import ErrorCode, utcnow
from mqtt.rpc import RemoteError, RpcError

log = logging.getLogger(__name__)

ROTATE_EVERY = 60.0  # a new code about every minute (a code lives 2 minutes; the backend keeps two per kiosk)
RETRY_SOON = 5.0  # the answer was dropped (a session ended while it was on its way)
RETRY_FAILED = 300.0  # no phone registry on this broker (the demo's), or the backend said no: show nothing, ask rarely
EXPIRY_MARGIN = timedelta(seconds=20)  # a phone needs a few seconds to scan, connect and register


class PhoneCodes:
    """Keeps a live enrolment code for the kiosk's screen; ``show`` gets its QR text, or "" when there is none."""

    def __init__(self, fetch: Callable[[], EnrolmentCode], tasks: Tasks, show: Callable[[str], None], *,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime] = utcnow) -> None:
        self._fetch = fetch
        self._tasks = tasks
        self._show = show
        self._clock = clock
        self._now = now
        self._code: EnrolmentCode | None = None
        self._due = 0.0
        self._pending: Future[EnrolmentCode] | None = None
        self._failures = 0

    @property
    def code(self) -> EnrolmentCode | None:
        """The code on screen, if any."""
        return self._code

    def tick(self, active: bool) -> None:
        """Drop a code about to expire; ask for a new one when due and ``active`` (connected, on the start screen)."""
        if self._code is not None and self._now() >= self._code.expires_at - EXPIRY_MARGIN:
            self._set(None)
            self._due = min(self._due, self._clock())
        if not active or self._clock() < self._due:
            return
        if self._pending is not None and not self._pending.done():
            return
        self._due = self._clock() + RETRY_SOON  # pushed on by the answer; stays if a session reset drops it
        self._pending = self._tasks.run(self._fetch, self._got, self._failed)

    def used(self, login: str) -> None:
        """A phone registered with the code ``login``: if it is the one on screen, show a fresh one soon."""
        if self._code is not None and self._code.login == login:
            self.renew()

    def renew(self) -> None:
        """Forget the code on screen and ask for a new one at the next tick (another store, a new session)."""
        self._set(None)
        self._due = 0.0

    def _got(self, code: EnrolmentCode) -> None:
        if self._failures:
            log.info("phone enrolment codes available again")
        self._failures = 0
        self._due = self._clock() + ROTATE_EVERY
        self._set(code)

    def _failed(self, exc: Exception) -> None:
        if not self._failures:  # once: the demo's broker never has the registry, and that is fine
            log.info("no phone enrolment code to show: %s", exc)
        self._failures += 1
        offline = not isinstance(exc, ClientError) or exc.code == "offline"
        self._due = self._clock() + (ROTATE_EVERY if offline else RETRY_FAILED)
        if not offline:
            self._set(None)  # the backend said no; an unreachable one leaves a live code up until it expires

    def _set(self, code: EnrolmentCode | None) -> None:
        self._code = code
        self._show(code.qr_text() if code is not None else "")


def enrol_phone(config: KioskConfig, qr_text: str) -> KioskConfig:
    """Trade a scanned code for this phone's own login, keep it (0600), return the config using it (worker thread)."""
    credentials = register_phone(qr_text, broker_url(config))
    return save_phone_login(config, credentials)


def enrol_failure(exc: Exception) -> str:
    """Why enrolment failed, for the phone's message: used (scan the new code), busy, offline or other."""
    if isinstance(exc, ConnectRefused):
        return "used"  # the code's login is gone: used, expired or rotated away (or it was never real)
    if isinstance(exc, RemoteError):
        if exc.code in (ErrorCode.USED, ErrorCode.EXPIRED, ErrorCode.NOT_FOUND):
            return "used"
        if exc.code in (ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED):
            return "busy"
        return "other"
    if isinstance(exc, ConnectError | RpcError | OSError):
        return "offline"
    return "other"  # EnrolmentError: not a code of ours after all, or a malformed answer
