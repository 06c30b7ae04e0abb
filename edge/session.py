"""Shopper sessions: what one person did at a device, reset when idle and wiped when over."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mqtt.commerce import Address

Clock = Callable[[], float]


class SessionState(StrEnum):
    """Where the idle countdown stands."""

    ACTIVE = "active"
    WARNING = "warning"  # the UI shows a countdown; any touch keeps the session
    EXPIRED = "expired"


@dataclass(frozen=True)
class IdleStatus:
    """What the UI needs to draw the idle warning."""

    state: SessionState
    seconds_left: float


class Session:
    """One shopper's visit: an id, the personal data they typed, and when they last touched the screen."""

    def __init__(self, clock: Clock) -> None:
        self.id = "s_" + secrets.token_urlsafe(12)
        self._clock = clock
        self.started = clock()
        self.last_activity = self.started
        self.address: Address | None = None
        self.email: str | None = None

    def touch(self) -> None:
        """Record activity (a touch, a key, a scan)."""
        self.last_activity = self._clock()

    def wipe(self) -> None:
        """Drop every piece of personal data this session holds."""
        self.address = None
        self.email = None


class SessionManager:
    """Starts sessions, warns before an idle reset, and ends them with every registered clean-up."""

    def __init__(self, idle_timeout: float = 90.0, warning: float = 15.0, clock: Clock = time.monotonic) -> None:
        if warning >= idle_timeout:
            raise ValueError("the warning must be shorter than the idle timeout")
        self.idle_timeout = idle_timeout
        self.warning = warning
        self._clock = clock
        self._lock = threading.Lock()
        self.session = Session(clock)
        self.on_end: list[Callable[[Session], None]] = []

    def touch(self) -> None:
        """Keep the current session alive."""
        with self._lock:
            self.session.touch()

    def status(self) -> IdleStatus:
        """Where the idle countdown stands now."""
        with self._lock:
            idle = self._clock() - self.session.last_activity
        left = self.idle_timeout - idle
        if left <= 0:
            return IdleStatus(SessionState.EXPIRED, 0.0)
        if left <= self.warning:
            return IdleStatus(SessionState.WARNING, left)
        return IdleStatus(SessionState.ACTIVE, left)

    def tick(self) -> IdleStatus:
        """Check the countdown and end the session when it ran out (call this from a UI timer)."""
        status = self.status()
        if status.state == SessionState.EXPIRED:
            self.end()
        return status

    def end(self) -> Session:
        """End the session: run every clean-up, wipe it, and start a fresh one."""
        with self._lock:
            ended, self.session = self.session, Session(self._clock)
        for cleanup in list(self.on_end):
            cleanup(ended)
        ended.wipe()
        return self.session
