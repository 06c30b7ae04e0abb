"""Restock alert payloads: the retained state on ``aisle/v1/{store}/alerts/{alert_id}`` and the staff operations."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from mqtt.payloads import DeviceId, Payload, Quantity, Sku, StoreId, Text, Timestamp

AlertId = Annotated[str, Field(pattern=r"^a_[A-Za-z0-9_-]{8,40}$")]


class AlertState(StrEnum):
    """Lifecycle of an alert."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class AlertReason(StrEnum):
    """What opened the alert."""

    THRESHOLD = "threshold"
    SCAN_OUT_OF_STOCK = "scan_out_of_stock"
    STAFF_REPORT = "staff_report"


class AlertKind(StrEnum):
    """What staff are asked to do."""

    RESTOCK = "restock"
    # A shopper's scan says empty but the stock count says full: look, low priority, once per product per period.
    CHECK_SHELF = "check_shelf"


class Alert(Payload):
    """One restock alert as every staff device sees it."""

    alert_id: AlertId
    store: StoreId
    sku: Sku
    location: str = "shelf"
    state: AlertState
    reason: AlertReason
    kind: AlertKind = Field(default=AlertKind.RESTOCK, description="restock, or only check a shelf counted full")
    priority: int = Field(ge=0, le=100, description="higher is more urgent")
    opened_at: Timestamp
    claimed_by: DeviceId | None = None
    claimed_at: Timestamp | None = None
    closed_at: Timestamp | None = None
    resolved_quantity: int | None = Field(default=None, ge=0)
    dismiss_reason: str | None = Field(default=None, max_length=200)
    escalated: bool = False
    shelf: Quantity = Field(description="units on the shop floor now")
    backroom: Quantity = Field(description="units in the backroom now")
    threshold: Quantity
    restock_now: bool = Field(description="the backroom holds enough to refill the shelf now")
    seq: int = Field(ge=1)
    updated_at: Timestamp


class AlertReportArgs(Payload):
    """``alert.report``: a shopper's scan found the shelf empty, or staff saw it empty."""

    sku: Sku
    reason: AlertReason = AlertReason.STAFF_REPORT


class AlertRef(Payload):
    """``alert.claim``: the alert to take on."""

    alert_id: AlertId


class AlertResolveArgs(Payload):
    """``alert.resolve``: units moved from the backroom to the shelf (0 when none could be)."""

    alert_id: AlertId
    quantity: int = Field(ge=0, le=10_000)


class AlertDismissArgs(Payload):
    """``alert.dismiss``: close without restocking, and why."""

    alert_id: AlertId
    reason: Text
