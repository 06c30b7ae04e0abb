"""Group commit: queued stock changes and orders share one COMMIT, each undone alone when it fails, replies after it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest

from backend import stock
from backend.db import Database
from backend.group_commit import GroupCommit
from backend.service import BackendService
from mqtt import topics
from mqtt.alerts import Alert
from mqtt.client import Message
from mqtt.payloads import ErrorCode, StockLevel, decode
from mqtt.rpc import OpError, RemoteError, RpcClient
from tests.conftest import Collector
from tests.helpers import wait_until

SKU = "FRU-APL-GOLDEN"
BACKROOM = {"sku": SKU, "location": "backroom", "reason": "delivery"}
# A test-only way to make the batch's COMMIT fail: a deferred foreign key is checked at COMMIT, not before.
BREAK_COMMIT = [
    "CREATE TABLE commit_breaker (store TEXT REFERENCES stores(id) DEFERRABLE INITIALLY DEFERRED)",
    "CREATE TRIGGER break_commit AFTER INSERT ON stock_ledger WHEN NEW.reason = 'break-commit'"
    " BEGIN INSERT INTO commit_breaker VALUES ('no-such-store'); END",
]
# A request that fails after it has written: the ledger row is refused once the stock row has changed.
FAIL_LATE = ("CREATE TRIGGER fail_late BEFORE INSERT ON stock_ledger WHEN NEW.reason = 'fail-late'"
             " BEGIN SELECT RAISE(ABORT, 'refused late'); END")


def _commits(db: Database) -> list[str]:
    """Every COMMIT the database's connection runs from now on."""
    seen: list[str] = []
    db.conn.set_trace_callback(lambda sql: sql.strip().upper().startswith("COMMIT") and seen.append(sql))
    return seen


def _client(make_client: Any, device: str) -> RpcClient:
    rpc = RpcClient(make_client(), "test-a", device)
    assert rpc.wait_ready()
    return rpc


@contextmanager
def one_batch(service: BackendService, blocker: RpcClient, count: int) -> Iterator[None]:
    """The ``count`` requests sent inside run as one batch: meanwhile the worker waits on the database."""
    admission = service.rpc.admission
    assert admission is not None
    batches = service.group_commit.commits
    with service.db.lock:
        admitted = admission.admitted
        first = blocker.call_async("stock.adjust", {**BACKROOM, "delta": 1})
        assert wait_until(lambda: admission.admitted == admitted + 1 and len(admission.queue) == 0)
        yield
        assert wait_until(lambda: len(admission.queue) == count)
    first.result(10)
    assert wait_until(lambda: service.group_commit.commits + service.rpc.batcher.failed > batches)


def _outcome(future: Future[Any]) -> Any:
    try:
        return future.result(10)
    except RemoteError as exc:
        return exc.code


# -- the database's groups, without MQTT ------------------------------------------------------------------------------


def test_a_group_commits_once_and_runs_its_actions_after(db: Database) -> None:
    commits = _commits(db)
    ran: list[str] = []
    with db.group():
        for delta in (1, 2):
            stock.adjust(db, "test-a", SKU, "backroom", delta, "delivery")
            db.after_commit(lambda d=delta: ran.append(f"level {d}"))
        db.after_commit(lambda: ran.append("event"))
        assert ran == [] and db.grouping()
        other = threading.Thread(target=lambda: db.after_commit(lambda: ran.append(f"other {db.grouping()}")))
        other.start()
        other.join()
    assert len(commits) == 1 and not db.grouping()
    assert ran == ["other False", "level 1", "level 2", "event"]  # another thread's is not in the group
    assert stock.level(db, "test-a", SKU).backroom == 23


def test_a_failed_write_in_a_group_undoes_only_itself_and_its_actions(db: Database) -> None:
    ran: list[int] = []
    with db.group():
        stock.adjust(db, "test-a", SKU, "backroom", 1, "delivery")
        db.after_commit(lambda: ran.append(1))
        with pytest.raises(ZeroDivisionError), db.transaction():
            stock.adjust(db, "test-a", SKU, "backroom", 5, "delivery")
            db.after_commit(lambda: ran.append(5))
            raise ZeroDivisionError
        stock.adjust(db, "test-a", SKU, "backroom", 2, "delivery")
        db.after_commit(lambda: ran.append(2))
    assert ran == [1, 2]
    assert stock.level(db, "test-a", SKU).backroom == 23 and not stock.ledger_balances(db)


