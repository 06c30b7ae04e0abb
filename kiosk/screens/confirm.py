"""The order confirmation: reference and QR code for the till, status as the backend confirms it."""

from __future__ import annotations

from typing import Any

from kivy.properties import OptionProperty, StringProperty

from edge.outbox import LocalOrder
from kiosk import presenters
from kiosk.i18n.translator import tr
from kiosk.presenters import OptionText
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.checkout import ConfirmModel


class ConfirmScreen(AisleScreen):
    """Shows the order the outbox holds; updates when it is confirmed, refused or changes status."""

    model = ConfirmModel
    order_id = StringProperty("")
    reference = StringProperty("")
    phase = OptionProperty("queued", options=["queued", "confirmed", "rejected"])
    status = StringProperty("")
    summary = StringProperty("")
    next_step = StringProperty("")
    kind = StringProperty("")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._order: LocalOrder | None = None
        self._option: OptionText | None = None

    def on_vm(self, _screen: object, vm: ConfirmModel) -> None:
        vm.bind(on_order=lambda _vm, order: self.order_changed(order))

    def prepare(self, order: LocalOrder | None = None, option: OptionText | None = None, kind: str = "",
                **_params: Any) -> None:
        if order is None:
            return
        self._option, self.kind = option, kind
        self.order_id = order.order_id
        # The outbox may have confirmed it before this screen showed: read its newest state.
        self.order_changed(self.vm.order(order.order_id))

    def order_changed(self, order: LocalOrder) -> None:
        """An order of this device changed (UI thread)."""
        if order.order_id != self.order_id:
            return
        self._order = order
        self.reference = order.reference or ""
        self.phase = "queued" if order.status == "queued" else ("rejected" if order.status == "rejected" else
                                                                   "confirmed")
        self.relabel()

    def relabel(self) -> None:
        order, option = self._order, self._option
        if order is None:
            return
        self.status = presenters.order_status_text(order, tr._)
        if order.status == "rejected" and order.error:
            self.status += " " + presenters.error_text(order.error.split(":")[0], tr._)
        self.summary = "\n".join(x for x in (option.title, option.when, option.total) if x) if option else ""
        self.next_step = {
            "till": tr._("Go to any till and show this code or say the reference. We keep the items for you."),
            "pickup": tr._("Pay at the till or online with the reference, then collect it at the pickup desk."),
            "delivery": tr._("Pay at the till or online with the reference; we deliver after payment."),
        }.get(self.kind, "")

    def done(self) -> None:
        """Finished: the kiosk forgets the shopper; a phone just starts afresh."""
        self.vm.end_session()

    def reset(self) -> None:
        self._order, self._option = None, None
        self.order_id = self.reference = self.status = self.summary = self.next_step = ""
