"""An online cart opened by scanning its hand-off code; expired or used codes explain themselves."""

from __future__ import annotations

from typing import Any

from kivy.properties import OptionProperty, StringProperty

from edge.cart import CartSnapshot
from edge.client_types import ClientError
from kiosk.i18n.translator import tr
from kiosk.presenters import error_text
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.shopper import HandoffModel


class HandoffScreen(AisleScreen):
    """Redeems a token on a worker; success opens the cart with a notice, failure says what to do."""

    model = HandoffModel
    phase = OptionProperty("opening", options=["opening", "error"])
    message = StringProperty("")
    code = StringProperty("")

    def prepare(self, token: str = "", **_params: Any) -> None:
        self.phase, self.code = "opening", ""
        self.message = tr._("Opening your online cart…")
        if token:
            self.vm.redeem(token, self._opened, self._failed)

    def relabel(self) -> None:
        if self.phase == "error":
            self.message = error_text(self.code, tr._)

    def _opened(self, snapshot: CartSnapshot) -> None:
        count = sum(line.quantity for line in snapshot.lines)
        self.vm.replace("cart")
        self.vm.notify(tr.n_("Your online cart is open here: {n} item.", "Your online cart is open here: {n} items.",
                            count).format(n=self.vm.fmt.number(count)), "ok")

    def _failed(self, exc: Exception) -> None:
        self.phase = "error"
        self.code = exc.code if isinstance(exc, ClientError) else "other"
        self.message = error_text(self.code, tr._)

    def reset(self) -> None:
        self.phase, self.message, self.code = "opening", "", ""