def test_a_group_whose_commit_fails_applies_nothing_and_runs_no_action(db: Database) -> None:
    for statement in BREAK_COMMIT:
        db.conn.execute(statement)
    ledger, ran = db.count("stock_ledger"), []
    with pytest.raises(sqlite3.IntegrityError), db.group():
        stock.adjust(db, "test-a", SKU, "backroom", 1, "delivery")
        stock.adjust(db, "test-a", SKU, "backroom", 1, "break-commit")
        db.after_commit(lambda: ran.append(1))
    assert ran == [] and db.count("stock_ledger") == ledger and not db.conn.in_transaction
    with db.group():  # the connection is not wedged
        stock.adjust(db, "test-a", SKU, "backroom", 1, "delivery")
    assert stock.level(db, "test-a", SKU).backroom == 21


def test_a_group_rolled_back_by_sqlite_refuses_further_writes(db: Database) -> None:
    db.conn.execute("CREATE TRIGGER gone BEFORE INSERT ON stock_ledger WHEN NEW.reason = 'gone'"
                    " BEGIN SELECT RAISE(ROLLBACK, 'rolled back'); END")
    ledger = db.count("stock_ledger")
    with pytest.raises(sqlite3.OperationalError, match="rolled back before its COMMIT"), db.group():
        with pytest.raises(sqlite3.IntegrityError):
            stock.adjust(db, "test-a", SKU, "backroom", 1, "gone")
        # Without the check, this would run in autocommit mode: applied at once, outside the failed group.
        with pytest.raises(sqlite3.OperationalError, match="rolled back"):
            stock.adjust(db, "test-a", SKU, "backroom", 1, "delivery")
    assert db.count("stock_ledger") == ledger


def test_group_commit_counts_and_refuses_an_op_smuggled_into_a_batch(db: Database) -> None:
    group = GroupCommit(db, frozenset({"stock.adjust"}))
    table = group.wrap({"stock.adjust": lambda ctx, args: "adjusted", "cart.create": lambda ctx, args: "created"})
    ctx = type("Ctx", (), {"op": "cart.create"})()
    assert table["cart.create"](ctx, {}) == "created"  # outside a batch: as ever
    with group.transaction():
        assert table["stock.adjust"](ctx, {}) == "adjusted"
        with pytest.raises(OpError, match="cannot be sent as another"):
            table["cart.create"](ctx, {})
    assert (group.commits, group.batched) == (1, 1)


# -- the service over a real broker ---------------------------------------------------------------------------------


def test_concurrent_adjustments_share_commits_and_all_apply(service: BackendService, make_client: Any) -> None:
    devices = [_client(make_client, f"{kind}-{i}") for kind in ("tool", "till") for i in range(10)]
    levels = Collector()
    watcher = make_client()
    watcher.subscribe(topics.stock("test-a", SKU), levels)
    assert watcher.wait_subscribed(topics.stock("test-a", SKU))
    before, ledger = stock.level(service.db, "test-a", SKU), service.db.count("stock_ledger")
    commits = _commits(service.db)
    futures = [rpc.call_async("stock.adjust", {**BACKROOM, "delta": 1}) for _ in range(10) for rpc in devices]
    replies = [f.result(30) for f in futures]
    service.db.conn.set_trace_callback(None)
    assert len(replies) == 200 and all(not r["duplicate"] for r in replies)
    after = stock.level(service.db, "test-a", SKU)
    assert after.backroom == before.backroom + 200 and after.seq == before.seq + 200
    assert sorted(r["stock"]["seq"] for r in replies) == list(range(before.seq + 1, before.seq + 201))
    assert service.db.count("stock_ledger") == ledger + 200 and not stock.ledger_balances(service.db)
    assert service.group_commit.commits >= 1 and service.group_commit.batched > service.group_commit.commits
    assert len(commits) < 200  # one fsync per batch, not per request
    # Every committed level is published, in order, after its commit.
    assert levels.wait_for(lambda m: any(decode(StockLevel, x.payload).seq == after.seq for x in m))
    seqs = [decode(StockLevel, x.payload).seq for x in levels.messages if not x.retain]
    assert seqs == list(range(before.seq + 1, after.seq + 1))


