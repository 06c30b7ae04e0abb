"""The order outbox and the staff action queue keep versioned schemas; files from before versions are adopted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.outbox import M001_ORDERS, OrderOutbox
from edge.staff_actions import M001_STAFF_ACTIONS, StaffActionQueue
from storage import SchemaTooNew, statements

# Version 1 is what the code before versioned schemas ran on every start (CREATE TABLE IF NOT EXISTS ...); a file
# it wrote has those tables and no _migrations table.
OLD_ORDERS = statements(M001_ORDERS)
OLD_STAFF_ACTIONS = statements(M001_STAFF_ACTIONS)
NOW = "2026-12-01T10:00:00+00:00"


def _old_file(path: Path, schema: list[str], rows: list[tuple[str, list[object]]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in schema:
        conn.execute(statement)
    for sql, args in rows:
        conn.execute(sql, args)
    conn.close()


def _versions(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT version FROM _migrations")]
    finally:
        conn.close()


def test_an_orders_file_from_before_versions_keeps_its_orders(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    _old_file(path, OLD_ORDERS, [
        ("INSERT INTO device_orders (order_id, session_id, store, status, created_at, updated_at)"
         " VALUES ('o_unsent', 's1', 'test-a', 'queued', ?, ?)", [NOW, NOW]),
        ("INSERT INTO outbox (order_id, payload, attempts) VALUES ('o_unsent', '{}', 3)", []),
        ("INSERT INTO device_orders (order_id, session_id, store, status, reference, created_at, updated_at)"
         " VALUES ('o_sent', 's1', 'test-a', 'ready', 'A-12', ?, ?)", [NOW, NOW]),
    ])
    box = OrderOutbox(path, "test-a", rpc=None)  # type: ignore[arg-type]  # never started: nothing is sent
    assert [(o.order_id, o.status, o.reference) for o in box.orders("s1")] == [
        ("o_unsent", "queued", None), ("o_sent", "ready", "A-12")]
    assert box.pending() == 1
    box.close()
    assert _versions(path) == [1]
    again = OrderOutbox(path, "test-a", rpc=None)  # type: ignore[arg-type]
    assert again.pending() == 1 and len(again.orders()) == 2
    again.close()
    assert _versions(path) == [1]


def test_a_staff_action_file_from_before_versions_keeps_its_queue(tmp_path: Path) -> None:
    path = tmp_path / "staff_actions.db"
    _old_file(path, OLD_STAFF_ACTIONS, [
        ("INSERT INTO staff_actions (op, args, queued_at) VALUES ('alert.claim', '{\"alert_id\": \"a1\"}', ?)", [NOW]),
        ("INSERT INTO staff_actions (op, args, queued_at) VALUES ('alert.resolve', '{\"alert_id\": \"a2\"}', ?)",
         [NOW]),
    ])
    queue = StaffActionQueue(path, rpc=None, is_online=lambda: False)  # type: ignore[arg-type]
    assert queue.pending() == [(1, "alert.claim", {"alert_id": "a1"}), (2, "alert.resolve", {"alert_id": "a2"})]
    assert queue.submit("alert.dismiss", {"alert_id": "a3"}) == 3
    queue.close()
    assert _versions(path) == [1]


def test_files_written_by_newer_code_are_refused(tmp_path: Path) -> None:
    for name in ("orders.db", "staff_actions.db"):
        conn = sqlite3.connect(tmp_path / name)
        conn.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)")
        conn.execute("INSERT INTO _migrations VALUES (2, 'from the future', NULL)")
        conn.commit()
        conn.close()
    with pytest.raises(SchemaTooNew, match=r"orders\.db has schema versions \[2\]"):
        OrderOutbox(tmp_path / "orders.db", "test-a", rpc=None)  # type: ignore[arg-type]
    with pytest.raises(SchemaTooNew, match=r"staff_actions\.db has schema versions \[2\]"):
        StaffActionQueue(tmp_path / "staff_actions.db", rpc=None, is_online=lambda: False)  # type: ignore[arg-type]
