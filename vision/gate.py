"""A cheap "could a code be here?" check that lets the decoder skip its slow fallbacks on photos without one.

The fallback chain costs 10-20 full-frame decoder passes when nothing is accepted, which is the case
for every camera frame without a code. On the shared photos, every symbol that the chain reads only in
a late stage, after a first pass that read nothing at all, was still visible to one of two cheap
locators: zxing-cpp's detectors on the lightly blurred frame with a global binarizer (QR codes drawn
over pictures, and symbols it locates but cannot decode, such as a damaged DataMatrix, reported with
``return_errors``), or OpenCV's gradient-based 1D barcode detector (small or blurred EAN/UPC that no
decoder reads on the original). Neither fires on the 21 shared no-code photos; on grocery shelf photos
wire racks and lettering set off the OpenCV detector now and then (3 in 100), which only costs time.
A time budget alone would not do: the slowest late read takes longer than the whole no-code goal
(live video has one anyway, DecodeOptions.deadline_ms). bench/scan_bench.py --no-code-cost measures
the gate, tests/vision/test_gate.py checks that it loses no read.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import cv2
import numpy as np

from vision.variants import VariantCache

log = logging.getLogger(__name__)

# The blurred variant doubles as the decoder's "blur" stage, so a frame that passes the gate reuses it.
BLUR_VARIANT = "blur"


@functools.cache
def _zxing() -> Any:
    """The zxingcpp module, or None when it is not installed (then the gate never skips)."""
    try:
        import zxingcpp
    except ImportError:
        log.info("zxing-cpp is not installed; the no-code gate is off")
        return None
    return zxingcpp


def _linear_detector() -> Any:
    """A new OpenCV 1D barcode detector (cheap to build; one per call keeps threads apart), or None."""
    barcode = getattr(cv2, "barcode", None)
    if barcode is None:
        return None
    return barcode.BarcodeDetector()


def zxing_sees_symbol(image: np.ndarray) -> bool | None:
    """True when zxing-cpp finds any symbol of any format, decoded or not; None when zxing-cpp is missing."""
    zx = _zxing()
    if zx is None:
        return None
    # No rotation halves the cost: matrix codes need none, and the OpenCV detector finds linear ones at any angle.
    found = zx.read_barcodes(
        image, binarizer=zx.Binarizer.GlobalHistogram, try_rotate=False, try_invert=True, return_errors=True
    )
    return bool(found)


def opencv_sees_barcode(image: np.ndarray) -> bool | None:
    """True when OpenCV's detector finds a 1D barcode-like region; None when this OpenCV lacks it."""
    detector = _linear_detector()
    if detector is None:
        return None
    try:
        _, corners = detector.detect(image)
    except cv2.error as exc:
        log.debug("OpenCV barcode detector failed: %s", exc)
        return None
    return corners is not None and len(corners) > 0


def may_hold_code(variants: VariantCache) -> bool:
    """False only when both locators looked and saw nothing code-like; True when unsure."""
    blurred = variants.get(BLUR_VARIANT)
    if blurred is None:
        return True
    zx = zxing_sees_symbol(blurred.image)
    if zx is not False:
        return True
    cv = opencv_sees_barcode(variants.gray)
    return cv is not False
