"""Web-shop carts (issued by HQ) at a store's kiosk: where a scanned cart code goes, and what the shopper reads."""

from __future__ import annotations

import re
import secrets
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest

from codes.ids import HQ_SITE
from codes.qr import cart_handoff_url
from codes.scanned import CartHandoff, IntentConfig, parse_intent
from kiosk import presenters
from kiosk.formatting import Formatter
from kiosk.i18n import catalogs
from kiosk.i18n.languages import LANGUAGES
from kiosk.routing import ScanRouter, handoff_params
from kiosk.viewmodels.shopper import HandoffModel

HERE = "sthlm-city"
CHAIN_DOWN = "Online carts are unavailable right now. Everything else in this store works as usual."


def scanned(store: str) -> CartHandoff:
    """A cart code as the scanner reads it (the QR text the issuer's site shows)."""
    intent = parse_intent(cart_handoff_url(store, secrets.token_urlsafe(36)), IntentConfig())
    assert isinstance(intent, CartHandoff)
    return intent


def test_a_web_shop_cart_goes_to_the_handoff_screen_with_hq_as_issuer() -> None:
    own, web, other = scanned(HERE), scanned(HQ_SITE), scanned("cph-vesterbro")
    assert web.store == "hq"
    assert handoff_params(own, HERE) == {"token": own.token}  # this store's own code: no issuer sent, as before
    assert handoff_params(web, HERE) == {"token": web.token, "issuer": "hq"}
    assert handoff_params(other, HERE) is None  # another store's cart stays refused


class FakeHost:
    """What the router touches of the controller: the current screen, navigation and notices."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(store=HERE)
        self.link = SimpleNamespace(sessions=SimpleNamespace(touch=lambda: None))
        self.went: list[tuple[str, dict[str, Any]]] = []
        self.notices: list[tuple[str, str]] = []
        screen = SimpleNamespace(on_scan=lambda _intent: False)
        self.nav = SimpleNamespace(current="scan", screen=lambda _name: screen,
                                   go=lambda name, **params: self.went.append((name, params)))

    def notify(self, text: str, kind: str = "info") -> None:
        self.notices.append((text, kind))


def test_the_router_opens_web_carts_and_refuses_other_stores_carts() -> None:
    host = FakeHost()
    router = ScanRouter(host, IntentConfig())  # type: ignore[arg-type]
    web, other = scanned(HQ_SITE), scanned("cph-vesterbro")
    router.intent(web)
    assert host.went == [("handoff", {"token": web.token, "issuer": "hq"})] and not host.notices
    router.intent(other)
    assert host.went == [("handoff", {"token": web.token, "issuer": "hq"})]
    assert host.notices == [("This cart code belongs to another store.", "error")]


def test_the_handoff_model_passes_the_issuer_and_what_is_not_sold_here() -> None:
    asked: list[tuple[str, str | None]] = []

    def redeem(token: str, issuer: str | None = None) -> tuple[str, tuple[str, ...]]:
        asked.append((token, issuer))
        return "snapshot", ("SKU-X",)

    def run(work: Any, done: Any, failed: Any) -> Future[Any]:
        done(work())  # the worker and the UI thread in one, for the test
        return Future()

    ctl = SimpleNamespace(updates=SimpleNamespace(fbind=lambda *_a: None), link=SimpleNamespace(redeem=redeem),
                          tasks=SimpleNamespace(run=run))
    opened: list[tuple[object, tuple[str, ...]]] = []
    HandoffModel(ctl, "handoff").redeem("tok", "hq", lambda snap, left: opened.append((snap, left)),  # type: ignore[arg-type]
                                         pytest.fail)
    assert asked == [("tok", "hq")] and opened == [("snapshot", ("SKU-X",))]


def test_chain_unavailable_is_explained_in_every_language() -> None:
    en = catalogs.load("en")
    fallback = presenters.error_text("no-such-code", en.gettext)
    assert presenters.error_text("chain_unavailable", en.gettext) == CHAIN_DOWN
    for code in LANGUAGES:
        if code == "en":
            continue
        text = presenters.error_text("chain_unavailable", catalogs.load(code).gettext)
        assert text not in (CHAIN_DOWN, presenters.error_text("no-such-code", catalogs.load(code).gettext)), code
    assert fallback != CHAIN_DOWN


def test_the_cart_notice_counts_what_this_store_does_not_sell() -> None:
    en = catalogs.load("en")
    fmt = Formatter("en", "sv_SE")
    assert presenters.cart_opened_text(3, 0, fmt, en.gettext, en.ngettext) == "Your online cart is open here: 3 items."
    one = presenters.cart_opened_text(1, 1, fmt, en.gettext, en.ngettext)
    assert one == ("Your online cart is open here: 1 item. 1 product of your online cart is not sold in this store, "
                   "so it was left out.")
    two = presenters.cart_opened_text(4, 2, fmt, en.gettext, en.ngettext)
    assert two.endswith(" 2 products of your online cart are not sold in this store, so they were left out.")
    for code in LANGUAGES:
        if code == "en":
            continue
        tr = catalogs.load(code)
        text = presenters.cart_opened_text(4, 2, Formatter(code, "sv_SE"), tr.gettext, tr.ngettext)
        assert "not sold" not in text and "{n}" not in text, (code, text)
    fa = catalogs.load("fa")
    persian = presenters.cart_opened_text(4, 2, Formatter("fa", "sv_SE"), fa.gettext, fa.ngettext)
    assert "۲" in persian and not re.search("[0-9]", persian)  # Persian digits in a Persian notice
