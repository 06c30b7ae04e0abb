"""Aisle vision: barcode/QR decoding, symbol intents (grammar in ``codes``), live scanning and shelf labels.

Names are imported lazily so that `import vision.wedge` (used by the UI) does not load OpenCV.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "decode": "vision.decode",
    "Decoder": "vision.decode",
    "DecodeOptions": "vision.decode",
    "Symbol": "vision.symbols",
    "Format": "vision.symbols",
    "NoBackendError": "vision.decoders",
    "intent_for_symbol": "vision.intents",
    "Scanner": "vision.scanner",
    "Detection": "vision.scanner",
    "KeyboardWedge": "vision.wedge",
    "ImageFolderSource": "vision.sources",
    "OpenCVCapture": "vision.sources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vision' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
