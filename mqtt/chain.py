"""Payloads between the sites of a chain: heartbeats, HQ's catalogue head, and the pages stores pull from HQ."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mqtt.payloads import (
    Amount,
    Currency,
    Gtin,
    LocaleName,
    Payload,
    Sku,
    StoreDetails,
    StoreId,
    Text,
    Timestamp,
)

PAGE_LIMIT = 100  # entries per hq.changes page: 100 of the largest entries still fit in one 64 KiB payload

SiteId = StoreId  # a store id, or "hq"


class SiteLive(Payload):
    """Retained heartbeat of a site: ``aisle/v1/_chain/{site}/live``; a site not heard for minutes is cut off."""

    site: SiteId
    at: Timestamp
    state: Literal["online", "offline"] = "online"


class HqHead(Payload):
    """Retained at ``aisle/v1/_chain/hq/head/{store}``: the newest catalogue version HQ holds for the store."""

    store: StoreId
    seq: int = Field(ge=0)
    at: Timestamp


class HqChangesArgs(Payload):
    """Arguments of ``hq.changes``: the entries for the asking store after the version it has applied."""

    after: int = Field(ge=0)
    limit: int = Field(default=PAGE_LIMIT, ge=1, le=PAGE_LIMIT)


class HqProduct(Payload):
    """The chain-wide part of a product."""

    names: dict[LocaleName, Text] = Field(min_length=1, max_length=40)
    gtins: list[Gtin] = Field(default_factory=list, max_length=20)
    brand: str = Field(default="", max_length=100)
    category: str = Field(default="", max_length=60)
    unit: str = Field(default="each", max_length=30)
    image: str = Field(default="", max_length=300)
    vision_label: str = Field(default="", max_length=100)


class HqEntry(Payload):
    """One product as HQ lists it for one store, at one version; ``price`` None means HQ no longer lists it there."""

    seq: int = Field(ge=1)
    sku: Sku
    product: HqProduct | None = None
    price: Amount | None = None
    currency: Currency | None = None


class HqPage(Payload):
    """A page of ``hq.changes``: the store's details, entries in seq order, and whether more follow."""

    store: StoreDetails
    entries: list[HqEntry] = Field(max_length=PAGE_LIMIT)
    head: int = Field(ge=0, description="HQ's newest version for the store when the page was read")
    more: bool
