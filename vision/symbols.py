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

    @property
    def is_retail(self) -> bool:
        """True for the EAN/UPC family, whose only protection is one check digit."""
        return self in RETAIL_FORMATS


RETAIL_FORMATS = frozenset({Format.EAN_13, Format.EAN_8, Format.UPC_A, Format.UPC_E})
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
        """Identity for de-duplication: the GTIN-14 for products, else format and text."""
        return f"gtin:{self.gtin}" if self.gtin else f"{self.format.value}:{self.text}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "format": self.format.value,
            "text": self.text,
            "gtin": self.gtin,
            "polygon": [list(p) for p in self.polygon],
            "backend": self.backend,
            "variant": self.variant,
        }
