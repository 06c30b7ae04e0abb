"""One cleanup list per owner: undo steps recorded as resources are acquired, run newest first on close."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Cleanup:
    """Undo steps in the order their resources were acquired; ``run`` undoes them in reverse, each on its own."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._lock = threading.Lock()
        self._steps: list[Callable[[], object]] = []

    def add(self, step: Callable[[], object]) -> None:
        """Record how to release what was just acquired (any thread)."""
        with self._lock:
            self._steps.append(step)

    def __len__(self) -> int:
        with self._lock:
            return len(self._steps)

    def run(self) -> None:
        """Run every recorded step, newest first, once; a failing step is logged and the rest still run."""
        while True:
            with self._lock:
                if not self._steps:
                    return
                step = self._steps.pop()
            try:
                step()
            except Exception:  # closing must go on: a half-released device would keep files and threads open
                log.exception("%s: cleanup step %r failed", self.owner, step)
