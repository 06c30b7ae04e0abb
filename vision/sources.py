"""Frame sources: cameras/video/streams through OpenCV, and folders of images replayed as frames."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from vision.images import ImageLoadError, is_image_path, load_image

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class SourceError(RuntimeError):
    """A frame source cannot be opened."""


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One image from a source; `label` is the file name for folders, else the source name."""

    image: np.ndarray
    index: int
    timestamp: float
    label: str


class FrameSource(ABC):
    """An iterable of frames that can be closed and asked whether it can be opened at all."""

    name: str = "source"

    @abstractmethod
    def available(self) -> bool:
        """True when frames can be read now (device present, file exists, folder has images)."""

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        """Frames until the source ends or is closed."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or file; iteration stops. Safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class OpenCVCapture(FrameSource):
    """A camera (device index), video file or stream URL (rtsp://, http://) via cv2.VideoCapture."""

    def __init__(
        self,
        source: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        max_failures: int = 25,
        clock: Clock = time.monotonic,
        capture_factory: Callable[[int | str], Any] | None = None,
    ) -> None:
        self.source = source
        self.name = f"camera:{source}" if isinstance(source, int) else f"video:{source}"
        self.width = width
        self.height = height
        self.max_failures = max_failures
        self._clock = clock
        self._factory = capture_factory or _cv2_capture
        self._cap: Any = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def _open(self) -> Any:
        with self._lock:
            if self._closed.is_set():
                raise SourceError(f"{self.name} is closed")
            if self._cap is None:
                cap = self._factory(self.source)
                if cap is None or not cap.isOpened():
                    raise SourceError(f"cannot open {self.name}")
                if self.width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                if self.height:
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
                self._cap = cap
            return self._cap

    def available(self) -> bool:
        """Try to open the capture; a device in use or a missing file answers False."""
        if self._closed.is_set():
            return False
        try:
            self._open()
        except SourceError:
            return False
        return True

    def __iter__(self) -> Iterator[Frame]:
        cap = self._open()
        index = 0
        failures = 0
        while True:
            # close() may run on another thread; it waits for this read instead of freeing the device under it.
            with self._lock:
                if self._closed.is_set() or self._cap is None:
                    break
                ok, image = cap.read()
            if not ok or image is None:
                # Files end with one failed read; live streams drop frames now and then.
                failures += 1
                if (isinstance(self.source, str) and Path(self.source).is_file()) or failures >= self.max_failures:
                    break
                continue
            failures = 0
            yield Frame(image, index, self._clock(), self.name)
            index += 1

    def close(self) -> None:
        """Release the capture."""
        self._closed.set()
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


def _cv2_capture(source: int | str) -> Any:
    return cv2.VideoCapture(source)


class ImageFolderSource(FrameSource):
    """Images of a folder in name order, as if a camera saw them one after another."""

    def __init__(
        self,
        folder: str | Path,
        *,
        fps: float | None = None,
        loop: bool = False,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.folder = Path(folder)
        self.name = f"folder:{self.folder}"
        self.fps = fps
        self.loop = loop
        self._clock = clock
        self._sleep = sleep
        self._closed = threading.Event()

    def paths(self) -> list[Path]:
        """Image files that will be replayed, sorted by name."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_file() and is_image_path(p))

    def available(self) -> bool:
        """True when the folder holds at least one image file."""
        return not self._closed.is_set() and bool(self.paths())

    def __iter__(self) -> Iterator[Frame]:
        paths = self.paths()
        if not paths:
            raise SourceError(f"no images in {self.folder}")
        index = 0
        while not self._closed.is_set():
            for path in paths:
                if self._closed.is_set():
                    return
                try:
                    image = load_image(path)
                except ImageLoadError as exc:
                    log.warning("skipping unreadable image %s: %s", path, exc)
                    continue
                if self.fps and index:
                    self._sleep(1.0 / self.fps)
                yield Frame(image, index, self._clock(), path.name)
                index += 1
            if not self.loop:
                return
            paths = self.paths()  # pictures dropped in or taken out meanwhile count from the next pass
            if not paths:
                self._sleep(0.1)

    def close(self) -> None:
        """Stop iteration at the next frame."""
        self._closed.set()
