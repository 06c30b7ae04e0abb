"""Reading photos and turning camera frames into the square RGB input the embedding model expects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vision.recognition.errors import FrameError

# Below this many pixels on the short side a frame holds too little of a product to name it.
MIN_SIDE = 16
# A frame this flat (grey-level standard deviation) is a covered lens or a black/blank frame.
MIN_CONTRAST = 4.0
MAX_PIXELS = 80_000_000


def read_image_bgr(path: str | Path) -> np.ndarray:
    """Read a photo as BGR uint8 with EXIF rotation applied; raises FrameError when unreadable."""
    p = Path(path)
    try:
        with Image.open(p) as pil:
            if pil.width * pil.height > MAX_PIXELS:
                raise FrameError(f"image too large: {p} ({pil.width}x{pil.height})")
            upright = ImageOps.exif_transpose(pil).convert("RGB")
            return np.ascontiguousarray(np.asarray(upright, dtype=np.uint8)[:, :, ::-1])
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise FrameError(f"not a readable image: {p} ({exc})") from exc


def as_bgr(frame: object) -> np.ndarray:
    """A uint8 HxWx3 BGR view of a numpy frame (gray, BGR or BGRA) or a PIL image; raises FrameError."""
    if isinstance(frame, Image.Image):
        return np.ascontiguousarray(np.asarray(frame.convert("RGB"), dtype=np.uint8)[:, :, ::-1])
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"expected a numpy array or PIL image, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise FrameError(f"expected uint8 pixels, got {frame.dtype}")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise FrameError(f"expected HxW, HxWx3 or HxWx4 pixels, got shape {frame.shape}")


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the short side is `size`, then take the centre size x size square (channel order kept)."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    y, x = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(resized[y : y + size, x : x + size])


def frame_problem(bgr: np.ndarray) -> str | None:
    """Why a frame cannot show a product (too small, blank), or None when it is usable."""
    h, w = bgr.shape[:2]
    if min(h, w) < MIN_SIDE:
        return f"frame too small ({w}x{h}, need {MIN_SIDE} px on the short side)"
    small = cv2.resize(bgr, (64, 64), interpolation=cv2.INTER_AREA) if min(h, w) > 64 else bgr
    if float(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).std()) < MIN_CONTRAST:
        return "frame is blank (no contrast)"
    return None


def model_input(bgr: np.ndarray, size: int) -> np.ndarray:
    """(1, size, size, 3) float32 RGB in 0..255, the centre square of the frame."""
    rgb = cv2.cvtColor(square_crop(bgr, size), cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32)[None]
