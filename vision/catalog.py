"""Reading the project's products, inventory and stores CSV files (only what labels need)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from codes import catalog_csv
from codes.catalog_csv import CatalogCsvError, RowError, StoreInfo, read_rows
from codes.gtin import is_valid_gtin
from codes.ids import InvalidIdentifier

log = logging.getLogger(__name__)

# Labels need a unit and an English name besides what the backend requires.
PRODUCT_COLUMNS = (*catalog_csv.PRODUCT_COLUMNS, "unit", "name_en")


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
class ShelfEntry:
    """A row of inventory.csv for one store: price (None when not sold there) and shelf place."""

    store: str
    sku: str
    price: Decimal | None
    shelf_location: str


def read_products(path: Path) -> list[Product]:
    """Products in file order; rows with invalid GTINs keep the valid ones and log the rest."""
    products = []
    for line, row in read_rows(path, PRODUCT_COLUMNS):
        if not row["sku"]:
            raise CatalogCsvError(f"{path.name}:{line}: empty sku")
        gtins = []
        for g in catalog_csv.gtin_texts(row):
            if is_valid_gtin(g):
                gtins.append(g)
            else:
                log.warning("%s:%d: ignoring invalid GTIN %r", path.name, line, g)
        names = catalog_csv.names(row)
        products.append(
            Product(row["sku"], tuple(gtins), row.get("brand", ""), row.get("category", ""), row["unit"], names)
        )
    return products


def read_stores(path: Path) -> dict[str, StoreInfo]:
    """Stores by id."""
    stores = {}
    for line, row in read_rows(path, catalog_csv.STORE_COLUMNS):
        try:
            info = catalog_csv.store_info(row)
        except (RowError, InvalidIdentifier) as exc:
            raise CatalogCsvError(f"{path.name}:{line}: {exc}") from exc
        stores[info.id] = info
    return stores


def read_inventory(path: Path, store: str) -> dict[str, ShelfEntry]:
    """Inventory rows of one store by SKU; an empty price means the store does not sell it."""
    entries = {}
    for line, row in read_rows(path, catalog_csv.INVENTORY_COLUMNS):
        if row["store"] != store:
            continue
        price: Decimal | None = None
        if row["price"]:
            try:
                price = catalog_csv.price(row["price"])
            except RowError as exc:
                raise CatalogCsvError(f"{path.name}:{line}: bad price {row['price']!r}") from exc
        entries[row["sku"]] = ShelfEntry(store, row["sku"], price, row.get("shelf_location", ""))
    return entries
