"""A device's local copy of catalogue, stock and store details in SQLite, guarded by ``seq``."""

from __future__ import annotations

import functools
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from codes import ids
from edge.cache_schema import MIGRATIONS
from edge.folding import fold, index_names, query_words
from edge.search_index import MIN_BATCH, BulkIndexer
from mqtt import topics
from mqtt.payloads import MAX_PAYLOAD_BYTES, Product, StockLevel, StoreDetails, describe, utcnow
from mqtt.recalls import RecallList
from storage import Durability, SchemaTooNew, connect, migrate, transaction

log = logging.getLogger(__name__)

Payload = Product | StockLevel | StoreDetails

class CacheError(RuntimeError):
    """The cache file is unusable (newer schema than this code, or corrupt)."""


class RejectedMessage(ValueError):
    """A received message is not a valid payload for its topic; the message says why."""


class Outcome(StrEnum):
    """What applying one payload did."""

    APPLIED = "applied"
    SAME = "same"  # same seq as the cached copy: a retained message seen again
    STALE = "stale"  # older than the cached copy


@dataclass(frozen=True)
class CachedProduct:
    """A cached catalogue entry and when it arrived."""

    product: Product
    received_at: datetime


@dataclass(frozen=True)
class CachedStock:
    """A cached stock level and when it arrived."""

    level: StockLevel
    received_at: datetime


@dataclass(frozen=True)
class CachedStore:
    """Cached details of a store and when they arrived."""

    details: StoreDetails
    received_at: datetime


# -- received messages --------------------------------------------------------------

_MODELS: dict[str, type[Payload]] = {"catalog": Product, "stock": StockLevel, "info": StoreDetails}


