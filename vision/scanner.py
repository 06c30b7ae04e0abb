"""Live scanning: decode the newest frame on a worker thread and report each code once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from codes.scanned import DEFAULT_CONFIG, Intent, IntentConfig, ProductCode, parse_intent
from vision.decode import DEFAULT_CHAIN, DecodeOptions, Decoder
from vision.intents import intent_for_symbol
from vision.sources import Frame, FrameSource
from vision.symbols import Symbol

log = logging.getLogger(__name__)

Clock = Callable[[], float]
DecodeFn = Callable[[np.ndarray], Sequence[Symbol]]
Dispatch = Callable[[Callable[[], None]], None]

# A frame gets the cheap passes plus whatever fallbacks fit in this budget; the next frame is near.
LIVE_DEADLINE_MS = 60.0


@dataclass(frozen=True, slots=True)
class Detection:
    """A newly seen code: its text, what it means, and where it came from."""

    text: str
    intent: Intent
    symbol: Symbol | None
    source: str
    timestamp: float
    frame_index: int | None = None


@dataclass(slots=True)
class ScannerStats:
    """Counters for the UI and tests."""

    submitted: int = 0
    decoded: int = 0
    skipped: int = 0
    detections: int = 0
    duplicates: int = 0
    errors: int = 0


def live_decoder() -> Decoder:
    """Decoder tuned for video: full first pass, fallbacks only within LIVE_DEADLINE_MS."""
    return Decoder(options=DecodeOptions(chain=DEFAULT_CHAIN, deadline_ms=LIVE_DEADLINE_MS))


class Scanner:
    """Decodes frames on one worker thread, newest frame wins, duplicates within a window are dropped.

    `on_detection` runs on the worker thread unless `dispatch` is given; a UI passes its own
    scheduler there (Kivy: ``lambda fn: Clock.schedule_once(lambda dt: fn())``).
    A code counts as a duplicate while it was seen less than `dedup_window` seconds ago, so a
    code held in front of the camera is reported once, and again after it was away that long.
    """

    def __init__(
        self,
        on_detection: Callable[[Detection], None],
        *,
        decoder: DecodeFn | None = None,
        dedup_window: float = 2.0,
        clock: Clock = time.monotonic,
        dispatch: Dispatch | None = None,
        intent_config: IntentConfig = DEFAULT_CONFIG,
        dedup_wedge: bool = False,
    ) -> None:
        if dedup_window < 0:
            raise ValueError("dedup_window must be >= 0")
        self._on_detection = on_detection
        self._decode: DecodeFn = decoder if decoder is not None else live_decoder().decode
        self.dedup_window = dedup_window
        self._clock = clock
        self._dispatch = dispatch
        self._intent_config = intent_config
        self._dedup_wedge = dedup_wedge
        self.stats = ScannerStats()
        self._cond = threading.Condition()
        self._pending: Frame | None = None
        self._busy = False
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._readers: list[threading.Thread] = []
        self._sources: list[FrameSource] = []
        self._last_seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()
        self._next_index = 0

    # lifecycle

    def start(self) -> Scanner:
        """Start the worker thread (idempotent)."""
        with self._cond:
            if self._worker is None:
                self._stopping = False
                self._worker = threading.Thread(target=self._run, name="scanner", daemon=True)
                self._worker.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading sources and the worker; a frame being decoded finishes first."""
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify_all()
        for source in self._sources:
            source.close()
        for reader in self._readers:
            reader.join(timeout)
        if self._worker is not None:
            self._worker.join(timeout)
        self._worker = None

    def __enter__(self) -> Scanner:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # input

    def submit(self, frame: Frame | np.ndarray) -> None:
        """Offer a frame; if the worker is still busy with an older pending one, that one is skipped."""
        if not isinstance(frame, Frame):
            frame = Frame(frame, self._next_index, self._clock(), "frame")
        self._next_index = frame.index + 1
        with self._cond:
            if self._stopping:
                return
            self.stats.submitted += 1
            if self._pending is not None:
                self.stats.skipped += 1
            self._pending = frame
            self._cond.notify_all()

    def attach(self, source: FrameSource) -> threading.Thread:
        """Pump frames from a source into the scanner on a reader thread until it ends or we stop."""

        def pump() -> None:
            try:
                for frame in source:
                    if self._stopping:
                        break
                    self.submit(frame)
            except Exception:  # noqa: BLE001 - a broken camera must not take the UI down
                log.exception("frame source %s failed", source.name)
            finally:
                source.close()

        reader = threading.Thread(target=pump, name=f"scan-source-{source.name}", daemon=True)
        self._sources.append(source)
        self._readers.append(reader)
        reader.start()
        return reader

    def submit_text(self, text: str, source: str = "wedge") -> Detection | None:
        """Handle a code typed by a keyboard-wedge scanner (or pasted); returns its detection."""
        intent = parse_intent(text, self._intent_config)
        # A GS1 string with a batch or weight is one pack: two packs of a product are two scans, as for symbols.
        plain = isinstance(intent, ProductCode) and intent.gs1 is None
        key = f"gtin:{intent.gtin}" if plain else f"text:{text.strip()}"
        now = self._clock()
        if self._dedup_wedge and not self._fresh(key, now):
            return None
        detection = Detection(text.strip(), intent, None, source, now)
        self._emit(detection)
        return detection

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no frame is pending or being decoded (for tests and batch replay)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # worker

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                frame, self._pending = self._pending, None
                self._busy = True
            try:
                self._process(frame)
            except Exception:  # noqa: BLE001 - one bad frame must not stop live scanning
                self.stats.errors += 1
                log.exception("decoding frame %d failed", frame.index)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _process(self, frame: Frame) -> None:
        symbols = self._decode(frame.image)
        self.stats.decoded += 1
        now = self._clock()
        for symbol in symbols:
            if not self._fresh(symbol.key, now):
                with self._seen_lock:
                    self.stats.duplicates += 1
                continue
            intent = intent_for_symbol(symbol, self._intent_config)
            self._emit(Detection(symbol.text, intent, symbol, frame.label, now, frame.index))

    def _fresh(self, key: str, now: float) -> bool:
        """True when key was not seen within the window; every sighting restarts the window."""
        with self._seen_lock:
            last = self._last_seen.get(key)
            self._last_seen[key] = now
            if len(self._last_seen) > 1024:
                horizon = now - self.dedup_window
                self._last_seen = {k: t for k, t in self._last_seen.items() if t >= horizon}
            return last is None or now - last >= self.dedup_window

    def _emit(self, detection: Detection) -> None:
        with self._seen_lock:
            self.stats.detections += 1
        if self._dispatch is None:
            self._deliver(detection)
        else:
            self._dispatch(lambda: self._deliver(detection))

    def _deliver(self, detection: Detection) -> None:
        try:
            self._on_detection(detection)
        except Exception:  # noqa: BLE001 - a failing UI callback must not kill the worker
            log.exception("detection callback failed")
