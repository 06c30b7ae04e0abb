"""Variable-measure (in-store, weighed or priced) EAN-13 codes: prefixes 20-29 with a weight or price inside.

What the digits mean is national (GS1 member organisations define it) and sometimes a chain's own choice, so a store
configures it: a region whose published rules biip knows (``se``, ``dk``, ``no``, ``fi``, ``de``, ``gb``, ``ee``,
``lt``, ``lv``), and/or explicit rules in biip's notation (``23:PPPPPPPPVVVV:weight:3`` = prefix 23, the next 6
digits the item, the last 4 the weight in grams; ``C`` marks a price/weight check digit). A UPC-A of number system
2, North America's in-store code, is the EAN-13 ``02...``: e.g. ``02:PPPPPPPCVVVV:price:2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from biip import ParseConfig, ParseError
from biip.checksums import gs1_price_weight_check_digit, gs1_standard_check_digit
from biip.gtin import Gtin
from biip.rcn import Rcn, RcnRegion

from codes.gtin import is_valid_gtin

REGIONS = frozenset(r.value for r in RcnRegion)
# 20-29: EAN-13 in-store numbers; 02: a UPC-A with number system 2 (North America's in-store codes) as EAN-13.
_RULE_RE = re.compile(r"(?P<prefix>2[0-9]|02):(?P<pattern>P{2,}C?V+):(?P<kind>weight|price|count):(?P<decimals>[0-3])")


class MeasureError(ValueError):
    """A variable-measure code or rule that cannot be trusted; the message says why."""


class MeasureKind(StrEnum):
    """What the variable part of the code is."""

    WEIGHT = "weight"  # kilograms
    PRICE = "price"  # in the store's currency
    COUNT = "count"  # pieces


@dataclass(frozen=True, slots=True)
class MeasureRule:
    """One prefix's layout, in biip's notation over the 12 digits before the check digit."""

    prefix: str
    pattern: str
    kind: MeasureKind
    decimals: int

    def __post_init__(self) -> None:
        text = f"{self.prefix}:{self.pattern}:{self.kind}:{self.decimals}"
        if len(self.pattern) != 12 or not _RULE_RE.fullmatch(text):
            raise MeasureError(f"bad variable-measure rule {text[:60]!r}: want e.g. 23:PPPPPPPPVVVV:weight:3")

    def to_text(self) -> str:
        """The rule as configured, e.g. ``23:PPPPPPPPVVVV:weight:3``."""
        return f"{self.prefix}:{self.pattern}:{self.kind.value}:{self.decimals}"


@dataclass(frozen=True, slots=True)
class MeasureConfig:
    """A store's variable-measure rules: a known region, explicit rules (which win for their prefix), or none."""

    region: str | None = None
    rules: tuple[MeasureRule, ...] = ()

    def __post_init__(self) -> None:
        if self.region is not None and self.region not in REGIONS:
            known = ", ".join(sorted(REGIONS))
            raise MeasureError(f"unknown variable-measure region {self.region[:8]!r}; known: {known}")
        prefixes = [r.prefix for r in self.rules]
        if len(set(prefixes)) != len(prefixes):
            raise MeasureError("two variable-measure rules for one prefix")

    @classmethod
    def from_text(cls, text: str) -> MeasureConfig:
        """Parse ``""``, ``se``, ``se;23:PPPPPPPPVVVV:weight:3`` or just rules separated by ``;``."""
        if len(text) > 400:
            raise MeasureError("variable-measure configuration too long")
        parts = [p.strip() for p in text.split(";") if p.strip()]
        region = parts.pop(0).lower() if parts and ":" not in parts[0] else None
        rules = []
        for part in parts:
            match = _RULE_RE.fullmatch(part)
            if match is None:
                raise MeasureError(f"bad variable-measure rule {part[:60]!r}: want e.g. 23:PPPPPPPPVVVV:weight:3")
            kind, decimals = MeasureKind(match["kind"]), int(match["decimals"])
            rules.append(MeasureRule(match["prefix"], match["pattern"], kind, decimals))
        return cls(region, tuple(rules))

    def to_text(self) -> str:
        """The configuration in the form ``from_text`` reads."""
        return ";".join([*([self.region] if self.region else []), *(r.to_text() for r in self.rules)])

    @property
    def enabled(self) -> bool:
        """True when any code can be read as variable-measure."""
        return bool(self.region or self.rules)


@dataclass(frozen=True, slots=True)
class VariableMeasure:
    """A weighed or priced item's code: which item, and the weight, price or count inside it."""

    code: str  # the scanned code as GTIN-14
    base_gtin: str  # GTIN-14 of the same code with the measure zeroed: what the catalogue lists for the item
    item: str
    kind: MeasureKind
    value: Decimal

    def to_json(self) -> dict[str, str]:
        """JSON-friendly form."""
        return {"item": self.item, "kind": self.kind.value, "value": str(self.value), "base_gtin": self.base_gtin}


def variable_measure(gtin14: str, config: MeasureConfig) -> VariableMeasure | None:
    """The measure inside a 20-29-prefixed EAN-13 under the store's rules; None when the code is not one."""
    if not config.enabled or not is_valid_gtin(gtin14) or len(gtin14) != 14 or not gtin14.startswith(("02", "002")):
        return None
    ean13 = gtin14[1:]
    rule = next((r for r in config.rules if r.prefix == ean13[:2]), None)
    if rule is not None:
        return _by_rule(gtin14, ean13, rule)
    if config.region is None:
        return None
    return _by_region(gtin14, ean13, config.region)


def _by_rule(gtin14: str, ean13: str, rule: MeasureRule) -> VariableMeasure:
    pattern = rule.pattern
    p1 = pattern.rindex("P") + 1
    v0, v1 = pattern.index("V"), pattern.rindex("V") + 1
    value = ean13[v0:v1]
    if "C" in pattern:
        c = pattern.index("C")
        if int(ean13[c]) != gs1_price_weight_check_digit(value):
            raise MeasureError(f"bad {rule.kind.value} check digit in {ean13}")
    zeroed = "0" * len(value)
    digits = list(ean13[:12])
    digits[v0:v1] = zeroed
    if "C" in pattern:
        digits[pattern.index("C")] = str(gs1_price_weight_check_digit(zeroed))
    body = "".join(digits)
    base = body + str(gs1_standard_check_digit(body))
    return VariableMeasure(gtin14, base.zfill(14), ean13[2:p1], rule.kind, Decimal(value).scaleb(-rule.decimals))


def _by_region(gtin14: str, ean13: str, region: str) -> VariableMeasure | None:
    try:
        parsed = Gtin.parse(ean13, config=ParseConfig(rcn_region=region))
    except ParseError as exc:
        raise MeasureError(str(exc)[:160]) from None
    if not isinstance(parsed, Rcn) or parsed.region is None:
        return None
    for kind, value in ((MeasureKind.WEIGHT, parsed.weight), (MeasureKind.PRICE, parsed.price),
                        (MeasureKind.COUNT, parsed.count)):
        if value is not None:
            base = parsed.without_variable_measure().value
            return VariableMeasure(gtin14, base.zfill(14), parsed.item_reference or "", kind, Decimal(value))
    return None  # a 2x prefix with no measure in this region (e.g. a store-internal article number)

