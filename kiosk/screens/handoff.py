"""An online cart opened by scanning its hand-off code; expired or used codes explain themselves."""

from __future__ import annotations

from typing import Any

from kivy.properties import OptionProperty, StringProperty

from edge.cart import CartSnapshot
from edge.client_types import ClientError
from kiosk.i18n.translator import tr
from kiosk.presenters import cart_opened_text, error_text
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.shopper import HandoffModel


class HandoffScreen(AisleScreen):
    """Redeems a token on a worker; success opens the cart with a notice, failure says what to do."""

    model = HandoffModel
    phase = OptionProperty("opening", options=["opening", "error"])
    message = StringProperty("")
    code = StringProperty("")

    def prepare(self, token: str = "", issuer: str | None = None, **_params: Any) -> None:
        self.phase, self.code = "opening", ""
        self.message = tr._("Opening your online cart…")
        if token:
            self.vm.redeem(token, issuer, self._opened, self._failed)

    def relabel(self) -> None:
        if self.phase == "error":
            self.message = error_text(self.code, tr._)

    def _opened(self, snapshot: CartSnapshot, left_out: tuple[str, ...]) -> None:
        count = sum(line.quantity for line in snapshot.lines)
        self.vm.replace("cart")
        self.vm.notify(cart_opened_text(count, len(left_out), self.vm.fmt, tr._, tr.n_),
                       "info" if left_out else "ok")

    def _failed(self, exc: Exception) -> None:
        self.phase = "error"
        self.code = exc.code if isinstance(exc, ClientError) else "other"
        self.message = error_text(self.code, tr._)

    def reset(self) -> None:
        self.phase, self.message, self.code = "opening", "", ""
