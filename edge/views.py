"""What a device shows of a product and of its stock: plain immutable values, safe to hand to any thread."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from mqtt.payloads import Product, StockLevel


@dataclass(frozen=True)
class ProductView:
    """A product as this store sells it: name in the store's language, its own price."""

    sku: str
    store: str
    name: str
    names: Mapping[str, str]
    brand: str
    category: str
    unit: str
    shelf_location: str
    price: Decimal
    currency: str
    gtins: tuple[str, ...]
    image: str
    vision_label: str
    seq: int
    updated_at: datetime
    received_at: datetime

    @classmethod
    def of(cls, product: Product, received_at: datetime, locales: tuple[str, ...] = ()) -> ProductView:
        """View of a catalogue entry, naming it in the first of ``locales`` it has a name in."""
        same = {f.name: getattr(product, f.name) for f in fields(cls) if f.name in Product.model_fields}
        return cls(**{**same, "name": pick_name(product.names, locales), "names": MappingProxyType(dict(product.names)),
                      "price": product.price.amount, "currency": product.price.currency, "gtins": tuple(product.gtins),
                      "received_at": received_at})

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (money as a decimal string)."""
        out = _jsonable(self)
        out["price"] = {"amount": out["price"], "currency": out.pop("currency")}
        return out


@dataclass(frozen=True)
class StockView:
    """Stock of one product in this store; ``live`` is False when it may be out of date (see ``as_of``)."""

    store: str
    sku: str
    known: bool
    live: bool
    as_of: datetime | None  # when this value was last received or confirmed by the broker
    available: int | None = None
    on_hand: int | None = None
    reserved: int | None = None
    shelf: int | None = None
    backroom: int | None = None
    seq: int | None = None
    updated_at: datetime | None = None  # when the backend committed the change

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return _jsonable(self)


def _jsonable(view: Any) -> dict[str, Any]:
    out = {}
    for f in fields(view):
        value = getattr(view, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, Mapping | tuple):
            value = dict(value) if isinstance(value, Mapping) else list(value)
        out[f.name] = value
    return out


def pick_name(names: Mapping[str, str], locales: tuple[str, ...]) -> str:
    """The name in the first locale (``sv_SE`` falls back to ``sv``) that has one, else English, else any."""
    for locale in (*locales, "en"):
        for candidate in (locale, locale.split("_")[0]):
            if candidate in names:
                return names[candidate]
    return next(iter(names.values()))


def stock_view(level: StockLevel, live: bool, as_of: datetime) -> StockView:
    return StockView(level.store, level.sku, known=True, live=live, as_of=as_of, available=level.available,
                     on_hand=level.on_hand, reserved=level.reserved, shelf=level.shelf, backroom=level.backroom,
                     seq=level.seq, updated_at=level.updated_at)
