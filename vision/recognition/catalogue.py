"""Which catalogue product (SKU) each dataset class is: the `vision_label` column of the products CSV."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vision.recognition.errors import CatalogueError

DEMO_CATALOGUE = Path(__file__).resolve().parents[2] / "assets" / "demo" / "products.csv"


@dataclass(frozen=True)
class CatalogueProduct:
    """A product that the camera can recognise."""

    sku: str
    vision_label: str
    name: str


def read_vision_products(path: Path = DEMO_CATALOGUE) -> dict[str, CatalogueProduct]:
    """vision_label -> product for every row that has a vision_label; raises CatalogueError on duplicates."""
    if not path.is_file():
        raise CatalogueError(f"catalogue not found: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"sku", "vision_label"} <= set(reader.fieldnames):
            raise CatalogueError(f"{path}: needs 'sku' and 'vision_label' columns")
        out: dict[str, CatalogueProduct] = {}
        for row in reader:
            label = (row.get("vision_label") or "").strip()
            if not label:
                continue
            if label in out:
                raise CatalogueError(f"{path}: vision_label {label!r} appears twice")
            out[label] = CatalogueProduct(row["sku"].strip(), label, (row.get("name_en") or "").strip())
    return out
