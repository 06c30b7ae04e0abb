"""Aisle vision: barcode/QR decoding, scanned-code intents, live scanning and shelf labels.

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
    "parse_intent": "vision.intents",
    "intent_for_symbol": "vision.intents",
    "IntentConfig": "vision.intents",
    "ProductLink": "vision.intents",
    "ProductCode": "vision.intents",
    "CartHandoff": "vision.intents",
    "StaffBadge": "vision.intents",
    "Unknown": "vision.intents",
    "product_link_url": "vision.intents",
    "cart_handoff_url": "vision.intents",
    "ScanSession": "vision.session",
    "Detection": "vision.session",
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
