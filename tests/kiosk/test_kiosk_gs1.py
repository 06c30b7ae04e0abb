"""Scanning weighed items and GS1 codes at the kiosk: the weight and price in the cart, an expired batch refused and
reported to staff, a recalled batch shown (real app on Xvfb, real Mosquitto, real backend, camera pictures)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, timedelta

import pytest

from codes.gtin import check_digit
from tests.conftest import ROOT
from tests.kiosk.conftest import STORE, DemoBackend, KioskApp, write_symbol

pytestmark = pytest.mark.slow

APPLES = "FRU-APL-GOLDEN"  # 29.95 kr/kg in sthlm-city; Swedish weight code base 2310010100002 in the catalogue
MILK = "DAI-MILK-ARLA-15"
MILK_GTIN = "02102848682849"


@pytest.fixture(scope="module")
def kiosk(launch) -> KioskApp:  # noqa: ANN001 - pytest fixture factory
    return launch("kiosk", extra=("--language", "en"))


def weighed_label(grams: int) -> str:
    """A scale's label for the demo's Golden Delicious: Swedish rules, prefix 23, item 100101, weight in grams."""
    body = f"23100101{grams:04d}"
    return body + check_digit(body)


def scan(kiosk: KioskApp, content: str, zx_format: str, gs1: bool = False) -> None:
    """Show a code to the camera from the attract screen, as a shopper holds up a pack."""
    kiosk.call("go", screen="attract")
    kiosk.on("attract")
    write_symbol(kiosk.images, content, zx_format, gs1)
    kiosk.tap("scan_button")
    try:
        kiosk.on("product", 20)
    except AssertionError:
        print(kiosk.log())
        raise


def test_a_weighed_items_label_adds_the_right_product_with_its_weight_and_price(kiosk: KioskApp) -> None:
    scan(kiosk, weighed_label(734), "EAN13")
    props = kiosk.wait_props(lambda p: p["sku"] == APPLES and bool(p["pack"]))
    assert props["weighed"] and "0,734" in props["pack"] and "21,98" in props["pack"]  # 0.734 kg x 29.95 kr/kg
    kiosk.shot("kiosk", "en", "product-weighed")
    before = kiosk.status()["cart_count"]
    kiosk.tap("add_button")
    kiosk.wait(lambda s: s["cart_count"] > before and not s["busy"], what="the pack in the cart")

    scan(kiosk, weighed_label(1250), "EAN13")  # a second bag of the same apples adds its weight to the line
    kiosk.wait_props(lambda p: "1,250" in p["pack"])
    kiosk.tap("add_button")
    kiosk.call("go", screen="cart")
    kiosk.on("cart")
    texts = " ".join(kiosk.call("texts"))
    assert "1,984" in texts and "59,42" in texts, texts  # 1.984 kg x 29.95 = 59.4208 (Swedish separators)
    kiosk.shot("kiosk", "en", "cart-weighed")


def test_an_expired_batch_is_refused_and_reported_to_staff(kiosk: KioskApp, demo_backend: DemoBackend) -> None:
    expired = date.today() - timedelta(days=3)
    batch = f"L{expired:%m%d}X"
    scan(kiosk, f"(01){MILK_GTIN}(17){expired:%y%m%d}(10){batch}", "DataMatrix", gs1=True)
    props = kiosk.wait_props(lambda p: p["sku"] == MILK and p["blocked"])
    assert "expired" in props["batch_note"] and props["batch_tone"] == "danger"
    assert not props["weighed"]
    kiosk.shot("kiosk", "en", "product-expired-batch")
    row = None
    for _ in range(100):
        row = demo_backend.db.conn.execute(
            "SELECT kind, batch, state FROM alerts WHERE store = ? AND sku = ? AND kind = 'remove_batch'",
            [STORE, MILK]).fetchone()
        if row is not None:
            break
        time.sleep(0.1)
    assert row is not None and tuple(row) == ("remove_batch", batch, "open")


def test_a_good_batch_shows_its_use_by_date(kiosk: KioskApp) -> None:
    later = date.today() + timedelta(days=20)
    scan(kiosk, f"(01){MILK_GTIN}(10)B7(17){later:%y%m%d}", "Code128", gs1=True)
    props = kiosk.wait_props(lambda p: p["sku"] == MILK and "B7" in p["batch_note"])
    assert "Use by" in props["batch_note"] and not props["blocked"] and props["batch_tone"] == "muted"


def test_bad_gs1_text_explains_itself(kiosk: KioskApp) -> None:
    kiosk.call("go", screen="attract")
    kiosk.call("keys", text=f"(01){MILK_GTIN}(17)991399")
    status = kiosk.wait(lambda s: bool(s["notice"]), what="a notice")
    assert status["notice_kind"] == "error" and "cannot use this code" in status["notice"]


def test_a_recalled_batch_is_shown_clearly(kiosk: KioskApp, demo_backend: DemoBackend) -> None:
    # The recall is added by the admin command, as staff would, in its own process: the backend publishes the list.
    subprocess.run([sys.executable, "-m", "backend", "recalls", "add", "--db", str(demo_backend.db_path),
                    "--store", STORE, "--sku", MILK, "--batch", "R13", "--reason", "Glass fragments possible"],
                   cwd=ROOT, check=True, capture_output=True, timeout=60)
    later = date.today() + timedelta(days=20)
    scan(kiosk, f"(01){MILK_GTIN}(17){later:%y%m%d}(10)R13", "DataMatrix", gs1=True)
    props = kiosk.wait_props(lambda p: p["sku"] == MILK and "Recalled" in p["batch_note"], timeout=15)
    assert "Glass fragments possible" in props["batch_note"] and "R13" in props["batch_note"] and props["blocked"]
    assert not props["withdrawn"]  # one batch: another can still be sent home or reserved
    kiosk.shot("kiosk", "en", "product-recalled-batch")
    # Another batch of the same milk is not recalled.
    scan(kiosk, f"(01){MILK_GTIN}(17){later:%y%m%d}(10)R14", "DataMatrix", gs1=True)
    props = kiosk.wait_props(lambda p: p["sku"] == MILK and "R14" in p["batch_note"])
    assert not props["blocked"]
