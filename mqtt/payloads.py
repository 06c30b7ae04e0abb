"""Payload models of the store protocol, validated on the way in and on the way out."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from codes import ids
from codes.measure import MeasureConfig, MeasureError

MAX_PAYLOAD_BYTES = 64 * 1024
_CURRENCIES = frozenset(list_currencies())


class PayloadError(ValueError):
    """A payload is not valid JSON or does not match its model; the message says why."""


_AMOUNT_RE = re.compile(r"-?\d{1,8}(\.\d{1,4})?")


def _currency(value: str) -> str:
    if value not in _CURRENCIES:
        raise ValueError(f"unknown ISO 4217 currency {value!r}")
    return value


def _amount(value: Any) -> Decimal:
    # One Python call for the whole check: a catalogue sync validates a price per product.
    if type(value) is str:
        if _AMOUNT_RE.fullmatch(value):
            return Decimal(value)  # the pattern bounds the digits and rules out NaN and infinities
        raise ValueError(f"amount {value[:20]!r} is not a decimal string such as \"16.90\"")
    if isinstance(value, Decimal):
        return _decimal_bounds(value)
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        # A JSON number would pass through a binary float on some clients: only text carries money.
        raise ValueError("amount must be a decimal string such as \"16.90\", not a JSON number")
    raise ValueError("amount must be a decimal string such as \"16.90\"")


def _decimal_bounds(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("amount must be finite")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ValueError("amount has more than 4 decimal places")
    if abs(value) >= 10**8:
        raise ValueError("amount has more than 8 digits before the decimal point")
    return value


def _measure_config(value: str) -> str:
    try:
        return MeasureConfig.from_text(value).to_text()  # one spelling of each configuration
    except MeasureError as exc:
        raise ValueError(str(exc)) from None


def _gtin(value: str) -> str:
    try:
        return ids.gtin14(value)
    except ids.InvalidIdentifier as exc:
        raise ValueError(str(exc)) from None


# Patterns rather than Python validators: pydantic checks them in Rust, which matters for a catalogue of 50k.
StoreId = Annotated[str, Field(max_length=32, pattern=ids.STORE_ID_RE.pattern)]
Sku = Annotated[str, Field(max_length=64, pattern=ids.SKU_RE.pattern)]
DeviceId = Annotated[str, Field(max_length=64, pattern=ids.DEVICE_ID_RE.pattern)]
Gtin = Annotated[str, Field(min_length=8, max_length=14, description="GTIN, normalised to 14 digits"),
                 AfterValidator(_gtin)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code"), AfterValidator(_currency)]
Amount = Annotated[
    Decimal,
    PlainValidator(_amount, json_schema_input_type=str),
    Field(description="decimal string, never a float; at most 8 digits before the point and 4 after",
          examples=["16.90"]),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
Timestamp = Annotated[AwareDatetime, Field(description="ISO 8601 with time zone")]
Quantity = Annotated[int, Field(ge=0, le=10_000_000)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
LocaleName = Annotated[str, Field(pattern=ids.LOCALE_RE.pattern, max_length=6)]


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


class Payload(BaseModel):
    """Base of every payload: strict, immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, str_strip_whitespace=False)


class Money(Payload):
    """An amount in one currency; the amount travels as a decimal string."""

    amount: Amount
    currency: Currency


class StoreDetails(Payload):
    """Retained details of a store or warehouse: ``aisle/v1/{store}/info``."""

    store: StoreId
    name: Text
    kind: Literal["store", "warehouse"]
    currency: Currency
    locale: LocaleName
    locales: list[LocaleName] = Field(min_length=1, max_length=20, description="languages the store offers")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str = Field(default="", max_length=300)
    variable_measure: Annotated[str, Field(max_length=400), AfterValidator(_measure_config)] = Field(
        default="", description="the store's variable-measure (weighed item) rules, e.g. \"se\" "
        "(codes.measure.MeasureConfig); empty: none")
    updated_at: Timestamp


class Product(Payload):
    """Retained catalogue entry: ``aisle/v1/{store}/catalog/{sku}``."""

    sku: Sku
    store: StoreId
    gtins: list[Gtin] = Field(default_factory=list, max_length=20)
    names: dict[LocaleName, Text] = Field(min_length=1, max_length=40, description="product name per locale")
    brand: str = Field(default="", max_length=100)
    category: str = Field(default="", max_length=60)
    unit: str = Field(default="each", max_length=30)
    shelf_location: str = Field(default="", max_length=30)
    price: Money
    image: str = Field(default="", max_length=300, description="image reference relative to the asset base")
    vision_label: str = Field(default="", max_length=100, description="recognition class of the product")
    seq: int = Field(ge=1, description="increases with every change of this entry")
    updated_at: Timestamp


class StockLevel(Payload):
    """Retained stock of one product in one store: ``aisle/v1/{store}/stock/{sku}``."""

    sku: Sku
    store: StoreId
    available: Quantity = Field(description="on_hand minus reserved, never negative")
    on_hand: Quantity = Field(description="units in the store (shelf and backroom)")
    reserved: Quantity = Field(description="units held for orders")
    shelf: Quantity = Field(default=0, description="units on the shop floor")
    backroom: Quantity = 0
    seq: int = Field(ge=1, description="strictly increasing per store and sku, across backend restarts")
    updated_at: Timestamp


