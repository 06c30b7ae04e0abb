"""On-device product recognition through ``vision.recognition``; when there is no model it says why.

Thin on purpose: ``try_open`` loads the embedding model and this device's gallery, ``recognize`` ranks
products, ``enrol`` teaches one from photos. Calls block, so the UI makes them from worker threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vision.recognition import Recognition

log = logging.getLogger(__name__)

TOP_K = 3
# The recogniser decides "unknown" by similarity; a guess it is this unsure of is not worth a shopper's tap.
MIN_SCORE = 0.2


class RecognitionUnavailable(RuntimeError):
    """No recogniser on this device; the message says why."""


class RecognitionService:
    """Opens the recogniser on first use (seconds: call ``load`` from a worker), then answers any thread."""

    def __init__(self, data_dir: Path, model: Path | None = None) -> None:
        self.data_dir = data_dir
        self.model = model  # a .tflite file (its gallery .npz beside it is the seed); None: assets/models
        self._lock = threading.Lock()
        self._model: Any = None
        self._tried = False
        self.reason = ""

    def load(self) -> bool:
        """Open model and gallery once; False (with ``reason``) when recognition is off on this device."""
        with self._lock:
            if self._model is not None or self._tried:
                return self._model is not None
            self._tried = True
            try:
                from vision.recognition import try_open
            except Exception as exc:  # a half-installed ML runtime can fail with anything on import
                self.reason = f"vision.recognition cannot be imported: {exc}"
                log.warning("recognition unavailable: %s", self.reason)
                return False
            options: dict[str, Any] = {"data_dir": self.data_dir}
            if self.model is not None:
                gallery = self.model.with_name(self.model.name.replace("_embedder", "_gallery")).with_suffix(".npz")
                options.update(model_path=self.model, gallery_path=gallery if gallery.is_file() else None)
            self._model, why = try_open(**options)
            if self._model is None:
                self.reason = why or "no model"
                log.info("recognition unavailable: %s", self.reason)
            return self._model is not None

    @property
    def available(self) -> bool:
        """Whether a recogniser is loaded."""
        return self._model is not None

    def suggest(self, frame: np.ndarray, top_k: int = TOP_K) -> Recognition:
        """Best guesses for a frame, most likely first, without those under MIN_SCORE."""
        if self._model is None:
            raise RecognitionUnavailable(self.reason or "not loaded")
        result = self._model.recognize(frame, top_k)
        confident = tuple(m for m in result.matches if m.score >= MIN_SCORE)
        unknown = bool(result.unknown) or not confident
        return replace(result, matches=confident, unknown=unknown,
                       reason=result.reason or ("no confident match" if not confident else None))

    def enrol(self, sku: str, frames: Sequence[np.ndarray], label: str = "") -> int:
        """Teach the recogniser a product from photos; returns how many photos it now holds for it."""
        if self._model is None:
            raise RecognitionUnavailable(self.reason or "not loaded")
        return int(self._model.enrol(sku, list(frames), label=label or None))
