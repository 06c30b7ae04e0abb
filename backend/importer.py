"""CSV import: Aisle's own stores, catalogue and inventory files, and Shopify product exports."""

from __future__ import annotations

import csv
import io
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from backend import catalog, stock
from backend.db import Database
from codes import catalog_csv, ids
from codes.catalog_csv import RowError
from mqtt.payloads import utcnow

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_FIELD_CHARS = 10_000
PROGRESS_FROM_ROWS = 2_000


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, unknown format)."""


@dataclass
class ImportReport:
    """What an import did, row by row."""

    path: str
    format: str
    rows: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        return (f"{self.path}: {self.format}, {self.rows} rows, {self.changed} changed, {self.unchanged} unchanged,"
                f" {len(self.errors)} rejected")


FORMATS: dict[str, set[str]] = {
    "aisle-stores": set(catalog_csv.STORE_COLUMNS),
    "aisle-inventory": set(catalog_csv.INVENTORY_COLUMNS),
    "aisle-catalog": set(catalog_csv.PRODUCT_COLUMNS),
    "shopify": {"Handle", "Variant SKU", "Variant Price"},
}


def detect_format(header: list[str]) -> str:
    """Name the file format from its header row."""
    columns = set(header)
    for name, required in FORMATS.items():
        if required <= columns:
            if name == "aisle-catalog" and not catalog_csv.is_products_header(columns):
                continue
            return name
    raise ImportFileError(f"unknown CSV format; header was {header[:12]}")


def import_file(db: Database, path: str | Path, *, target_store: str | None = None, locale: str = "en",
                progress: bool = True) -> ImportReport:
    """Import one CSV file; good rows are applied, bad rows reported with their line number."""
    path = Path(path)
    text = _read_text(path)
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFileError(f"{path} is empty") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: header is not valid CSV: {exc}") from None
    fmt = detect_format(header)
    report = ImportReport(str(path), fmt)
    apply = _row_handler(db, fmt, target_store, locale)
    total = text.count("\n")
    now = utcnow()
    try:
        _apply_rows(db, reader, header, report, apply, total, path, progress, now)
    except sqlite3.OperationalError as exc:
        if "full" in str(exc):
            raise ImportFileError(f"the disk holding the database is full: nothing from {path} was imported") from None
        raise
    return report


def _apply_rows(db: Database, reader: Iterator[list[str]], header: list[str], report: ImportReport,
                apply: RowHandler, total: int, path: Path, progress: bool, now: datetime) -> None:
    with db.transaction():
        bar = tqdm(total=total, unit="row", desc=path.name, disable=not progress or total < PROGRESS_FROM_ROWS)
        for line, row in _rows(reader, header, report):
            bar.update(1)
            report.rows += 1
            db.conn.execute("SAVEPOINT row")
            try:
                changed = apply(row, now)
            except (RowError, ids.InvalidIdentifier, catalog.DuplicateGtin, stock.StockError,
                    sqlite3.IntegrityError) as exc:
                db.conn.execute("ROLLBACK TO row")
                db.conn.execute("RELEASE row")
                report.errors.append((line, str(exc)))
                continue
            # Any other error (disk full) ends the whole import: the enclosing transaction rolls it all back.
            db.conn.execute("RELEASE row")
            if changed:
                report.changed += 1
            else:
                report.unchanged += 1
        bar.close()


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImportFileError(f"{path} is {size} bytes; the limit is {MAX_FILE_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 (byte {exc.start}); save it as UTF-8 CSV") from None


def _rows(reader: Iterator[list[str]], header: list[str], report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line += 1
            report.rows += 1
            report.errors.append((line, f"not valid CSV: {exc}"))
            continue
        line += 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            report.rows += 1
            report.errors.append((line, f"{len(values)} fields, header has {len(header)}"))
            continue
        yield line, {h: v.strip() for h, v in zip(header, values, strict=True)}


RowHandler = Callable[[dict[str, str], datetime], bool]


def _row_handler(db: Database, fmt: str, target_store: str | None, locale: str) -> RowHandler:
    if fmt == "aisle-stores":
        return lambda row, now: _store_row(db, row)
    if fmt == "aisle-catalog":
        return lambda row, now: catalog.upsert_product(db, _catalog_record(row), now)
    if fmt == "aisle-inventory":
        return lambda row, now: _inventory_row(db, row, now)
    return _shopify_handler(db, target_store, locale)


def _store_row(db: Database, row: dict[str, str]) -> bool:
    info = catalog_csv.store_info(row)
    before = [s for s in catalog.stores(db) if s.id == info.id]
    catalog.upsert_store(db, info)
    return not before or before[0] != info


def _catalog_record(row: dict[str, str]) -> catalog.ProductRecord:
    names = catalog_csv.names(row)
    if not names:
        raise RowError("product has no name")
    for locale_name in names:
        if not ids.LOCALE_RE.fullmatch(locale_name):
            raise RowError(f"column name_{locale_name}: not a locale")
    gtins = tuple(dict.fromkeys(ids.gtin14(g) for g in catalog_csv.gtin_texts(row)))
    return catalog.ProductRecord(
        sku=ids.sku(row["sku"]), names=names, gtins=gtins, brand=row.get("brand", ""),
        category=row.get("category", ""), unit=row.get("unit") or "each", image=row.get("image", ""),
        vision_label=row.get("vision_label", ""),
    )


def _inventory_row(db: Database, row: dict[str, str], now: datetime) -> bool:
    store_id = ids.store_id(row["store"])
    sku = ids.sku(row["sku"])
    info = catalog.get_store(db, store_id) if _store_exists(db, store_id) else None
    if info is None:
        raise RowError(f"unknown store {store_id}; import stores first")
    if db.conn.execute("SELECT 1 FROM products WHERE sku = ?", [sku]).fetchone() is None:
        raise RowError(f"unknown product {sku}; import the catalogue first")
    changed = False
    if row["price"]:
        changed |= catalog.set_store_product(db, store_id, sku, catalog_csv.price(row["price"]),
                                             row.get("shelf_location"), _int(row, "reorder_threshold"), now)
    elif info.kind == "store":
        raise RowError("a store needs a price")
    for location in stock.LOCATIONS:
        quantity = _int(row, location)
        if quantity is not None:
            changed |= stock.set_quantity(db, store_id, sku, location, quantity, "import", now)
    return changed


def _store_exists(db: Database, store_id: str) -> bool:
    return db.conn.execute("SELECT 1 FROM stores WHERE id = ?", [store_id]).fetchone() is not None


def _shopify_handler(db: Database, target_store: str | None, locale: str) -> RowHandler:
    titles: dict[str, str] = {}
    if target_store is None:
        shops = [s.id for s in catalog.stores(db) if s.kind == "store"]
        if len(shops) != 1:
            raise ImportFileError("a Shopify export carries prices and stock of one store: pass --store ID")
        target_store = shops[0]
    elif not _store_exists(db, target_store):
        raise ImportFileError(f"unknown store {target_store!r}")
    store_id = target_store

    def handle(row: dict[str, str], now: datetime) -> bool:
        handle_name = row["Handle"]
        if row.get("Title"):
            titles[handle_name] = row["Title"]
        title = titles.get(handle_name)
        if not title:
            raise RowError(f"variant of {handle_name!r} comes before a row with its Title")
        options = [row.get(f"Option{i} Value", "") for i in (1, 2, 3)]
        options = [o for o in options if o and o != "Default Title"]
        name = f"{title} ({', '.join(options)})" if options else title
        raw_sku = row["Variant SKU"]
        if not raw_sku:
            raise RowError("no Variant SKU")
        sku = ids.sku(re.sub(r"\s+", "-", raw_sku.upper()))
        barcode = row.get("Variant Barcode", "").lstrip("'")
        record = catalog.ProductRecord(
            sku=sku, names={locale: name[:200]}, gtins=(ids.gtin14(barcode),) if barcode else (),
            brand=row.get("Vendor", ""), category=row.get("Type") or row.get("Product Category", ""),
            image=row.get("Variant Image") or row.get("Image Src", ""),
        )
        changed = catalog.upsert_product(db, record, now)
        changed |= catalog.set_store_product(db, store_id, sku, catalog_csv.price(row["Variant Price"]),
                                             None, None, now)
        quantity = _int(row, "Variant Inventory Qty")
        if quantity is not None:
            changed |= stock.set_quantity(db, store_id, sku, "shelf", max(quantity, 0), "import", now)
        elif not _stock_exists(db, store_id, sku):
            stock.set_quantity(db, store_id, sku, "shelf", 0, "import", now)
        return changed

    return handle


def _stock_exists(db: Database, store_id: str, sku: str) -> bool:
    return db.conn.execute("SELECT 1 FROM stock_state WHERE store = ? AND sku = ?",
                              [store_id, sku]).fetchone() is not None


def _int(row: dict[str, str], column: str) -> int | None:
    text = row.get(column, "")
    if text == "":
        return None
    if not re.fullmatch(r"-?\d{1,9}", text):
        raise RowError(f"{column} {text[:30]!r} is not a whole number")
    value = int(text)
    if value < 0 and column != "Variant Inventory Qty":
        raise RowError(f"{column} must not be negative")
    return value
