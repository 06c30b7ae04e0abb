"""Carts, handoff tokens, orders and device events: payload models and the one pricing rule every channel uses."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from babel.numbers import get_currency_precision
from pydantic import AfterValidator, Field, model_validator

from codes import qr
from mqtt.payloads import Currency, DeviceId, Money, Payload, Sku, StoreId, Text, Timestamp

CartId = Annotated[str, Field(pattern=r"^c_[A-Za-z0-9_-]{16,40}$")]
OrderId = Annotated[str, Field(pattern=r"^o_[A-Za-z0-9_-]{16,40}$", description="client-made; the idempotency key")]
Token = Annotated[str, Field(pattern=rf"^{qr.CART_TOKEN_RE.pattern}$")]
LineQuantity = Annotated[int, Field(ge=1, le=99)]
MAX_LINES = 60


class PricingError(ValueError):
    """A cart mixes currencies or holds an impossible line."""


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of a currency (0.01 SEK, 1 JPY)."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def line_total(unit_price: Money, quantity: int) -> Money:
    """Unit price times quantity, rounded half-even to the currency's minor unit."""
    amount = (unit_price.amount * quantity).quantize(minor_unit(unit_price.currency), rounding=ROUND_HALF_EVEN)
    return Money(amount=amount, currency=unit_price.currency)


def total(amounts: Iterable[Money], currency: str) -> Money:
    """Sum of amounts in one currency; a mixed cart is refused rather than silently converted."""
    result = Decimal(0)
    for money in amounts:
        if money.currency != currency:
            raise PricingError(f"cannot add {money.currency} to a {currency} total")
        result += money.amount
    return Money(amount=result.quantize(minor_unit(currency)), currency=currency)


class LineRequest(Payload):
    """A product and how many, as a client asks for it."""

    sku: Sku
    quantity: LineQuantity


class CartLine(Payload):
    """A priced cart line."""

    sku: Sku
    quantity: LineQuantity
    unit_price: Money
    line_total: Money
    price_changed_from: Money | None = Field(default=None, description="the price when the line was added")


class Cart(Payload):
    """A cart as the backend keeps it; priced in its store's currency."""

    cart_id: CartId
    store: StoreId
    owner: DeviceId
    currency: Currency
    lines: list[CartLine] = Field(default_factory=list, max_length=MAX_LINES)
    unavailable: list[Sku] = Field(default_factory=list, description="lines dropped: no longer sold in this store")
    total: Money
    version: int = Field(ge=1)
    updated_at: Timestamp

    @model_validator(mode="after")
    def _priced_consistently(self) -> Cart:
        for line in self.lines:
            if line.line_total != line_total(line.unit_price, line.quantity):
                raise ValueError(f"line {line.sku}: total does not match unit price times quantity")
        if self.total != total((line.line_total for line in self.lines), self.currency):
            raise ValueError("cart total does not match its lines")
        return self


class CartCreateArgs(Payload):
    """``cart.create``: an empty or pre-filled cart owned by the requesting device."""

    lines: list[LineRequest] = Field(default_factory=list, max_length=MAX_LINES)

    @model_validator(mode="after")
    def _unique(self) -> CartCreateArgs:
        _unique_skus(self.lines)
        return self


class CartRef(Payload):
    """``cart.get`` and ``cart.handoff``: one cart."""

    cart_id: CartId


class CartSetLineArgs(Payload):
    """``cart.set_line``: set a line's quantity; 0 removes it."""

    cart_id: CartId
    sku: Sku
    quantity: int = Field(ge=0, le=99)
    expected_version: int | None = Field(default=None, ge=1, description="refuse if the cart changed meanwhile")


class Handoff(Payload):
    """A single-use code that opens a cart on another device (shown as a QR code)."""

    token: Token
    url: str = Field(max_length=300)
    store: StoreId
    cart_id: CartId
    expires_at: Timestamp


class RedeemArgs(Payload):
    """``cart.redeem``: open the cart behind a scanned handoff code (``issuer``: the site whose code it is, if not
    this store: ``hq`` for a cart started in the chain's web shop)."""

    token: Token
    issuer: StoreId | None = None


class Address(Payload):
    """Where to deliver; personal data, removed from devices once the order is sent."""

    name: Text
    street: Text
    postcode: Annotated[str, Field(min_length=2, max_length=12, pattern=r"^[A-Za-z0-9 -]+$")]
    city: Text
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    email: Annotated[str, Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=30, pattern=r"^\+?[0-9 ()-]{5,29}$")] | None = None


class Fulfilment(StrEnum):
    """How the shopper gets the goods."""

    PICKUP = "pickup"
    DELIVERY = "delivery"


def _unique_skus(lines: list[LineRequest]) -> list[LineRequest]:
    skus = [line.sku for line in lines]
    if len(set(skus)) != len(skus):
        raise ValueError("each product may appear in one line only")
    return lines


UniqueLines = Annotated[list[LineRequest], Field(min_length=1, max_length=MAX_LINES), AfterValidator(_unique_skus)]


class OptionsArgs(Payload):
    """``order.options``: what can be done with these lines."""

    lines: UniqueLines


class DeliveryOption(Payload):
    """One way to get the goods, with where from, how soon and for how much."""

    option_id: str = Field(pattern=r"^[a-z0-9:-]{3,80}$")
    kind: Fulfilment
    source_store: StoreId
    pickup_store: StoreId | None = None
    lead_time_hours: int = Field(ge=0, le=24 * 30)
    fee: Money
    goods: Money
    total: Money


class PlaceOrderArgs(Payload):
    """``order.place``: one order, applied once per ``order_id``."""

    order_id: OrderId
    option_id: str = Field(pattern=r"^[a-z0-9:-]{3,80}$")
    lines: UniqueLines
    address: Address | None = None
    cart_id: CartId | None = None

    @model_validator(mode="after")
    def _delivery_needs_address(self) -> PlaceOrderArgs:
        if self.option_id.startswith("delivery") and self.address is None:
            raise ValueError("a delivery needs an address")
        return self


class OrderStatus(StrEnum):
    """Where an order stands. No card data ever touches a device: orders are paid at the till or online."""

    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    READY = "ready"
    SHIPPED = "shipped"
    COLLECTED = "collected"
    CANCELLED = "cancelled"


class Order(Payload):
    """An order as the backend confirms it."""

    order_id: OrderId
    reference: str = Field(pattern=r"^[A-Z0-9]{3}-[A-Z0-9]{3}$", description="what the shopper tells the till")
    store: StoreId
    kind: Fulfilment
    source_store: StoreId
    pickup_store: StoreId | None = None
    lines: list[CartLine]
    fee: Money
    total: Money
    status: OrderStatus
    lead_time_hours: int
    created_at: Timestamp


class OrderStatusArgs(Payload):
    """``order.set_status`` (staff and payment systems)."""

    order_id: OrderId
    status: OrderStatus


class Event(Payload):
    """A push to one device on ``aisle/v1/{store}/device/{device}/event``."""

    type: Literal["cart.opened", "order.status", "enrolment.used"]
    at: Timestamp
    data: dict[str, Any]
