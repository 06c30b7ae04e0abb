"""View-models of checkout: the delivery address, the delivery and pickup options, the order confirmation."""

from __future__ import annotations

from collections.abc import Callable

from edge.client_types import OrderDraft
from edge.outbox import LocalOrder
from kiosk.viewmodels.base import ScreenModel
from mqtt.commerce import Address, DeliveryOption

Failed = Callable[[Exception], None]


class AddressModel(ScreenModel):
    """Where to send the order."""

    def territory(self) -> str:
        """The store's country code, a default for the form."""
        details = self._client.store_details()
        return details.locale.split("_")[1] if details and "_" in details.locale else ""

    def use_address(self, address: Address) -> None:
        """Keep the address for this session's order and go on to the options."""
        self._client.sessions.session.address = address
        if self._ctl.draft is not None:
            self._ctl.draft.address = address
        self.go("options")


class OptionsModel(ScreenModel):
    """Delivery and pickup options for the order being drafted."""

    @property
    def draft(self) -> OrderDraft | None:
        """The order being drafted, if any."""
        return self._ctl.draft

    @property
    def here(self) -> str:
        """This store's id."""
        return self._ctl.config.store

    def store_name(self, store: str) -> str:
        """A store's name (its id until known)."""
        details = self._client.store_details(store)
        return details.name if details else store

    def load(self, draft: OrderDraft, done: Callable[[list[DeliveryOption]], None], failed: Failed) -> None:
        """Ask the backend for the options (worker thread)."""
        self.run(lambda: self._client.options(draft.lines), done, failed)

    def place(self, option: DeliveryOption, draft: OrderDraft, done: Callable[[LocalOrder], None],
              failed: Failed) -> None:
        """Put the order in the outbox (worker thread)."""
        self.run(lambda: self._client.place_order(option, draft.lines, draft.address, draft.cart_id), done, failed)


class ConfirmModel(ScreenModel):
    """The placed order as the outbox holds it."""

    relays = ("on_order",)

    def order(self, order_id: str) -> LocalOrder:
        """The newest state of an order of this device."""
        return self._client.outbox.get(order_id)
