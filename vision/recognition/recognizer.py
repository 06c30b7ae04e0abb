"""Recognising a product in a frame: embed it, rank enrolled products by cosine similarity, or say "unknown"."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import assets
from vision.recognition.backends import EmbeddingModel
from vision.recognition.errors import (
    EnrolmentError,
    FrameError,
    GalleryError,
    GalleryModelMismatch,
    ModelShapeError,
    RecognitionError,
)
from vision.recognition.gallery import Gallery, GallerySnapshot
from vision.recognition.images import as_bgr, frame_problem, model_input, read_image_bgr
from vision.recognition.projection import inverse, load_projection, network_space, project

log = logging.getLogger(__name__)

ASSETS = assets.path("models")
DEFAULT_MODEL = ASSETS / "grocery_embedder.tflite"
DEFAULT_GALLERY = ASSETS / "grocery_gallery.npz"
GALLERY_FILE = "recognition_gallery.npz"


@dataclass(frozen=True)
class InferenceSettings:
    """How to run and read the model, all chosen on val at training time: input size (the network is fully
    convolutional, so the interpreter can be resized), mirror averaging, the projection file applied to embeddings
    (beside the model; see projection.py), softmax temperature over cosine similarities, and the similarity below
    which a frame is "unknown" (the top product's, in the network's own space when there is a projection)."""

    temperature: float = 0.05
    unknown_below: float = 0.5
    flip_average: bool = False
    input_size: int | None = None
    projection: str | None = None

    @classmethod
    def for_model(cls, model_path: Path) -> InferenceSettings:
        """Read the "inference" section of `<model>.json` beside the model; defaults when absent."""
        meta = model_path.with_suffix(".json")
        if not meta.is_file():
            log.warning("no settings file %s; using defaults", meta)
            return cls()
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))["inference"]
            size = data.get("input_size")
            projection = data.get("projection")
            if projection is not None and (not isinstance(projection, str) or Path(projection).name != projection):
                raise ValueError(f"projection must be a file name beside the model, got {projection!r}")
            return cls(float(data["temperature"]), float(data["unknown_below"]), bool(data.get("flip_average", False)),
                       int(size) if size else None, projection)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("unreadable settings %s (%s); using defaults", meta, exc)
            return cls()


@dataclass(frozen=True)
class Match:
    """One candidate product: calibrated probability `score` and raw cosine `similarity`."""

    sku: str
    label: str
    score: float
    similarity: float


@dataclass(frozen=True)
class Recognition:
    """Ranked candidates (best first); `unknown` when no product is close enough, with the reason."""

    matches: tuple[Match, ...]
    unknown: bool
    reason: str | None = None
    ms: float = 0.0

    @property
    def best(self) -> Match | None:
        """The confident answer, or None when unknown."""
        return None if self.unknown or not self.matches else self.matches[0]


def model_fingerprint(path: Path, projection: np.ndarray | None = None) -> str:
    """Short content hash tying a gallery to the model (and projection) whose embeddings it holds."""
    digest = hashlib.sha256(path.read_bytes())
    if projection is not None:
        digest.update(np.ascontiguousarray(projection, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def rank(embedding: np.ndarray, snap: GallerySnapshot, settings: InferenceSettings, k: int,
         gate: np.ndarray | None = None) -> Recognition:
    """Top-k products for a unit embedding, with softmax-calibrated scores and the unknown decision.

    ``gate`` holds the similarities that decide "unknown" (one per product) when they are not the ranking's own.
    """
    if not snap.skus:
        return Recognition((), True, "no products enrolled")
    sims = snap.prototypes @ embedding
    logits = sims / settings.temperature
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-sims, kind="stable")[: max(1, k)]
    matches = tuple(Match(snap.skus[i], snap.labels[i], float(probs[i]), float(sims[i])) for i in order)
    closeness = float((sims if gate is None else gate)[order[0]])
    if closeness < settings.unknown_below:
        return Recognition(matches, True, f"best similarity {closeness:.2f} below {settings.unknown_below:.2f}")
    return Recognition(matches, False)


class Recognizer:
    """Embedding model + gallery (+ where to persist it). Thread-safe; use RecognitionWorker off the UI thread."""

    def __init__(
        self,
        model: EmbeddingModel,
        gallery: Gallery,
        settings: InferenceSettings,
        gallery_path: Path | None = None,
        projection: np.ndarray | None = None,
    ) -> None:
        if gallery.embed_dim != model.embed_dim:
            raise GalleryError(f"gallery has {gallery.embed_dim}-d embeddings, model gives {model.embed_dim}-d")
        if projection is not None and projection.shape != (model.embed_dim, model.embed_dim):
            raise ModelShapeError(f"projection has shape {projection.shape}, model gives {model.embed_dim}-d")
        self.model = model
        self.gallery = gallery
        self.settings = settings
        self.gallery_path = gallery_path
        self.projection = projection
        self._inverse = inverse(projection) if projection is not None else None
        self._gate_prototypes: tuple[GallerySnapshot, np.ndarray] | None = None

    @classmethod
    def open(
        cls,
        model_path: Path = DEFAULT_MODEL,
        gallery_path: Path | None = DEFAULT_GALLERY,
        *,
        data_dir: Path | None = None,
        threads: int = 1,
        backend: str | None = None,
    ) -> Recognizer:
        """Load a model and its gallery. With data_dir, the device's own gallery lives there (seeded from
        gallery_path on first use, and again after a model update) and enrolments are saved to it."""
        settings = InferenceSettings.for_model(Path(model_path))
        model = EmbeddingModel(Path(model_path), threads=threads, backend=backend, input_size=settings.input_size)
        projection = None
        if settings.projection is not None:
            projection = load_projection(model.path.parent / settings.projection, model.embed_dim)
        model_id = model_fingerprint(model.path, projection)
        if data_dir is None:
            gallery = Gallery.load(Path(gallery_path), model_id) if gallery_path is not None and Path(
                gallery_path).is_file() else Gallery(model.embed_dim, model_id)
            return cls(model, gallery, settings, None, projection)
        store = Path(data_dir) / GALLERY_FILE
        try:
            gallery = Gallery.load(store, model_id) if store.is_file() else None
        except GalleryModelMismatch as exc:
            # A model update: the device's embeddings no longer compare with the new model's. Keep the old file (its
            # products must be enrolled again) and start over from the shipped gallery, so recognition stays on.
            old_id = exc.stored_id if exc.stored_id.isalnum() else "unknown"
            aside = store.with_name(f"{store.stem}.{old_id}{store.suffix}")
            store.replace(aside)
            log.warning("%s; moved to %s, starting again from the shipped gallery", exc, aside.name)
            gallery = None
        if gallery is None:
            store.parent.mkdir(parents=True, exist_ok=True)
            if gallery_path is not None and Path(gallery_path).is_file():
                shutil.copyfile(gallery_path, store)
                gallery = Gallery.load(store, model_id)
            else:
                gallery = Gallery(model.embed_dim, model_id)
        return cls(model, gallery, settings, store, projection)

    def embed(self, frame: object) -> np.ndarray:
        """Unit embedding of a frame (numpy BGR/gray/BGRA or PIL) in the space products are ranked in; raises
        FrameError for unusable frames."""
        return project(self._embed_network(frame), self.projection)

    def _embed_network(self, frame: object) -> np.ndarray:
        """Unit embedding in the network's own space (mirror-averaged when the settings say so)."""
        bgr = as_bgr(frame)
        problem = frame_problem(bgr)
        if problem:
            raise FrameError(problem)
        x = model_input(bgr, self.model.input_size)
        if not self.settings.flip_average:
            return self.model.embed(x)
        both = self.model.embed(x) + self.model.embed(np.ascontiguousarray(x[:, :, ::-1]))
        return both / max(float(np.linalg.norm(both)), 1e-12)

    def recognize(self, frame: object, k: int = 5) -> Recognition:
        """Top-k products for a frame; blank, tiny or malformed frames come back unknown with the reason."""
        start = time.perf_counter()
        try:
            network = self._embed_network(frame)
        except FrameError as exc:
            return Recognition((), True, str(exc), (time.perf_counter() - start) * 1000)
        snap = self.gallery.snapshot()
        gate = None
        if self._inverse is not None and snap.skus:
            gate = self._network_prototypes(snap, self._inverse) @ network
        result = rank(project(network, self.projection), snap, self.settings, k, gate)
        return Recognition(result.matches, result.unknown, result.reason, (time.perf_counter() - start) * 1000)

    def _network_prototypes(self, snap: GallerySnapshot, inverse_matrix: np.ndarray) -> np.ndarray:
        """The snapshot's prototypes in the network's own space, kept until the gallery changes."""
        cached = self._gate_prototypes
        if cached is not None and cached[0] is snap:
            return cached[1]
        mapped = network_space(snap.prototypes, inverse_matrix)
        self._gate_prototypes = (snap, mapped)
        return mapped

    def embed_photos(self, photos: Iterable[object], flips: bool = True) -> np.ndarray:
        """Unit embeddings of photos (paths or frames), plus mirror images when flips; skips unusable ones."""
        out: list[np.ndarray] = []
        problems: list[str] = []
        for photo in photos:
            try:
                bgr = read_image_bgr(photo) if isinstance(photo, str | Path) else as_bgr(photo)
                out.append(self.embed(bgr))
                if flips and not self.settings.flip_average:  # else each embedding already covers the mirror
                    out.append(self.embed(np.ascontiguousarray(bgr[:, ::-1])))
            except FrameError as exc:
                problems.append(str(exc))
                log.warning("enrolment photo skipped: %s", exc)
        if not out:
            raise EnrolmentError("no usable photo: " + ("; ".join(problems) or "none given"))
        return np.stack(out)

    def enrol(self, sku: str, photos: Iterable[object], label: str | None = None, replace: bool = False) -> int:
        """Add (or, with replace, re-teach) a product from a few photos, usable at once; returns its view count."""
        embeddings = self.embed_photos(photos)
        self.gallery.add(sku, embeddings, label=label, replace=replace)
        self._persist()
        return self.gallery.count(sku)

    def remove(self, sku: str) -> bool:
        """Forget a product; False when it was not enrolled."""
        removed = self.gallery.remove(sku)
        if removed:
            self._persist()
        return removed

    def _persist(self) -> None:
        if self.gallery_path is not None:
            self.gallery.save(self.gallery_path)


def try_open(**kwargs: object) -> tuple[Recognizer | None, str | None]:
    """Recognizer.open, but a broken or missing model/gallery gives (None, reason) so the app runs without it."""
    try:
        return Recognizer.open(**kwargs), None  # type: ignore[arg-type]
    except (RecognitionError, OSError) as exc:
        log.warning("product recognition off: %s", exc)
        return None, str(exc)
