"""Retention on a real SQLite database: what is deleted, what is erased, and everything else left alone."""

from datetime import UTC, datetime, timedelta

from backend import carts, orders, retention
from backend.db import Database
from mqtt import topics
from mqtt.commerce import Address, LineRequest, OrderStatus
from tests.backend.test_orders import ADDRESS
from tests.conftest import unique

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = retention.RetentionPolicy(batch=2)  # small batches, so the batching is exercised too


def cart(db: Database, owner: str, at: datetime) -> str:
    return carts.create(db, "test-a", owner, [LineRequest(sku="DAI-MILK-1L", quantity=1)], at).cart_id


def order(db: Database, n: int, at: datetime, *, cart_id: str | None = None, status: OrderStatus | None = None,
          delivery: bool = False) -> str:
    order_id = f"o_retention-{n:016d}"
    orders.place(db, "test-a", "kiosk-1", order_id, "delivery:test-wh" if delivery else "pickup:test-a",
                 [LineRequest(sku="FRU-APL-GOLDEN", quantity=1)], Address(**ADDRESS) if delivery else None, cart_id,
                 at)
    path = {OrderStatus.PAID: ["paid"], OrderStatus.COLLECTED: ["paid", "collected"],
            OrderStatus.SHIPPED: ["paid", "shipped"], OrderStatus.CANCELLED: ["cancelled"]}.get(status, [])
    for step in path:
        orders.set_status(db, order_id, OrderStatus(step), at)
    return order_id


def alert(db: Database, alert_id: str, sku: str, state: str, opened: datetime, closed: datetime | None) -> None:
    with db.transaction():
        db.conn.execute(
            "INSERT INTO alerts (alert_id, store, sku, location, state, reason, opened_at, closed_at, updated_at)"
            " VALUES (?, 'test-a', ?, 'shelf', ?, 'threshold', ?, ?, ?)",
            [alert_id, sku, state, opened.isoformat(), closed.isoformat() if closed else None,
             (closed or opened).isoformat()])


def ids(db: Database, table: str, column: str) -> set[str]:
    return {r[0] for r in db.conn.execute(f"SELECT {column} FROM {table}")}  # noqa: S608 - test's own names