def parse_message(topic: str, payload: bytes) -> Payload:
    """Validate a retained message against its topic; raises RejectedMessage with the reason."""
    try:
        where = topics.parse(topic)
    except topics.TopicError as exc:
        raise RejectedMessage(str(exc)) from None
    model = _MODELS.get(where.kind)
    if model is None:
        raise RejectedMessage(f"not a catalogue, stock or store topic: {where.kind}")
    if not payload:
        raise RejectedMessage("empty payload (retained message cleared); keeping the last known value")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise RejectedMessage(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        item = model.model_validate_json(payload)
    except ValidationError as exc:
        raise RejectedMessage(describe(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise RejectedMessage(f"not a valid payload: {type(exc).__name__}") from None
    named = (item.store, item.store if isinstance(item, StoreDetails) else item.sku)
    if named != (where.store, where.key):
        raise RejectedMessage(f"payload names {'/'.join(named)}, topic names {where.store}/{where.key}")
    return item


# -- the cache ----------------------------------------------------------------------


class LocalCache:
    """Catalogue, stock and store details of one or more stores in a local SQLite file (WAL); thread-safe."""

    def __init__(self, path: str | Path, *, index_batch: int = MIN_BATCH) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._writer = self._connect(wal=True)
        self._indexer = BulkIndexer(self._transaction, self.path.name, index_batch)
        try:
            with self._write_lock:
                migrate(self._writer, MIGRATIONS, what="cache")
            self._indexer.recover()
        except (sqlite3.DatabaseError, SchemaTooNew) as exc:
            self.close()
            raise CacheError(f"cache {self.path} is unusable: {exc}") from exc

    def _connect(self, *, wal: bool = False) -> sqlite3.Connection:
        if self._closed:
            raise CacheError(f"cache {self.path} is closed")
        try:
            # CRASH: a power cut may lose the last batch, which the broker's retained messages restore.
            conn = connect(self.path, durability=Durability.CRASH, wal=wal)
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"cannot open cache {self.path}: {exc}") from exc
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        # Readers borrow their own connection: under WAL a look-up never waits for a batch being written.
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        """Close every connection (a bulk load's unindexed rows are indexed when the cache opens again)."""
        self._indexer.stop()
        self._closed = True
        with self._write_lock, self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def __enter__(self) -> LocalCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, transaction(self._writer) as conn:
            yield conn

    # -- writing --------------------------------------------------------------

    def apply_product(self, product: Product, received_at: datetime | None = None) -> bool:
        """Store a catalogue entry unless its seq is not newer; True when applied."""
        return self.apply_many([product], received_at)[0] is Outcome.APPLIED

    def apply_stock(self, level: StockLevel, received_at: datetime | None = None) -> bool:
        """Store a stock level unless its seq is not newer; True when applied."""
        return self.apply_many([level], received_at)[0] is Outcome.APPLIED

    def apply_store(self, details: StoreDetails, received_at: datetime | None = None) -> bool:
        """Store a store's details unless they are not newer (by ``updated_at``); True when applied."""
        return self.apply_many([details], received_at)[0] is Outcome.APPLIED

    def apply_message(self, topic: str, payload: bytes, received_at: datetime | None = None) -> bool:
        """Validate and apply one raw message; invalid ones are logged and ignored (False)."""
        try:
            item = parse_message(topic, payload)
        except RejectedMessage as exc:
            log.warning("ignored %s: %s", topic[:160], exc)
            return False
        return self.apply_many([item], received_at)[0] is Outcome.APPLIED

    def apply_many(self, items: Sequence[Payload], received_at: datetime | None = None,
                   raw: Sequence[bytes] | None = None, *, row_by_row: bool = False) -> list[Outcome]:
        """Apply a batch in one transaction; one outcome per item, in order.

        ``raw`` may give each item's received JSON (already validated into the item), stored as is to save
        serialising it again. By default each table's rows reach SQLite as one JSON parameter, in one call that
        leaves the GIL to other threads throughout; ``row_by_row`` binds them one by one, which costs less CPU
        but takes the GIL again for every row: for a caller that no busy thread competes with.
        """
        received = (received_at or utcnow()).isoformat()
        outcomes: list[Outcome] = [Outcome.STALE] * len(items)
        groups: dict[type, list[int]] = {Product: [], StockLevel: [], StoreDetails: []}
        for index, item in enumerate(items):
            groups[type(item)].append(index)
        write = _write_rows if row_by_row else _write_json
        with self._transaction() as conn:
            if groups[StoreDetails]:
                self._apply_stores(conn, items, groups[StoreDetails], outcomes, received)
            if groups[Product]:
                self._apply_products(conn, items, groups[Product], outcomes, received, raw, write)
            if groups[StockLevel]:
                self._apply_stock(conn, items, groups[StockLevel], outcomes, received, write)
        if groups[Product]:
            self._indexer.written()
        return outcomes

    @staticmethod
    def _winners(items: Sequence[Any], indexes: list[int], current: dict[tuple[str, str], Any],
                 order: str, outcomes: list[Outcome]) -> dict[tuple[str, str], Any]:
        """Decide each item against the cached version and earlier items of the batch; newest per key wins."""
        winners: dict[tuple[str, str], Any] = {}
        for index in indexes:
            item = items[index]
            key = (item.store, item.store if isinstance(item, StoreDetails) else item.sku)
            version = getattr(item, order)
            have = current.get(key)
            if have is None or version > have:
                current[key] = version
                winners[key] = item
                outcomes[index] = Outcome.APPLIED
            else:
                outcomes[index] = Outcome.SAME if version == have else Outcome.STALE
        return winners

    def _apply_stores(self, conn: sqlite3.Connection, items: Sequence[Payload], indexes: list[int],
                      outcomes: list[Outcome], received: str) -> None:
        current = {(r[0], r[0]): datetime.fromisoformat(r[1])
                   for r in conn.execute("SELECT store, updated_at FROM stores")}
        winners = self._winners(items, indexes, current, "updated_at", outcomes)
        conn.executemany(
            "INSERT OR REPLACE INTO stores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(d.store, d.kind, d.name, d.currency, d.lat, d.lon, d.updated_at.isoformat(), received,
              d.model_dump_json()) for d in winners.values()])

    def _apply_products(self, conn: sqlite3.Connection, items: Sequence[Payload], indexes: list[int],
                        outcomes: list[Outcome], received: str, raw: Sequence[bytes] | None, write: _Writer) -> None:
        existing = self._cached_seqs(conn, "products", [items[i] for i in indexes])
        winners: dict[tuple[str, str], Product] = self._winners(items, indexes, dict(existing), "seq", outcomes)
        if not winners:
            return
        texts = {id(items[i]): raw[i].decode() for i in indexes} if raw is not None else {}
        replaced = [key for key in winners if key in existing]
        if replaced:
            write(conn, "DELETE FROM product_gtins WHERE (store, sku) IN ({})", replaced)
        # An upsert, not INSERT OR REPLACE: REPLACE deletes without firing the trigger that updates the index.
        write(conn, "INSERT INTO products (store, sku, seq, updated_at, received_at, payload, names, brand, category,"
              " sku_folded) {} ON CONFLICT (store, sku) DO UPDATE SET seq = excluded.seq,"
              " updated_at = excluded.updated_at, received_at = excluded.received_at, payload = excluded.payload,"
              " names = excluded.names, brand = excluded.brand, category = excluded.category,"
              " sku_folded = excluded.sku_folded WHERE excluded.seq > products.seq",
              [(p.store, p.sku, p.seq, _iso(p.updated_at), received, texts.get(id(p)) or p.model_dump_json(),
                index_names(p), fold(p.brand), fold(p.category), p.sku.lower()) for p in winners.values()])
        write(conn, "INSERT OR IGNORE INTO product_gtins (store, gtin, sku) {}",
              [(p.store, g, p.sku) for p in winners.values() for g in p.gtins])

    def _apply_stock(self, conn: sqlite3.Connection, items: Sequence[Payload], indexes: list[int],
                     outcomes: list[Outcome], received: str, write: _Writer) -> None:
        existing = self._cached_seqs(conn, "stock", [items[i] for i in indexes])
        winners: dict[tuple[str, str], StockLevel] = self._winners(items, indexes, existing, "seq", outcomes)
        write(conn, "INSERT OR REPLACE INTO stock {}",
              [(s.store, s.sku, s.seq, s.available, s.on_hand, s.reserved, s.shelf, s.backroom,
                _iso(s.updated_at), received) for s in winners.values()])

    @staticmethod
    def _cached_seqs(conn: sqlite3.Connection, table: str, items: list[Any]) -> dict[tuple[str, str], int]:
        """The cached ``seq`` of each (store, sku) of ``items`` that ``table`` holds."""
        keys = list({(item.store, item.sku) for item in items})
        stores = {store for store, _ in keys}
        if len(stores) == 1:
            # A snapshot page is a run of SKUs a new device does not have yet: one index probe says so.
            skus = [sku for _, sku in keys]
            probe = f"SELECT 1 FROM {table} WHERE store = ? AND sku BETWEEN ? AND ? LIMIT 1"
            if conn.execute(probe, [stores.pop(), min(skus), max(skus)]).fetchone() is None:
                return {}
        select = "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)"
        rows = conn.execute(f"SELECT store, sku, seq FROM {table} WHERE (store, sku) IN ({select})",
                            [json.dumps(keys)])
        return {(store, sku): seq for store, sku, seq in rows}

    # -- bulk loading and snapshots ------------------------------------------

    def writer_busy(self) -> bool:
        """True while a write (or a batch of the search indexer) holds the cache's one writer."""
        return self._write_lock.locked()

    def begin_bulk(self) -> None:
        """Index new products' names in batches on a thread of their own until ``end_bulk`` (search lags a little)."""
        self._indexer.begin()

    def end_bulk(self) -> None:
        """Index every product not indexed yet and index them one by one again."""
        self._indexer.end()

    def snapshot_as_of(self, store: str) -> str | None:
        """The backend time of the last complete snapshot of a store, or None if there never was one."""
        rows = self._rows("SELECT as_of FROM snapshots WHERE store = ? AND complete", [store])
        return rows[0][0] if rows else None

    def set_snapshot_as_of(self, store: str, as_of: str) -> None:
        """Record that a store's snapshot up to the backend time ``as_of`` is complete."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, 1)", [store, as_of])

    # -- reading --------------------------------------------------------------

    def product_by_sku(self, store: str, sku: str) -> CachedProduct | None:
        """The cached catalogue entry of a SKU (any case) in a store."""
        rows = self._rows("SELECT payload, received_at FROM products WHERE store = ? AND sku = ?", [store, sku.upper()])
        return _product(rows[0]) if rows else None

    def product_by_gtin(self, store: str, gtin: str) -> CachedProduct | None:
        """The product with this GTIN in any form (EAN-8, UPC-A, EAN-13, GTIN-14), or None."""
        try:
            normalised = ids.gtin14(gtin)
        except ids.InvalidIdentifier:
            return None
        rows = self._rows(
            "SELECT p.payload, p.received_at FROM product_gtins g JOIN products p ON p.store = g.store"
            " AND p.sku = g.sku WHERE g.store = ? AND g.gtin = ? ORDER BY g.sku LIMIT 1", [store, normalised])
        return _product(rows[0]) if rows else None

    def search(self, store: str, text: str, limit: int = 20) -> list[CachedProduct]:
        """Products whose names (any locale), brand, category or SKU match every word of text, best first."""
        words = query_words(text)
        if not words or limit <= 0:
            return []
        rows = self._rows(
            "SELECT p.id, p.payload, p.received_at FROM product_words JOIN products p ON p.id = product_words.rowid"
            " WHERE product_words MATCH ? AND p.store = ?"
            " ORDER BY bm25(product_words, 10.0, 4.0, 2.0, 3.0), p.sku LIMIT ?",
            [" AND ".join(f'"{w}"*' for w in words), store, limit])
        if len(rows) < limit and all(len(w) >= 3 for w in words):
            seen = {r[0] for r in rows}
            more = self._rows(
                "SELECT p.id, p.payload, p.received_at FROM product_grams JOIN products p"
                " ON p.id = product_grams.rowid WHERE product_grams MATCH ? AND p.store = ?"
                " ORDER BY bm25(product_grams), p.sku LIMIT ?",
                [" AND ".join(f'"{w}"' for w in words), store, limit + len(seen)])
            rows += [r for r in more if r[0] not in seen][: limit - len(rows)]
        return [_product(r[1:]) for r in rows]

    def stock(self, store: str, sku: str) -> CachedStock | None:
        """The cached stock level of a SKU in a store."""
        rows = self._rows(
            "SELECT sku, store, available, on_hand, reserved, shelf, backroom, seq, updated_at, received_at"
            " FROM stock WHERE store = ? AND sku = ?", [store, sku.upper()])
        if not rows:
            return None
        row = rows[0]
        level = StockLevel.model_construct(**dict(zip(_STOCK_FIELDS, row[:8], strict=True)),
                                           updated_at=datetime.fromisoformat(row[8]))
        return CachedStock(level, datetime.fromisoformat(row[9]))

    def store_details(self, store: str) -> CachedStore | None:
        """Cached details of one store."""
        rows = self._rows("SELECT payload, received_at FROM stores WHERE store = ?", [store])
        return _store(rows[0]) if rows else None

    def stores(self) -> list[CachedStore]:
        """Cached details of every store, by id."""
        return [_store(r) for r in self._rows("SELECT payload, received_at FROM stores ORDER BY store")]

    def apply_recalls(self, recalls: RecallList, received_at: datetime | None = None) -> bool:
        """Keep a store's recall list unless the cached one has the same or a newer seq; True when applied."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO recall_lists VALUES (?, ?, ?, ?) ON CONFLICT (store) DO UPDATE SET seq = excluded.seq,"
                " received_at = excluded.received_at, payload = excluded.payload WHERE excluded.seq > seq",
                [recalls.store, recalls.seq, (received_at or utcnow()).isoformat(), recalls.model_dump_json()])
            return cursor.rowcount > 0

    def recalls(self, store: str) -> RecallList | None:
        """The newest recall list received for a store, or None before the first one."""
        rows = self._rows("SELECT payload FROM recall_lists WHERE store = ?", [store])
        return RecallList.model_validate_json(rows[0][0]) if rows else None

    def count(self, kind: str, store: str | None = None) -> int:
        """Number of cached ``products``, ``stock`` levels or ``stores`` (of one store, if given)."""
        if kind not in ("products", "stock", "stores"):
            raise ValueError(f"unknown kind {kind!r}")
        where, args = ("WHERE store = ?", [store]) if store else ("", [])
        return int(self._rows(f"SELECT count(*) FROM {kind} {where}", args)[0][0])

    def skus(self, store: str) -> list[str]:
        """Every cached SKU of a store's catalogue."""
        return [r[0] for r in self._rows("SELECT sku FROM products WHERE store = ? ORDER BY sku", [store])]


