"""A store's policy file: request limits, hold caps, payment deadline, retention periods and shopper report limits.

`python -m backend serve --policy store-policy.toml` reads it; every key is optional and a missing one keeps its
default (backend/limits.py, holds.py, retention.py, alerts.py: the defaults live there, once). Durations are
written like ``"30s"``, ``"15m"``, ``"2h"`` or ``"90d"``. A bad file stops the service before it starts, with the
key and the reason; `python -m backend policy show [--policy FILE]` prints what is in force, in the same format.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backend.alerts import ReportPolicy
from backend.holds import Caps, HoldLimits
from backend.limits import DEFAULT_LIMITS, KINDS, RequestLimits
from backend.retention import RetentionPolicy
from mqtt.admission import Budget

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class PolicyError(ValueError):
    """The policy file cannot be read or holds a value the backend cannot use."""


def parse_duration(text: str) -> timedelta:
    """``"90d"`` -> 90 days; raises ValueError for anything else."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration like '30s', '15m', '2h' or '90d'")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    """The shortest exact form of ``value`` in the file's notation."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Budget(_Section):
    rate: float = Field(gt=0, le=1e6)
    burst: int = Field(ge=1, le=10_000_000)


class _Caps(_Section):
    open_carts: int | None = Field(default=None, ge=0)
    unpaid_orders: int | None = Field(default=None, ge=0)
    unpaid_units: int | None = Field(default=None, ge=0)


class _Duration(_Section):
    @field_validator("*", mode="before")
    @classmethod
    def _durations(cls, value: Any, info: Any) -> Any:
        if cls.model_fields[info.field_name].annotation in (timedelta, timedelta | None) and value is not None:
            return parse_duration(value)
        return value


class _Requests(_Duration):
    queue_size: int | None = Field(default=None, ge=1, le=1_000_000)
    per_device_queued: int | None = Field(default=None, ge=1)
    reply_backlog: int | None = Field(default=None, ge=1024)
    penalty: timedelta | None = None
    strikes: _Budget | bool | None = None  # false: never penalise
    refusal_answers: _Budget | bool | None = None  # false: answer every refusal
    budgets: dict[str, _Budget] = Field(default_factory=dict)
    role_factors: dict[str, float] = Field(default_factory=dict)

    @field_validator("budgets")
    @classmethod
    def _known_kinds(cls, value: dict[str, _Budget]) -> dict[str, _Budget]:
        unknown = set(value) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown budget class {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
        return value


class _Holds(_Duration):
    payment_deadline: timedelta | None = None
    open_cart_window: timedelta | None = None
    kiosk: _Caps = Field(default_factory=_Caps)
    personal: _Caps = Field(default_factory=_Caps)
    web: _Caps = Field(default_factory=_Caps)


class _Retention(_Duration):
    cart_idle: timedelta | None = None
    handoff_grace: timedelta | None = None
    closed_alerts: timedelta | None = None
    personal_data: timedelta | None = None
    every: timedelta | None = None
    batch: int | None = Field(default=None, ge=1, le=100_000)


class _Reports(_Duration):
    check_shelf_period: timedelta | None = None
    reports_per_device: int | None = Field(default=None, ge=0)
    report_window: timedelta | None = None


class _File(_Section):
    requests: _Requests = Field(default_factory=_Requests)
    holds: _Holds = Field(default_factory=_Holds)
    retention: _Retention = Field(default_factory=_Retention)
    reports: _Reports = Field(default_factory=_Reports)


@dataclass(frozen=True)
class StorePolicy:
    """Everything a store may set, each part in the form the backend uses it."""

    requests: RequestLimits = DEFAULT_LIMITS
    holds: HoldLimits = field(default_factory=HoldLimits)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    reports: ReportPolicy = field(default_factory=ReportPolicy)


def _set(value: Any, **changes: Any) -> Any:
    """``value`` with the changes that were given (None: keep the default)."""
    given = {k: v for k, v in changes.items() if v is not None}
    return replace(value, **given) if given else value


def _budget(value: _Budget | bool | None, default: Budget | None) -> Budget | None:
    if value is None or value is True:
        return default
    if value is False:
        return None
    return Budget(value.rate, value.burst)


def _caps(value: _Caps, default: Caps) -> Caps:
    return _set(default, **value.model_dump())


def load_policy(path: Path) -> StorePolicy:
    """Read a policy file; raises PolicyError naming the key and the reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path} is not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path} is not valid TOML: {exc}") from None
    try:
        raw = _File.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise PolicyError(f"{path}: {problems}") from None
    try:
        return _build(raw)
    except ValueError as exc:  # the parts' own checks (a share larger than the queue, a negative period, ...)
        raise PolicyError(f"{path}: {exc}") from None


