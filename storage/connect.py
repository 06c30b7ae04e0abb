"""Opening a SQLite file the way every Aisle database is opened, and one write transaction on it."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

_savepoints = itertools.count(1)  # unique savepoint names: nesting depth alone could repeat one in a sibling


class Durability(StrEnum):
    """``PRAGMA synchronous``: what a committed transaction survives."""

    POWER_CUT = "FULL"  # the WAL is synced at every commit
    CRASH = "NORMAL"  # a power cut may lose the last commits; an application crash loses nothing


def connect(path: str | Path, *, durability: Durability, wal: bool = True, busy_timeout: float = 30.0,
            foreign_keys: bool = False, secure_delete: bool = False) -> sqlite3.Connection:
    """Open (creating its folder) a database in autocommit mode, usable from any thread under the caller's lock.

    ``wal`` switches the file to write-ahead logging, which readers then never wait for (the mode stays with the
    file, so a second connection to it may leave it out); ``busy_timeout`` is how many seconds a statement waits for
    another connection's lock; ``secure_delete`` overwrites deleted rows instead of only unlinking them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are begun explicitly (``transaction``), never implicitly by the module.
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={Durability(durability).value}")
        if foreign_keys:
            conn.execute("PRAGMA foreign_keys=ON")
        if secure_delete:
            conn.execute("PRAGMA secure_delete=ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write (BEGIN IMMEDIATE): everything inside commits together or not at all.

    Inside a transaction already open on ``conn`` it is a SAVEPOINT instead: a failure undoes only its own writes,
    and what it wrote commits (or not) with the enclosing transaction.
    """
    if conn.in_transaction:
        with _savepoint(conn):
            yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite rolls back by itself on some errors (disk full): a second ROLLBACK would hide the cause.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        # A failed COMMIT (a deferred constraint, a busy checkpoint) leaves the transaction open: every later
        # BEGIN on this connection would fail until a restart.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    name = f"aisle_{next(_savepoints)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        # Gone when SQLite rolled the whole transaction back by itself (disk full): the enclosing one must see that.
        if conn.in_transaction:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")
