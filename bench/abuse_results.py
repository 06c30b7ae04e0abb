"""The results of bench.abuse: what one cell measured, and the table it prints."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CellResult:
    """What the legitimate device saw in one cell, and what the flood got."""

    backend: str
    flood: str
    repeat: int
    latencies_ms: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # seconds into the cell each answered stock.get was sent
    stock_failures: dict[str, int] = field(default_factory=dict)
    orders_ok: int = 0
    orders_tried: int = 0
    order_failures: list[str] = field(default_factory=list)
    window_s: float = 0.0
    flood_result: dict[str, Any] = field(default_factory=dict)
    backend_cpu: float = 0.0
    broker_cpu: float = 0.0
    flood_cpu: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 < q <= 100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))] if ordered else float("nan")


def table(results: list[CellResult]) -> str:
    """Markdown table: one row per (backend, flood), pooled over repeats, with the spread of per-repeat p99."""
    rows = ["| Admission | Flood | Window s | stock.get answered | p50 ms | p99 ms | p99 per repeat ms | max ms "
            "| Orders placed | Flood sent / s | Flood outcomes | CPU backend / broker / flooders |",
            "|---|---|---:|---|---:|---:|---|---:|---|---|---|---|"]
    keys = list(dict.fromkeys((r.backend, r.flood) for r in results))
    for backend, flood in keys:
        cells = [r for r in results if (r.backend, r.flood) == (backend, flood)]
        pooled = [x for r in cells for x in r.latencies_ms]
        failed = sum(sum(r.stock_failures.values()) for r in cells)
        per_repeat = [percentile(r.latencies_ms, 99) for r in cells]
        outcomes: dict[str, int] = {}
        sent = send_s = 0.0
        for r in cells:
            for k, v in r.flood_result.get("outcomes", {}).items():
                outcomes[k] = outcomes.get(k, 0) + v
            outcomes["no reply"] = outcomes.get("no reply", 0) + r.flood_result.get("no_reply", 0)
            sent += r.flood_result.get("sent", 0)
            send_s += r.flood_result.get("send_s", 0.0)
        flood_text = (", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]) if v)
                      if sent else "–")
        rate = f"{sent / len(cells):.0f} / {send_s / len(cells):.1f}" if sent else "–"
        orders = f"{sum(r.orders_ok for r in cells)}/{sum(r.orders_tried for r in cells)}"
        rows.append(
            f"| {backend} | {flood} | {statistics.median(r.window_s for r in cells):.1f} "
            f"| {len(pooled)}/{len(pooled) + failed} | {percentile(pooled, 50):.1f} | {percentile(pooled, 99):.1f} "
            f"| {min(per_repeat):.1f}–{max(per_repeat):.1f} | {max(pooled, default=float('nan')):.1f} | {orders} "
            f"| {rate} | {flood_text} | " + " / ".join(
                f"{statistics.median(getattr(r, cpu) for r in cells):.0%}"
                for cpu in ("backend_cpu", "broker_cpu", "flood_cpu")) + " |")
    return "\n".join(rows)