def _build(raw: _File) -> StorePolicy:
    base, r = StorePolicy(), raw.requests
    requests = _set(base.requests, queue_size=r.queue_size, per_device_queued=r.per_device_queued,
                    reply_backlog=r.reply_backlog, penalty=r.penalty.total_seconds() if r.penalty else None)
    requests = replace(requests, strikes=_budget(r.strikes, base.requests.strikes),
                       refusal_answers=_budget(r.refusal_answers, base.requests.refusal_answers),
                       budgets={**base.requests.budgets, **{k: Budget(b.rate, b.burst) for k, b in r.budgets.items()}},
                       role_factors={**base.requests.role_factors, **r.role_factors})
    h = raw.holds
    holds = _set(base.holds, payment_deadline=h.payment_deadline, open_cart_window=h.open_cart_window,
                 kiosk=_caps(h.kiosk, base.holds.kiosk), personal=_caps(h.personal, base.holds.personal),
                 web=_caps(h.web, base.holds.web))
    retention = _set(base.retention, **{f.name: getattr(raw.retention, f.name) for f in fields(RetentionPolicy)})
    reports = _set(base.reports, **{f.name: getattr(raw.reports, f.name) for f in fields(ReportPolicy)})
    return StorePolicy(requests, holds, retention, reports)


def show(policy: StorePolicy) -> str:
    """The policy in force, as a policy file."""
    r = policy.requests
    lines = ["# Aisle store policy (python -m backend policy show); every key is optional", "", "[requests]",
             f"queue_size = {r.queue_size}", f"per_device_queued = {r.per_device_queued}",
             f"reply_backlog = {r.reply_backlog}", f'penalty = "{format_duration(timedelta(seconds=r.penalty))}"']
    for name in ("strikes", "refusal_answers"):
        budget = getattr(r, name)
        lines.append(f"{name} = " + ("false" if budget is None else f"{{ rate = {budget.rate:g}, burst = "
                                                                     f"{budget.burst} }}"))
    lines += ["", "[requests.budgets]"]
    lines += [f"{kind} = {{ rate = {b.rate:g}, burst = {b.burst} }}" for kind, b in r.budgets.items()]
    lines += ["", "[requests.role_factors]"] + [f"{role} = {factor:g}" for role, factor in r.role_factors.items()]
    h = policy.holds
    lines += ["", "[holds]", f'payment_deadline = "{format_duration(h.payment_deadline)}"',
              f'open_cart_window = "{format_duration(h.open_cart_window)}"']
    for name in ("kiosk", "personal", "web"):
        caps = getattr(h, name)
        lines.append(f"{name} = {{ open_carts = {caps.open_carts}, unpaid_orders = {caps.unpaid_orders}, "
                     f"unpaid_units = {caps.unpaid_units} }}")
    for section, value in (("retention", policy.retention), ("reports", policy.reports)):
        lines += ["", f"[{section}]"]
        for f in fields(value):
            v = getattr(value, f.name)
            lines.append(f'{f.name} = "{format_duration(v)}"' if isinstance(v, timedelta) else f"{f.name} = {v}")
    return "\n".join(lines) + "\n"
