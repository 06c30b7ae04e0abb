"""The migration runner: a fresh file, an upgrade from each older version, atomic steps, newer files refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Durability, Migration, SchemaTooNew, connect, migrate, open_migrated, statements

MIGRATIONS = [
    Migration(1, "items", """
-- Items; their names.
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE INDEX items_name ON items(name);
"""),
    Migration(2, "prices", """
ALTER TABLE items ADD COLUMN price TEXT NOT NULL DEFAULT '0';
-- Items of before had no price: 1 until someone sets one.
UPDATE items SET price = '1';
"""),
    Migration(3, "an audit trigger", """
CREATE TABLE changes (item INTEGER NOT NULL);
-- Every price change is recorded; a trigger body holds semicolons of its own.
CREATE TRIGGER items_changed AFTER UPDATE OF price ON items BEGIN
    INSERT INTO changes VALUES (new.id);
END
"""),
]


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    conn = connect(tmp_path / "m.db", durability=Durability.CRASH)
    yield conn
    conn.close()


def _versions(conn: sqlite3.Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT version FROM _migrations ORDER BY version")]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}


def test_a_fresh_database_gets_every_migration(conn: sqlite3.Connection) -> None:
    assert migrate(conn, MIGRATIONS) == 3
    assert _versions(conn) == [1, 2, 3]
    assert {"items", "changes", "items_changed", "_migrations"} <= _tables(conn)
    names = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY version")]
    assert names == ["items", "prices", "an audit trigger"]
    assert migrate(conn, MIGRATIONS) == 3  # again: nothing to do
    assert _versions(conn) == [1, 2, 3]


@pytest.mark.parametrize("old", [1, 2])
def test_an_older_database_is_upgraded_in_place(tmp_path: Path, old: int) -> None:
    path = tmp_path / "old.db"
    conn = connect(path, durability=Durability.CRASH)
    migrate(conn, MIGRATIONS[:old])
    conn.execute("INSERT INTO items (id, name) VALUES (7, 'milk')")
    conn.close()
    conn = connect(path, durability=Durability.CRASH)
    assert migrate(conn, MIGRATIONS) == 3
    assert _versions(conn) == [1, 2, 3]
    assert conn.execute("SELECT id, name FROM items").fetchall() == [(7, "milk")]
    conn.execute("UPDATE items SET price = '2' WHERE id = 7")
    assert conn.execute("SELECT item FROM changes").fetchall() == [(7,)]
    conn.close()


def test_a_failing_migration_leaves_nothing_of_itself(conn: sqlite3.Connection) -> None:
    broken = [*MIGRATIONS[:1], Migration(2, "broken", "CREATE TABLE half (x);\nINSERT INTO nowhere VALUES (1);")]
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        migrate(conn, broken)
    assert not conn.in_transaction
    assert _versions(conn) == [1]  # the first one committed on its own
    assert "half" not in _tables(conn)
    assert migrate(conn, MIGRATIONS) == 3  # the fixed release carries on from there


def test_a_migration_sqlite_rolled_back_itself_reports_its_own_error(conn: sqlite3.Connection) -> None:
    refused = [Migration(1, "refused", """
CREATE TABLE t (x);
CREATE TRIGGER no BEFORE INSERT ON t BEGIN SELECT RAISE(ROLLBACK, 'refused by the trigger'); END;
INSERT INTO t VALUES (1);
""")]
    with pytest.raises(sqlite3.IntegrityError, match="refused by the trigger"):
        migrate(conn, refused)
    assert not conn.in_transaction
    assert _versions(conn) == []


def test_a_database_newer_than_the_code_is_refused_untouched(conn: sqlite3.Connection) -> None:
    migrate(conn, MIGRATIONS)
    conn.execute("INSERT INTO _migrations VALUES (4, 'from the future', NULL)")
    with pytest.raises(SchemaTooNew, match=r"orders\.db has schema versions \[4\]"):
        migrate(conn, MIGRATIONS, what="orders.db")
    with pytest.raises(SchemaTooNew, match=r"\[3, 4\]"):
        migrate(conn, MIGRATIONS[:2])
    assert _versions(conn) == [1, 2, 3, 4]


def test_migrations_must_be_numbered_from_one_in_order(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="numbered"):
        migrate(conn, [MIGRATIONS[0], MIGRATIONS[2]])
    with pytest.raises(ValueError, match="numbered"):
        migrate(conn, [MIGRATIONS[1], MIGRATIONS[0]])
    assert "_migrations" not in _tables(conn)


def test_statements_leave_out_comment_lines_and_keep_trigger_bodies_whole() -> None:
    script = MIGRATIONS[2].script + "\n-- a comment after the last statement; with a semicolon\n"
    found = statements(script)
    assert found[0] == "CREATE TABLE changes (item INTEGER NOT NULL);"
    assert found[1].startswith("CREATE TRIGGER items_changed") and found[1].endswith("END")
    assert len(found) == 2 and not any("--" in s for s in found)
    assert statements("-- only; a comment\n  -- indented too\n") == []


def test_open_migrated_gives_an_up_to_date_connection_or_none(tmp_path: Path) -> None:
    conn = open_migrated(tmp_path / "o.db", MIGRATIONS, what="o.db", durability=Durability.POWER_CUT)
    assert _versions(conn) == [1, 2, 3]
    conn.close()
    with pytest.raises(SchemaTooNew, match="o.db"):
        open_migrated(tmp_path / "o.db", MIGRATIONS[:1], what="o.db", durability=Durability.POWER_CUT)
