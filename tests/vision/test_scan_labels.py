"""Shelf labels: formatting, PDF/PNG sheets, and QR codes that decode back to the product links."""

from __future__ import annotations

import io
import struct
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PdfParser

from codes.catalog_csv import CatalogCsvError, StoreInfo
from codes.scanned import ProductLink, parse_intent
from vision.catalog import Product, ShelfEntry, read_products
from vision.decode import decode
from vision.labels import LabelError, SheetLayout, build_label, make_labels

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo"

PRODUCTS = """sku,gtins,brand,category,vision_label,unit,image,name_en,name_sv,name_da,name_ar
FRU-APL-GOLDEN,2000000000015,,fruit,Golden,kg,x.jpg,Golden Delicious apple,Äpple Golden Delicious,Æble,تفاح ذهبي
DAI-MILK-1L,2012345678903|20123451,Arla,dairy,Arla-Milk,1 l,x.jpg,Standard milk 3%,Standardmjölk 3%,Sødmælk,حليب
DRY-PASTA-500,0036000291452|123,Barilla,dry-goods,,500 g,,Spaghetti,Spaghetti,Spaghetti,سباغيتي
BEV-TEA-20,,Lipton,beverages,,20 pcs,,Green tea,Grönt te,Grøn te,شاي
NOT-SOLD,,,misc,,each,,Not sold,Säljs ej,Ikke solgt,لا
"""
INVENTORY = """store,sku,price,shelf_location,shelf,backroom,warehouse,reorder_threshold
test-a,FRU-APL-GOLDEN,29.95,P01-B1-S1,40,20,,5
test-a,DAI-MILK-1L,16.90,F02-B3-S2,12,24,,6
test-a,DRY-PASTA-500,21.50,A03-B2-S4,0,10,,4
test-a,BEV-TEA-20,29.95,A05-B1-S4,0,10,,4
test-a,NOT-SOLD,,,0,0,,
test-b,DAI-MILK-1L,11.50,F01-B1-S1,3,0,,6
test-wh,DAI-MILK-1L,,,0,0,120,
"""
STORES = """id,name,kind,currency,locale,locales,lat,lon,address
test-a,Test Store A,store,SEK,sv_SE,sv en,59.3,18.0,Gatan 1
test-b,Test Store B,store,DKK,da_DK,da en,55.6,12.5,Gaden 2
test-wh,Test Warehouse,warehouse,SEK,sv_SE,sv,59.6,17.9,Cargo 1
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    (tmp_path / "products.csv").write_text(PRODUCTS, encoding="utf-8")
    (tmp_path / "inventory.csv").write_text(INVENTORY, encoding="utf-8")
    (tmp_path / "stores.csv").write_text(STORES, encoding="utf-8")
    return tmp_path / "products.csv"


def pdf_pages(path: Path) -> list[np.ndarray]:
    """Page images of a Pillow-written PDF (CCITT G4 streams wrapped into TIFF for Pillow to decode)."""
    parser = PdfParser.PdfParser(str(path))
    pages = []
    for ref in parser.pages:
        page = parser.read_indirect(ref)
        for xref in page[b"Resources"][b"XObject"].values():
            stream = parser.read_indirect(xref)
            info = stream.dictionary
            assert info[b"Filter"] == [PdfParser.PdfName(b"CCITTFaxDecode")]
            image = _g4_tiff(stream.buf, info[b"Width"], info[b"Height"])
            pages.append(np.asarray(image.convert("L")))
    parser.close()
    return pages


def _g4_tiff(data: bytes, width: int, height: int) -> Image.Image:
    tags = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 4), (262, 3, 0), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, len(data))]
    start = 8 + 2 + len(tags) * 12 + 4
    out = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(tags)))
    for tag, kind, value in tags:
        value = start if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, 1) + packed
    out += struct.pack("<I", 0) + data
    return Image.open(io.BytesIO(bytes(out)))


def links_on(pages: list[np.ndarray]) -> list[ProductLink]:
    found = []
    for page in pages:
        for symbol in decode(page):
            intent = parse_intent(symbol.text)
            assert isinstance(intent, ProductLink), symbol.text
            found.append(intent)
    return found


def test_pdf_labels_decode_back_to_product_links(catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.pdf"
    report = make_labels(catalog, "test-a", out)
    assert report.files == [out] and report.labels == 4 and report.pages == 1
    assert report.skipped == ["NOT-SOLD"]
    assert out.read_bytes().startswith(b"%PDF")
    pages = pdf_pages(out)
    assert pages[0].shape == (3508, 2480)  # A4 at 300 dpi
    skus = sorted(link.sku for link in links_on(pages))
    assert skus == ["BEV-TEA-20", "DAI-MILK-1L", "DRY-PASTA-500", "FRU-APL-GOLDEN"]
    assert {link.store for link in links_on(pages)} == {"test-a"}


def test_png_sheets_one_file_per_page(catalog: Path, tmp_path: Path) -> None:
    layout = SheetLayout(columns=1, rows=2)
    report = make_labels(catalog, "test-a", tmp_path / "sheet.png", layout=layout, base_url="https://shop.example")
    assert [p.name for p in report.files] == ["sheet-1.png", "sheet-2.png"]
    page = np.asarray(Image.open(report.files[0]).convert("L"))
    assert [s.text.split("/")[2] for s in decode(page)] == ["shop.example", "shop.example"]


def test_label_text_in_store_locale() -> None:
    store_a = StoreInfo("test-a", "A", "store", "SEK", "sv_SE")
    store_b = StoreInfo("test-b", "B", "store", "DKK", "da_DK")
    apple = Product("FRU-APL-GOLDEN", ("2000000000015",), "", "fruit", "kg", {"en": "Apple", "sv": "Äpple"})
    pasta = Product("DRY-PASTA-500", (), "Barilla", "dry", "500 g", {"en": "Spaghetti"})
    tea = Product("BEV-TEA-20", (), "Lipton", "bev", "20 pcs", {"en": "Green tea", "sv": "Grönt te"})
    entry = ShelfEntry("test-a", "X", Decimal("21.50"), "A03")
    a = build_label(apple, entry, store_a, "sv", "https://aisle.example")
    assert (a.name, a.price, a.price_suffix, a.unit_price) == ("Äpple", "21,50\xa0kr", "/kg", "")
    assert a.url == "https://aisle.example/s/test-a/p/FRU-APL-GOLDEN" and a.gtin == "2000000000015"
    p = build_label(pasta, entry, store_b, "da", "https://aisle.example")
    assert p.name == "Spaghetti" and p.quantity == "500 g"
    assert p.unit_price == "Enhedspris 43,00\xa0kr./kg"
    t = build_label(tea, entry, store_a, "sv", "https://aisle.example")
    assert t.quantity == "20 st" and t.unit_price == "Jämförpris 1,08\xa0kr/st"


def test_errors_are_clear(catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="unknown store 'nope'"):
        make_labels(catalog, "nope", tmp_path / "x.pdf")
    with pytest.raises(LabelError, match="no priced products"):
        make_labels(catalog, "test-wh", tmp_path / "x.pdf")
    with pytest.raises(LabelError, match=r"\.pdf or \.png"):
        make_labels(catalog, "test-a", tmp_path / "x.docx")
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name\nX,Y\n", encoding="utf-8")
    with pytest.raises(CatalogCsvError, match="missing column"):
        read_products(bad)
    with pytest.raises(CatalogCsvError, match="file not found"):
        make_labels(catalog, "test-a", tmp_path / "x.pdf", inventory=tmp_path / "missing.csv")


def test_invalid_gtins_in_catalog_are_ignored(catalog: Path) -> None:
    pasta = next(p for p in read_products(catalog) if p.sku == "DRY-PASTA-500")
    assert pasta.gtins == ("0036000291452",)
    milk = next(p for p in read_products(catalog) if p.sku == "DAI-MILK-1L")
    assert milk.gtins == ("2012345678903", "20123451")


@pytest.mark.skipif(not (DEMO / "products.csv").is_file(), reason="assets/demo catalog not present")
def test_demo_catalog_labels_every_priced_product(tmp_path: Path) -> None:
    out = tmp_path / "demo.pdf"
    report = make_labels(DEMO / "products.csv", "sthlm-city", out)
    assert report.labels >= 12 and report.pages == -(-report.labels // 12)
    first = pdf_pages(out)[0]
    links = links_on([first])
    assert len(links) == 12 and {link.store for link in links} == {"sthlm-city"}
