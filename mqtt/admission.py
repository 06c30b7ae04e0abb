"""Admission control in front of request handlers: per-device token buckets and a bounded queue fair across devices.

The mechanism only; which operation costs what and how much each role may ask is the owner's policy (see
backend/limits.py). Admission runs as messages arrive (on the MQTT network thread), so it never blocks and never
touches the database: a request is either queued for the workers or refused at once with a retry hint.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0  # seconds; a hint longer than this is no use to a shopper waiting at a kiosk


@dataclass(frozen=True)
class Budget:
    """A token bucket's shape: ``burst`` requests at once, refilled at ``rate`` per second."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)) or self.burst < 1:
            raise ValueError(f"a budget needs a positive finite rate and a burst of at least 1, not {self}")

    def scaled(self, factor: float) -> Budget:
        """The same budget ``factor`` times larger."""
        return Budget(self.rate * factor, max(1, round(self.burst * factor)))


class TokenBucket:
    """Up to ``burst`` tokens, refilled continuously at ``rate`` per second; each request takes one."""

    __slots__ = ("budget", "rate", "burst", "tokens", "stamp")

    def __init__(self, budget: Budget, now: float) -> None:
        self.budget = budget
        self.rate = budget.rate
        self.burst = float(budget.burst)
        self.tokens = float(budget.burst)
        self.stamp = now

    def resize(self, budget: Budget) -> None:
        """Take another budget, keeping what was already used (a role found later must not mean a free burst)."""
        used = self.burst - self.tokens
        self.budget = budget
        self.rate = budget.rate
        self.burst = float(budget.burst)
        self.tokens = max(0.0, self.burst - used)

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last look."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token and return 0.0, or take nothing and return the seconds until a token will be there."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def give_back(self) -> None:
        """Return a token taken for a request that was then not served."""
        self.tokens = min(self.burst, self.tokens + 1.0)


class Policy(Protocol):
    """What the server's owner decides: each operation's class, each class's budget per role, the queue's bounds."""

    queue_size: int
    per_device_queued: int
    # How many refusals of requests sent before their retry hint are answered (the rest of a flood is dropped
    # unanswered; a device that waits as told is always answered); None: answer all.
    refusal_answers: Budget | None
    # Bytes of a device's replies that may wait unacknowledged on the connection before its next request is refused.
    reply_backlog: int
    # Refusals a device may run into (burst, refilled per second) before it is refused everything for ``penalty``
    # seconds and its queued requests are dropped; None: never.
    strikes: Budget | None
    penalty: float

    def kind(self, op: str) -> str:
        """The budget class of an operation (e.g. "read", "write", "expensive")."""
        ...

    def budget(self, role: str, kind: str) -> Budget:
        """How much a device of ``role`` may ask of class ``kind``."""
        ...


