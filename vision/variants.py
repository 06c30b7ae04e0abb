"""Preprocessed versions of a grayscale image, each with the map back to original pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

# Bigger variants cost more than they rescue (decoders already downscale large frames).
MAX_UPSCALED_SIDE = 2400
MIN_DOWNSCALED_SIDE = 120

_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True, slots=True, eq=False)
class Variant:
    """A preprocessed image and the 2x3 affine map from its pixels to the original's."""

    name: str
    image: np.ndarray
    to_original: np.ndarray

    def map_points(self, points: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        """Polygon in original-image coordinates."""
        if not points:
            return ()
        pts = np.asarray(points, dtype=np.float64)
        mapped = pts @ self.to_original[:, :2].T + self.to_original[:, 2]
        return tuple((round(x), round(y)) for x, y in mapped)


Transform = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray] | None"]


def _same(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return img, _IDENTITY


def _scaled(factor: float) -> Transform:
    def scale(img: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        h, w = img.shape[:2]
        nw, nh = round(w * factor), round(h * factor)
        if factor > 1 and max(nw, nh) > MAX_UPSCALED_SIDE:
            return None
        if factor < 1 and min(nw, nh) < MIN_DOWNSCALED_SIDE:
            return None
        interp = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
        out = cv2.resize(img, (nw, nh), interpolation=interp)
        back = np.array([[w / nw, 0.0, 0.0], [0.0, h / nh, 0.0]])
        return out, back

    return scale


def _unsharp(img: np.ndarray, sigma: float, amount: float = 0.8) -> np.ndarray:
    blurred = cv2.GaussianBlur(img, (0, 0), sigma)
    return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)


def _clahe(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Glare and shadows leave bars with little local contrast; CLAHE restores it per tile.
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(img), _IDENTITY


def _sharpen(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _unsharp(img, 2.0), _IDENTITY


def _upscale2_sharpen(img: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    # Small, slightly blurred retail codes: more pixels per bar, then crisper edges.
    scaled = _scaled(2.0)(img)
    if scaled is None:
        return None
    big, back = scaled
    return _unsharp(big, 3.0), back


def _otsu(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1], _IDENTITY


def _adaptive(img: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if min(img.shape[:2]) < 3:
        return None
    block = max(3, min(31, (min(img.shape[:2]) // 2) * 2 - 1))
    out = cv2.adaptiveThreshold(img, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 5)
    return out, _IDENTITY


def _blur(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Halftone and JPEG noise inside QR modules confuse binarisers; a light blur merges it.
    return cv2.GaussianBlur(img, (3, 3), 0), _IDENTITY


def _rotate45(img: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    # Decoders scan at 0 and 90 degrees; 45 degrees covers the diagonals for linear codes.
    h, w = img.shape[:2]
    if min(h, w) < 8:
        return None
    fwd = cv2.getRotationMatrix2D((w / 2, h / 2), 45, 1.0)
    side = int(np.ceil((h + w) / np.sqrt(2)))
    fwd[0, 2] += side / 2 - w / 2
    fwd[1, 2] += side / 2 - h / 2
    out = cv2.warpAffine(img, fwd, (side, side), flags=cv2.INTER_LINEAR, borderValue=255)
    return out, cv2.invertAffineTransform(fwd)


TRANSFORMS: dict[str, Transform] = {
    "original": _same,
    "clahe": _clahe,
    "upscale2-sharpen": _upscale2_sharpen,
    "sharpen": _sharpen,
    "upscale1.5": _scaled(1.5),
    "upscale2": _scaled(2.0),
    "otsu": _otsu,
    "adaptive": _adaptive,
    "blur": _blur,
    "downscale2": _scaled(0.5),
    "rotate45": _rotate45,
}


class VariantCache:
    """Lazily builds each named variant of one image at most once."""

    def __init__(self, gray: np.ndarray) -> None:
        self.gray = gray
        self._made: dict[str, Variant | None] = {}

    def get(self, name: str) -> Variant | None:
        """The variant, or None when it does not apply to this image (too small/large)."""
        if name not in self._made:
            made = TRANSFORMS[name](self.gray)
            self._made[name] = None if made is None else Variant(name, made[0], made[1])
        return self._made[name]
