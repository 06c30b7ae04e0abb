"""The camera as the UI uses it: frames read on a thread, decoded off the UI thread, preview frames kept ready."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mqtt.dispatch import Dispatch
from vision.scanner import Detection, Scanner
from vision.sources import Frame, FrameSource, ImageFolderSource, OpenCVCapture, SourceError

log = logging.getLogger(__name__)

FOLDER_FPS = 15.0
# Decoding every frame would take the CPU the preview needs on a small device; 8 reads a second still
# finds a code within a fraction of a second of it entering the frame.
DECODE_HZ = 8.0
PREVIEW_WIDTH = 640


class CameraUnavailable(RuntimeError):
    """No camera and no image folder to stand in for one."""


@dataclass(frozen=True, eq=False)
class PreviewFrame:
    """An RGB frame ready for a texture: bottom row first, as OpenGL wants it."""

    width: int
    height: int
    pixels: bytes
    index: int


class PacedFolder(ImageFolderSource):
    """A folder replayed at ``rate`` frames per second, paced by deadline.

    ImageFolderSource sleeps a fixed 1/fps after each frame on top of loading it, so it runs slower than asked;
    here the loading time counts towards the frame interval.
    """

    def __init__(self, folder: Path, rate: float) -> None:
        super().__init__(folder, fps=None, loop=True)
        self.rate = rate

    def __iter__(self) -> Iterator[Frame]:
        due = time.monotonic()
        for frame in super().__iter__():
            yield frame
            due += 1.0 / self.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                due = time.monotonic()  # behind: do not try to catch up with a burst


def make_source(images: Path | None, camera: int | None, fps: float = FOLDER_FPS) -> FrameSource:
    """The image folder when given (desktop, tests, demo), else the camera."""
    if images is not None:
        return PacedFolder(images, fps)
    if camera is not None:
        return OpenCVCapture(camera, width=1280, height=720)
    raise CameraUnavailable("no camera configured")


def to_preview(image: np.ndarray, index: int, width: int = PREVIEW_WIDTH) -> PreviewFrame:
    """Scale a BGR or grey frame down to the preview width and flip it for OpenGL."""
    import cv2

    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(cv2.flip(image, 0), cv2.COLOR_BGR2RGB)
    return PreviewFrame(rgb.shape[1], rgb.shape[0], rgb.tobytes(), index)


class CameraFeed:
    """Reads one source; every frame goes to the decoder (newest wins) and becomes the next preview."""

    def __init__(self, source_factory: Callable[[], FrameSource], decode_hz: float = DECODE_HZ) -> None:
        self._factory = source_factory
        self._decode_interval = 1.0 / decode_hz if decode_hz > 0 else 0.0
        self._lock = threading.Lock()
        self._source: FrameSource | None = None
        self._scan: Scanner | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._preview: PreviewFrame | None = None
        self._latest: np.ndarray | None = None
        self.frames = 0
        self.started_at = 0.0

    @property
    def running(self) -> bool:
        """Whether frames are being read."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, on_detection: Callable[[Detection], None] | None, dispatch: Dispatch) -> None:
        """Open the source and start reading; detections arrive through ``dispatch`` (the UI thread)."""
        self.stop()
        source = self._factory()
        if not source.available():
            source.close()
            raise CameraUnavailable(f"{source.name} cannot be opened")
        self._stop.clear()
        self._source = source
        self._scan = Scanner(on_detection, dispatch=dispatch).start() if on_detection else None
        self.frames, self.started_at = 0, time.monotonic()
        self._thread = threading.Thread(target=self._read, args=(source,), name="camera-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and decoding; the last preview stays."""
        self._stop.set()
        if self._source is not None:
            self._source.close()
        if self._thread is not None:
            self._thread.join(3)
        if self._scan is not None:
            self._scan.stop(2)
        self._source, self._thread, self._scan = None, None, None

    def preview(self) -> PreviewFrame | None:
        """The newest preview frame (any thread)."""
        with self._lock:
            return self._preview

    def latest(self) -> np.ndarray | None:
        """The newest full frame, for recognition (never modified after it is published)."""
        with self._lock:
            return self._latest

    def fps(self) -> float:
        """Frames read per second since start."""
        elapsed = time.monotonic() - self.started_at
        return self.frames / elapsed if elapsed > 0 else 0.0

    def decode_rate(self) -> float:
        """Frames decoded per second since start (the decoder skips frames it cannot keep up with)."""
        elapsed = time.monotonic() - self.started_at
        decoded = self._scan.stats.decoded if self._scan is not None else 0
        return decoded / elapsed if elapsed > 0 else 0.0

    def submit_text(self, text: str) -> Detection | None:
        """A code typed by a keyboard-wedge scanner, deduplicated like camera reads."""
        return self._scan.submit_text(text) if self._scan else None

    def _read(self, source: FrameSource) -> None:
        last_submit = 0.0
        try:
            for frame in source:
                if self._stop.is_set():
                    break
                now = time.monotonic()
                if self._scan is not None and now - last_submit >= self._decode_interval:
                    self._scan.submit(frame)
                    last_submit = now
                preview = to_preview(frame.image, frame.index)
                with self._lock:
                    self._preview, self._latest = preview, frame.image
                    self.frames += 1
        except (SourceError, OSError) as exc:
            log.warning("camera stopped: %s", exc)
        except Exception:  # a broken driver must not take the app down
            log.exception("camera reader failed")
