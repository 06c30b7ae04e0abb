"""What the product screen says about a scanned pack (kiosk.pack_text), without a display."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from codes.gs1 import parse_element_string
from codes.measure import MeasureConfig, variable_measure
from edge.batches import ScannedProduct
from edge.views import ProductView
from kiosk.formatting import Formatter
from kiosk.pack_text import pack_text
from mqtt.payloads import Money, Product
from mqtt.recalls import Recall

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
FMT = Formatter("en")


def view(unit: str = "kg", price: str = "29.95") -> ProductView:
    product = Product(sku="FRU-APL-GOLDEN", store="sthlm-city", gtins=["2310010100002"], names={"en": "Apples"},
                      unit=unit, price=Money(amount=Decimal(price), currency="SEK"), seq=1, updated_at=NOW)
    return ProductView.of(product, NOW, ("en",))


def _(text: str) -> str:
    return text


def test_a_weight_label_shows_weight_and_our_price() -> None:
    measure = variable_measure("02310010107346", MeasureConfig.from_text("se"))
    texts = pack_text(view(), ScannedProduct(view(), measure=measure), None, FMT, _)
    assert texts.pack == "This pack: 0.734\u00a0kg · SEK\u00a021.98" and texts.weighed and not texts.blocked
    assert texts.measure == Decimal("0.734") and texts.label_price is None and texts.label == ""


def test_a_price_label_that_disagrees_is_flagged_and_ours_is_charged() -> None:
    measure = variable_measure("02000101015000", MeasureConfig.from_text("se"))  # prefix 20: a price, 15.00 kr
    assert measure is not None and measure.value == Decimal("15.00")
    texts = pack_text(view("each", "16.90"), ScannedProduct(view("each", "16.90"), measure=measure), None, FMT, _)
    assert "SEK\u00a016.90" in texts.pack and "SEK\u00a015.00" in texts.label and texts.weighed


def test_a_label_the_product_cannot_take_says_so() -> None:
    gs1 = parse_element_string("(01)09506000134352(3922)1500")
    scan = ScannedProduct(view(price="0"), gs1=gs1)  # no price per kg to turn a price into a weight
    texts = pack_text(view(price="0"), scan, None, FMT, _)
    assert "cannot read the weight or price" in texts.label and not texts.weighed


def test_expired_and_recalled_packs_are_blocked() -> None:
    gs1 = parse_element_string("(01)09506000134352(17)261201(10)L7")
    expired = pack_text(view(), ScannedProduct(view(), gs1=gs1, expired=True), None, FMT, _)
    assert expired.blocked and expired.tone == "danger" and "Dec 1, 2026" in expired.note
    fresh = pack_text(view(), ScannedProduct(view(), gs1=gs1, expired=False), None, FMT, _)
    assert not fresh.blocked and fresh.note == "Batch L7 · Use by Dec 1, 2026"
    recall = Recall(sku="FRU-APL-GOLDEN", batch="L7", reason="Listeria", since=NOW)
    recalled = pack_text(view(), ScannedProduct(view(), gs1=gs1, recall=recall), recall, FMT, _)
    assert recalled.blocked and "Listeria" in recalled.note and "Batch L7" in recalled.note
    assert not recalled.withdrawn  # other batches may still be sent home or reserved
    everything = Recall(sku="FRU-APL-GOLDEN", reason="Listeria", since=NOW)
    assert pack_text(view(), None, everything, FMT, _).withdrawn
    assert pack_text(view(), None, None, FMT, _).note == ""
    assert date(2026, 12, 1) == gs1.expiry
