"""Printable A4 sheets of shelf labels: name, price, unit price and the product-link QR code."""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import numpy as np
import segno
from babel.numbers import format_currency, format_decimal
from PIL import Image, ImageDraw, ImageFont

from codes.catalog_csv import StoreInfo
from codes.qr import DEFAULT_BASE_URL, product_link_url
from vision.catalog import Product, ShelfEntry, read_inventory, read_products, read_stores

log = logging.getLogger(__name__)

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
QR_QUIET_MODULES = 4

WORDS: dict[str, dict[str, str]] = {
    "en": {"unit_price": "Unit price", "pcs": "pcs", "piece": "pc", "page": "page"},
    "sv": {"unit_price": "Jämförpris", "pcs": "st", "piece": "st", "page": "sida"},
    "da": {"unit_price": "Enhedspris", "pcs": "stk.", "piece": "stk.", "page": "side"},
}
_QTY_RE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(g|kg|ml|cl|dl|l|pcs|pc|st)", re.IGNORECASE)
_TO_BASE = {"g": ("kg", Decimal("0.001")), "kg": ("kg", Decimal(1)), "ml": ("l", Decimal("0.001")),
            "cl": ("l", Decimal("0.01")), "dl": ("l", Decimal("0.1")), "l": ("l", Decimal(1)),
            "pcs": ("piece", Decimal(1)), "pc": ("piece", Decimal(1)), "st": ("piece", Decimal(1))}


class LabelError(ValueError):
    """Labels cannot be made from the given files or options."""


@dataclass(frozen=True, slots=True)
class SheetLayout:
    """Page and grid geometry in millimetres; labels fill the page inside the margins."""

    page_mm: tuple[float, float] = (210.0, 297.0)
    columns: int = 2
    rows: int = 6
    margin_mm: float = 8.0
    dpi: int = 300

    def px(self, mm: float) -> int:
        """Millimetres to pixels at the layout's resolution."""
        return round(mm * self.dpi / 25.4)

    @property
    def per_page(self) -> int:
        """Labels on one sheet."""
        return self.columns * self.rows


@dataclass(frozen=True, slots=True)
class Label:
    """Everything printed on one label, already formatted for the store's locale."""

    sku: str
    name: str
    brand: str
    quantity: str
    price: str
    price_suffix: str
    unit_price: str
    shelf_location: str
    gtin: str
    url: str


@dataclass(slots=True)
class LabelReport:
    """What make_labels produced."""

    files: list[Path] = field(default_factory=list)
    labels: int = 0
    pages: int = 0
    skipped: list[str] = field(default_factory=list)


def _words(lang: str) -> dict[str, str]:
    return WORDS.get(lang, WORDS["en"])


def build_label(product: Product, entry: ShelfEntry, store: StoreInfo, lang: str, base_url: str) -> Label:
    """Format one product's label text for a store (prices in its currency and locale)."""
    if entry.price is None:
        raise LabelError(f"{product.sku} has no price in {store.id}")
    price = entry.price
    words = _words(lang)
    loc = store.locale

    def money(amount: Decimal) -> str:
        return format_currency(amount, store.currency, locale=loc)

    unit = product.unit.strip()
    quantity, suffix, unit_price = "", "", ""
    m = _QTY_RE.fullmatch(unit)
    if unit.lower() == "kg":
        suffix = "/kg"
    elif m:
        amount = Decimal(m.group(1).replace(",", "."))
        symbol = m.group(2).lower()
        base, factor = _TO_BASE[symbol]
        shown = words["pcs"] if base == "piece" else symbol
        quantity = f"{format_decimal(amount, locale=loc)} {shown}"
        base_qty = amount * factor
        # The unit price (EU price indication rules) is only worth printing when it differs from the price.
        if base_qty > 0 and base_qty != 1:
            per = words["piece"] if base == "piece" else base
            each = (price / base_qty).quantize(Decimal("0.01"))
            unit_price = f"{words['unit_price']} {money(each)}/{per}"
    elif unit.lower() in ("each", "unit", "st", "pc", ""):
        suffix = f"/{words['piece']}"
    else:
        quantity = unit
    return Label(
        sku=product.sku,
        name=product.name(lang),
        brand=product.brand,
        quantity=quantity,
        price=money(price),
        price_suffix=suffix,
        unit_price=unit_price,
        shelf_location=entry.shelf_location,
        gtin=product.gtins[0] if product.gtins else "",
        url=product_link_url(store.id, product.sku, base=base_url),
    )


@lru_cache(maxsize=64)
def _font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    path = FONT_BOLD if bold else FONT_REGULAR
    try:
        return ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise LabelError(f"font not found: {path} (install fonts-dejavu-core)") from exc


def qr_image(url: str, module_px: int) -> Image.Image:
    """Black-on-white QR code (error level M or better) with the standard 4-module quiet zone."""
    qr = segno.make(url, error="m", micro=False)
    modules = np.array([list(row) for row in qr.matrix], dtype=bool)
    modules = np.pad(modules, QR_QUIET_MODULES, constant_values=False)
    pixels = np.where(modules, 0, 255).astype(np.uint8)
    pixels = np.kron(pixels, np.ones((module_px, module_px), dtype=np.uint8))
    return Image.fromarray(pixels, mode="L")


