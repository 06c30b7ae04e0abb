"""Stock ledger, idempotency and seq persistence on real SQLite files."""

import pytest

from backend import stock
from backend.db import Database
from backend.migrations import MIGRATIONS
from storage import SchemaTooNew


def test_adjust_writes_ledger_and_bumps_seq(db: Database) -> None:
    before = stock.level(db, "test-a", "DAI-MILK-1L")
    result = stock.adjust(db, "test-a", "DAI-MILK-1L", "shelf", -2, "sold", idempotency_key="k1")
    assert not result.duplicate
    assert result.level.shelf == before.shelf - 2
    assert result.level.seq == before.seq + 1
    assert stock.ledger_balances(db) == []


def test_same_idempotency_key_applies_once(db: Database) -> None:
    first = stock.adjust(db, "test-a", "DAI-MILK-1L", "shelf", -1, "sold", idempotency_key="dup")
    again = stock.adjust(db, "test-a", "DAI-MILK-1L", "shelf", -1, "sold", idempotency_key="dup")
    assert again.duplicate and again.ledger_id == first.ledger_id
    assert again.level.shelf == first.level.shelf and again.level.seq == first.level.seq


def test_stock_never_goes_negative_and_nothing_changes(db: Database) -> None:
    before = stock.level(db, "test-a", "DRY-PASTA-500")
    with pytest.raises(stock.InsufficientStock, match="only 0"):
        stock.adjust(db, "test-a", "DRY-PASTA-500", "shelf", -1, "sold")
    assert stock.level(db, "test-a", "DRY-PASTA-500") == before


@pytest.mark.parametrize("store_id,sku,location", [
    ("test-a", "NOPE", "shelf"), ("nowhere", "DAI-MILK-1L", "shelf"), ("test-a", "DAI-MILK-1L", "roof")])
def test_unknown_items_are_refused(db: Database, store_id: str, sku: str, location: str) -> None:
    with pytest.raises(stock.UnknownItem):
        stock.adjust(db, store_id, sku, location, 1, "x")


def test_seq_keeps_increasing_across_restart(db_path, db: Database) -> None:
    seq = stock.adjust(db, "test-a", "FRU-APL-GOLDEN", "backroom", 5, "delivery").level.seq
    db.close()
    reopened = Database(db_path)
    try:
        assert stock.level(reopened, "test-a", "FRU-APL-GOLDEN").seq == seq
        assert stock.adjust(reopened, "test-a", "FRU-APL-GOLDEN", "backroom", 1, "delivery").level.seq == seq + 1
    finally:
        reopened.close()
        # the fixture closes `store` again; sqlite3 allows a second close


def test_available_is_on_hand_minus_reserved(db: Database) -> None:
    db.conn.execute("UPDATE stock_state SET reserved = 5 WHERE store = 'test-b' AND sku = 'DAI-MILK-1L'")
    level = stock.level(db, "test-b", "DAI-MILK-1L")
    assert (level.on_hand, level.reserved, level.available) == (3, 5, 0)


def test_migrations_are_recorded_and_refuse_unknown_versions(db_path, db: Database) -> None:
    versions = [r[0] for r in db.conn.execute("SELECT version FROM _migrations")]
    assert versions == [m[0] for m in MIGRATIONS]
    db.conn.execute("INSERT INTO _migrations VALUES (999, 'future', NULL)")
    with pytest.raises(SchemaTooNew, match="999"):
        Database(db_path)
