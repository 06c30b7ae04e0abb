"""Recognition off the UI thread: one worker, newest frame wins, immutable results handed to a callback."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from vision.recognition.errors import RecognitionError
from vision.recognition.recognizer import Recognition, Recognizer

log = logging.getLogger(__name__)

Callback = Callable[[Recognition], None]


class RecognitionWorker:
    """Runs Recognizer.recognize on its own thread. A live camera outruns the model, so a frame still waiting when
    a newer one arrives is dropped (never queued): the result always describes a recent frame."""

    def __init__(self, recognizer: Recognizer, k: int = 5) -> None:
        self._recognizer = recognizer
        self._k = k
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, Callback] | None = None
        self._closed = False
        self.dropped = 0
        self.done = 0
        self._thread = threading.Thread(target=self._run, name="recognition", daemon=True)
        self._thread.start()

    def submit(self, frame: np.ndarray, callback: Callback) -> None:
        """Queue a frame (copied, since cameras reuse buffers); the callback runs on the worker thread."""
        copy = np.array(frame, copy=True)
        with self._cond:
            if self._closed:
                raise RuntimeError("worker is closed")
            if self._pending is not None:
                self.dropped += 1
            self._pending = (copy, callback)
            self._cond.notify()

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until no frame is pending or being recognised; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    _busy = False

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the frame in progress; a pending frame is dropped."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout)

    def __enter__(self) -> RecognitionWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    return
                frame, callback = self._pending  # type: ignore[misc]
                self._pending = None
                self._busy = True
            try:
                result = self._recognizer.recognize(frame, self._k)
            except (RecognitionError, ValueError, OSError) as exc:
                log.warning("recognition failed: %s", exc)
                result = Recognition((), True, f"recognition failed: {exc}")
            try:
                callback(result)
            except Exception:  # a faulty UI callback must not kill the worker thread
                log.exception("recognition callback raised")
            with self._cond:
                self._busy = False
                self.done += 1
                self._cond.notify_all()
