"""The phone (portrait, one-handed) and staff modes: every screen in every language, restock alerts, stock changes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.kiosk.conftest import LANGUAGES, SKU, STAFF_DEVICE, DemoBackend, KioskApp, write_picture

pytestmark = pytest.mark.slow
ALERT_SKU = "FRU-APL-GRANNY"  # threshold 14 on the shelf in the demo data
BATCH_SKU = "DAI-SOURCREAM-ARLA-ECO"  # on shelf F01-B2-S2 in the demo data


def wait_text(app: KioskApp, part: str, tries: int = 100, scrolled: bool = False) -> str:
    """The first visible text containing ``part`` (waiting for it to appear); ``scrolled``: or a scroll away."""
    texts: list[str] = []
    for _ in range(tries):
        texts = app.call("texts", frames=3, scrolled=scrolled)
        found = [t for t in texts if part in t]
        if found:
            return found[0]
    raise AssertionError(f"{part!r} not on screen: {texts}")


@pytest.fixture(scope="module")
def phone(launch) -> KioskApp:  # noqa: ANN001 - pytest fixture factory
    return launch("phone", extra=("--language", "en"))


@pytest.fixture(scope="module")
def staff(launch) -> KioskApp:  # noqa: ANN001
    return launch("staff", device=STAFF_DEVICE, extra=("--language", "en"))


def test_phone_search_add_and_reserve(phone: KioskApp, demo_backend: DemoBackend) -> None:
    write_picture(phone.images)
    phone.tap("search_button")
    phone.call("set_text", target="query_input", value="Golden")
    hit = wait_text(phone, "Golden Delicious apples")  # the search runs a moment after typing stops
    phone.tap(hit)
    phone.on("product")
    phone.add_to_cart()
    phone.tap("cart_button")
    phone.on("cart")
    phone.tap("pickup_button")
    phone.on("options")
    phone.wait_props(lambda p: p["phase"] == "choose")
    phone.tap("place_button")
    phone.on("confirm")
    reference = phone.wait_props(lambda p: bool(p["reference"]), timeout=15)["reference"]
    kind = demo_backend.db.conn.execute("SELECT kind FROM orders WHERE reference = ?", [reference]).fetchone()
    assert kind == ("pickup",)
    demo_backend.pay(reference)
    phone.tap("done_button")
    assert phone.on("attract")["cart_count"] == 0


@pytest.mark.parametrize("lang", LANGUAGES)
def test_phone_screens_in_every_language(phone: KioskApp, demo_backend: DemoBackend, lang: str) -> None:
    phone.shoot_shopping(lang)
    phone.tap("home_button")
    phone.on("address")
    phone.shot("phone", lang, "address")
    for target, value in {"name_input": "Nguyễn Thị Hoa", "street_input": "Zanzibarvägen 7",
                          "postcode_input": "11122", "city_input": "Stockholm"}.items():
        phone.call("set_text", target=target, value=value)
    phone.tap("continue_button")
    phone.on("options")
    phone.wait_props(lambda p: p["phase"] == "choose")
    phone.shot("phone", lang, "options")
    phone.tap("place_button")
    phone.on("confirm")
    reference = phone.wait_props(lambda p: bool(p["reference"]), timeout=15)["reference"]
    phone.shot("phone", lang, "confirm")
    demo_backend.pay(reference)  # at the till, as a shopper would before reserving more
    for screen in ("scan", "recognise", "handoff"):
        phone.call("go", screen=screen)
        phone.wait(lambda s: not s["busy"])
        phone.shot("phone", lang, screen)
    phone.call("go", screen="confirm")
    phone.tap("done_button")
    phone.on("attract")


def test_staff_sign_in_with_pin_and_adjust_stock(staff: KioskApp, demo_backend: DemoBackend) -> None:
    assert staff.status()["screen"] == "staff_login"
    for digit in "1111":
        staff.tap(digit)
    staff.tap("ok_key")
    assert staff.status()["screen"] == "staff_login" and "Wrong PIN" in staff.status()["notice"]
    for digit in "2468":
        staff.tap(digit)
    staff.tap("ok_key")
    staff.on("staff")
    before = demo_backend.stock(SKU)["backroom"]
    staff.tap("adjust_button")
    staff.on("adjust")
    staff.call("keys", text=f"https://aisle.example/s/sthlm-city/p/{SKU}")  # scanned with a barcode scanner
    staff.wait_props(lambda p: p["sku"] == SKU)
    staff.tap("backroom_choice")
    staff.tap("plus10_button")
    staff.tap("plus_button")
    staff.tap("apply_button")
    staff.wait(lambda s: s["notice_kind"] == "ok" and "Saved" in s["notice"], 10, "the saved notice")
    assert demo_backend.stock(SKU)["backroom"] == before + 11
    staff.shot("staff", "en", "adjust")


def test_restock_alert_appears_and_is_resolved_from_the_staff_phone(staff: KioskApp,
                                                                    demo_backend: DemoBackend) -> None:
    shelf = demo_backend.stock(ALERT_SKU)["shelf"]
    demo_backend.call("stock.adjust", {"sku": ALERT_SKU, "delta": -(shelf - 5), "reason": "sold"})
    staff.call("go", screen="staff")
    # The demo opens with empty shelves, whose alerts rank above this one: it may be a scroll away.
    title = wait_text(staff, "Granny Smith", scrolled=True)
    staff.shot("staff", "en", "alerts")
    staff.tap(title)
    staff.tap("claim_button")
    staff.wait(lambda s: not s["busy"])
    staff.shot("staff", "en", "alert")
    staff.tap("resolve_button")
    staff.wait(lambda s: not s["busy"])
    assert demo_backend.stock(ALERT_SKU)["shelf"] > 5
    state = demo_backend.db.conn.execute("SELECT state FROM alerts WHERE sku = ? ORDER BY opened_at DESC",
                                            [ALERT_SKU]).fetchone()
    assert state == ("resolved",)


def test_an_expired_batch_alert_reads_as_a_removal_and_closes_without_moving_stock(
        staff: KioskApp, demo_backend: DemoBackend) -> None:
    expired = date.today() - timedelta(days=3)
    # A kiosk's scan found a GS1 code whose expiry (AI 17) has passed.
    demo_backend.call("alert.report", {"sku": BATCH_SKU, "reason": "scan_expired_batch", "batch": "L24-117",
                                       "expiry": expired.isoformat()}, device="kiosk-lobby")
    before = demo_backend.stock(BATCH_SKU)
    staff.call("go", screen="staff")
    title = wait_text(staff, "Remove expired batch: Arla Organic Sour Cream", scrolled=True)
    line = wait_text(staff, "Batch L24-117, expired", scrolled=True)
    assert "F01-B2-S2" in line and str(expired.year) in line, line  # where, and the date in words
    staff.tap(title)  # scrolled into view: the demo's empty shelves rank above it
    staff.tap("claim_button")
    staff.wait(lambda s: not s["busy"])
    assert "Take every unit of this batch off the shelf." in staff.call("texts", frames=3)
    staff.shot("staff", "en", "batch-alert-panel")
    staff.tap("close_alert_button")
    wait_text(staff, "Batch L24-117, expired")  # on screen now, marked as taken on by this phone
    staff.shot("staff", "en", "batch-alert")
    staff.tap(title)
    staff.tap("resolve_button")
    staff.wait(lambda s: not s["busy"])
    row = demo_backend.db.conn.execute("SELECT state, resolved_quantity FROM alerts WHERE sku = ? AND batch = ?",
                                          [BATCH_SKU, "L24-117"]).fetchone()
    assert row == ("resolved", 0)
    assert demo_backend.stock(BATCH_SKU) == before, "removing a batch moved stock"
    for _ in range(100):
        if not [t for t in staff.call("texts", frames=3, scrolled=True) if "L24-117" in t]:
            break
    else:
        raise AssertionError("the resolved batch alert stayed on the staff screen")


def test_an_urgent_alert_rings_and_names_the_shelf_on_the_staff_phone(staff: KioskApp,
                                                                      demo_backend: DemoBackend) -> None:
    before = staff.status()["alarms"]
    # Pink Lady: 0 on the shelf in the demo data, so its threshold alert is open; a shopper's scan at a kiosk
    # says the shelf really is empty, which makes it urgent.
    demo_backend.call("alert.report", {"sku": "FRU-APL-PINKLADY", "reason": "scan_out_of_stock"},
                      device="kiosk-lobby")
    status = staff.wait(lambda s: s["alarms"] > before, 5, "the urgent-alert chime")
    assert status["notice_kind"] == "error" and "Urgent:" in status["notice"] and "P01-B1-S3" in status["notice"]
    staff.shot("staff", "en", "urgent-alert")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_screens_in_every_language(staff: KioskApp, lang: str) -> None:
    staff.call("language", code=lang)
    for screen in ("staff", "adjust", "enrol", "settings"):
        staff.call("go", screen=screen)
        staff.wait(lambda s: not s["busy"])
        staff.shot("staff", lang, screen)


def test_large_text_and_high_contrast_do_not_clip(staff: KioskApp, phone: KioskApp) -> None:
    staff.call("language", code="en")
    staff.call("go", screen="settings")
    staff.tap("Larger")
    staff.tap("High contrast")
    staff.shot("staff", "en", "settings-large-contrast")
    staff.call("go", screen="adjust")
    staff.shot("staff", "en", "adjust-large-contrast")
    staff.call("go", screen="settings")
    staff.tap("Normal")
    staff.tap("Standard")
    for lang in ("en", "fa"):
        phone.call("language", code=lang)
        phone.call("settings", text_scale=1.6, high_contrast=True)
        for screen in ("attract", "product", "cart"):
            phone.call("go", screen=screen) if screen != "product" else phone.call("go", screen=screen, sku=SKU)
            phone.wait(lambda s: not s["busy"])
            phone.shot("phone", lang, f"{screen}-large-contrast")
    phone.call("settings", text_scale=1.0, high_contrast=False)
