"""A web-shop cart's QR code at a store whose chain link is down: the kiosk says online carts are unavailable.

The demo backend here is a store with no chain link (no ``--store``): it answers a ``cart.redeem`` with issuer "hq"
exactly as a store cut off from HQ does (``chain_unavailable``), so the real app shows what a shopper would see.
"""

from __future__ import annotations

import secrets

import pytest

from codes.qr import cart_handoff_url
from kiosk.i18n import catalogs
from tests.kiosk.conftest import SKU, KioskApp, write_qr

pytestmark = pytest.mark.slow

ENGLISH = "Online carts are unavailable right now. Everything else in this store works as usual."


@pytest.fixture(scope="module")
def kiosk(launch) -> KioskApp:  # noqa: ANN001 - pytest fixture factory
    return launch("kiosk", extra=("--language", "en"))


def test_a_web_cart_code_while_the_chain_is_unreachable_says_so_and_the_store_works_on(kiosk: KioskApp) -> None:
    write_qr(kiosk.images, cart_handoff_url("hq", secrets.token_urlsafe(36), "https://aisle.example"))
    kiosk.tap("scan_button")  # the web shop's QR code, held up to the kiosk's camera
    kiosk.on("handoff", timeout=20)
    props = kiosk.wait_props(lambda p: p["phase"] == "error", timeout=20)
    assert props["message"] == ENGLISH
    assert kiosk.status()["cart_count"] == 0  # nothing opened
    kiosk.shot("kiosk", "en", "online-cart-chain-unavailable")  # fails on clipped or overflowing text

    kiosk.call("language", code="fa")
    persian = catalogs.load("fa").gettext(ENGLISH)
    assert persian != ENGLISH
    kiosk.wait_props(lambda p: p["message"] == persian)
    kiosk.shot("kiosk", "fa", "online-cart-chain-unavailable")  # also fails on unshaped or reversed Persian
    kiosk.call("language", code="en")

    kiosk.tap("home_button")  # the way out the screen offers, and the store's own shopping still works
    kiosk.on("attract")
    kiosk.call("go", screen="product", sku=SKU)
    kiosk.add_to_cart()
    assert kiosk.status()["cart_count"] == 1
