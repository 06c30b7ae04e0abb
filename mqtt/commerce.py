"""Carts, handoff tokens, orders and device events: payload models and the one pricing rule every channel uses."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from babel.numbers import get_currency_precision
from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator, model_validator

from codes import qr
from mqtt.payloads import Currency, DeviceId, Money, Payload, Sku, StoreId, Text, Timestamp

CartId = Annotated[str, Field(pattern=r"^c_[A-Za-z0-9_-]{16,40}$")]
OrderId = Annotated[str, Field(pattern=r"^o_[A-Za-z0-9_-]{16,40}$", description="client-made; the idempotency key")]
Token = Annotated[str, Field(pattern=rf"^{qr.CART_TOKEN_RE.pattern}$")]
LineQuantity = Annotated[int, Field(ge=1, le=99)]
MAX_LINES = 60
MAX_MEASURE = Decimal("99.999")  # kg on one line: the largest weight a 5-digit variable-measure code carries
GRAM = Decimal("0.001")
# Units whose catalogue price is per kilogram. "500 g" or "1 l" name a pack size: such products are sold by the piece.
WEIGHT_UNITS = frozenset({"kg"})
_MEASURE_TEXT_RE = re.compile(r"-?\d{1,12}(\.\d{1,12})?")


class PricingError(ValueError):
    """A cart mixes currencies or holds an impossible line."""


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of a currency (0.01 SEK, 1 JPY)."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def line_total(unit_price: Money, quantity: int, measure: Decimal | None = None) -> Money:
    """Unit price times the measure (kg) when there is one, else times quantity; half-even to the minor unit."""
    amount = unit_price.amount * (quantity if measure is None else measure)
    return Money(amount=amount.quantize(minor_unit(unit_price.currency), rounding=ROUND_HALF_EVEN),
                 currency=unit_price.currency)


def sold_by_weight(unit: str) -> bool:
    """Whether a product's catalogue ``unit`` means its price is per kilogram."""
    return unit.strip().lower() in WEIGHT_UNITS


def stock_units(quantity: int, measure: Decimal | None) -> int:
    """Stock units a line reserves and sells: ceil(kg) for a weighed line (per-kg stock counts kg), else quantity."""
    return quantity if measure is None else max(1, math.ceil(measure))


def _measure(value: Any) -> Decimal:
    if type(value) is str:
        if len(value) > 25 or not _MEASURE_TEXT_RE.fullmatch(value):
            raise ValueError(f"measure {value[:20]!r} is not a decimal string of kilograms such as \"0.734\"")
        value = Decimal(value)
    elif isinstance(value, (float, int)) and not isinstance(value, bool):
        raise ValueError("measure must be a decimal string of kilograms such as \"0.734\", not a JSON number")
    elif not isinstance(value, Decimal):
        raise ValueError("measure must be a decimal string of kilograms such as \"0.734\"")
    if not value.is_finite():
        raise ValueError("measure must be a finite number of kilograms")
    if value <= 0:
        raise ValueError("measure must be more than 0 kg")
    if value > MAX_MEASURE:
        raise ValueError(f"measure must be at most {MAX_MEASURE} kg")
    exact = value.quantize(GRAM)  # one spelling per weight: "1.5" and "1.500" are the same line
    if exact != value:
        raise ValueError("measure has more than 3 decimal places (whole grams only)")
    return exact


def _label(value: Money) -> Money:
    if value.amount <= 0:
        raise ValueError("label price must be more than 0")
    if value.amount != value.amount.quantize(minor_unit(value.currency)):
        raise ValueError(f"label price {value.amount} has more decimals than {value.currency} has")
    return value


