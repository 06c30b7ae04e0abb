"""Opening the backend database: SQLite in WAL mode, schema brought up to date by migrations."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.migrations import MIGRATIONS
from storage import Durability, open_migrated, transaction

log = logging.getLogger(__name__)


class Database:
    """The backend's database connection, shared by threads under one lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # POWER_CUT: an acknowledged stock change or order survives a power cut, not only a crash.
        self.conn = open_migrated(self.path, MIGRATIONS, what="backend database", durability=Durability.POWER_CUT,
                                  foreign_keys=True)
        self.lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One atomic write: everything inside commits together or not at all."""
        with self.lock, transaction(self.conn):
            yield self

    def count(self, table: str) -> int:
        """How many rows a table holds."""
        with self.lock:
            return int(self.conn.execute(f'SELECT count(*) FROM "{_identifier(table)}"').fetchone()[0])

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one committed state, even while another process writes (WAL)."""
        with self.lock:
            if self.conn.in_transaction:  # already inside a transaction: it is consistent as it is
                yield self.conn
                return
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    def data_version(self) -> int:
        """Changes whenever another connection commits to the database file."""
        with self.lock:
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.conn.close()


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a table name: {name!r}")
    return name
