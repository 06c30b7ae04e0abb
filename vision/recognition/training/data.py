"""Training data: decode every image once into a small square cache, then augment batches from memory."""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vision.recognition.dataset import Sample
from vision.recognition.images import read_image_bgr, square_crop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedSplit:
    """Images (N, S, S, 3) uint8 RGB with fine and coarse labels."""

    images: np.ndarray
    fine: np.ndarray
    coarse: np.ndarray


def _cache_key(samples: Sequence[Sample], size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    for s in samples:
        h.update(f"{s.path}|{s.fine_id}|{s.coarse_id}\n".encode())
    return h.hexdigest()[:16]


def load_cached(samples: Sequence[Sample], size: int, cache_dir: Path | None, desc: str) -> CachedSplit:
    """Decode, centre-crop and resize every sample to size x size; reuse an .npz cache keyed by the list."""
    fine = np.array([s.fine_id for s in samples], dtype=np.int32)
    coarse = np.array([s.coarse_id for s in samples], dtype=np.int32)
    path = cache_dir / f"{desc}-{size}-{_cache_key(samples, size)}.npz" if cache_dir else None
    if path is not None and path.is_file():
        with np.load(path) as data:
            return CachedSplit(data["images"], fine, coarse)
    images = np.empty((len(samples), size, size, 3), dtype=np.uint8)
    for i, s in enumerate(tqdm(samples, desc=f"decode {desc}", unit="img", leave=False)):
        images[i] = square_crop(cv2.cvtColor(read_image_bgr(s.path), cv2.COLOR_BGR2RGB), size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=images)
    return CachedSplit(images, fine, coarse)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths; colour hue is left alone because hue separates many of the classes."""

    out_size: int = 112
    min_scale: float = 0.25
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    cutmix: float = 0.5


def random_resized_crop(image: np.ndarray, out: int, min_scale: float, rng: np.random.Generator) -> np.ndarray:
    """Inception-style crop: random area fraction and aspect ratio, resized to out x out."""
    h, w = image.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(min_scale, 1.0)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crop = image[y : y + ch, x : x + cw]
            break
    else:
        crop = image
    interp = cv2.INTER_AREA if crop.shape[0] > out else cv2.INTER_LINEAR
    return cv2.resize(crop, (out, out), interpolation=interp)


def colour_jitter(batch: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-image brightness, contrast and saturation on a float32 batch in 0..255."""
    n = batch.shape[0]
    b = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness, (n, 1, 1, 1)).astype(np.float32)
    c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast, (n, 1, 1, 1)).astype(np.float32)
    s = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation, (n, 1, 1, 1)).astype(np.float32)
    batch = batch * b
    gray = batch @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    mean = gray.mean(axis=(1, 2), keepdims=True)[..., None]
    batch = (batch - mean) * c + mean
    gray = (batch @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    batch = (batch - gray) * s + gray
    return np.clip(batch, 0, 255, out=batch)


def cutmix(
    x: np.ndarray, y: np.ndarray, prob: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Paste a random box from a shuffled partner into part of the batch; labels mix by area."""
    if prob <= 0:
        return x, y
    n, size = x.shape[0], x.shape[1]
    perm = rng.permutation(n)
    chosen = rng.random(n) < prob
    lam = np.ones(n, dtype=np.float32)
    for i in np.flatnonzero(chosen):
        cut = np.sqrt(1 - rng.beta(1.0, 1.0))
        ch = cw = int(size * cut)
        cy, cx = int(rng.integers(0, size)), int(rng.integers(0, size))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, size)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, size)
        x[i, y0:y1, x0:x1] = x[perm[i], y0:y1, x0:x1]
        lam[i] = 1 - (y1 - y0) * (x1 - x0) / (size * size)
    mixed = lam[:, None] * y + (1 - lam[:, None]) * y[perm]
    return x, mixed.astype(np.float32)


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """Float32 one-hot rows."""
    out = np.zeros((labels.shape[0], classes), dtype=np.float32)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def make_batch(
    split: CachedSplit, idx: np.ndarray, n_fine: int, n_coarse: int, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One augmented batch: images float32 0..255, soft fine labels, soft coarse labels."""
    imgs = np.stack([random_resized_crop(split.images[i], cfg.out_size, cfg.min_scale, rng) for i in idx])
    flip = rng.random(len(idx)) < 0.5
    imgs[flip] = imgs[flip, :, ::-1]
    x = colour_jitter(imgs.astype(np.float32), cfg, rng)
    labels = np.concatenate([one_hot(split.fine[idx], n_fine), one_hot(split.coarse[idx], n_coarse)], axis=1)
    x, labels = cutmix(x, labels, cfg.cutmix, rng)
    return x, labels[:, :n_fine], labels[:, n_fine:]


def epoch_batches(
    split: CachedSplit,
    batch_size: int,
    n_fine: int,
    n_coarse: int,
    cfg: AugmentConfig,
    seed: int,
    prefetch: int = 4,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of one epoch, prepared on a helper thread (OpenCV and NumPy release the GIL)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(split.fine))
    steps = len(order) // batch_size  # drop the ragged tail so BatchNorm never sees a tiny batch
    out: queue.Queue[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = queue.Queue(maxsize=prefetch)

    def produce() -> None:
        for s in range(steps):
            out.put(make_batch(split, order[s * batch_size : (s + 1) * batch_size], n_fine, n_coarse, cfg, rng))
        out.put(None)

    worker = threading.Thread(target=produce, name="augment", daemon=True)
    worker.start()
    while (item := out.get()) is not None:
        yield item
    worker.join()


def eval_images(split: CachedSplit, size: int) -> np.ndarray:
    """The whole (cached) view of each image at the evaluation size, float32 0..255."""
    if split.images.shape[1] == size:
        return split.images.astype(np.float32)
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in split.images]).astype(
        np.float32
    )
