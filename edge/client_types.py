"""What the store client hands to the app besides views: its errors and small values."""

from __future__ import annotations

from dataclasses import dataclass

from mqtt.commerce import Address, LineRequest


class ClientError(Exception):
    """An operation failed; ``code`` is the protocol's error code or "offline"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StoreNotReady(ClientError):
    """The store's details have not arrived yet (first start without a connection)."""

    def __init__(self) -> None:
        super().__init__("not_ready", "the store's details have not arrived yet")


@dataclass(frozen=True)
class CartOpened:
    """The backend says a cart this device exported was opened elsewhere."""

    cart_id: str
    device: str


@dataclass
class OrderDraft:
    """An order being put together across the address and options screens (UI thread only)."""

    lines: list[LineRequest]
    cart_id: str | None
    kind: str  # "till" (pick up here, pay at the till), "pickup" or "delivery"
    address: Address | None = None
