"""The gallery of enrolled products: one prototype embedding per SKU, stored as an .npz in the device data."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.recognition.errors import GalleryError, GalleryModelMismatch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class GallerySnapshot:
    """An immutable view used for matching: SKUs, labels and unit prototypes (N, D)."""

    skus: tuple[str, ...]
    labels: tuple[str, ...]
    prototypes: np.ndarray
    counts: tuple[int, ...]


class Gallery:
    """Per-SKU sums of unit embeddings; a product's prototype is its normalised sum (so updates just add photos)."""

    def __init__(self, embed_dim: int, model_id: str = "") -> None:
        self.embed_dim = embed_dim
        self.model_id = model_id
        self._sums: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()
        self._snapshot: GallerySnapshot | None = None

    def __len__(self) -> int:
        return len(self._sums)

    def __contains__(self, sku: object) -> bool:
        return sku in self._sums

    def skus(self) -> list[str]:
        """Enrolled SKUs in enrolment order."""
        with self._lock:
            return list(self._sums)

    def count(self, sku: str) -> int:
        """How many photos make up a product's prototype (0 when not enrolled)."""
        return self._counts.get(sku, 0)

    def add(self, sku: str, embeddings: np.ndarray, label: str | None = None, replace: bool = False) -> None:
        """Enrol or update a product from unit embeddings (K, D); replace=True forgets its earlier photos."""
        if not sku or not isinstance(sku, str):
            raise GalleryError("a product needs a non-empty SKU")
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim == 1:
            emb = emb[None]
        if emb.ndim != 2 or emb.shape[1] != self.embed_dim or emb.shape[0] == 0:
            raise GalleryError(f"expected embeddings of shape (K, {self.embed_dim}), got {emb.shape}")
        if not np.all(np.isfinite(emb)):
            raise GalleryError("embeddings contain NaN or infinity")
        with self._lock:
            if replace or sku not in self._sums:
                self._sums[sku] = np.zeros(self.embed_dim, dtype=np.float64)
                self._counts[sku] = 0
            self._sums[sku] += emb.sum(axis=0, dtype=np.float64)
            self._counts[sku] += emb.shape[0]
            self._labels[sku] = label if label is not None else self._labels.get(sku, sku)
            self._snapshot = None

    def remove(self, sku: str) -> bool:
        """Forget a product; False when it was not enrolled."""
        with self._lock:
            if sku not in self._sums:
                return False
            del self._sums[sku], self._counts[sku], self._labels[sku]
            self._snapshot = None
            return True

    def snapshot(self) -> GallerySnapshot:
        """The current products as an immutable matrix of unit prototypes (cached until the next change)."""
        with self._lock:
            if self._snapshot is None:
                skus = tuple(self._sums)
                mat = np.stack([self._sums[s] for s in skus]).astype(np.float32) if skus else np.zeros(
                    (0, self.embed_dim), np.float32)
                norms = np.linalg.norm(mat, axis=1, keepdims=True)
                mat = mat / np.where(norms > 0, norms, 1.0)
                mat.setflags(write=False)
                labels = tuple(self._labels[s] for s in skus)
                self._snapshot = GallerySnapshot(skus, labels, mat, tuple(self._counts[s] for s in skus))
            return self._snapshot

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a gallery."""
        with self._lock:
            skus = list(self._sums)
            arrays = {
                "version": np.array(FORMAT_VERSION),
                "model_id": np.array(self.model_id),
                "skus": np.array(skus, dtype=str),
                "labels": np.array([self._labels[s] for s in skus], dtype=str),
                "sums": np.stack([self._sums[s] for s in skus]).astype(np.float32) if skus else np.zeros(
                    (0, self.embed_dim), np.float32),
                "counts": np.array([self._counts[s] for s in skus], dtype=np.int32),
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".gallery-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; the gallery is ordinary shareable device data
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, model_id: str | None = None) -> Gallery:
        """Read a gallery; raises GalleryError when unreadable or made with a different model."""
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["version"])
                stored_id = str(data["model_id"])
                skus, labels = [str(s) for s in data["skus"]], [str(s) for s in data["labels"]]
                sums, counts = data["sums"].astype(np.float64), data["counts"].astype(int)
        except FileNotFoundError as exc:
            raise GalleryError(f"gallery not found: {path}") from exc
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise GalleryError(f"unreadable gallery {path}: {exc}") from exc
        if version != FORMAT_VERSION:
            raise GalleryError(f"{path}: gallery format {version}, expected {FORMAT_VERSION}")
        if model_id and stored_id and stored_id != model_id:
            raise GalleryModelMismatch(
                f"{path} was built with model {stored_id}, not {model_id}: re-enrol the products", stored_id)
        if sums.ndim != 2 or not len(skus) == len(labels) == len(sums) == len(counts):
            raise GalleryError(f"{path}: inconsistent arrays")
        gallery = cls(int(sums.shape[1]), stored_id)
        for sku, label, vec, n in zip(skus, labels, sums, counts, strict=True):
            gallery._sums[sku], gallery._counts[sku], gallery._labels[sku] = vec, int(n), label
        return gallery