def _iso(moment: datetime) -> str:
    # A catalogue import stamps thousands of entries with the same time; formatting an aware datetime costs 4 µs.
    # The offset is part of the key: equal instants in two time zones compare (and hash) equal but print apart.
    return _iso_cached(moment, moment.utcoffset())


@functools.lru_cache(maxsize=256)
def _iso_cached(moment: datetime, offset: timedelta | None) -> str:
    return moment.isoformat()


_Writer = Callable[[sqlite3.Connection, str, Sequence[tuple[Any, ...]]], None]


def _write_json(conn: sqlite3.Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``statement`` with ``{}`` replaced by a SELECT of ``rows``, passed as one JSON array."""
    # executemany() releases and re-takes the GIL around every row; during a retained burst the MQTT threads hold
    # it most of the time, so those hand-offs would bound the write rate (a 50k cold sync took 26 s instead of 17).
    if not rows:
        return
    columns = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(rows[0])))
    # WHERE true: without it SQLite would read an upsert's ON CONFLICT as a join constraint.
    select = f"SELECT {columns} FROM json_each(?) WHERE true"
    conn.execute(statement.format(select), [json.dumps(rows, ensure_ascii=False)])


def _write_rows(conn: sqlite3.Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``statement`` once per row, with ``{}`` replaced by the row's placeholders."""
    # Half the CPU of _write_json (no JSON to write and parse again), for a writer that has the GIL to itself.
    if rows:
        conn.executemany(statement.format("VALUES (" + ", ".join("?" * len(rows[0])) + ")"), rows)


_STOCK_FIELDS = ("sku", "store", "available", "on_hand", "reserved", "shelf", "backroom", "seq")


def _product(row: Sequence[Any]) -> CachedProduct:
    return CachedProduct(Product.model_validate_json(row[0]), datetime.fromisoformat(row[1]))


def _store(row: Sequence[Any]) -> CachedStore:
    return CachedStore(StoreDetails.model_validate_json(row[0]), datetime.fromisoformat(row[1]))