class DeviceRole(StrEnum):
    """What kind of client a device is."""

    KIOSK = "kiosk"
    PHONE = "phone"
    STAFF = "staff"
    TOOL = "tool"
    BACKEND = "backend"


class DeviceStatus(Payload):
    """Retained presence of a device; its Last Will sets ``state`` to offline."""

    device: DeviceId
    store: StoreId | None = None
    role: DeviceRole
    state: Literal["online", "offline"]
    since: Timestamp | None = None
    version: str = Field(default="", max_length=40)


class Request(Payload):
    """A device's request: ``aisle/v1/{store}/device/{device}/req``."""

    v: Literal[1] = 1
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="correlation id, echoed in the reply")
    op: str = Field(pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*){1,3}$", max_length=64)
    reply_to: str = Field(max_length=200, description="the requesting device's own reply topic")
    args: dict[str, Any] = Field(default_factory=dict)


class ErrorCode(StrEnum):
    """Why a request failed."""

    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    EXPIRED = "expired"
    USED = "used"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    LIMIT_REACHED = "limit_reached"  # this device already holds what one device may (carts, unpaid orders, units)
    RATE_LIMITED = "rate_limited"  # this device asked too often; the message says when it may ask again
    CHAIN_UNAVAILABLE = "chain_unavailable"  # the step needs another site of the chain, which is unreachable now
    INTERNAL = "internal"


class ErrorInfo(Payload):
    """Machine-readable code and human-readable reason of a failed request."""

    code: ErrorCode
    message: str = Field(max_length=500)
    # Written only when there is a hint, so clients built before the field parse every other error unchanged.
    retry_after: float | None = Field(default=None, ge=0, le=3600, exclude_if=lambda value: value is None,
                                      description="seconds after which asking again may succeed (`rate_limited`, "
                                      "`unavailable`); absent when not known")


class Reply(Payload):
    """The backend's answer to one request, on the request's ``reply_to`` topic."""

    v: Literal[1] = 1
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None

    @model_validator(mode="after")
    def _error_matches_ok(self) -> Reply:
        if not self.ok and self.error is None:
            raise ValueError("a failed reply needs an error")
        return self


class StockLocation(StrEnum):
    """Where stock is kept inside a store or warehouse."""

    SHELF = "shelf"
    BACKROOM = "backroom"
    WAREHOUSE = "warehouse"


class StockAdjustArgs(Payload):
    """Arguments of ``stock.adjust``: the store comes from the request topic."""

    sku: Sku
    delta: int = Field(ge=-1_000_000, le=1_000_000)
    location: StockLocation = StockLocation.SHELF
    reason: Text

    @field_validator("delta")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be zero")
        return value


class StockGetArgs(Payload):
    """Arguments of ``stock.get``."""

    sku: Sku


class CatalogSnapshotArgs(Payload):
    """Arguments of ``catalog.snapshot``: one page of the store's catalogue and stock, in SKU order."""

    after: Sku | None = Field(default=None, description="continue after this SKU (the previous page's `next`)")
    since: Timestamp | None = Field(default=None, description="only entries changed at or after this backend time "
                                    "(a previous snapshot's `as_of`)")
    limit: int = Field(default=500, ge=1, le=1000, description="at most this many SKUs; a page also stays under the "
                       "payload size limit")


M = TypeVar("M", bound=BaseModel)


def encode(payload: BaseModel) -> bytes:
    """Serialise a payload to compact JSON bytes, refusing anything over the size limit."""
    data = payload.model_dump_json(exclude_none=False).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return data


def decode(model: type[M], data: bytes | bytearray | str | dict[str, Any]) -> M:
    """Parse and validate a payload, raising PayloadError with a short reason."""
    if isinstance(data, dict):
        obj: Any = data
    else:
        if len(data) > MAX_PAYLOAD_BYTES:
            raise PayloadError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        try:
            obj = json.loads(data)
        except RecursionError:
            raise PayloadError("not JSON: nested too deeply") from None
        except ValueError as exc:  # bad JSON, bad UTF-8, or an integer over Python's digit limit
            raise PayloadError(f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(obj, dict):
        raise PayloadError(f"expected a JSON object, got {type(obj).__name__}")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise PayloadError(describe(exc)) from None
    except RecursionError:
        raise PayloadError("payload nested too deeply") from None


def decode_or_none(model: type[M], data: bytes, what: str, logger: logging.Logger) -> M | None:
    """``decode`` a received message, or None after one warning on ``logger``: a bad message is dropped, not fatal."""
    try:
        return decode(model, data)
    except PayloadError as exc:
        logger.warning("ignored malformed %s: %s", what, exc)
        return None


def describe(exc: ValidationError) -> str:
    """Condense a pydantic error into one line naming each bad field."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
