"""What a scan means here: the product (exact GTIN, else a weighed item's base code), its batch, expiry and recalls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from codes import ids, scanned
from codes.gs1 import Gs1Data
from codes.measure import MeasureConfig, MeasureError, MeasureKind, VariableMeasure, variable_measure
from edge.cache import LocalCache
from edge.device import Edge
from edge.views import ProductView
from mqtt import topics
from mqtt.client import Message
from mqtt.commerce import sold_by_weight
from mqtt.payloads import Money, PayloadError, decode
from mqtt.recalls import Recall, RecallList

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScannedProduct:
    """A scanned product as this store sells it, with what the code said about this one item."""

    product: ProductView
    measure: VariableMeasure | None = None  # weight, price or count inside a variable-measure code
    gs1: Gs1Data | None = None  # batch, dates, weight... of a GS1 element string or Digital Link
    recall: Recall | None = None  # the product, or this batch of it, is recalled here
    expired: bool = False  # the code's expiry date (GS1 AI 17) is before today

    @property
    def batch(self) -> str | None:
        """The batch or lot number the code carries, if any."""
        return self.gs1.batch if self.gs1 else None

    @property
    def expiry(self) -> date | None:
        """The expiry date the code carries, if any."""
        return self.gs1.expiry if self.gs1 else None

    def pack(self) -> tuple[Decimal | None, Money | None] | None:
        """The weight (kg) and/or price this one pack's code carries, as a cart line takes them; None for neither."""
        measure = label = None
        if self.measure is not None and self.measure.kind is MeasureKind.WEIGHT:
            measure = self.measure.value
        elif self.measure is not None and self.measure.kind is MeasureKind.PRICE:
            label = Money(amount=self.measure.value, currency=self.product.currency)
        if self.gs1 is not None:
            if self.gs1.net_weight_kg and sold_by_weight(self.product.unit):
                measure = measure or self.gs1.net_weight_kg
            if self.gs1.amount and self.gs1.amount_currency is None:  # (392n): in the store's own currency
                label = label or Money(amount=self.gs1.amount, currency=self.product.currency)
        return (measure, label) if measure is not None or label is not None else None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"product": self.product.to_json(), "measure": self.measure.to_json() if self.measure else None,
                "gs1": self.gs1.to_json() if self.gs1 else None,
                "recall": self.recall.model_dump(mode="json") if self.recall else None, "expired": self.expired}


def resolve_scan(edge: Edge, intent: scanned.Intent, recalls: RecallList | None = None,
                 today: date | None = None) -> ScannedProduct | None:
    """The product a scan stands for here, or None: an exact GTIN first, then a variable-measure code's base GTIN.

    ``today`` is the store's date (defaults to the device's local date: store details carry no time zone).
    Raises codes.measure.MeasureError (its message the reason) for a variable-measure code that cannot be trusted,
    e.g. a bad price check digit: no product is better than a wrong price.
    """
    if not isinstance(intent, scanned.ProductCode | scanned.SkuCode | scanned.ProductLink):
        return None
    found = edge.product(intent)  # a GTIN in any of its readings, a SKU or a shelf link: exact matches first
    measure, gs1 = None, intent.gs1 if isinstance(intent, scanned.ProductCode) else None
    if found is None and isinstance(intent, scanned.ProductCode):
        measure = _measure(edge, intent.candidates)
        if measure is not None:
            found = edge.product(scanned.ProductCode(measure.base_gtin))
    if found is None:
        return None
    batch = gs1.batch if gs1 else None
    recall = recalls.recall_of(found.sku, found.gtins, batch) if recalls is not None else None
    expiry = gs1.expiry if gs1 else None
    expired = expiry is not None and expiry < (today or date.today())
    return ScannedProduct(found, measure, gs1, recall, expired)


def _measure(edge: Edge, candidates: tuple[str, ...]) -> VariableMeasure | None:
    details = edge.store_details()
    if details is None or not details.variable_measure:
        return None
    config = MeasureConfig.from_text(details.variable_measure)  # validated by StoreDetails already
    for gtin in candidates:
        try:
            found = variable_measure(gtin, config)
        except MeasureError as exc:
            log.info("scan %s refused: %s", gtin, exc)
            raise
        if found is not None:
            return found
    return None


class RecallBook:
    """The store's recall list: the newest retained one received, kept in the device cache across restarts."""

    def __init__(self, store: str, cache: Callable[[], LocalCache]) -> None:
        self.store = ids.store_id(store)
        self._cache = cache  # the Edge opens its cache in start(): asked for on use
        self.listeners: list[Callable[[RecallList], None]] = []

    @property
    def topic(self) -> str:
        """The retained topic this book follows."""
        return topics.recalls(self.store)

    def on_message(self, message: Message) -> None:
        """Take a received list if it is valid, this store's and newer than the one kept."""
        if not message.payload:
            return  # a cleared retained message: keep the last known list rather than forget every recall
        try:
            received = decode(RecallList, message.payload)
        except PayloadError as exc:
            log.warning("ignored recall list on %s: %s", message.topic[:120], exc)
            return
        if received.store != self.store or message.topic != self.topic:
            log.warning("ignored recall list of %s on %s", received.store, message.topic[:120])
            return
        if self._cache().apply_recalls(received):
            log.info("%s: %d recalls in force (list %d)", self.store, len(received.entries), received.seq)
            for listener in list(self.listeners):
                listener(received)

    def current(self) -> RecallList | None:
        """The newest list received (None before the first)."""
        return self._cache().recalls(self.store)

    def recall_for(self, sku: str | None, gtin: str | None = None, batch: str | None = None) -> Recall | None:
        """The recall a product (SKU and/or GTIN in any form) and batch fall under here, or None."""
        recalls = self.current()
        if recalls is None:
            return None
        try:
            gtin14 = ids.gtin14(gtin) if gtin else None
        except ids.InvalidIdentifier:
            gtin14 = None
        return recalls.recall_for(sku.upper() if sku else None, gtin14, batch)
