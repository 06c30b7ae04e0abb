"""A web-shop cart (issued by HQ) opened at a chain store's kiosk: at this store's prices, and the shopper is told
how many of its products this store does not sell (real app, HQ service and a chain store backend on one broker)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from decimal import Decimal

import pytest

from backend import catalog, roles
from backend.chain import hq_entries
from backend.chain.hq_service import HqService
from backend.db import Database
from backend.demo import load_demo
from backend.service import BackendService
from codes.catalog_csv import StoreInfo
from kiosk.i18n import catalogs
from mqtt.brokers import MosquittoBroker
from mqtt.client import MqttClient
from mqtt.payloads import utcnow
from mqtt.rpc import RpcClient
from tests.conftest import unique
from tests.helpers import wait_until
from tests.kiosk import conftest as kiosk_conftest
from tests.kiosk.conftest import SKU, STORE, DemoBackend, KioskApp, write_qr

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hq(mosquitto: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HqService]:
    """HQ with the demo catalogue and its own web shop (SEK, every product a krona dearer than in the store)."""
    db = Database(tmp_path_factory.mktemp("hq") / "hq.db")
    load_demo(db)
    with db.transaction():
        catalog.upsert_store(db, StoreInfo("hq", "Aisle Online", "store", "SEK", "sv_SE", ("sv", "en"), None, None,
                                           ""))
        for sku, price in db.conn.execute("SELECT sku, price FROM store_products WHERE store = ?", [STORE]).fetchall():
            catalog.set_store_product(db, "hq", sku, Decimal(price) + 1, None, None, utcnow())
    roles.register(db, "web-1", "hq", "web")
    hq_entries.stage(db)
    service = HqService(db, mosquitto.url, client_id=unique("hq"), heartbeat=0.5, watch_interval=0.1)
    service.start()
    yield service
    service.stop()
    db.close()


@pytest.fixture(scope="module")
def demo_backend(hq: HqService, mosquitto: MosquittoBroker,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBackend]:
    """The demo store as a site of the chain (``serve --store sthlm-city``), converged with HQ."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kiosk_conftest, "BackendService", functools.partial(BackendService, site=STORE))
        backend = DemoBackend(mosquitto, tmp_path_factory.mktemp("chain-store") / "store.db")
    assert wait_until(lambda: backend.service.chain.applied == hq_entries.heads(hq.db)[STORE], timeout=20)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def kiosk(launch) -> KioskApp:  # noqa: ANN001 - pytest fixture factory
    return launch("kiosk", extra=("--language", "en"))


def web_cart_url(mosquitto: MosquittoBroker, lines: list[tuple[str, int]]) -> str:
    """A cart made in the web shop and the URL of its hand-off QR code."""
    client = MqttClient(mosquitto.url, unique("web"))
    client.connect()
    shop = RpcClient(client, "hq", "web-1")
    try:
        cart = shop.call("cart.create", {"lines": [{"sku": s, "quantity": q} for s, q in lines]}, timeout=5)["cart"]
        return shop.call("cart.handoff", {"cart_id": cart["cart_id"]}, timeout=5)["handoff"]["url"]
    finally:
        shop.close()
        client.close()


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_a_web_cart_opens_here_and_says_what_this_store_does_not_sell(kiosk: KioskApp, demo_backend: DemoBackend,
                                                                      mosquitto: MosquittoBroker, lang: str) -> None:
    with demo_backend.db.lock:
        other = demo_backend.db.conn.execute("SELECT sku FROM store_products WHERE store = ? AND sku != ? "
                                             "ORDER BY sku LIMIT 1", [STORE, SKU]).fetchone()[0]
    url = web_cart_url(mosquitto, [(SKU, 3), (other, 1)])
    assert "/s/hq/cart/" in url
    with demo_backend.db.transaction():  # this store stops selling one product of the web cart
        demo_backend.db.conn.execute("DELETE FROM store_products WHERE store = ? AND sku = ?", [STORE, other])
    kiosk.call("language", code=lang)
    try:
        kiosk.call("go", screen="attract")
        write_qr(kiosk.images, url)
        kiosk.tap("scan_button")  # the web shop's QR code, held up to the kiosk's camera
        tr = catalogs.load(lang)
        missing = tr.ngettext("{n} product of your online cart is not sold in this store, so it was left out.",
                              "{n} products of your online cart are not sold in this store, so they were left out.", 1)
        status = kiosk.wait(lambda s: s["screen"] == "cart" and missing.split("{n}")[-1].strip(" .") in s["notice"],
                            20, "the online cart and its notice")
        assert status["notice_kind"] == "info" and status["cart_count"] == 3  # the web cart replaces this one
        kiosk.shot("kiosk", lang, "online-cart-not-sold-here")  # fails on a clipped or overflowing notice
    finally:
        kiosk.call("language", code="en")