def _qr_modules(url: str) -> int:
    return segno.make(url, error="m", micro=False).symbol_size(border=QR_QUIET_MODULES)[0]


def _fit_lines(draw: ImageDraw.ImageDraw, text: str, bold: bool, width: int, sizes: Sequence[int],
               max_lines: int) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """Largest font size at which text wraps into max_lines of width; ellipsis as a last resort."""
    for size in sizes:
        font = _font(bold, size)
        lines = _wrap(draw, text, font, width)
        if len(lines) <= max_lines:
            return font, lines
    font = _font(bold, sizes[-1])
    lines = _wrap(draw, text, font, width)[:max_lines]
    while lines and draw.textlength(lines[-1] + "…", font=font) > width:
        lines[-1] = lines[-1][:-1].rstrip()
    lines[-1] = lines[-1] + "…"
    return font, lines


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines or [""]


def _shrink_to(
    draw: ImageDraw.ImageDraw, text: str, bold: bool, width: int, size: int, floor: int
) -> ImageFont.FreeTypeFont:
    font = _font(bold, size)
    while size > floor and draw.textlength(text, font=font) > width:
        size -= 2
        font = _font(bold, size)
    return font


def _is_rtl(text: str) -> bool:
    """True when the first strongly directional character is right-to-left."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def _cut_guide(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], dash: int) -> None:
    """Dashed outline: visible for cutting, light enough to ignore, and still black-and-white."""
    x0, y0, x1, y1 = box
    for x in range(x0, x1, 2 * dash):
        draw.line([(x, y0), (min(x + dash, x1), y0)], fill=0, width=2)
        draw.line([(x, y1), (min(x + dash, x1), y1)], fill=0, width=2)
    for y in range(y0, y1, 2 * dash):
        draw.line([(x0, y), (x0, min(y + dash, y1))], fill=0, width=2)
        draw.line([(x1, y), (x1, min(y + dash, y1))], fill=0, width=2)


def draw_label(page: Image.Image, label: Label, box: tuple[int, int, int, int], layout: SheetLayout) -> None:
    """Render one label into the given pixel box of a page."""
    x0, y0, x1, y1 = box
    draw = ImageDraw.Draw(page)
    pad = layout.px(3.5)
    height = y1 - y0
    # QR on the right, as big as the label allows; its white quiet zone may overlap the padding
    # but nothing is drawn inside it, so phones lock on quickly.
    tiny = _font(False, layout.px(1.9))
    caption_h = layout.px(3.0)
    modules = _qr_modules(label.url)
    module_px = max(3, (height - caption_h - layout.px(1.0)) // modules)
    qr = qr_image(label.url, module_px)
    quiet = QR_QUIET_MODULES * module_px
    qx = x1 - qr.width - max(0, pad - quiet)
    qy = y0 + max(0, pad - quiet)
    page.paste(qr, (qx, qy))
    host = label.url.split("/")[2]
    tw = draw.textlength(host, font=tiny)
    draw.text((qx + (qr.width - tw) / 2, qy + qr.height - quiet // 2), host, fill=90, font=tiny)
    _cut_guide(draw, box, layout.px(1.5))

    left, right = x0 + pad, qx + module_px  # keep 3 of the 4 quiet-zone modules clear
    width = right - left
    y = y0 + pad
    pt = layout.px
    name_font, lines = _fit_lines(draw, label.name, True, width, [pt(4.4), pt(4.0), pt(3.6), pt(3.2)], 2)
    for line in lines:
        # Right-to-left names (Arabic, Persian) start at the right edge of the text column.
        x = right - draw.textlength(line, font=name_font) if _is_rtl(line) else left
        draw.text((x, y), line, fill=0, font=name_font)
        y += round(name_font.size * 1.18)
    detail = " · ".join(p for p in (label.brand, label.quantity) if p)
    if detail:
        font = _shrink_to(draw, detail, False, width, pt(2.8), pt(2.0))
        draw.text((left, y + pt(0.4)), detail, fill=70, font=font)

    # Price block anchored to the bottom so labels in a row line up.
    small = _font(False, pt(2.1))
    footer = "  ".join(p for p in (label.sku, label.shelf_location, label.gtin) if p)
    footer_y = y1 - pad - small.size
    draw.text((left, footer_y), footer, fill=110, font=_shrink_to(draw, footer, False, width, pt(2.1), pt(1.6)))
    base_y = footer_y - pt(1.2)
    if label.unit_price:
        font = _shrink_to(draw, label.unit_price, False, width, pt(2.6), pt(1.9))
        base_y -= font.size
        draw.text((left, base_y), label.unit_price, fill=40, font=font)
        base_y -= pt(0.8)
    suffix_font = _font(True, pt(4.0))
    suffix_w = draw.textlength(label.price_suffix, font=suffix_font) if label.price_suffix else 0
    price_font = _shrink_to(draw, label.price, True, int(width - suffix_w), pt(11.0), pt(6.0))
    top = base_y - price_font.getbbox(label.price)[3]
    draw.text((left, top), label.price, fill=0, font=price_font)
    if label.price_suffix:
        price_w = draw.textlength(label.price, font=price_font)
        suffix_top = base_y - suffix_font.getbbox(label.price_suffix)[3]
        draw.text((left + price_w + pt(0.8), suffix_top), label.price_suffix, fill=0, font=suffix_font)


def render_sheets(labels: Sequence[Label], layout: SheetLayout = SheetLayout(), title: str = "") -> list[Image.Image]:
    """One grayscale page image per `layout.per_page` labels."""
    page_w, page_h = layout.px(layout.page_mm[0]), layout.px(layout.page_mm[1])
    margin = layout.px(layout.margin_mm)
    cell_w = (page_w - 2 * margin) // layout.columns
    cell_h = (page_h - 2 * margin) // layout.rows
    pages = []
    total = max(1, math.ceil(len(labels) / layout.per_page))
    for p in range(total):
        page = Image.new("L", (page_w, page_h), 255)
        chunk = labels[p * layout.per_page : (p + 1) * layout.per_page]
        for i, label in enumerate(chunk):
            r, c = divmod(i, layout.columns)
            x, y = margin + c * cell_w, margin + r * cell_h
            draw_label(page, label, (x, y, x + cell_w, y + cell_h), layout)
        if title:
            font = _font(False, layout.px(2.2))
            text = f"{title} · {p + 1}/{total}"
            ImageDraw.Draw(page).text((margin, page_h - margin + layout.px(2.0)), text, fill=140, font=font)
        pages.append(page)
    return pages


def _bilevel(page: Image.Image) -> Image.Image:
    return page.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)


def write_pages(pages: Sequence[Image.Image], out: Path, dpi: int) -> list[Path]:
    """A multipage PDF, or PNG files (NAME.png, or NAME-1.png, NAME-2.png... for several pages)."""
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".pdf":
        # Bilevel pages compress losslessly with CCITT G4 (~40 kB per page instead of ~1 MB JPEG)
        # and print exactly as a laser or thermal printer would render them anyway.
        bilevel = [_bilevel(p) for p in pages]
        bilevel[0].save(out, "PDF", save_all=True, append_images=bilevel[1:], resolution=float(dpi))
        return [out]
    if suffix == ".png":
        if len(pages) == 1:
            pages[0].save(out, "PNG", dpi=(dpi, dpi), optimize=True)
            return [out]
        files = []
        for i, page in enumerate(pages, 1):
            path = out.with_name(f"{out.stem}-{i}{out.suffix}")
            page.save(path, "PNG", dpi=(dpi, dpi), optimize=True)
            files.append(path)
        return files
    raise LabelError(f"output must end in .pdf or .png, not {out.name!r}")


def make_labels(
    catalog: Path,
    store_id: str,
    out: Path,
    *,
    inventory: Path | None = None,
    stores: Path | None = None,
    base_url: str = DEFAULT_BASE_URL,
    lang: str | None = None,
    skus: Sequence[str] | None = None,
    layout: SheetLayout = SheetLayout(),
) -> LabelReport:
    """Read the CSV files and write label sheets for every priced product of one store."""
    if out.suffix.lower() not in (".pdf", ".png"):
        raise LabelError(f"output must end in .pdf or .png, not {out.name!r}")
    inventory = inventory or catalog.with_name("inventory.csv")
    stores = stores or catalog.with_name("stores.csv")
    known = read_stores(stores)
    if store_id not in known:
        raise LabelError(f"unknown store {store_id!r} (known: {', '.join(sorted(known)) or 'none'})")
    store = known[store_id]
    language = lang or store.language
    entries = read_inventory(inventory, store_id)
    wanted = {s.upper() for s in skus} if skus else None
    report = LabelReport()
    labels = []
    for product in read_products(catalog):
        if wanted is not None and product.sku.upper() not in wanted:
            continue
        entry = entries.get(product.sku)
        if entry is None or entry.price is None:
            report.skipped.append(product.sku)
            continue
        labels.append(build_label(product, entry, store, language, base_url))
    if wanted is not None:
        missing = wanted - {label.sku.upper() for label in labels} - {s.upper() for s in report.skipped}
        if missing:
            log.warning("SKUs not in %s: %s", catalog.name, ", ".join(sorted(missing)))
    if not labels:
        raise LabelError(f"no priced products for store {store_id!r} in {inventory.name}")
    if report.skipped:
        log.info("%d products have no price in %s and get no label", len(report.skipped), store_id)
    pages = render_sheets(labels, layout, title=store.name)
    report.files = write_pages(pages, out, layout.dpi)
    report.labels, report.pages = len(labels), len(pages)
    return report
