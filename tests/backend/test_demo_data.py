"""The shipped demo data: loads cleanly and covers what the demo and recognition need."""

import csv
import math
from pathlib import Path

import pytest

from backend import catalog, stock
from backend.db import Database
from backend.demo import DEMO_DIR, load_demo
from codes import ids
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Database:
    db = Database(tmp_path_factory.mktemp("demo") / "demo.db")
    reports = load_demo(db)
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    return db


def test_at_least_three_stores_one_in_another_currency(demo_db: Database) -> None:
    shops = [s for s in catalog.stores(demo_db) if s.kind == "store"]
    assert len(shops) >= 3
    assert len({s.currency for s in shops}) >= 2
    assert all(s.lat is not None and s.lon is not None for s in shops)
    assert all({"en", "fa", "ar", "vi"} <= set(s.locales) for s in shops)


def test_stores_are_at_distinct_places(demo_db: Database) -> None:
    shops = catalog.stores(demo_db)
    for a in shops:
        for b in shops:
            if a.id < b.id:
                assert math.dist((a.lat, a.lon), (b.lat, b.lon)) > 0.01


def test_over_100_products_with_valid_gtins_and_names(demo_db: Database) -> None:
    assert demo_db.count("products") >= 100
    for (gtin,) in demo_db.conn.execute("SELECT gtin FROM gtins"):
        assert ids.gtin14(gtin) == gtin
    missing = demo_db.conn.execute(
        "SELECT sku FROM products WHERE sku NOT IN (SELECT sku FROM gtins)").fetchall()
    assert not missing
    for locale in ("en", "fa", "ar", "vi"):
        count = demo_db.conn.execute("SELECT count(*) FROM product_names WHERE locale = ?", [locale]).fetchone()[0]
        assert count == demo_db.count("products"), locale


def test_every_grocery_class_maps_to_one_product() -> None:
    classes_csv = SHARED_DATA / "grocery" / "classes.csv"
    if not classes_csv.exists():
        pytest.skip(f"shared grocery data not found at {classes_csv}")
    with classes_csv.open(encoding="utf-8") as f:
        classes = {row["Class Name (str)"] for row in csv.DictReader(f)}
    with (DEMO_DIR / "products.csv").open(encoding="utf-8") as f:
        labels = [row["vision_label"] for row in csv.DictReader(f) if row["vision_label"]]
    assert len(classes) == 81
    assert sorted(labels) == sorted(classes)


def test_every_shop_prices_and_stocks_every_product(demo_db: Database) -> None:
    products = demo_db.count("products")
    for shop in catalog.stores(demo_db):
        if shop.kind != "store":
            continue
        priced = demo_db.conn.execute("SELECT count(*) FROM store_products WHERE store = ?", [shop.id]).fetchone()
        assert priced[0] == products
        empty = demo_db.conn.execute(
            "SELECT count(*) FROM stock WHERE store = ? AND location = 'shelf' AND quantity = 0", [shop.id]).fetchone()
        assert empty[0] >= 1, "the demo needs empty shelves to show nearby stock and alerts"
    assert stock.ledger_balances(demo_db) == []


def test_demo_load_is_skipped_when_data_exists(demo_db: Database) -> None:
    assert load_demo(demo_db) == []


def test_demo_generator_check_passes_on_committed_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = DEMO_DIR.parents[1]
    result = subprocess.run([sys.executable, str(root / "scripts" / "make_demo_data.py"), "--check"],
                            capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
