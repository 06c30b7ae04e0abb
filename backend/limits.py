"""How much each device may ask of the backend: every operation's cost class and each class's budget per role.

The one place that classifies operations (tests/backend/test_limits.py checks that every served operation is named
here). The mechanism that applies it is mqtt/admission.py; backend/service.py hands ``RequestLimits`` to the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from mqtt.admission import Budget

READ = "read"
WRITE = "write"
EXPENSIVE = "expensive"
SYNC = "sync"
KINDS = (READ, WRITE, EXPENSIVE, SYNC)

# What each operation costs the store. Reads answer from one or two indexed rows; writes commit (an fsync each);
# expensive ones scan the chain (order.options plans every source and delivery) or create broker identities;
# sync is a first catalogue download: many pages of up to 64 KiB, in a burst, once per device start.
OPERATION_KINDS = MappingProxyType({
    "stock.get": READ,
    "catalog.get": READ,
    "stock.nearby": READ,
    "cart.get": READ,
    "order.get": READ,
    "catalog.snapshot": SYNC,
    "stock.adjust": WRITE,
    "cart.create": WRITE,
    "cart.set_line": WRITE,
    "cart.handoff": WRITE,
    "cart.redeem": WRITE,
    "order.place": WRITE,
    "order.set_status": WRITE,
    "alert.report": WRITE,
    "alert.claim": WRITE,
    "alert.resolve": WRITE,
    "alert.dismiss": WRITE,
    "phone.enrolment": WRITE,
    "phone.revoke": WRITE,
    "order.options": EXPENSIVE,
    "phone.register": EXPENSIVE,
})
UNLISTED_KIND = WRITE  # an operation nobody classified (or an unknown name) is charged as a write, never as free

# A kiosk in use asks a few things a second in bursts (a scan: catalog.get + stock.get + cart.set_line; checkout:
# order.options, order.place); a first sync of 50,000 products is 100 snapshot pages. These defaults sit well
# above that, so a working device never meets them, and far below what one device could send.
SHOPPER_BUDGETS = MappingProxyType({
    READ: Budget(rate=20.0, burst=100),
    WRITE: Budget(rate=5.0, burst=40),
    EXPENSIVE: Budget(rate=1.0, burst=10),
    SYNC: Budget(rate=1.0, burst=120),
})
# Staff restock from a delivery note and tools run batches: their budgets are these multiples of a shopper's.
ROLE_FACTORS = MappingProxyType({"staff": 4.0, "admin": 50.0, "backend": 50.0})


@dataclass(frozen=True)
class RequestLimits:
    """The admission policy of the backend's request path (mqtt.admission.Policy)."""

    budgets: MappingProxyType[str, Budget] | dict[str, Budget] = field(default_factory=lambda: SHOPPER_BUDGETS)
    role_factors: MappingProxyType[str, float] | dict[str, float] = field(default_factory=lambda: ROLE_FACTORS)
    # Room for a burst from every device of a big store at once; beyond it a request waits seconds, so say so.
    queue_size: int = 1000
    # A device's requests run one after another anyway; more than this queued means it is not waiting for answers.
    per_device_queued: int = 16
    # Refusals of requests sent before their retry hint that are still answered: the first 5 (a kiosk has at most a
    # few requests in flight when it is refused), then 2 a second; a flood beyond that is dropped unanswered. A
    # client that honours ``retry_after`` is always answered.
    refusal_answers: Budget | None = Budget(rate=2.0, burst=5)
    # A device syncing has one or two catalogue pages (up to 64 KiB each) on their way; more than this waiting means
    # it asks faster than it reads, and the replies of everyone else would queue behind its pages.
    reply_backlog: int = 256 * 1024
    # A device that sends 10 requests before their retry hint, faster than one a second, is not a kiosk waiting for
    # its answers (each of its calls waits for the last, and for the hint): it is refused everything for a minute,
    # and its queued requests are dropped. Without this, ten flooding devices kept the worker busy with their
    # budgets' refills (bench/abuse.py); with 20 the flood's first tenth of a second reached further.
    strikes: Budget | None = Budget(rate=1.0, burst=10)
    penalty: float = 60.0
    _scaled: dict[tuple[str, str], Budget] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = set(KINDS) - set(self.budgets)
        if missing:
            raise ValueError(f"no budget for {', '.join(sorted(missing))}")
        if any(not factor > 0 for factor in self.role_factors.values()):
            raise ValueError("role factors must be positive")
        if self.queue_size < 1 or not 1 <= self.per_device_queued <= self.queue_size:
            raise ValueError("the queue needs room, and a device's share cannot exceed it")
        if not (0 < self.penalty <= 3600):
            raise ValueError("a penalty lasts more than nothing and at most an hour")
        for role, factor in [("", 1.0), *self.role_factors.items()]:
            for kind, budget in self.budgets.items():
                self._scaled[(role, kind)] = budget.scaled(factor)

    def kind(self, op: str) -> str:
        """The budget class of an operation."""
        return OPERATION_KINDS.get(op, UNLISTED_KIND)

    def budget(self, role: str, kind: str) -> Budget:
        """The budget of ``kind`` for a device of ``role`` (shoppers' roles and unknown ones get the base budget)."""
        return self._scaled.get((role, kind)) or self._scaled[("", kind)]


DEFAULT_LIMITS = RequestLimits()
