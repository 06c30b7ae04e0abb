"""Blocking work (backend requests, nearby stock) on worker threads, results handed to the UI thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from mqtt.dispatch import Dispatch

log = logging.getLogger(__name__)

T = TypeVar("T")


class Tasks:
    """A small pool; ``cancel_all`` makes results of work started before it vanish (a session ended)."""

    def __init__(self, dispatch: Dispatch, workers: int = 3) -> None:
        self._dispatch = dispatch
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kiosk-task")
        self._generation = 0
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], T], on_done: Callable[[T], None] | None = None,
            on_error: Callable[[Exception], None] | None = None) -> Future[T]:
        """Run ``fn`` on a worker; ``on_done(result)`` or ``on_error(exc)`` run on the UI thread."""
        with self._lock:
            generation = self._generation

        def work() -> T:
            try:
                result = fn()
            except Exception as exc:  # handed to the UI as a value; the worker must survive
                if not isinstance(exc, LookupError | ValueError | OSError | RuntimeError) and on_error is None:
                    log.exception("background task failed")
                self._finish(generation, on_error, exc)
                raise
            self._finish(generation, on_done, result)
            return result

        return self._pool.submit(work)

    def _finish(self, generation: int, callback: Callable[[Any], None] | None, value: Any) -> None:
        with self._lock:
            current = generation == self._generation
        if callback is not None and current:
            self._dispatch(lambda: callback(value))

    def cancel_all(self) -> None:
        """Forget the results of every task started so far (they still finish)."""
        with self._lock:
            self._generation += 1

    def close(self) -> None:
        """Stop accepting work; running tasks finish in the background."""
        self.cancel_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
