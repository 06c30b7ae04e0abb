"""CSV import: Aisle formats, Shopify exports, bad rows, re-import, hostile files."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import catalog, stock
from backend.db import Database
from backend.importer import ImportFileError, import_file
from tests.conftest import load_fixture_catalog

SHOPIFY_HEADER = ("Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,"
                  "Variant Grams,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,"
                  "Variant Fulfillment Service,Variant Price,Variant Compare At Price,Variant Barcode,Image Src\n")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reimport_updates_instead_of_duplicating(db: Database, tmp_path: Path) -> None:
    from tests.conftest import FIXTURES

    counts = {t: db.count(t) for t in ("products", "gtins", "product_names", "store_products", "stock")}
    ledger = db.count("stock_ledger")
    report = import_file(db, FIXTURES / "products.csv", progress=False)
    assert (report.changed, report.unchanged) == (0, 3)
    changed = (FIXTURES / "inventory.csv").read_text().replace("test-a,DAI-MILK-1L,16.90", "test-a,DAI-MILK-1L,17.50")
    report = import_file(db, write(tmp_path, "inv.csv", changed), progress=False)
    assert report.changed == 1 and not report.errors
    assert {t: db.count(t) for t in counts} == counts
    assert db.count("stock_ledger") == ledger
    product = catalog.product_payload(db, "test-a", "DAI-MILK-1L")
    assert str(product.price.amount) == "17.50" and product.seq == 2


def test_bad_rows_are_reported_with_line_and_reason_and_good_rows_import(db: Database, tmp_path: Path) -> None:
    text = (
        "sku,gtins,brand,category,vision_label,unit,image,name_en\n"
        "GOOD-1,2000000000022,,x,,each,,Good one\n"          # line 2
        "bad sku,2000000000039,,x,,each,,Bad sku\n"           # line 3
        "GOOD-2,2000000000038,,x,,each,,Bad check digit\n"    # line 4
        "GOOD-3,,,x,,each,,\n"                                # line 5: no name
        "GOOD-4,2012345678903,,x,,each,,Steals a GTIN\n"      # line 6: GTIN of DAI-MILK-1L
        "GOOD-5,too,many,fields,here,x,y,z,w\n"               # line 7
        "GOOD-6,,,x,,each,,Good two\n"                        # line 8
    )
    report = import_file(db, write(tmp_path, "p.csv", text), progress=False)
    assert [line for line, _ in report.errors] == [3, 4, 5, 6, 7]
    reasons = dict(report.errors)
    assert "sku" in reasons[3] and "GTIN" in reasons[4] and "name" in reasons[5]
    assert "DAI-MILK-1L" in reasons[6] and "fields" in reasons[7]
    assert {"GOOD-1", "GOOD-6"} <= {r[0] for r in db.conn.execute("SELECT sku FROM products")}
    assert catalog.find_sku_by_gtin(db, "02012345678903") == "DAI-MILK-1L"


def test_inventory_rows_validate_numbers_and_stores(db: Database, tmp_path: Path) -> None:
    text = ("store,sku,price,shelf_location,shelf,backroom,warehouse,reorder_threshold\n"
            "test-a,DAI-MILK-1L,abc,X,1,1,,1\n"
            "test-a,DAI-MILK-1L,1.00,X,-1,1,,1\n"
            "nowhere,DAI-MILK-1L,1.00,X,1,1,,1\n"
            "test-a,NOPE,1.00,X,1,1,,1\n"
            "test-a,DAI-MILK-1L,,X,1,1,,1\n")
    before = stock.level(db, "test-a", "DAI-MILK-1L")
    report = import_file(db, write(tmp_path, "i.csv", text), progress=False)
    assert [line for line, _ in report.errors] == [2, 3, 4, 5, 6]
    assert stock.level(db, "test-a", "DAI-MILK-1L") == before


def test_shopify_export_imports_variants_with_prices_and_stock(db: Database, tmp_path: Path) -> None:
    text = SHOPIFY_HEADER + (
        "oat-drink,Oat Drink,<p>Oats</p>,Oatly,Dairy alternatives,,TRUE,Size,1 l,OAT-1L,1000,shopify,24,deny,"
        "manual,24.90,,7394376616037,https://cdn.example/oat.jpg\n"
        "oat-drink,,,,,,,,2 l,OAT-2L,2000,shopify,-3,deny,manual,44.90,,,\n"
        "oat-drink,,,,,,,,3 l,,3000,shopify,1,deny,manual,54.90,,,\n"
        "orphan,,,,,,,,x,ORPH-1,1,shopify,1,deny,manual,1.00,,,\n"
        "bad-barcode,Thing,,V,T,,TRUE,Title,Default Title,THING-1,1,shopify,1,deny,manual,9.99,,1234567890123,\n"
    )
    report = import_file(db, write(tmp_path, "shopify.csv", text), target_store="test-a", progress=False)
    assert [line for line, _ in report.errors] == [4, 5, 6]
    oat = catalog.product_payload(db, "test-a", "OAT-1L")
    assert oat.names == {"en": "Oat Drink (1 l)"} and oat.brand == "Oatly" and oat.price.currency == "SEK"
    assert oat.gtins == ["07394376616037"]
    assert stock.level(db, "test-a", "OAT-1L").shelf == 24
    assert stock.level(db, "test-a", "OAT-2L").shelf == 0  # oversold in Shopify: clamp at zero


def test_shopify_needs_a_store_when_ambiguous(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="--store"):
        import_file(db, write(tmp_path, "s.csv", SHOPIFY_HEADER), progress=False)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"),
    (b"\xff\xfe\x00a,b\n", "not UTF-8"),
    (b"what,is,this\n1,2,3\n", "unknown CSV format"),
])
def test_unusable_files_give_a_clear_error(db: Database, tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=reason):
        import_file(db, path, progress=False)


def test_missing_file_gives_a_clear_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        import_file(db, tmp_path / "missing.csv", progress=False)


def test_huge_field_is_a_row_error(db: Database, tmp_path: Path) -> None:
    text = "sku,gtins,name_en\n" + "BIG-1,,\"" + "x" * 20_000 + "\"\nOK-1,,Fine\n"
    report = import_file(db, write(tmp_path, "big.csv", text), progress=False)
    assert report.errors and "OK-1" in {r[0] for r in db.conn.execute("SELECT sku FROM products")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.lists(st.text(max_size=15), min_size=0, max_size=10), max_size=8))
def test_fuzzed_catalog_rows_never_crash_or_corrupt(tmp_path_factory, body: list[list[str]]) -> None:
    import csv
    import io

    db = Database(tmp_path_factory.mktemp("fuzz") / "f.db")
    try:
        load_fixture_catalog(db)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["sku", "gtins", "brand", "category", "vision_label", "unit", "image", "name_en"])
        writer.writerows(body)
        path = tmp_path_factory.mktemp("fuzzcsv") / "p.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        try:
            report = import_file(db, path, progress=False)
        except ImportFileError:
            return
        assert report.rows >= report.changed + report.unchanged
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert catalog.product_payload(db, "test-a", "DAI-MILK-1L").sku == "DAI-MILK-1L"
    finally:
        db.close()