class FairQueue(Generic[T]):
    """A bounded queue shared fairly by keys: a key's next item waits behind keys that have used less service time.

    Fair queuing by time, not by count: a device whose requests are slow (a catalogue page, delivery options) falls
    behind one asking for cheap ones, and a key new to the queue starts level with the least served key, so it
    cannot bank credit while idle. Each key holds at most ``per_key`` items and the whole queue ``capacity``.
    ``done`` reports how long a key's item took; without it, keys simply take turns.
    """

    def __init__(self, capacity: int, per_key: int) -> None:
        if capacity < 1 or per_key < 1:
            raise ValueError("a queue needs room for at least one item in all and per key")
        self.capacity = capacity
        self.per_key = per_key
        self.high_water = 0  # the most items ever queued at once, for tests and monitoring
        self._items: dict[Hashable, deque[T]] = {}  # keys with work waiting
        self._used: dict[Hashable, float] = {}  # service seconds of each key with work waiting or running
        self._heap: list[tuple[float, int, Hashable]] = []  # (used, order, key); stale entries skipped on pop
        self._order = itertools.count()
        self._clock = 0.0  # the used time of the key served last: where a newly busy key starts
        self._length = 0
        self._closed = False
        self._cond = threading.Condition(threading.Lock())

    def __len__(self) -> int:
        return self._length

    def put(self, key: Hashable, item: T) -> bool:
        """Queue ``item`` for ``key``; False (nothing queued) when the queue or the key's share is full."""
        with self._cond:
            if self._closed or self._length >= self.capacity:
                return False
            items = self._items.get(key)
            if items is None:
                items = self._items[key] = deque()
                used = self._used[key] = max(self._used.get(key, 0.0), self._clock)
                heapq.heappush(self._heap, (used, next(self._order), key))
            elif len(items) >= self.per_key:
                return False
            items.append(item)
            self._length += 1
            self.high_water = max(self.high_water, self._length)
            self._cond.notify()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """The next item of the least served key; None when closed or on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._length > 0 or self._closed, timeout):
                return None
            while self._length:
                used, _, key = heapq.heappop(self._heap)
                items = self._items.get(key)
                if items is None or used != self._used.get(key):
                    continue  # an entry from before the key's last turn
                item = items.popleft()
                self._length -= 1
                self._clock = max(self._clock, used)
                if items:
                    heapq.heappush(self._heap, (used, next(self._order), key))
                else:
                    del self._items[key]
                return item
            return None

    def done(self, key: Hashable, seconds: float) -> None:
        """Charge ``key`` the service time of the item it was given; forgotten once the key has nothing queued."""
        with self._cond:
            if key in self._items:
                used = self._used[key] = self._used[key] + max(0.0, seconds)
                heapq.heappush(self._heap, (used, next(self._order), key))
            else:
                self._used.pop(key, None)

    def drop(self, key: Hashable) -> list[T]:
        """Take every item ``key`` has waiting out of the queue and return them."""
        with self._cond:
            items = self._items.pop(key, None)
            if not items:
                return []
            self._length -= len(items)
            return list(items)  # the key's heap entry is now stale: get() skips it

    def queued(self, key: Hashable) -> int:
        """How many items ``key`` has waiting."""
        with self._cond:
            items = self._items.get(key)
            return len(items) if items else 0

    def close(self) -> list[T]:
        """Refuse new items, wake every waiting ``get`` and return what was still queued."""
        with self._cond:
            self._closed = True
            left = [item for items in self._items.values() for item in items]
            self._items.clear()
            self._used.clear()
            self._heap.clear()
            self._length = 0
            self._cond.notify_all()
            return left


@dataclass(frozen=True)
class Refusal:
    """Why a request was not queued, when the device may ask again, and whether to tell it."""

    busy: bool  # True: the server is full (answer "unavailable"); False: the device is over its budget
    retry_after: float
    kind: str
    answer: bool = True  # False: the device was told enough times; drop this one unanswered
    dropped: tuple[object, ...] = ()  # queued items of a device penalised just now, to be refused as well


class Admission:
    """Token buckets per (store, device, class) and the bounded fair queue behind them; safe across threads."""

    def __init__(self, policy: Policy, *, clock: Callable[[], float] = time.monotonic,
                 max_devices: int = 100_000, on_penalty: Callable[[str, str, float], None] | None = None) -> None:
        self.policy = policy
        # Told (store, device, seconds) as a device is penalised, on the thread offering requests: must not block.
        self.on_penalty = on_penalty
        self.queue: FairQueue[object] = FairQueue(policy.queue_size, policy.per_device_queued)
        self._clock = clock
        self._max_keys = max_devices
        self._buckets: OrderedDict[tuple[str, str, str], TokenBucket] = OrderedDict()
        self._roles: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._answers: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()
        self._strikes: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()
        self._told: OrderedDict[tuple[str, str, str], float] = OrderedDict()  # (device, class) -> hint told (clock)
        self._penalised: OrderedDict[tuple[str, str], float] = OrderedDict()  # device -> refused until (clock)
        self._lock = threading.Lock()
        self._service_time = 0.002  # seconds per request, a moving average: how fast the queue drains
        self.admitted = 0
        self.rate_limited = 0
        self.busy = 0
        self.unanswered = 0  # refusals dropped without a reply
        self.penalties = 0  # times a device was refused everything for ignoring its refusals

    def offer(self, store: str, device: str, op: str, item: object) -> Refusal | None:
        """Charge the device's budget for ``op`` and queue ``item``; a Refusal when either says no."""
        kind = self.policy.kind(op)
        now = self._clock()
        key = (store, device)
        with self._lock:
            until = self._penalised.get(key)
            if until is not None:
                if now < until:
                    self.rate_limited += 1
                    return self._refusal(store, device, False, until - now, kind, now)
                del self._penalised[key]
                self._strikes.pop(key, None)  # served its time: a fresh start
            role = self._roles.get(key, "")
            bucket = self._bucket((store, device, kind), role, now)
            wait = bucket.take(now)
            if wait > 0:
                self.rate_limited += 1
                return self._strike(store, device, wait, kind, now)
        if self.queue.queued(key) >= self.queue.per_key:
            # The device has its whole share waiting: it is not waiting for answers. Its own doing, so the token
            # stays spent and it counts against the device; a flood would otherwise keep its burst forever.
            with self._lock:
                self.rate_limited += 1
                return self._strike(store, device, self._drain(self.queue.per_key), kind, now)
        if self.queue.put(key, item):
            with self._lock:
                self.admitted += 1
            return None
        with self._lock:
            bucket.give_back()  # not served, so not charged
            self.busy += 1
            return self._refusal(store, device, True, self._drain(len(self.queue) + 1), kind, now)

    def charge(self, store: str, device: str, op: str, admitted_as: str) -> Refusal | None:
        """Charge ``op`` when a closer look shows it differs in class from the ``admitted_as`` it was queued for."""
        kind = self.policy.kind(op)
        if kind == self.policy.kind(admitted_as):
            return None
        now = self._clock()
        with self._lock:
            bucket = self._bucket((store, device, kind), self._roles.get((store, device), ""), now)
            wait = bucket.take(now)
            if wait <= 0:
                return None
            self.rate_limited += 1
            return self._refusal(store, device, False, wait, kind, now)

    def done(self, store: str, device: str, seconds: float, cpu: float | None = None) -> None:
        """One admitted request took ``seconds`` (``cpu`` of them working): charge its device, update the drain rate.

        The share is charged in CPU time when given: wall time also counts the waits of a loaded machine (another
        thread holding the interpreter, the process descheduled), and one unlucky request of a quiet device
        would put it behind hundreds of a flooder's.
        """
        self.queue.done((store, device), seconds if cpu is None else cpu)
        self._service_time += (min(seconds, 10.0) - self._service_time) * 0.05

    def penalised(self, store: str, device: str) -> bool:
        """Whether the device is being refused everything for ignoring its refusals."""
        with self._lock:
            until = self._penalised.get((store, device))
            return until is not None and self._clock() < until

    def note_role(self, store: str, device: str, role: str) -> None:
        """Remember a device's role (found by the workers), so its next requests get that role's budgets."""
        key = (store, device)
        with self._lock:
            if self._roles.get(key) == role:
                return
            self._remember(self._roles, key, role)

    def _drain(self, ahead: int) -> float:
        """Roughly when ``ahead`` queued requests will have run; at least a moment, so clients do not spin."""
        return max(0.5, ahead * self._service_time)

    def _strike(self, store: str, device: str, wait: float, kind: str, now: float) -> Refusal:
        """Refuse a request over the device's budget; one sent too often before its hint and it is penalised."""
        shape = self.policy.strikes
        # Only a request that comes before the time the device was told to wait counts against it: a kiosk that
        # waits as told and then asks again at once may be refused again, but it is not flooding.
        ignoring = self._ignoring(store, device, kind, now)
        if shape is None or not ignoring or self._keyed(self._strikes, (store, device), shape, now).take(now) == 0.0:
            return self._refusal(store, device, False, wait, kind, now)
        # It keeps asking after being told when to come back: a flood, not a busy kiosk (whose requests wait for
        # their answers). Everything it sends is refused for a while, and what it has queued is not run.
        self._remember(self._penalised, (store, device), now + self.policy.penalty)
        self.penalties += 1
        if self.on_penalty is not None:
            self.on_penalty(store, device, self.policy.penalty)
        log.warning("%s/%s kept sending after being refused: refusing all its requests for %g s",
                    store[:32], device[:64], self.policy.penalty)
        refusal = self._refusal(store, device, False, self.policy.penalty, kind, now)
        return replace(refusal, dropped=tuple(self.queue.drop((store, device))))

    def _ignoring(self, store: str, device: str, kind: str, now: float) -> bool:
        """Whether the device asks again before the time it was last told to wait for this class."""
        return now < self._told.get((store, device, kind), now)

    def _refusal(self, store: str, device: str, busy: bool, wait: float, kind: str, now: float) -> Refusal:
        answer = True
        shape = self.policy.refusal_answers
        if shape is not None and self._ignoring(store, device, kind, now):
            # A device that ignores the hint and keeps sending is not answered each time: replies cost as much
            # as requests, and the broker would carry a second flood back to the flooder. One that waited as
            # told is always answered.
            answers = self._keyed(self._answers, (store, device), shape, now)
            answer = answers.take(now) == 0.0
            if not answer:
                self.unanswered += 1
        # Rounded up to the hundredth the reply carries: a device waiting exactly as told must not come back early.
        wait = min(MAX_RETRY_AFTER, math.ceil(wait * 100) / 100)
        if answer:
            told = (store, device, kind)
            self._remember(self._told, told, max(now + wait, self._told.get(told, 0.0)))
        return Refusal(busy, wait, kind, answer)

    def _remember(self, mapping: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        """Set ``key``, most recent last; memory stays bounded however many device names arrive."""
        mapping[key] = value
        mapping.move_to_end(key)
        while len(mapping) > self._max_keys:
            mapping.popitem(last=False)

    def _bucket(self, key: tuple[str, str, str], role: str, now: float) -> TokenBucket:
        budget = self.policy.budget(role, key[2])
        bucket = self._keyed(self._buckets, key, budget, now)
        if bucket.budget != budget:
            bucket.refill(now)  # earned at the old rate until now
            bucket.resize(budget)
        return bucket

    def _keyed(self, buckets: OrderedDict[Any, TokenBucket], key: Any, budget: Budget, now: float) -> TokenBucket:
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(budget, now)
            while len(buckets) > self._max_keys:
                # Memory stays bounded however many device names arrive; the least recently seen go first.
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(key)
        return bucket
