"""One alert from the staff list (a restock, or an expired batch to remove): claim it, close it, or dismiss it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView

from edge.client_types import ClientError
from kiosk.i18n.translator import tr
from kiosk.presenters import error_text
from mqtt.alerts import Alert, AlertKind, AlertState

if TYPE_CHECKING:
    from kiosk.viewmodels.staff import StaffModel


class AlertPanel(ModalView):
    """Actions run on a worker; the list updates itself from the retained alert the backend publishes."""

    alert: Alert | None = ObjectProperty(None, allownone=True)
    title = StringProperty("")
    details = StringProperty("")
    quantity = NumericProperty(0)
    mine = BooleanProperty(False)
    claimable = BooleanProperty(False)
    removal = BooleanProperty(False)  # an expired batch to take off the shelf: nothing is moved onto it
    busy = BooleanProperty(False)
    error = StringProperty("")

    def __init__(self, model: StaffModel, alert: Alert, title: str, details: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._model = model  # the staff screen's view-model
        self.alert, self.title, self.details = alert, title, details
        self.mine = alert.claimed_by == model.device_id
        self.claimable = alert.state == AlertState.OPEN
        # The backend closes a batch removal only with quantity 0: refilling is a restock alert of its own.
        self.removal = alert.kind == AlertKind.REMOVE_BATCH
        # Suggest filling the shelf to twice its threshold, as far as the backroom allows.
        self.quantity = 0 if self.removal else max(0, min(alert.backroom, max(alert.threshold * 2 - alert.shelf, 1)))

    def step(self, amount: int) -> None:
        """Change the number of units moved to the shelf."""
        if self.alert is not None and not self.removal:
            self.quantity = max(0, min(self.alert.backroom, self.quantity + amount))

    def claim(self) -> None:
        """Take the alert on."""
        alert_id = self.alert.alert_id
        self._run(lambda: self._model.claim_alert(alert_id), close=False)

    def resolve(self) -> None:
        """Units moved (or the batch taken away, quantity 0): close the alert through the stock ledger."""
        alert_id, quantity = self.alert.alert_id, 0 if self.removal else int(self.quantity)
        self._run(lambda: self._model.resolve_alert(alert_id, quantity))

    def dismiss_alert(self, reason: str) -> None:
        """Close without restocking."""
        alert_id = self.alert.alert_id
        self._run(lambda: self._model.dismiss_alert(alert_id, reason))

    def _run(self, action: Callable[[], Alert | None], close: bool = True) -> None:
        model = self._model
        self.busy, self.error = True, ""

        def done(alert: Alert | None) -> None:
            self.busy = False
            if alert is None:  # offline: kept on the phone, sent when it is back online
                model.notify(tr._("Saved offline: it will be sent when the phone is back online."), "info")
                self.dismiss()
                return
            self.alert = alert
            self.mine = alert.claimed_by == model.device_id
            self.claimable = alert.state == AlertState.OPEN
            if close:
                self.dismiss()

        def failed(exc: Exception) -> None:
            self.busy = False
            self.error = str(exc) if isinstance(exc, ClientError) else error_text("other", tr._)

        model.run(action, done, failed)
