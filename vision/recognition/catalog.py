"""Which catalogue product (SKU) each dataset class is: the `vision_label` column of the products CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import assets
from codes.catalog_csv import CatalogCsvError, read_rows
from vision.recognition.errors import CatalogError

DEMO_CATALOG = assets.path("demo", "products.csv")


@dataclass(frozen=True)
class CatalogProduct:
    """A product that the camera can recognise."""

    sku: str
    vision_label: str
    name: str


def read_vision_products(path: Path = DEMO_CATALOG) -> dict[str, CatalogProduct]:
    """vision_label -> product for every row that has a vision_label; raises CatalogError on duplicates."""
    out: dict[str, CatalogProduct] = {}
    try:
        for _, row in read_rows(path, ("sku", "vision_label")):
            label = row["vision_label"]
            if not label:
                continue
            if label in out:
                raise CatalogError(f"{path}: vision_label {label!r} appears twice")
            out[label] = CatalogProduct(row["sku"], label, row.get("name_en", ""))
    except CatalogCsvError as exc:
        raise CatalogError(f"catalogue {exc}") from exc
    return out
