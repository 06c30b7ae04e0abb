"""Reading the project's products, inventory and stores CSV files (only what labels need)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from vision.gtin import is_valid_gtin

log = logging.getLogger(__name__)

PRODUCT_COLUMNS = ("sku", "gtins", "unit", "name_en")
INVENTORY_COLUMNS = ("store", "sku", "price")
STORE_COLUMNS = ("id", "name", "currency", "locale")


class CatalogError(ValueError):
    """A catalog file is missing, malformed or lacks a required column."""


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog row; `names` maps language code (en, sv, ...) to display name."""

    sku: str
    gtins: tuple[str, ...]
    brand: str
    category: str
    unit: str
    names: Mapping[str, str] = field(default_factory=dict)

    def name(self, lang: str) -> str:
        """Name in lang, falling back to English, then to the SKU."""
        return self.names.get(lang) or self.names.get("en") or self.sku


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """A row of stores.csv."""

    id: str
    name: str
    kind: str
    currency: str
    locale: str
    locales: tuple[str, ...] = ()

    @property
    def language(self) -> str:
        """Primary language code, e.g. 'sv' for locale sv_SE."""
        return self.locale.replace("-", "_").split("_")[0].lower() or "en"


@dataclass(frozen=True, slots=True)
class ShelfEntry:
    """A row of inventory.csv for one store: price (None when not sold there) and shelf place."""

    store: str
    sku: str
    price: Decimal | None
    shelf_location: str


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise CatalogError(f"file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError(f"{path.name}: missing column(s) {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def read_products(path: Path) -> list[Product]:
    """Products in file order; rows with invalid GTINs keep the valid ones and log the rest."""
    products = []
    for line, row in _rows(path, PRODUCT_COLUMNS):
        if not row["sku"]:
            raise CatalogError(f"{path.name}:{line}: empty sku")
        gtins = []
        for g in filter(None, row["gtins"].split("|")):
            if is_valid_gtin(g):
                gtins.append(g)
            else:
                log.warning("%s:%d: ignoring invalid GTIN %r", path.name, line, g)
        names = {k[5:]: v for k, v in row.items() if k.startswith("name_") and v}
        products.append(
            Product(row["sku"], tuple(gtins), row.get("brand", ""), row.get("category", ""), row["unit"], names)
        )
    return products


def read_stores(path: Path) -> dict[str, StoreInfo]:
    """Stores by id."""
    stores = {}
    for _, row in _rows(path, STORE_COLUMNS):
        stores[row["id"]] = StoreInfo(
            row["id"],
            row["name"],
            row.get("kind", "store"),
            row["currency"],
            row["locale"],
            tuple(row.get("locales", "").split()),
        )
    return stores


def read_inventory(path: Path, store: str) -> dict[str, ShelfEntry]:
    """Inventory rows of one store by SKU; an empty price means the store does not sell it."""
    entries = {}
    for line, row in _rows(path, INVENTORY_COLUMNS):
        if row["store"] != store:
            continue
        price: Decimal | None = None
        if row["price"]:
            try:
                price = Decimal(row["price"])
            except InvalidOperation as exc:
                raise CatalogError(f"{path.name}:{line}: bad price {row['price']!r}") from exc
            if not price.is_finite() or price < 0:
                raise CatalogError(f"{path.name}:{line}: bad price {row['price']!r}")
        entries[row["sku"]] = ShelfEntry(store, row["sku"], price, row.get("shelf_location", ""))
    return entries
