"""The catalogue CSV files (stores.csv, products.csv, inventory.csv): their columns, rows and field rules.

The backend imports them, vision prints shelf labels from them, the demo data script writes them; each keeps its own
use of the rows, and the rules for reading them are here once.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from codes.ids import CURRENCY_RE, LOCALE_RE, store_id
from codes.measure import MeasureConfig, MeasureError

STORE_COLUMNS = ("id", "name", "currency", "locale")
PRODUCT_COLUMNS = ("sku", "gtins")
"""Required columns of products.csv, plus at least one ``name_<locale>`` column."""
INVENTORY_COLUMNS = ("store", "sku", "price")
NAME_PREFIX = "name_"
STORE_KINDS = ("store", "warehouse")
_PRICE_RE = re.compile(r"\d{1,8}(\.\d{1,4})?")


class CatalogCsvError(ValueError):
    """A catalogue file is missing, malformed or lacks a required column."""


class RowError(ValueError):
    """One row of a catalogue file is invalid; the message says why."""


@dataclass(frozen=True)
class StoreInfo:
    """A store or warehouse of the chain: a row of stores.csv."""

    id: str
    name: str
    kind: str
    currency: str
    locale: str
    locales: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    variable_measure: str = ""  # codes.measure.MeasureConfig text, e.g. "se"; empty: no weighed-item codes

    @property
    def language(self) -> str:
        """Primary language code, e.g. 'sv' for locale sv_SE."""
        return self.locale.replace("-", "_").split("_")[0].lower() or "en"


def is_products_header(columns: set[str]) -> bool:
    """True for the header of products.csv (the required columns and a name in some language)."""
    return set(PRODUCT_COLUMNS) <= columns and any(c.startswith(NAME_PREFIX) for c in columns)


def read_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, stripped row) of a UTF-8 CSV file; CatalogCsvError when it is missing or lacks a column."""
    if not path.is_file():
        raise CatalogCsvError(f"file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogCsvError(f"{path.name}: missing column(s) {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def names(row: dict[str, str]) -> dict[str, str]:
    """Product names by language from the ``name_<locale>`` columns (empty ones left out)."""
    return {k[len(NAME_PREFIX):]: v for k, v in row.items() if k.startswith(NAME_PREFIX) and v}


def gtin_texts(row: dict[str, str]) -> list[str]:
    """The GTINs of a products row as written (``|``-separated, spaces ignored), not yet checked."""
    return [g for g in row["gtins"].replace(" ", "").split("|") if g]


def price(text: str) -> Decimal:
    """A price column: a plain decimal like 16.90; raises RowError."""
    if not _PRICE_RE.fullmatch(text):
        raise RowError(f"price {text[:30]!r} is not a decimal like 16.90")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise RowError(f"price {text[:30]!r} is not a number") from None


def store_info(row: dict[str, str]) -> StoreInfo:
    """A stores.csv row checked field by field; raises RowError or InvalidIdentifier."""
    currency = row["currency"].upper()
    if not CURRENCY_RE.fullmatch(currency):
        raise RowError(f"currency {row['currency']!r} is not an ISO 4217 code")
    if not LOCALE_RE.fullmatch(row["locale"]):
        raise RowError(f"locale {row['locale']!r} is not like sv_SE")
    kind = row.get("kind") or "store"
    if kind not in STORE_KINDS:
        raise RowError(f"kind must be store or warehouse, not {kind!r}")
    checked_id = store_id(row["id"])
    if not row.get("name"):
        raise RowError("name is empty")
    return StoreInfo(checked_id, row["name"], kind, currency, row["locale"],
                     tuple((row.get("locales") or "en").split()), _float(row, "lat"), _float(row, "lon"),
                     row.get("address", ""), _measure(row.get("variable_measure", "")))


def _measure(text: str) -> str:
    """The optional ``variable_measure`` column in its one spelling; raises RowError with the reason."""
    try:
        return MeasureConfig.from_text(text).to_text()
    except MeasureError as exc:
        raise RowError(f"variable_measure: {exc}") from None


def _float(row: dict[str, str], column: str) -> float | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise RowError(f"{column} {text!r} is not a number") from None
