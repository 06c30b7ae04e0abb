"""View-models of the staff screens: sign-in, alerts, stock adjustment, teaching the camera, settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codes.scanned import StaffBadge
from edge.device import ProductView, StockView
from kiosk.config import KioskConfig
from kiosk.viewmodels.base import CameraModel, ScreenModel
from mqtt.alerts import Alert
from mqtt.payloads import StockLevel

Failed = Callable[[Exception], None]


class StaffLoginModel(ScreenModel):
    """PIN pad and badges."""

    @property
    def staff_enabled(self) -> bool:
        """Whether anyone can sign in as staff on this device."""
        return self._ctl.staff.enabled

    def sign_in(self, pin: str) -> None:
        """Check a PIN; on success the staff screen shows."""
        self._ctl.signed_in(self._ctl.staff.pin(pin))

    def badge(self, badge: StaffBadge) -> None:
        """A staff badge was scanned."""
        self._ctl.staff_badge(badge)


class StaffModel(ScreenModel):
    """Restock alerts, the local low-shelf estimate, and the alert actions."""

    relays = ("on_alerts",)

    def alerts(self) -> tuple[Alert, ...]:
        """The store's open alerts, most urgent first."""
        return self._client.alerts()

    def low_stock(self, threshold: int) -> list[tuple[ProductView, StockView]]:
        """Products low on the shelf here (an estimate from the local cache)."""
        return self._client.low_stock(threshold)

    def adjust(self, sku: str) -> None:
        """Open the stock adjustment for a product."""
        self.go("adjust")
        self._ctl.updates.dispatch("on_pick", "adjust", sku)

    def sign_out(self) -> None:
        """Staff leave: end the session, which also resets the screens."""
        self._ctl.sign_out()

    def claim_alert(self, alert_id: str) -> Alert | None:
        """Take an alert on (worker thread; None when kept offline)."""
        return self._client.claim_alert(alert_id)

    def resolve_alert(self, alert_id: str, quantity: int) -> Alert | None:
        """Units moved to the shelf: close the alert (worker thread)."""
        return self._client.resolve_alert(alert_id, quantity)

    def dismiss_alert(self, alert_id: str, reason: str) -> Alert | None:
        """Close an alert without restocking (worker thread)."""
        return self._client.dismiss_alert(alert_id, reason)


class AdjustModel(ScreenModel):
    """Stock adjustments sent as stock.adjust."""

    relays = ("on_stock", "on_pick")

    def adjust_stock(self, sku: str, delta: int, location: str, reason: str, done: Callable[[StockLevel], None],
                     failed: Failed) -> None:
        """Send one adjustment (worker thread)."""
        self.run(lambda: self._client.adjust_stock(sku, delta, location, reason), done, failed)


class EnrolModel(CameraModel):
    """Teaching the recogniser a product from photos."""

    relays = ("on_pick",)

    @property
    def available(self) -> bool:
        """Whether this device can recognise products."""
        return self._ctl.recognition.available

    def latest_frame(self) -> Any:
        """The newest camera frame, or None."""
        return self._ctl.camera.latest()

    def enrol(self, sku: str, frames: list[Any], label: str, done: Callable[[object], None], failed: Failed) -> None:
        """Teach the recogniser (worker thread)."""
        self.run(lambda: self._ctl.recognition.enrol(sku, frames, label), done, failed)


class SettingsModel(ScreenModel):
    """Display choices and the store connection."""

    @property
    def config(self) -> KioskConfig:
        """The settings in force."""
        return self._ctl.config

    def change(self, **changes: Any) -> None:
        """Apply and save some settings (reconnects when the store or broker changed)."""
        self._ctl.settings_changed(**changes)
