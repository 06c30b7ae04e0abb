"""Nearby stores on the product screen: a store whose level is not live says "last known at" in words, in full.

The demo backend's real ``stock.nearby`` answer is served with two stores turned into what a chain store sends
for sites it has not heard from (backend/nearby.py: ``live`` false, ``as_of`` the last heartbeat or nothing).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend import nearby
from kiosk.formatting import Formatter
from tests.kiosk.conftest import SKU, KioskApp

pytestmark = pytest.mark.slow

CUT = "cph-vesterbro"  # last heard a few minutes ago: "last known at <time>"
SILENT = "wh-arlanda"  # never heard since this backend started: "last known", no time


@pytest.fixture(scope="module")
def apps(launch) -> dict[str, KioskApp]:  # noqa: ANN001 - pytest fixture factory
    """A kiosk (landscape) and a phone (narrow portrait): where a long line would be clipped, if anywhere."""
    return {mode: launch(mode, extra=("--language", "en")) for mode in ("kiosk", "phone")}


@pytest.fixture
def stale_stores(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The backend answers two of the other sites as last known; returns the time given for the cut store."""
    heard = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=7)
    real = nearby.nearby_stock

    def answer(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        rows = real(*args, **kwargs)
        for row in rows:
            if row["store"] == CUT:
                row.update(live=False, as_of=heard.isoformat())
            elif row["store"] == SILENT:
                row.update(live=False, as_of=None)
        return rows

    monkeypatch.setattr(nearby, "nearby_stock", answer)
    return heard


def nearby_texts(kiosk: KioskApp, wanted: str) -> list[str]:
    """Every text of the product screen (scrolled ones too) once the nearby answer with ``wanted`` shows."""
    kiosk.wait_props(lambda p: p["sku"] == SKU and not p["nearby_status"], timeout=15)
    deadline = time.monotonic() + 10
    while True:
        texts: list[str] = kiosk.call("texts", scrolled=True)
        if any(wanted in t for t in texts):
            return texts
        if time.monotonic() > deadline:
            raise AssertionError(f"{wanted!r} never showed: {texts}")
        time.sleep(0.1)


# What each language says for the cut store (with its time) and for the one with no time known.
NOTES = {"en": ("last known at ", "last known", re.compile(r"\d{1,2}[:.]\d\d(\s?[AP]M)?")),
         "fa": ("آخرین اطلاع ساعت ", "طبق آخرین اطلاع", re.compile("[۰-۹]{1,2}:[۰-۹]{2}"))}


@pytest.mark.parametrize("mode", ["kiosk", "phone"])
@pytest.mark.parametrize("lang", ["en", "fa"])
def test_a_store_not_heard_from_says_last_known_in_words_and_in_full(apps: dict[str, KioskApp], mode: str,
                                                                      lang: str, stale_stores: datetime) -> None:
    app = apps[mode]
    at, plain, clock = NOTES[lang]
    app.call("language", code=lang)
    try:
        app.call("go", screen="product", sku=SKU)
        texts = nearby_texts(app, at)
        live = next(i for i, t in enumerate(texts) if t.startswith("Aisle Södermalm"))  # nearest, live: no note
        cut = next(i for i, t in enumerate(texts) if t.startswith("Aisle Vesterbro"))
        warehouse = next(i for i, t in enumerate(texts) if t.startswith("Aisle Warehouse Arlanda"))
        assert live < cut < warehouse and cut == live + 2, texts  # nearest first; the live row has no note
        assert texts[cut + 2].startswith(at) and clock.fullmatch(texts[cut + 2][len(at):]), texts[cut + 2]
        assert texts[cut + 2] == at + Formatter(lang, "sv_SE").time(stale_stores)  # the backend's as_of, local
        assert texts[warehouse + 2] == plain  # no time known: still said in words
        if lang == "fa":
            assert not re.search("[0-9]", texts[cut + 2]), texts[cut + 2]  # Persian digits in a Persian line
        app.tap(plain)  # a person scrolls down to the last nearby row (a tap on a plain label does nothing)
        app.shot(mode, lang, "product-nearby-last-known")  # fails on clipped, overflowing, unshaped or reversed text
    finally:
        app.call("language", code="en")
