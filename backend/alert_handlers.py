"""Handlers of the alert operations for devices: report an empty shelf, claim, resolve, dismiss."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from backend import alerts, roles, stock
from backend.db import Database
from mqtt.alerts import AlertDismissArgs, AlertReason, AlertRef, AlertReportArgs, AlertResolveArgs
from mqtt.payloads import ErrorCode, StockLevel, decode
from mqtt.rpc import OpError, OpHandler, RequestContext

Clock = Callable[[], datetime]


class AlertHandlers:
    """Handlers of ``alert.*``; every change is published through the given callbacks."""

    def __init__(self, db: Database, clock: Clock, publish_alert: Callable[[str], None],
                 publish_stock: Callable[[StockLevel], None], policy: alerts.ReportPolicy | None = None) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or alerts.ReportPolicy()  # read on every report: may be replaced while serving
        self._publish_alert = publish_alert
        self._publish_stock = publish_stock

    def table(self) -> dict[str, OpHandler]:
        """Operation name -> handler."""
        return {"alert.report": self.report, "alert.claim": self.claim, "alert.resolve": self.resolve,
                "alert.dismiss": self.dismiss}

    def after_stock_change(self, store_id: str, sku: str) -> None:
        """Apply the threshold rule after any stock change of one item."""
        alert_id = alerts.evaluate(self.db, store_id, sku, self.clock())
        if alert_id:  # inside a group commit (backend/group_commit.py): once the alert is committed
            self.db.after_commit(lambda: self._publish_alert(alert_id))

    def report(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """A scan found the shelf empty, or staff saw it: open an alert (or join the live one)."""
        request = decode(AlertReportArgs, args)
        if request.reason == AlertReason.SCAN_EXPIRED_BATCH:
            return self._batch_report(ctx, request)
        if not roles.may(ctx.role, "alert.claim"):
            return self._shopper_report(ctx, request)
        alert_id, created = alerts.open_alert(self.db, ctx.store, request.sku, request.reason, ctx.device,
                                              self.clock())
        self._publish_alert(alert_id)  # new, or a live one whose reason may have become more urgent
        return {"alert_id": alert_id, "created": created}

    def _shopper_report(self, ctx: RequestContext, request: AlertReportArgs) -> dict[str, Any]:
        # Any shopper device can send this: counted per device, and a full shelf only asks staff to look.
        if request.reason != AlertReason.SCAN_OUT_OF_STOCK:
            raise OpError(ErrorCode.FORBIDDEN, "only staff report empty shelves; shoppers' scans report themselves")
        now, policy = self.clock(), self.policy
        alerts.count_report(self.db, ctx.store, request.sku, ctx.device, now, policy)
        alert_id, created, changed = alerts.shopper_report(self.db, ctx.store, request.sku, ctx.device, now,
                                                           policy)
        if created or changed:
            self._publish_alert(alert_id)
        return {"alert_id": alert_id, "created": created}

    def _batch_report(self, ctx: RequestContext, request: AlertReportArgs) -> dict[str, Any]:
        # Anyone's scan may report it: counted like a shelf report, and one alert per batch however many scan it.
        now = self.clock()
        assert request.batch is not None and request.expiry is not None  # AlertReportArgs requires them
        if request.expiry >= now.date() + timedelta(days=1):  # a day's grace: the store's date may be ahead of UTC
            raise OpError(ErrorCode.BAD_REQUEST, f"batch {request.batch} expires {request.expiry}: not expired")
        if not roles.may(ctx.role, "alert.claim"):
            alerts.count_report(self.db, ctx.store, request.sku, ctx.device, now, self.policy)
        alert_id, created = alerts.batch_report(self.db, ctx.store, request.sku, request.batch, request.expiry,
                                                ctx.device, now)
        if created:
            self._publish_alert(alert_id)
        return {"alert_id": alert_id, "created": created}

    def claim(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Take an alert on."""
        request = decode(AlertRef, args)
        alerts.claim(self.db, ctx.store, request.alert_id, ctx.device, self.clock())
        return self._answer(request.alert_id)

    def resolve(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Close an alert with the units moved from backroom to shelf."""
        request = decode(AlertResolveArgs, args)
        moved = alerts.resolve(self.db, ctx.store, request.alert_id, ctx.device, request.quantity, self.clock())
        answer = self._answer(request.alert_id)
        if moved:
            self._publish_stock(stock.level(self.db, ctx.store, answer["alert"]["sku"]))
        return answer

    def dismiss(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        """Close an alert without restocking."""
        request = decode(AlertDismissArgs, args)
        alerts.dismiss(self.db, ctx.store, request.alert_id, ctx.device, request.reason, self.clock())
        return self._answer(request.alert_id)

    def _answer(self, alert_id: str) -> dict[str, Any]:
        self._publish_alert(alert_id)
        return {"alert": alerts.payload(self.db, alert_id, self.clock()).model_dump(mode="json")}