def test_a_failing_request_in_a_batch_undoes_only_its_own_writes(service: BackendService, make_client: Any,
                                                                  watch_events: Any) -> None:
    service.db.conn.execute(FAIL_LATE)
    tool, kiosk = _client(make_client, "tool-1"), _client(make_client, "kiosk-7")
    events, alerts_seen = watch_events("test-a", "kiosk-7"), Collector()
    staff = make_client()
    staff.subscribe(topics.alerts_filter("test-a"), alerts_seen)
    assert staff.wait_subscribed(topics.alerts_filter("test-a"))
    before = stock.level(service.db, "test-a", SKU)
    order = {"order_id": "o_kiosk7-0000000000000001", "option_id": "pickup:test-a",
             "lines": [{"sku": "DAI-MILK-1L", "quantity": 2}]}
    with one_batch(service, _client(make_client, "tool-0"), 6):
        calls = [tool.call_async("stock.adjust", {**BACKROOM, "delta": 2}),
                 tool.call_async("stock.adjust", {**BACKROOM, "delta": 30, "reason": "fail-late"}),
                 tool.call_async("stock.adjust", {**BACKROOM, "delta": -1000}),
                 kiosk.call_async("order.place", order),
                 tool.call_async("stock.adjust", {"sku": "DAI-MILK-1L", "delta": -6, "reason": "sold"}),
                 tool.call_async("stock.adjust", {**BACKROOM, "delta": 3})]
    first, late, short, placed, sold, last = (_outcome(f) for f in calls)
    assert late == ErrorCode.INTERNAL and short == ErrorCode.CONFLICT
    assert first["stock"]["backroom"] == before.backroom + 1 + 2 and last["stock"]["backroom"] == before.backroom + 6
    assert placed["order"]["status"] == "awaiting_payment" and sold["stock"]["shelf"] == 6
    assert stock.level(service.db, "test-a", SKU).backroom == before.backroom + 6
    assert not stock.ledger_balances(service.db)  # the late failure's stock row went with it
    assert stock.level(service.db, "test-a", "DAI-MILK-1L").reserved == 2
    assert events.wait_for(lambda m: len(m) == 1)  # sent after the batch's COMMIT
    # The shelf reached its threshold: the alert was opened in the batch and published after its COMMIT.
    assert alerts_seen.wait_for(lambda m: any(decode(Alert, x.payload).sku == "DAI-MILK-1L" for x in m))
    assert service.group_commit.batched >= 6


def test_a_batch_whose_commit_fails_answers_every_request_with_an_error(service: BackendService,
                                                                         make_client: Any) -> None:
    for statement in BREAK_COMMIT:
        service.db.conn.execute(statement)
    tool = _client(make_client, "tool-2")
    published: list[Message] = []
    watcher = make_client()
    watcher.subscribe(topics.stock("test-a", SKU), lambda m: published.append(m) if not m.retain else None)
    assert watcher.wait_subscribed(topics.stock("test-a", SKU))
    blocker = _client(make_client, "tool-0")
    with one_batch(service, blocker, 3):
        ledger, level = service.db.count("stock_ledger") + 1, stock.level(service.db, "test-a", SKU)
        calls = [tool.call_async("stock.adjust", {**BACKROOM, "delta": 1}),
                 tool.call_async("stock.adjust", {**BACKROOM, "delta": 1, "reason": "break-commit"}),
                 tool.call_async("stock.adjust", {**BACKROOM, "delta": -1000})]
    outcomes = [_outcome(f) for f in calls]
    assert outcomes == [ErrorCode.UNAVAILABLE] * 3  # never "ok" for what was not committed
    assert service.rpc.batcher.failed == 1
    assert service.db.count("stock_ledger") == ledger  # only the blocker's, committed on its own before
    assert stock.level(service.db, "test-a", SKU).backroom == level.backroom + 1
    again = tool.call("stock.adjust", {**BACKROOM, "delta": 1}, timeout=10)  # the connection is not wedged
    assert again["stock"]["backroom"] == level.backroom + 2
    assert wait_until(lambda: any(decode(StockLevel, m.payload).seq == again["stock"]["seq"] for m in published))
    seqs = [decode(StockLevel, m.payload).seq for m in published]
    assert all(seq <= level.seq + 1 or seq == again["stock"]["seq"] for seq in seqs)  # nothing of the batch


def test_the_same_request_twice_in_one_batch_is_applied_once(service: BackendService, make_client: Any) -> None:
    # Two clients of one device (a resend after a reconnect, say): each waits for its own reply.
    tools = [_client(make_client, "tool-3"), _client(make_client, "tool-3")]
    ledger, level = service.db.count("stock_ledger"), stock.level(service.db, "test-a", SKU)
    with one_batch(service, _client(make_client, "tool-0"), 2):
        calls = [rpc.call_async("stock.adjust", {**BACKROOM, "delta": 4}, request_id="twice-in-a-batch-1")
                 for rpc in tools]
    first, second = (f.result(10) for f in calls)
    # The two arrive in either order: whichever ran first applied it, the other one was told it is a duplicate.
    assert sorted([first["duplicate"], second["duplicate"]]) == [False, True]
    assert first["stock"]["backroom"] == second["stock"]["backroom"] == level.backroom + 1 + 4
    assert service.db.count("stock_ledger") == ledger + 2  # the blocker's and one of the two
    row = service.db.conn.execute("SELECT count(*) FROM stock_ledger WHERE idempotency_key = ?",
                                  ["tool-3:twice-in-a-batch-1"]).fetchone()
    assert row[0] == 1 and not stock.ledger_balances(service.db)