Measure = Annotated[
    Decimal,
    PlainValidator(_measure, json_schema_input_type=str),
    Field(description="kilograms as a decimal string, more than 0, at most 99.999, at most 3 decimals",
          examples=["0.734"]),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
LabelPrice = Annotated[Money, AfterValidator(_label)]
# New fields are written only when set, so a client built before them reads every line it could read before.
_NOT_SET = {"default": None, "exclude_if": lambda value: value is None}


def total(amounts: Iterable[Money], currency: str) -> Money:
    """Sum of amounts in one currency; a mixed cart is refused rather than silently converted."""
    result = Decimal(0)
    for money in amounts:
        if money.currency != currency:
            raise PricingError(f"cannot add {money.currency} to a {currency} total")
        result += money.amount
    return Money(amount=result.quantize(minor_unit(currency)), currency=currency)


class LineRequest(Payload):
    """A product and how many, as a client asks for it; a weighed item also carries its weight or label price."""

    sku: Sku
    quantity: LineQuantity = Field(description="units, or packs of a weighed line")
    measure: Measure | None = Field(**_NOT_SET, description="kg of a product priced per kg (its `unit` is `kg`), "
                                    "e.g. from a variable-measure code; the line costs unit price x measure")
    label_price: LabelPrice | None = Field(**_NOT_SET, description="the price printed in the scanned code; "
                                           "checked against the catalogue, never charged")

    @property
    def units(self) -> int:
        """Stock units the line reserves (``stock_units``)."""
        return stock_units(self.quantity, self.measure)


class CartLine(Payload):
    """A priced cart line."""

    sku: Sku
    quantity: LineQuantity
    unit_price: Money
    line_total: Money
    price_changed_from: Money | None = Field(default=None, description="the price when the line was added")
    measure: Measure | None = Field(**_NOT_SET, description="kg of a weighed line; unit_price is then per kg")
    label_price: Money | None = Field(**_NOT_SET, description="the price printed on the pack(s), as scanned")
    label_mismatch: bool = Field(default=False, exclude_if=lambda value: not value,
                                 description="the label price differs from line_total, which is what is charged")

    @property
    def labelled(self) -> bool:
        """Added from a weight or price label: it grows by scanning another pack, never by a bare "+1"."""
        return self.measure is not None or self.label_price is not None


def make_line(sku: str, unit_price: Money, quantity: int, measure: Decimal | None = None,
              label_price: Money | None = None, price_changed_from: Money | None = None) -> CartLine:
    """A line priced by ``line_total``, its label price (if any) compared with that total."""
    amount = line_total(unit_price, quantity, measure)
    return CartLine(sku=sku, quantity=quantity, unit_price=unit_price, line_total=amount,
                    price_changed_from=price_changed_from, measure=measure, label_price=label_price,
                    label_mismatch=label_differs(label_price, amount, quantity, measure))


def label_differs(label_price: Money | None, total_: Money, quantity: int, measure: Decimal | None) -> bool:
    """Whether a line's label price disagrees with its total (what is charged)."""
    # The labels of n weighed packs were each rounded to the minor unit, so their sum may differ from the rounded
    # total of the summed weight by up to (n + 1) // 2 minor units with every label right; one pack or pieces: exact.
    if label_price is None:
        return False
    slack = minor_unit(total_.currency) * ((quantity + 1) // 2) if measure is not None and quantity > 1 else 0
    return label_price.currency != total_.currency or abs(label_price.amount - total_.amount) > slack


def price_line(sku: str, unit_price: Money, unit: str, quantity: int, measure: Decimal | None = None,
               label_price: Money | None = None, price_changed_from: Money | None = None) -> CartLine:
    """A requested line priced from the catalogue (``unit_price`` per ``unit``); PricingError says why it cannot be."""
    # A measure needs a product priced per kg. A label price without a measure: for a per-kg product the weight is
    # label / unit price to the gram; for a product sold by the piece the line is ``quantity`` pieces. The catalogue
    # price is what is charged; a label price that differs is kept and flagged (make_line).
    weighed = sold_by_weight(unit)
    if label_price is not None and label_price.currency != unit_price.currency:
        raise PricingError(f"the label price is in {label_price.currency}; this store prices in {unit_price.currency}")
    if measure is not None and not weighed:
        raise PricingError(f"{sku} is sold by the piece (unit {unit!r}), not by weight: send it without a measure")
    if measure is None and label_price is not None and weighed:
        measure = measure_from_price(sku, unit_price, label_price)
    return make_line(sku, unit_price, quantity, measure, label_price, price_changed_from)


def measure_from_price(sku: str, unit_price: Money, label_price: Money) -> Decimal:
    """The weight a price-only label means: label price / price per kg, half-even to the gram."""
    if unit_price.amount <= 0:
        raise PricingError(f"{sku} has no price per kg to derive a weight from its label price")
    measure = (label_price.amount / unit_price.amount).quantize(GRAM, rounding=ROUND_HALF_EVEN)
    if not 0 < measure <= MAX_MEASURE:
        raise PricingError(f"the label price {label_price.amount} {label_price.currency} means {measure} kg of {sku} "
                           f"at {unit_price.amount} per kg; a line holds more than 0 and at most {MAX_MEASURE} kg")
    return measure


def add_pack(line: CartLine, pack: CartLine) -> CartLine:
    """One more scanned pack on a product's line: weights, packs (quantity) and label prices add up."""
    # A pack without a label price counts at its catalogue price, so the labels that are there are still checked.
    if (line.measure is None) != (pack.measure is None):
        held = "by weight" if line.measure is not None else "by the piece"
        raise PricingError(f"{line.sku} is in the cart {held}; remove that line before adding it another way")
    quantity = line.quantity + pack.quantity
    if quantity > 99:
        raise PricingError("a line holds at most 99 packs")
    measure = None if line.measure is None or pack.measure is None else line.measure + pack.measure
    if measure is not None and measure > MAX_MEASURE:
        raise PricingError(f"a line holds at most {MAX_MEASURE} kg")
    label = None
    if line.label_price is not None or pack.label_price is not None:
        before = line.label_price or line_total(pack.unit_price, line.quantity, line.measure)
        label = Money(amount=before.amount + (pack.label_price or pack.line_total).amount, currency=before.currency)
    return make_line(line.sku, pack.unit_price, quantity, measure, label, line.price_changed_from)


def refuse_plain_change(sku: str, labelled: bool, quantity: int, measure: Decimal | None,
                        label_price: Money | None) -> None:
    """Refuse a bare quantity change of a line added from a weight or price label (0, removing it, is fine)."""
    # A "+" on a weighed line would charge a pack nobody weighed; a new pack brings its own weight or label price.
    if labelled and quantity and measure is None and label_price is None:
        raise PricingError(f"{sku} was added from its weight or price label: scan another pack to add one, "
                           "or remove the line")


def as_request(line: CartLine) -> LineRequest:
    """The request that prices to this line again (an export, an order)."""
    return LineRequest(sku=line.sku, quantity=line.quantity, measure=line.measure, label_price=line.label_price)


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
            if line.line_total != line_total(line.unit_price, line.quantity, line.measure):
                raise ValueError(f"line {line.sku}: total does not match unit price times quantity or measure")
            if line.label_mismatch != label_differs(line.label_price, line.line_total, line.quantity, line.measure):
                raise ValueError(f"line {line.sku}: label_mismatch does not match its label price and total")
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
    """``cart.set_line``: set a line's quantity (and weight or label price); 0 removes it."""

    cart_id: CartId
    sku: Sku
    quantity: int = Field(ge=0, le=99)
    expected_version: int | None = Field(default=None, ge=1, description="refuse if the cart changed meanwhile")
    measure: Measure | None = Field(**_NOT_SET, description="kg of the whole line (every pack), for a product "
                                    "priced per kg; a weighed line cannot change without one, except to 0")
    label_price: LabelPrice | None = Field(**_NOT_SET, description="the price printed on the pack(s)")


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
