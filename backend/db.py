"""Opening the backend database: SQLite in WAL mode, schema brought up to date by migrations."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
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
        # The open group of writes (``group``): the thread holding it and its after-commit actions.
        self._group: tuple[int, list[Callable[[], None]]] | None = None

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One atomic write: everything inside commits together or not at all (inside a ``group``: a savepoint)."""
        with self.lock:
            if self._group is None:  # under the lock, an open group can only be this thread's
                with transaction(self.conn):
                    yield self
                return
            actions = self._group[1]
            if not self.conn.in_transaction:
                raise sqlite3.OperationalError("the group's transaction was rolled back; nothing more joins it")
            mark = len(actions)
            try:
                with transaction(self.conn):
                    yield self
            except BaseException:
                del actions[mark:]  # what a failed write would have published is as untrue as the write
                raise

    @contextmanager
    def group(self) -> Iterator[None]:
        """Several writes (each a ``transaction``, i.e. a savepoint) under one COMMIT, so one fsync for all.

        Actions given to ``after_commit`` meanwhile run once the COMMIT succeeded, and never if it failed; raises
        when the group did not commit (then nothing in it was applied).
        """
        with self.lock:
            if self._group is not None or self.conn.in_transaction:
                raise RuntimeError("a group of writes cannot open inside another transaction")
            actions: list[Callable[[], None]] = []
            self._group = (threading.get_ident(), actions)
            try:
                with transaction(self.conn):
                    yield
                    if not self.conn.in_transaction:  # SQLite rolled it back by itself (disk full): not committed
                        raise sqlite3.OperationalError("the group's transaction was rolled back before its COMMIT")
            finally:
                self._group = None
        # Outside the lock: publishing takes the service's publish lock, which is held while reading the database.
        _run_after_commit(actions)

    def grouping(self) -> bool:
        """Whether this thread has a ``group`` open."""
        group = self._group
        return group is not None and group[0] == threading.get_ident()

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or, inside this thread's ``group``, once it has committed (in order)."""
        group = self._group
        if group is None or group[0] != threading.get_ident():
            action()
            return
        group[1].append(action)

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


def _run_after_commit(actions: list[Callable[[], None]]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # committed already: one failed publish must not keep the others (or the replies) back
            log.exception("an action after a group commit failed")


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a table name: {name!r}")
    return name
