"""Recalled products and batches: the retained list on ``aisle/v1/{store}/recalls`` that only the backend writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from codes import ids
from mqtt.payloads import Gtin, Payload, Sku, StoreId, Text, Timestamp

MAX_RECALLS = 200  # a store's whole list travels in one retained message, well under the payload limit


def _batch(value: str) -> str:
    try:
        return ids.batch(value)
    except ids.InvalidIdentifier as exc:
        raise ValueError(str(exc)) from None


Batch = Annotated[str, Field(max_length=20, description="batch or lot number as in GS1 AI (10)"),
                  AfterValidator(_batch)]


class Recall(Payload):
    """One recall: a product (by GTIN or SKU), all of it or one batch, and why."""

    gtin: Gtin | None = None
    sku: Sku | None = None
    batch: Batch | None = Field(default=None, description="only this batch; null: every batch of the product")
    reason: Text
    since: Timestamp

    @model_validator(mode="after")
    def _names_a_product(self) -> Recall:
        if self.gtin is None and self.sku is None:
            raise ValueError("a recall names a gtin or a sku")
        return self

    def matches(self, sku: str | None, gtin: str | None, batch: str | None) -> bool:
        """Whether a product (its SKU and/or GTIN-14) and scanned batch (None: unknown) fall under this recall."""
        product = (self.sku is not None and self.sku == sku) or (self.gtin is not None and self.gtin == gtin)
        # A batch recall cannot be told apart from the rest without the batch: only a scan that carries it matches.
        return product and (self.batch is None or self.batch == batch)


class RecallList(Payload):
    """Retained: every recall in force in a store, ``aisle/v1/{store}/recalls``; a newer ``seq`` replaces it whole."""

    store: StoreId
    entries: list[Recall] = Field(default_factory=list, max_length=MAX_RECALLS)
    seq: int = Field(ge=1, description="increases with every change of the store's list")
    updated_at: Timestamp

    def recall_for(self, sku: str | None, gtin: str | None = None, batch: str | None = None) -> Recall | None:
        """The recall a product and batch fall under, a batch recall before a whole-product one; else None."""
        return self.recall_of(sku, (gtin,) if gtin else (), batch)

    def recall_of(self, sku: str | None, gtins: Iterable[str], batch: str | None = None) -> Recall | None:
        """Like ``recall_for``, for a product known by its SKU and any of its GTINs (a recall may name either)."""
        codes = tuple(gtins) or (None,)
        found = [r for r in self.entries if any(r.matches(sku, gtin, batch) for gtin in codes)]
        found.sort(key=lambda r: r.batch is None)
        return found[0] if found else None
