"""What a decoder returns: barcode formats and decoded symbols."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Point = tuple[int, int]


class Format(StrEnum):
    """Barcode symbologies the scanner understands."""

    QR_CODE = "QR_CODE"
    EAN_13 = "EAN_13"
    EAN_8 = "EAN_8"
    UPC_A = "UPC_A"
    UPC_E = "UPC_E"
    CODE_128 = "CODE_128"
    DATA_MATRIX = "DATA_MATRIX"
    DATABAR = "DATABAR"  # omnidirectional, stacked and stacked omnidirectional
    DATABAR_EXPANDED = "DATABAR_EXPANDED"  # and expanded stacked
    DATABAR_LIMITED = "DATABAR_LIMITED"
    ITF = "ITF"  # Interleaved 2 of 5, ITF-14 included

    @property
    def is_retail(self) -> bool:
        """True for the EAN/UPC family, whose only protection is one check digit."""
        return self in RETAIL_FORMATS

    @property
    def is_weak(self) -> bool:
        """True when one read is not trusted: EAN/UPC, and ITF (no check digit, prone to short reads)."""
        return self in WEAK_FORMATS


RETAIL_FORMATS = frozenset({Format.EAN_13, Format.EAN_8, Format.UPC_A, Format.UPC_E})
WEAK_FORMATS = RETAIL_FORMATS | {Format.ITF}
ALL_FORMATS = frozenset(Format)


@dataclass(frozen=True, slots=True)
class Symbol:
    """One validated barcode found in an image."""

    format: Format
    text: str
    gtin: str | None
    polygon: tuple[Point, ...]
    backend: str
    variant: str = "original"
    gs1: bool = False  # the text is a GS1 element string (GS-separated), see codes.gs1.parse_element_string

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """Axis-aligned bounding box (x, y, width, height) of the polygon."""
        if not self.polygon:
            return (0, 0, 0, 0)
        xs = [p[0] for p in self.polygon]
        ys = [p[1] for p in self.polygon]
        return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))

    @property
    def key(self) -> str:
        """Identity for de-duplication: the GTIN-14 for products, else format and text.

        A GS1 string with more than its (01) keys by text: two packs of one product weighing differently,
        or from two batches, are two scans.
        """
        if self.gtin and not (self.gs1 and len(self.text.lstrip("\x1d")) > 16):
            return f"gtin:{self.gtin}"
        return f"{self.format.value}:{self.text}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "format": self.format.value,
            "text": self.text,
            "gtin": self.gtin,
            "polygon": [list(p) for p in self.polygon],
            "backend": self.backend,
            "variant": self.variant,
            "gs1": self.gs1,
        }
