"""The kiosk as a shopper uses it: scan, live stock, online cart, send home, idle reset (real app, broker, backend)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from mqtt.payloads import ErrorCode
from mqtt.rpc import RemoteError
from tests.conftest import unique
from tests.kiosk.conftest import (
    GROCERY_PHOTO,
    SKU,
    STORE,
    DemoBackend,
    KioskApp,
    shelf_url,
    write_photo,
    write_picture,
    write_qr,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kiosk(launch) -> KioskApp:  # noqa: ANN001 - pytest fixture factory
    return launch("kiosk", extra=("--language", "en"))


def test_starts_ready_on_the_attract_screen(kiosk: KioskApp) -> None:
    status = kiosk.status()
    assert status["screen"] == "attract" and status["store_name"] == "Aisle Stockholm City"
    assert status["ready_after"] < 20
    kiosk.shot("kiosk", "en", "attract")


def test_scanning_a_shelf_label_shows_the_product_with_live_stock(kiosk: KioskApp,
                                                                   demo_backend: DemoBackend) -> None:
    write_qr(kiosk.images, shelf_url(SKU))
    kiosk.tap("scan_button")
    kiosk.on("product")
    before = demo_backend.stock()["available"]
    props = kiosk.wait_props(lambda p: p["sku"] == SKU and str(before) in p["stock"])
    assert props["product_name"] == "Golden Delicious apples" and "kr" in props["price"]
    assert props["stock_state"] == "ok"
    kiosk.wait_props(lambda p: "Aisle Södermalm" in json.dumps(p, ensure_ascii=False) or not p["nearby_status"])
    kiosk.shot("kiosk", "en", "product")

    started = time.monotonic()
    demo_backend.call("stock.adjust", {"sku": SKU, "delta": -3, "reason": "sold"})
    kiosk.wait_props(lambda p: f"{before - 3} in stock" in p["stock"], timeout=5)
    assert time.monotonic() - started < 1.0, "the stock label took longer than a second to follow the backend"


def test_holding_up_a_fruit_suggests_it_and_a_tap_opens_it(kiosk: KioskApp) -> None:
    write_picture(kiosk.images)  # no product in view first: "not listed"
    kiosk.call("go", screen="recognise")
    kiosk.on("recognise")
    kiosk.wait_props(lambda p: p["phase"] == "unknown", timeout=30)
    write_photo(kiosk.images, GROCERY_PHOTO)
    kiosk.wait_props(lambda p: p["phase"] == "suggest", timeout=15)
    assert "Golden Delicious apples" in kiosk.call("texts")
    kiosk.shot("kiosk", "en", "recognise-suggest")
    kiosk.tap("Golden Delicious apples")
    kiosk.on("product")
    assert kiosk.props()["sku"] == SKU
    kiosk.call("go", screen="attract")


def test_unknown_codes_explain_themselves(kiosk: KioskApp) -> None:
    kiosk.call("keys", text="https://evil.example/x")
    status = kiosk.wait(lambda s: bool(s["notice"]), what="a notice")
    assert status["notice_kind"] == "error" and "cannot use this code" in status["notice"]


def test_add_to_cart_and_send_home_places_the_order(kiosk: KioskApp, demo_backend: DemoBackend) -> None:
    kiosk.call("go", screen="product", sku=SKU)
    kiosk.add_to_cart()
    kiosk.add_to_cart()
    assert kiosk.status()["cart_count"] == 2
    kiosk.tap("cart_button")
    kiosk.on("cart")
    assert kiosk.props()["total"].startswith("59,90")
    kiosk.shot("kiosk", "en", "cart")
    kiosk.tap("home_button")
    kiosk.on("address")
    for key in ("H", "o", "a"):  # the on-screen keyboard types into the focused field
        kiosk.tap(key)
    kiosk.tap("space_key")
    for key in ("N", "g", "u", "y", "page_key", "page_key"):
        kiosk.tap(key)
    kiosk.shot("kiosk", "en", "keyboard-accents")
    for key in ("ê", "ã", "page_key", "n"):  # Vietnamese: ễ is ê with the ngã tone
        kiosk.tap(key)
    assert kiosk.call("get_text", target="name_input") == "Hoa Nguyễn"
    kiosk.shot("kiosk", "en", "address-keyboard-vi")
    fields = {"street_input": "Zanzibarvägen 7", "postcode_input": "11122", "city_input": "Stockholm",
              "email_input": "hoa@example.org"}
    for target, value in fields.items():
        kiosk.call("set_text", target=target, value=value)
    kiosk.shot("kiosk", "en", "address")
    kiosk.tap("continue_button")
    kiosk.on("options")
    kiosk.wait_props(lambda p: p["phase"] == "choose")
    kiosk.shot("kiosk", "en", "options")
    kiosk.tap("place_button")
    kiosk.on("confirm")
    props = kiosk.wait_props(lambda p: bool(p["reference"]), timeout=15)
    kiosk.shot("kiosk", "en", "confirm")
    row = demo_backend.db.conn.execute("SELECT kind, address, total FROM orders WHERE reference = ?",
                                          [props["reference"]]).fetchone()
    assert row is not None, "the order is not at the backend"
    address = json.loads(row[1])
    assert row[0] == "delivery" and address["name"] == "Hoa Nguyễn" and address["city"] == "Stockholm"
    kiosk.tap("done_button")
    status = kiosk.on("attract")
    assert status["cart_count"] == 0


def test_online_cart_opens_from_its_qr_code_and_codes_work_once(kiosk: KioskApp, demo_backend: DemoBackend) -> None:
    cart = demo_backend.call("cart.create", {"lines": [{"sku": SKU, "quantity": 3}]}, device="webshop")["cart"]
    url = demo_backend.call("cart.handoff", {"cart_id": cart["cart_id"]}, device="webshop")["handoff"]["url"]
    write_qr(kiosk.images, url)
    kiosk.tap("scan_button")
    status = kiosk.wait(lambda s: s["screen"] == "cart" and s["cart_count"] == 3, 15, "the online cart")
    assert "open here: 3 items" in status["notice"]
    kiosk.shot("kiosk", "en", "online-cart")

    kiosk.call("keys", text=url)  # the same code again, from a barcode scanner
    kiosk.on("handoff")
    props = kiosk.wait_props(lambda p: p["phase"] == "error")
    assert "already been used" in props["message"]
    kiosk.shot("kiosk", "en", "online-cart-used")

    kiosk.call("keys", text=f"https://aisle.example/s/{STORE}/cart/{secrets.token_urlsafe(36)}")
    props = kiosk.wait_props(lambda p: p["phase"] == "error" and "does not belong" in p["message"])


def test_an_expired_cart_code_explains_itself(kiosk: KioskApp, demo_backend: DemoBackend) -> None:
    from datetime import timedelta

    from backend import carts
    from mqtt.payloads import utcnow

    cart = demo_backend.call("cart.create", {"lines": [{"sku": SKU, "quantity": 1}]}, device="webshop")["cart"]
    # Issued an hour ago: its minutes are long over.
    stale = carts.issue_handoff(demo_backend.db, STORE, cart["cart_id"], "webshop", utcnow() - timedelta(hours=1))
    before = kiosk.status()["cart_count"]
    kiosk.call("keys", text=stale.url)
    kiosk.on("handoff")
    props = kiosk.wait_props(lambda p: p["phase"] == "error")
    assert "expired" in props["message"] and "new code" in props["message"]
    assert kiosk.status()["cart_count"] == before  # nothing was opened
    kiosk.shot("kiosk", "en", "online-cart-expired")
    kiosk.call("go", screen="attract")


def read_qr(path: Path) -> str:
    """The text of the one QR code in a screenshot, read the way a phone's camera would."""
    import numpy as np
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(np.array(Image.open(path).convert("L")), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"{path.name}: {len(found)} QR codes on screen"
    return found[0].text


def show_phone_code(kiosk: KioskApp, name: str) -> str:
    """Tap "Continue on your phone" on the cart and read the token of the code the kiosk shows."""
    kiosk.call("go", screen="cart")
    kiosk.tap("phone_button")
    kiosk.wait(lambda s: not s["busy"])
    kiosk.wait(lambda s: "Scan it with your phone's camera." in kiosk.call("texts"), what="the code (or a notice)")
    url = read_qr(kiosk.shot("kiosk", "en", name))
    prefix = f"https://aisle.example/s/{STORE}/cart/"
    assert url.startswith(prefix), url
    return url.removeprefix(prefix)


def test_continue_on_phone_shows_a_single_use_qr(kiosk: KioskApp, demo_backend: DemoBackend) -> None:
    if kiosk.status()["cart_count"] == 0:
        kiosk.call("go", screen="product", sku=SKU)
        kiosk.add_to_cart()
    token = show_phone_code(kiosk, "handoff-qr")
    phone, other_phone = unique("phone"), unique("phone")
    cart = demo_backend.call("cart.redeem", {"token": token}, device=phone)["cart"]  # the shopper's phone
    assert sum(line["quantity"] for line in cart["lines"]) == kiosk.status()["cart_count"]
    kiosk.wait(lambda s: any("Opened on your phone" in t for t in kiosk.call("texts")), what="the kiosk to see it")
    with pytest.raises(RemoteError) as refused:  # the same code photographed by someone else
        demo_backend.call("cart.redeem", {"token": token}, device=other_phone)
    assert refused.value.code is ErrorCode.USED
    kiosk.tap("close_button")

    kiosk.call("keys", text=f"https://aisle.example/s/{STORE}/cart/{token}")  # and scanned at a kiosk
    kiosk.on("handoff")
    assert "already been used" in kiosk.wait_props(lambda p: p["phase"] == "error")["message"]

    fresh = show_phone_code(kiosk, "handoff-qr-again")  # asked again, the kiosk shows a new code
    assert fresh != token
    demo_backend.call("cart.redeem", {"token": fresh}, device=other_phone)
    kiosk.tap("close_button")


def test_idle_session_warns_then_resets_and_forgets(kiosk: KioskApp) -> None:
    kiosk.call("go", screen="cart")
    kiosk.call("language", code="vi")
    before = kiosk.status()
    assert before["cart_count"] > 0
    kiosk.call("idle", timeout=3.0, warning=2.0)
    try:
        kiosk.wait(lambda s: s["idle_warning"], 5, "the idle warning")
        kiosk.shot("kiosk", "vi", "idle-warning")
        status = kiosk.wait(lambda s: s["screen"] == "attract", 5, "the reset")
    finally:
        kiosk.call("idle", timeout=600.0, warning=15.0)
    assert status["cart_count"] == 0 and status["session"] != before["session"] and not status["idle_warning"]
    assert status["lang"] == "en"  # the next shopper starts in the kiosk's own language again


@pytest.mark.parametrize("lang", ["sv", "fa", "ar", "vi"])
def test_every_shopper_screen_renders_in_every_language(kiosk: KioskApp, lang: str) -> None:
    write_picture(kiosk.images)  # the camera sees a shelf without codes: the scan screen stays put
    kiosk.shoot_shopping(lang)
    kiosk.tap("till_button")
    kiosk.on("options")
    kiosk.wait_props(lambda p: p["phase"] != "loading")
    kiosk.shot("kiosk", lang, "options")
    for screen in ("scan", "recognise", "address", "staff_login"):
        kiosk.call("go", screen=screen)
        kiosk.wait(lambda s: not s["busy"])
        kiosk.shot("kiosk", lang, screen)
    if lang in ("fa", "ar"):
        assert kiosk.status()["rtl"]
    kiosk.call("language", code="en")
