"""Parsing subscriber output and summarising one cell of bench.stock_fanout."""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

FLOOR_TOPIC_PREFIX = b"bench/floor/"
FLOOR_READY = b"bench/floor/ready"
_SEQ = re.compile(rb'"seq":(\d+)')
_FLOOR = re.compile(rb'"c":(\d+),"i":\d+,"t":(\d+)')

# (sku, seq) of an acknowledged adjustment -> (request sent, backend commit time), both Unix ns.
Acked = dict[tuple[str, int], tuple[int, int]]


def iso_to_ns(text: str) -> int:
    """Unix time in ns of an ISO 8601 timestamp with a zone (microsecond resolution)."""
    stamp = datetime.fromisoformat(text)
    return calendar.timegm(stamp.utctimetuple()) * 1_000_000_000 + stamp.microsecond * 1000


def unix_text_to_ns(text: bytes) -> int:
    """Parse mosquitto_sub's %U (``seconds.nanoseconds``) into integer ns."""
    sec, _, frac = text.partition(b".")
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, b"0")[:9])


@dataclass
class Latencies:
    """Latency samples in ns and a delivery count."""

    samples: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of samples (= messages delivered)."""
        return len(self.samples)

    def ms(self, quantile: float) -> float:
        """A quantile (0-100) in milliseconds; NaN without samples."""
        if not self.samples:
            return math.nan
        return float(np.percentile(np.asarray(self.samples, dtype=np.int64), quantile)) / 1e6

    def max_ms(self) -> float:
        """Largest sample in milliseconds."""
        return max(self.samples) / 1e6 if self.samples else math.nan


@dataclass
class SubscriberStats:
    """What the mosquitto_sub devices saw during one cell."""

    commit: Latencies = field(default_factory=Latencies)  # backend commit -> device received
    request: Latencies = field(default_factory=Latencies)  # load generator sent -> device received
    floor: Latencies = field(default_factory=Latencies)  # raw publisher sent -> device received
    unknown: int = 0  # stock updates matching no acknowledged adjustment of this cell
    min_stock_per_device: int = 0


def parse_subscribers(per_device: Iterable[list[bytes]], acked: Acked, cell: int) -> SubscriberStats:
    """Match `%U %t %p` lines of each device to acknowledged adjustments and floor messages."""
    stats = SubscriberStats()
    commit, request, floor = stats.commit.samples, stats.request.samples, stats.floor.samples
    minimum: int | None = None
    for lines in per_device:
        before = len(commit)
        for line in lines:
            recv_text, topic, payload = line.split(b" ", 2)
            recv = unix_text_to_ns(recv_text)
            if topic.startswith(FLOOR_TOPIC_PREFIX):
                match = _FLOOR.search(payload)
                if match and int(match[1]) == cell:
                    floor.append(recv - int(match[2]))
                continue
            seq = _SEQ.search(payload)
            info = acked.get((topic.rsplit(b"/", 1)[1].decode(), int(seq[1]))) if seq else None
            if info is None:
                stats.unknown += 1
                continue
            request.append(recv - info[0])
            commit.append(recv - info[1])
        got = len(commit) - before
        minimum = got if minimum is None else min(minimum, got)
    stats.min_stock_per_device = minimum or 0
    return stats


@dataclass
class DeviceStats:
    """What the full device client (MqttClient + StoreMirror) saw during one cell."""

    commit: Latencies = field(default_factory=Latencies)
    rejected: int = 0
    unknown: int = 0


def parse_device(lines: Iterable[bytes], acked: Acked) -> DeviceStats:
    """Match the device client's `<ns> <sku> <seq>` lines to acknowledged adjustments."""
    stats = DeviceStats()
    for line in lines:
        if line.startswith(b"rej "):
            stats.rejected += 1
            continue
        recv, sku, seq = line.split(b" ")
        info = acked.get((sku.decode(), int(seq)))
        if info is None:
            stats.unknown += 1
        else:
            stats.commit.samples.append(int(recv) - info[1])
    return stats


