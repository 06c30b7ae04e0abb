"""Keyboard-wedge USB scanners: they type the code and press Enter; the UI feeds us the keys."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

ENTER_KEYS = frozenset({"enter", "return", "numpadenter", "kp_enter", "tab"})
IGNORED_KEYS = frozenset({"shift", "lshift", "rshift", "capslock", "alt", "ctrl", "lctrl", "rctrl", "alt-gr"})
GS = "\x1d"  # GS1 FNC1, sent by some scanners as Ctrl+]


class KeyboardWedge:
    """Turns a stream of characters and key names into completed codes.

    Scanners type much faster than people: when `max_gap` seconds pass between two keys the
    characters before the gap came from a person and are dropped, so a half-typed search box
    never turns into a scanned code.
    """

    name = "keyboard-wedge"

    def __init__(
        self,
        *,
        max_gap: float | None = 0.08,
        min_length: int = 3,
        max_length: int = 512,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_gap = max_gap
        self.min_length = min_length
        self.max_length = max_length
        self._clock = clock
        self._buffer: list[str] = []
        self._last: float | None = None
        self._overflow = False
        self._codes: deque[str] = deque(maxlen=256)
        self._lock = threading.Lock()
        self._closed = False

    def available(self) -> bool:
        """Always true: the UI delivers the keys, there is no device to open."""
        return not self._closed

    def feed_char(self, char: str) -> str | None:
        """Feed one typed character (CR, LF or TAB end a code); returns the code it completed, if any."""
        if len(char) != 1:
            return self.feed_key(char)
        if char in "\r\n\t":
            return self._finish()
        with self._lock:
            if self._closed:
                return None
            self._expire()
            if ord(char) < 0x20 and char != GS:
                return None
            if len(self._buffer) >= self.max_length:
                self._overflow = True
            else:
                self._buffer.append(char)
        return None

    def feed_key(self, key: str) -> str | None:
        """Feed a named key from the UI (enter, tab, backspace, escape, shift, ...)."""
        name = key.lower()
        if name in ENTER_KEYS:
            return self._finish()
        if name in IGNORED_KEYS:
            return None
        if name in ("escape", "backspace"):
            self.reset()
            return None
        if len(key) == 1:
            return self.feed_char(key)
        return None

    def feed_text(self, text: str) -> list[str]:
        """Feed several characters at once; returns every code they complete."""
        done = []
        for char in text:
            code = self.feed_char(char)
            if code is not None:
                done.append(code)
        return done

    def reset(self) -> None:
        """Forget the partial code."""
        with self._lock:
            self._buffer.clear()
            self._overflow = False
            self._last = None

    def pop_codes(self) -> list[str]:
        """Completed codes not yet taken, oldest first."""
        with self._lock:
            codes = list(self._codes)
            self._codes.clear()
            return codes

    def __iter__(self) -> Iterator[str]:
        """Completed codes not yet taken (non-blocking)."""
        return iter(self.pop_codes())

    def close(self) -> None:
        """Stop accepting input."""
        self.reset()
        self._closed = True

    def _expire(self) -> None:
        now = self._clock()
        if self.max_gap is not None and self._last is not None and now - self._last > self.max_gap:
            if self._buffer:
                log.debug("dropping %d slowly typed characters", len(self._buffer))
            self._buffer.clear()
            self._overflow = False
        self._last = now

    def _finish(self) -> str | None:
        with self._lock:
            if self._closed:
                return None
            self._expire()
            code = "".join(self._buffer).strip()
            overflow = self._overflow
            self._buffer.clear()
            self._overflow = False
            self._last = None
            if overflow:
                log.warning("scanned code longer than %d characters dropped", self.max_length)
                return None
            if len(code) < self.min_length:
                return None
            self._codes.append(code)
            return code
