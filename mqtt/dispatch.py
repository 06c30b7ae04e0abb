"""Handing calls between threads: the one ``Dispatch`` type, and listener lists that call through one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

# ``dispatch(fn)`` runs ``fn`` later on the receiving thread; it must return at once and be callable from any thread.
Dispatch = Callable[[Callable[[], None]], None]

T = TypeVar("T")


class Listeners(Generic[T]):
    """Callbacks for one kind of value; thread-safe."""

    def __init__(self, dispatch: Dispatch | None = None) -> None:
        self._dispatch = dispatch
        self._lock = threading.Lock()
        self._items: list[Callable[[T], None]] = []

    def add(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Call ``listener`` with every value from now on; returns a function that stops it."""
        with self._lock:
            self._items.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._items:
                    self._items.remove(listener)

        return remove

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._items)

    def emit(self, value: T) -> None:
        """Hand ``value`` to every listener: through the dispatcher, or here with each failure logged."""
        with self._lock:
            items = list(self._items)
        for listener in items:
            if self._dispatch is not None:
                self._dispatch(lambda listener=listener: listener(value))
                continue
            try:
                listener(value)
            except Exception:  # one faulty listener must not starve the others
                log.exception("listener %r failed", listener)
