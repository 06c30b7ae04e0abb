"""The search index during a bulk load: indexed in batches on a thread of its own, never out of step with products."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from edge.cache import LocalCache
from edge.cache_schema import M001_CACHE, M002_EXTERNAL_INDEX
from storage import statements
from tests.edge.test_cache import product
from tests.helpers import wait_until


def _consistent(cache: LocalCache) -> None:
    """FTS5's own check that both indexes hold exactly what every products row says (raises if not)."""
    conn = sqlite3.connect(cache.path)
    try:
        for table in ("product_words", "product_grams"):
            conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


def _upto(cache: LocalCache) -> int:
    conn = sqlite3.connect(cache.path)
    try:
        return conn.execute("SELECT value FROM cache_state WHERE key = 'indexed_upto'").fetchone()[0]
    finally:
        conn.close()


def _skus(cache: LocalCache, text: str) -> list[str]:
    return sorted(p.product.sku for p in cache.search("test-a", text))


def _wait_for(check: Callable[[], object], timeout: float = 10.0) -> None:
    assert wait_until(check, timeout, interval=0.01), "the indexer did not get there in time"


def test_rows_of_a_bulk_load_become_searchable_batch_by_batch(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "c.db", index_batch=3)
    cache.begin_bulk()
    cache.apply_many([product(f"OAT-{i}", names={"en": f"Oat drink {i}"}) for i in range(2)])
    time.sleep(0.1)
    assert _skus(cache, "oat") == []  # fewer rows than a batch wait
    cache.apply_many([product(f"OAT-{i}", names={"en": f"Oat drink {i}"}) for i in range(2, 5)])
    _wait_for(lambda: len(_skus(cache, "oat")) == 5)  # before end_bulk
    cache.apply_many([product("RYE", names={"en": "Rye bread"})])
    cache.end_bulk()
    assert _skus(cache, "rye") == ["RYE"] and _upto(cache) == 2**63 - 1
    _consistent(cache)
    cache.close()


def test_a_product_changed_after_its_batch_was_indexed_leaves_no_stale_words(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "c.db", index_batch=2)
    cache.apply_product(product("OLD"))  # indexed before the bulk load began
    cache.begin_bulk()
    cache.apply_many([product("A-1", names={"en": "Penne"}), product("A-2", names={"en": "Fusilli"})])
    _wait_for(lambda: _skus(cache, "penne") == ["A-1"])
    # A live message during the load: an indexed row changes, a not yet indexed one is added, an old one changes.
    cache.apply_many([product("A-1", seq=2, names={"en": "Rigatoni"}), product("A-3", names={"en": "Orzo"}),
                      product("OLD", seq=2, names={"en": "Farfalle"})])
    assert _skus(cache, "penne") == [] and _skus(cache, "rigatoni") == ["A-1"] and _skus(cache, "farfalle") == ["OLD"]
    cache.end_bulk()
    assert _skus(cache, "orzo") == ["A-3"] and _skus(cache, "fusilli") == ["A-2"]
    _consistent(cache)
    cache.close()


def test_overlapping_bulk_loads_index_live_only_after_the_last_ends(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "c.db", index_batch=1000)
    cache.begin_bulk()
    cache.begin_bulk()  # a reconnect started a second snapshot before the first one gave up
    cache.apply_many([product("A-1", names={"en": "Penne"})])
    cache.end_bulk()
    assert _skus(cache, "penne") == [] and _upto(cache) == 0  # the second load is still under way
    cache.end_bulk()
    assert _skus(cache, "penne") == ["A-1"]
    cache.apply_product(product("A-2", names={"en": "Orzo"}))  # live again: indexed at once
    assert _skus(cache, "orzo") == ["A-2"]
    _consistent(cache)
    cache.close()


def test_a_load_cut_short_after_some_batches_is_finished_when_the_cache_reopens(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "c.db", index_batch=2)
    cache.begin_bulk()
    cache.apply_many([product(f"A-{i}", names={"en": f"Penne {i}"}) for i in range(3)])
    _wait_for(lambda: _upto(cache) == 3)
    cache.apply_many([product("A-9", names={"en": "Orzo"})])
    cache.close()  # the app died before end_bulk, with one row not indexed
    assert _upto(cache) == 3
    again = LocalCache(tmp_path / "c.db")
    assert _skus(again, "orzo") == ["A-9"] and len(_skus(again, "penne")) == 3
    _consistent(again)
    again.close()


def test_a_cache_left_mid_load_by_the_schema_before_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)")
    for version, script in ((1, M001_CACHE), (2, M002_EXTERNAL_INDEX)):
        for statement in statements(script):
            conn.execute(statement)
        conn.execute("INSERT INTO _migrations VALUES (?, 'old', NULL)", [version])
    conn.execute("UPDATE cache_state SET value = 0 WHERE key = 'index_live'")  # a bulk load under way
    milk = product("MILK")
    conn.execute("INSERT INTO products (store, sku, seq, updated_at, received_at, payload, names) VALUES"
                 " ('test-a', 'MILK', 1, '2026-11-30T10:00:00+00:00', '2026-11-30T10:00:00+00:00', ?, 'mjölk')",
                 [milk.model_dump_json()])
    conn.close()
    cache = LocalCache(path)
    assert _skus(cache, "mjölk") == ["MILK"] and _upto(cache) == 2**63 - 1
    _consistent(cache)
    cache.close()
