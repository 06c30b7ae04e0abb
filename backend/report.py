"""``python -m backend report alerts``: time to claim and to resolve, per day and per category, with a chart."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from backend.db import Database
from mqtt.payloads import utcnow


@dataclass(frozen=True)
class Row:
    """Median and count of claim and resolve times for one group (a day or a category)."""

    group: str
    alerts: int
    claimed: int
    median_claim_min: float | None
    resolved: int
    median_resolve_min: float | None


def _minutes(start: str, end: str | None) -> float | None:
    if not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60


def alert_rows(db: Database, days: int, now: datetime | None = None) -> tuple[list[Row], list[Row]]:
    """Per-day and per-category rows for alerts opened in the last ``days`` days."""
    since = ((now or utcnow()) - timedelta(days=days)).isoformat()
    with db.lock:
        records = db.conn.execute(
            "SELECT a.opened_at, a.claimed_at, a.closed_at, a.state, coalesce(nullif(p.category, ''), 'other')"
            " FROM alerts a JOIN products p ON p.sku = a.sku WHERE a.opened_at >= ? ORDER BY a.opened_at",
            [since]).fetchall()
    by_day: dict[str, list[tuple]] = defaultdict(list)
    by_category: dict[str, list[tuple]] = defaultdict(list)
    for record in records:
        by_day[record[0][:10]].append(record)
        by_category[record[4]].append(record)
    return [_summarise(k, v) for k, v in sorted(by_day.items())], [_summarise(k, v) for k, v in
                                                                   sorted(by_category.items())]


def _summarise(group: str, records: list[tuple]) -> Row:
    claim = [m for r in records if (m := _minutes(r[0], r[1])) is not None]
    resolve = [m for r in records if r[3] == "resolved" and (m := _minutes(r[0], r[2])) is not None]
    return Row(group, len(records), len(claim), statistics.median(claim) if claim else None, len(resolve),
               statistics.median(resolve) if resolve else None)


def format_table(title: str, rows: list[Row]) -> str:
    """A plain-text table for the terminal."""
    lines = [title, f"{'':<14}{'alerts':>7}{'claimed':>9}{'claim min':>11}{'resolved':>10}{'resolve min':>13}"]
    for row in rows:
        claim = f"{row.median_claim_min:.1f}" if row.median_claim_min is not None else "-"
        resolve = f"{row.median_resolve_min:.1f}" if row.median_resolve_min is not None else "-"
        lines.append(f"{row.group:<14}{row.alerts:>7}{row.claimed:>9}{claim:>11}{row.resolved:>10}{resolve:>13}")
    if not rows:
        lines.append("(no alerts in this period)")
    return "\n".join(lines)


def write_chart(path: Path, per_day: list[Row], per_category: list[Row], days: int) -> None:
    """Median minutes to claim and to resolve, per day and per category, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for ax, rows, title in ((axes[0], per_day, f"Per day (last {days} days)"),
                            (axes[1], per_category, "Per product category")):
        labels = [r.group for r in rows]
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r.median_claim_min or 0 for r in rows], width=0.4, label="to claim")
        ax.bar([x + 0.2 for x in xs], [r.median_resolve_min or 0 for r in rows], width=0.4, label="to resolve")
        ax.set_xticks(list(xs), labels, rotation=30, ha="right")
        ax.set_ylabel("median minutes")
        ax.set_title(title)
        ax.legend()
        if not rows:
            ax.text(0.5, 0.5, "no alerts in this period", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("Restock alerts: time to claim and to resolve")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
