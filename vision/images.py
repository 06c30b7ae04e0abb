"""Loading image files and converting pixels to the 8-bit grayscale the decoders want."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
# Refuse decompression bombs: 80 megapixels is far above any camera frame we scan.
MAX_PIXELS = 80_000_000


class ImageLoadError(OSError):
    """An image file is missing, unreadable or not an image."""


class ImageFormatError(TypeError):
    """An in-memory image has a type, dtype or shape the scanner cannot use."""


def is_image_path(path: Path) -> bool:
    """True when the file name has a known image suffix."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as a BGR (or grayscale) uint8 array, EXIF rotation applied; raises ImageLoadError."""
    p = Path(path)
    if not p.is_file():
        raise ImageLoadError(f"no such file: {p}")
    try:
        with Image.open(p) as pil:
            if pil.width * pil.height > MAX_PIXELS:
                raise ImageLoadError(f"image too large: {pil.width}x{pil.height}")
            # Phones store portrait photos sideways plus an EXIF note; decoders need the pixels upright.
            upright = ImageOps.exif_transpose(pil)
            if upright.mode in ("1", "L", "I", "I;16", "F"):
                return np.asarray(upright.convert("L"), dtype=np.uint8).copy()
            return np.asarray(upright.convert("RGB"), dtype=np.uint8)[:, :, ::-1].copy()
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        pil_error = exc
    # Pillow lacks a few codecs OpenCV has (e.g. some TIFF/EXR variants): second opinion.
    data = np.fromfile(p, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageLoadError(f"not a readable image: {p} ({pil_error})")
    return image


def to_gray(image: object) -> np.ndarray:
    """8-bit single-channel C-contiguous copy/view of a numpy (gray/BGR/BGRA) or PIL image."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if not isinstance(image, np.ndarray):
        raise ImageFormatError(f"expected numpy array or PIL image, got {type(image).__name__}")
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        raise ImageFormatError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ImageFormatError(f"unsupported image shape {image.shape}")