@dataclass
class CellResult:
    """One (devices, rate) measurement, backend path beside the raw floor."""

    devices: int
    rate: int
    duration: float
    sent: int
    acked: int
    errors: int
    send_rate: float
    achieved_rate: float
    subs: SubscriberStats
    device: DeviceStats
    floor_published: int
    backend_cpu: float  # share of one core during the adjustment phase
    broker_cpu: float
    subs_cpu: float  # all mosquitto_sub processes together
    load: float  # 1-minute load average after the cell (the machine may be shared)
    backend_unread: int  # peak bytes the broker had received from the backend but not yet read
    floor_unread: int  # the same for the floor publisher during the floor phase

    @property
    def expected(self) -> int:
        """Stock updates the devices should have received."""
        return self.acked * self.devices

    @property
    def delivered(self) -> int:
        """Stock updates the devices did receive."""
        return self.subs.commit.count

    @property
    def lost(self) -> int:
        """Expected minus delivered (negative would mean duplicates)."""
        return self.expected - self.delivered

    def passes(self, limit_ms: float) -> bool:
        """Nothing lost, p99 under the limit, and the backend kept up with the offered rate."""
        return (self.lost == 0 and self.errors == 0 and self.subs.commit.ms(99) < limit_ms
                and self.achieved_rate >= 0.95 * self.rate)

    def as_dict(self) -> dict[str, float | int]:
        """Flat summary for JSON output."""
        return {
            "devices": self.devices, "rate": self.rate, "duration_s": self.duration, "sent": self.sent,
            "acked": self.acked, "errors": self.errors, "send_rate": round(self.send_rate, 1),
            "achieved_rate": round(self.achieved_rate, 1), "expected": self.expected, "delivered": self.delivered,
            "unknown": self.subs.unknown, "min_per_device": self.subs.min_stock_per_device,
            "p50_ms": self.subs.commit.ms(50), "p99_ms": self.subs.commit.ms(99),
            "max_ms": self.subs.commit.max_ms(), "req_p50_ms": self.subs.request.ms(50),
            "req_p99_ms": self.subs.request.ms(99), "device_delivered": self.device.commit.count,
            "device_rejected": self.device.rejected, "device_p50_ms": self.device.commit.ms(50),
            "device_p99_ms": self.device.commit.ms(99), "floor_expected": self.floor_published * self.devices,
            "floor_delivered": self.subs.floor.count, "floor_p50_ms": self.subs.floor.ms(50),
            "floor_p99_ms": self.subs.floor.ms(99), "floor_max_ms": self.subs.floor.max_ms(),
            "backend_cpu": round(self.backend_cpu, 2), "broker_cpu": round(self.broker_cpu, 2),
            "subs_cpu": round(self.subs_cpu, 2), "load": round(self.load, 2),
            "backend_unread_bytes": self.backend_unread, "floor_unread_bytes": self.floor_unread,
        }


TABLE_HEADER = (
    "| Devices | Rate /s | Phase s | Achieved /s | Delivered / expected | p50 ms | p99 ms | max ms | req→recv p99 ms "
    "| Full client delivered | Full client p50 / p99 ms | Floor delivered | Floor p50 / p99 ms "
    "| CPU backend / broker / subs | Unread KB backend / floor | Load |\n"
    "|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|---|---|---|---|---:|"
)


def _f(value: float) -> str:
    return "–" if math.isnan(value) else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def table_row(r: CellResult) -> str:
    """One Markdown table row."""
    floor_expected = r.floor_published * r.devices
    return (f"| {r.devices} | {r.rate} | {r.duration:g} | {r.achieved_rate:.0f} | {r.delivered}/{r.expected} "
            f"| {_f(r.subs.commit.ms(50))} | {_f(r.subs.commit.ms(99))} | {_f(r.subs.commit.max_ms())} "
            f"| {_f(r.subs.request.ms(99))} | {r.device.commit.count}/{r.acked} "
            f"| {_f(r.device.commit.ms(50))} / {_f(r.device.commit.ms(99))} "
            f"| {r.subs.floor.count}/{floor_expected} | {_f(r.subs.floor.ms(50))} / {_f(r.subs.floor.ms(99))} "
            f"| {r.backend_cpu:.0%} / {r.broker_cpu:.0%} / {r.subs_cpu:.0%} "
            f"| {r.backend_unread / 1024:.0f} / {r.floor_unread / 1024:.0f} | {r.load:.1f} |")
