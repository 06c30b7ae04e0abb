"""The name search index during a bulk load: rows are indexed a batch at a time on a thread of their own."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from edge.cache_schema import INDEX_LIVE

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]

# Fewer rows per batch cost more per row (FTS5 writes a segment per transaction and merges them later): 56 µs a
# product in batches of 100, 44 in batches of 2000, against 31 for one rebuild at the end, on this machine. The
# batches run while the next pages are validated, so what counts is the time they keep the writer waiting.
MIN_BATCH = 5000

_UPTO = "SELECT value FROM cache_state WHERE key = 'indexed_upto'"


class BulkIndexer:
    """Keeps the search index of a cache up to date while a bulk load writes rows with the triggers off."""

    def __init__(self, transaction: Transaction, name: str, min_batch: int = MIN_BATCH) -> None:
        self._transaction = transaction
        self._name = name
        self._min_batch = min_batch
        self._lock = threading.Lock()
        self._loads = 0  # bulk loads under way (a reconnect may start one before the last one ended)
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def recover(self) -> None:
        """Index whatever an interrupted bulk load left unindexed and make the index live again."""
        with self._transaction() as conn:
            if self._go_live(conn):
                log.warning("%s: a bulk load was interrupted; indexed the rows it wrote", self._name)

    def begin(self) -> None:
        """Stop indexing new rows one by one; they are indexed in batches until ``end``."""
        with self._lock:
            self._loads += 1
            if self._loads > 1:
                return
            with self._transaction() as conn:
                # Rows a bulk load left unindexed (a crash) stay above indexed_upto and are indexed by this one.
                conn.execute("UPDATE cache_state SET value = (SELECT coalesce(max(id), 0) FROM products)"
                             " WHERE key = 'indexed_upto' AND value = ?", [INDEX_LIVE])
            self._stop = threading.Event()
            self._wanted.clear()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name=f"index-{self._name}",
                                            daemon=True)
            self._thread.start()

    def written(self) -> None:
        """Rows were written: index them once enough have gathered."""
        if self._thread is not None:
            self._wanted.set()

    def end(self) -> None:
        """Index the rows not indexed yet and index row by row again (once every bulk load has ended)."""
        with self._lock:
            self._loads = max(0, self._loads - 1)
            if self._loads > 0:
                return
            self._stop_thread()
            with self._transaction() as conn:
                self._go_live(conn)

    def stop(self) -> None:
        """Stop the indexing thread, leaving rows unindexed (``recover`` indexes them)."""
        with self._lock:
            self._loads = 0
            self._stop_thread()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wanted.set()
            self._thread.join()
            self._thread = None

    def _run(self, stop: threading.Event) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if stop.is_set():
                return
            try:
                with self._transaction() as conn:
                    upto = conn.execute(_UPTO).fetchone()[0]
                    top = conn.execute("SELECT coalesce(max(id), 0) FROM products").fetchone()[0]
                    if upto != INDEX_LIVE and top - upto >= self._min_batch:
                        self._index_rows_above(conn, upto, top)
            except sqlite3.Error:
                # The rows stay above indexed_upto: end() or the next start indexes them.
                log.exception("%s: indexing a batch of names failed", self._name)

    @classmethod
    def _go_live(cls, conn: sqlite3.Connection) -> bool:
        """Index every row not indexed yet and let the triggers follow every row; False if they already did."""
        upto = conn.execute(_UPTO).fetchone()[0]
        if upto == INDEX_LIVE:
            return False
        cls._index_rows_above(conn, upto)
        conn.execute("UPDATE cache_state SET value = ? WHERE key = 'indexed_upto'", [INDEX_LIVE])
        return True

    @staticmethod
    def _index_rows_above(conn: sqlite3.Connection, upto: int, top: int | None = None) -> None:
        if top is None:
            top = conn.execute("SELECT coalesce(max(id), 0) FROM products").fetchone()[0]
        if top <= upto:
            return
        # One statement per table: SQLite does the whole batch without taking the GIL back row by row.
        conn.execute("INSERT INTO product_words (rowid, names, brand, category, sku_folded) SELECT id, names, brand,"
                     " category, sku_folded FROM products WHERE id > ? AND id <= ?", [upto, top])
        conn.execute("INSERT INTO product_grams (rowid, names) SELECT id, names FROM products WHERE id > ? AND id <= ?",
                     [upto, top])
        conn.execute("UPDATE cache_state SET value = ? WHERE key = 'indexed_upto'", [top])
