"""Opening a database: each pragma as asked, a folder made for it, transactions that commit or leave nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Durability, connect, transaction


def _pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_power_cut_safe_database_with_every_option(tmp_path: Path) -> None:
    conn = connect(tmp_path / "new" / "folder" / "a.db", durability=Durability.POWER_CUT, busy_timeout=5.0,
                   foreign_keys=True, secure_delete=True)
    assert (tmp_path / "new" / "folder" / "a.db").is_file()
    assert _pragma(conn, "journal_mode") == "wal"
    assert _pragma(conn, "synchronous") == 2  # FULL
    assert _pragma(conn, "foreign_keys") == 1
    assert _pragma(conn, "secure_delete") == 1
    assert _pragma(conn, "busy_timeout") == 5000
    assert conn.isolation_level is None  # autocommit: transactions are begun explicitly
    conn.close()


def test_a_crash_safe_database_with_the_defaults(tmp_path: Path) -> None:
    conn = connect(tmp_path / "b.db", durability=Durability.CRASH)
    assert _pragma(conn, "journal_mode") == "wal"
    assert _pragma(conn, "synchronous") == 1  # NORMAL
    assert _pragma(conn, "foreign_keys") == 0
    assert _pragma(conn, "busy_timeout") == 30000
    conn.close()


def test_without_wal_the_journal_mode_is_left_as_the_file_has_it(tmp_path: Path) -> None:
    connect(tmp_path / "c.db", durability=Durability.CRASH).close()
    other = connect(tmp_path / "c.db", durability=Durability.CRASH, wal=False)
    assert _pragma(other, "journal_mode") == "wal"  # the mode stays with the file
    fresh = connect(tmp_path / "d.db", durability=Durability.CRASH, wal=False)
    assert _pragma(fresh, "journal_mode") == "delete"
    other.close()
    fresh.close()


def test_a_transaction_commits_everything_or_nothing(tmp_path: Path) -> None:
    conn = connect(tmp_path / "t.db", durability=Durability.CRASH)
    conn.execute("CREATE TABLE t (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ZeroDivisionError), transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        raise ZeroDivisionError
    assert not conn.in_transaction
    assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1]
    conn.close()


def test_a_rollback_sqlite_already_made_is_not_repeated(tmp_path: Path) -> None:
    conn = connect(tmp_path / "r.db", durability=Durability.CRASH)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON t BEGIN SELECT RAISE(ROLLBACK, 'refused here'); END")
    # A second ROLLBACK would fail with "no transaction is active" and hide the cause.
    with pytest.raises(sqlite3.IntegrityError, match="refused here"), transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    assert not conn.in_transaction
    conn.close()


def test_a_failed_commit_leaves_the_connection_usable(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a.db", durability=Durability.CRASH, foreign_keys=True)
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), transaction(conn):
        conn.execute("INSERT INTO child VALUES (7)")  # checked only at COMMIT, which fails and stays open
    assert not conn.in_transaction
    with transaction(conn):  # a wedged connection would say "cannot start a transaction within a transaction"
        conn.execute("INSERT INTO parent VALUES (7)")
        conn.execute("INSERT INTO child VALUES (7)")
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 1
    conn.close()


def test_a_transaction_inside_one_is_a_savepoint_undone_alone(tmp_path: Path) -> None:
    conn = connect(tmp_path / "s.db", durability=Durability.CRASH)
    conn.execute("CREATE TABLE t (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ZeroDivisionError), transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            with transaction(conn):  # nested again: released into the one that then fails
                conn.execute("INSERT INTO t VALUES (3)")
            raise ZeroDivisionError
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (4)")
        assert conn.in_transaction  # nothing committed yet: the outer transaction commits all
        other = connect(tmp_path / "s.db", durability=Durability.CRASH)
        assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")] == [1, 4]
    assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    other.close()
    conn.close()


def test_a_savepoint_whose_whole_transaction_sqlite_rolled_back_passes_the_error_on(tmp_path: Path) -> None:
    conn = connect(tmp_path / "g.db", durability=Durability.CRASH)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON t WHEN NEW.x = 2 BEGIN SELECT RAISE(ROLLBACK, 'gone'); END")
    with pytest.raises(sqlite3.IntegrityError, match="gone"), transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with transaction(conn):  # a ROLLBACK TO here would fail with "no such savepoint" and hide the cause
            conn.execute("INSERT INTO t VALUES (2)")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    conn.close()
