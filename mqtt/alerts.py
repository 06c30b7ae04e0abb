"""Restock alert payloads: the retained state on ``aisle/v1/{store}/alerts/{alert_id}`` and the staff operations."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from mqtt.payloads import DeviceId, Payload, Quantity, Sku, StoreId, Text, Timestamp
from mqtt.recalls import Batch

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
    SCAN_EXPIRED_BATCH = "scan_expired_batch"  # a scanned code's expiry date (GS1 AI 17) has passed


class AlertKind(StrEnum):
    """What staff are asked to do."""

    RESTOCK = "restock"
    # A shopper's scan says empty but the stock count says full: look, low priority, once per product per period.
    CHECK_SHELF = "check_shelf"
    # Take every unit of one expired batch off the shelf (``Alert.batch``); once per product and batch while live.
    REMOVE_BATCH = "remove_batch"


class Alert(Payload):
    """One restock alert as every staff device sees it."""

    alert_id: AlertId
    store: StoreId
    sku: Sku
    location: str = "shelf"
    state: AlertState
    reason: AlertReason
    kind: AlertKind = Field(default=AlertKind.RESTOCK, description="restock, only check a shelf counted full, or "
                            "remove an expired batch")
    # Written only for a batch alert, so clients built before these fields parse every other alert unchanged.
    batch: Batch | None = Field(default=None, exclude_if=lambda value: value is None,
                                description="the batch to remove (kind remove_batch)")
    expiry: date | None = Field(default=None, exclude_if=lambda value: value is None,
                                description="the batch's expiry date (GS1 AI 17)")
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
    """``alert.report``: a shopper's scan found the shelf empty or an expired batch, or staff saw the shelf empty."""

    sku: Sku
    reason: AlertReason = AlertReason.STAFF_REPORT
    batch: Batch | None = Field(default=None, description="the expired batch (reason scan_expired_batch)")
    expiry: date | None = Field(default=None, description="its expiry date (reason scan_expired_batch)")

    @model_validator(mode="after")
    def _batch_when_expired(self) -> AlertReportArgs:
        if self.reason == AlertReason.SCAN_EXPIRED_BATCH and (self.batch is None or self.expiry is None):
            raise ValueError("an expired-batch report names the batch and its expiry date")
        return self


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