def test_retention_deletes_what_it_should_and_nothing_else(db: Database) -> None:
    old = NOW - 40 * DAY
    idle, fresh = cart(db, "phone-1", old), cart(db, "phone-1", NOW - DAY)
    for_open_order, for_done_order = cart(db, "phone-2", old), cart(db, "phone-2", old)
    order(db, 1, old, cart_id=for_open_order, status=OrderStatus.PAID)
    order(db, 2, old, cart_id=for_done_order, status=OrderStatus.COLLECTED)
    carts.issue_handoff(db, "test-a", fresh, "phone-1", NOW - 2 * timedelta(hours=1))  # expired over an hour ago
    live = carts.issue_handoff(db, "test-a", fresh, "phone-1", NOW - timedelta(minutes=5))
    recent_use = carts.issue_handoff(db, "test-a", fresh, "phone-1", NOW - timedelta(minutes=30))
    carts.issue_handoff(db, "test-a", idle, "phone-1", old)
    shipped_old = order(db, 3, old, status=OrderStatus.SHIPPED, delivery=True)
    cancelled_old = order(db, 4, old, status=OrderStatus.CANCELLED, delivery=True)
    shipped_recent = order(db, 5, NOW - 5 * DAY, status=OrderStatus.SHIPPED, delivery=True)
    paid_old = order(db, 6, old, status=OrderStatus.PAID, delivery=True)
    alert(db, "a_superseded_id", "DAI-MILK-1L", "resolved", old - 60 * DAY, old - 60 * DAY)
    alert(db, "a_dismissed_old_id", "DAI-MILK-1L", "dismissed", old - 59 * DAY, old - 59 * DAY)
    alert(db, "a_latest_id", "DAI-MILK-1L", "resolved", old - 58 * DAY, old - 58 * DAY)  # the shelf's latest: kept
    alert(db, "a_recent_id", "FRU-APL-GOLDEN", "resolved", NOW - 10 * DAY, NOW - 10 * DAY)
    alert(db, "a_open_id", "FRU-APL-GOLDEN", "open", old - 100 * DAY, None)
    alert(db, "a_only_id", "DRY-PASTA-500", "dismissed", old - 100 * DAY, old - 100 * DAY)
    order_rows = db.count("orders")
    ledger = db.count("stock_ledger")
    nonce_live = db.conn.execute("SELECT nonce FROM handoffs WHERE expires_at = ?",
                                    [live.expires_at.isoformat()]).fetchone()

    report = retention.run(db, NOW, POLICY)

    assert ids(db, "carts", "cart_id") == {fresh, for_open_order}
    assert db.conn.execute("SELECT count(*) FROM cart_lines WHERE cart_id = ?", [idle]).fetchone()[0] == 0
    # The idle cart's handoff went with the cart; the one expired over an hour ago on its own.
    assert report.carts == 2 and report.handoffs == 1 and report.addresses == 2
    remaining = db.conn.execute("SELECT expires_at FROM handoffs ORDER BY expires_at").fetchall()
    assert [datetime.fromisoformat(r[0]) for r in remaining] == sorted([recent_use.expires_at, live.expires_at])
    assert nonce_live is not None
    assert sorted(a for _, a in report.alerts) == ["a_dismissed_old_id", "a_superseded_id"]
    assert ids(db, "alerts", "alert_id") == {"a_latest_id", "a_recent_id", "a_open_id", "a_only_id"}
    assert orders.address_of(db, shipped_old) is None and orders.address_of(db, cancelled_old) is None
    assert orders.address_of(db, shipped_recent).city == "Stockholm"  # finished too recently
    assert orders.address_of(db, paid_old).city == "Stockholm"  # not finished: still to be delivered
    assert db.count("orders") == order_rows and db.count("stock_ledger") == ledger  # accounting stays
    assert orders.get(db, shipped_old).total.amount > 0
    assert retention.run(db, NOW, POLICY) == retention.RetentionReport(0, 0, [], 0)  # nothing left to do
    raw = db.path.read_bytes() + db.path.with_name(db.path.name + "-wal").read_bytes()
    assert raw.count("Ringvägen".encode()) == 2  # only the two addresses still kept, nowhere else on disk


def test_housekeeping_takes_deleted_alerts_off_the_broker(service, make_client, collector) -> None:
    now = datetime.now(UTC)
    alert(service.db, unique("a_old").replace("-", "_"), "DAI-MILK-1L", "resolved", now - 200 * DAY, now - 200 * DAY)
    alert(service.db, unique("a_new").replace("-", "_"), "DAI-MILK-1L", "resolved", now - 100 * DAY, now - 100 * DAY)
    old_id, new_id = [r[0] for r in service.db.conn.execute(
        "SELECT alert_id FROM alerts WHERE state = 'resolved' ORDER BY opened_at")]
    service.publish_changes()
    seen = collector()
    watcher = make_client()
    watcher.subscribe(topics.alerts_filter("test-a"), seen)
    assert seen.wait_for(lambda m: {topics.alert("test-a", old_id), topics.alert("test-a", new_id)}
                         <= {x.topic for x in m if x.payload})
    report = service.housekeeping.retain(now)
    assert [a for _, a in report.alerts] == [old_id]
    assert seen.wait_for(lambda m: any(x.topic == topics.alert("test-a", old_id) and not x.payload for x in m))
    fresh = collector()
    late = make_client()
    late.subscribe(topics.alerts_filter("test-a"), fresh)
    assert fresh.wait_for(lambda m: topics.alert("test-a", new_id) in {x.topic for x in m})
    assert topics.alert("test-a", old_id) not in {x.topic for x in fresh.messages if x.payload}
