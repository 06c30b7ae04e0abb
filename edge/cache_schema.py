"""The local cache's SQLite schema and its migrations."""

from __future__ import annotations

import logging
import sqlite3

import sqlite_utils

from mqtt.payloads import utcnow

log = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The cache file has a schema this code does not know (written by a newer version)."""


M001_CACHE = """
CREATE TABLE stores (
    store TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, currency TEXT NOT NULL, lat REAL, lon REAL,
    updated_at TEXT NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL, sku TEXT NOT NULL, seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL, UNIQUE (store, sku)
);
CREATE TABLE product_gtins (
    store TEXT NOT NULL, gtin TEXT NOT NULL, sku TEXT NOT NULL, PRIMARY KEY (store, gtin, sku)
) WITHOUT ROWID;
CREATE INDEX product_gtins_sku ON product_gtins(store, sku);
-- Words of every locale's name, folded (case, diacritics, Arabic/Persian letter variants) before indexing.
CREATE VIRTUAL TABLE product_words USING fts5(
    names, brand, category, sku, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
-- Substrings, for compound words ("mjölk" inside "Standardmjölk") that a word prefix cannot find.
CREATE VIRTUAL TABLE product_grams USING fts5(names, tokenize = 'trigram');
CREATE TABLE stock (
    store TEXT NOT NULL, sku TEXT NOT NULL, seq INTEGER NOT NULL, available INTEGER NOT NULL,
    on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL, shelf INTEGER NOT NULL, backroom INTEGER NOT NULL,
    updated_at TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY (store, sku)
) WITHOUT ROWID;
"""

# The search index reads its text from products (external content) and follows it through triggers, which a bulk
# load switches off (cache_state.index_live = 0) to rebuild the index once at the end: 30 µs a product instead of
# 50. The folded texts are taken over from the old index tables, so an upgraded device keeps its cache.
M002_EXTERNAL_INDEX = """
ALTER TABLE products ADD COLUMN names TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN brand TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN sku_folded TEXT NOT NULL DEFAULT '';
UPDATE products SET
    names = coalesce((SELECT names FROM product_words WHERE rowid = products.id), ''),
    brand = coalesce((SELECT brand FROM product_words WHERE rowid = products.id), ''),
    category = coalesce((SELECT category FROM product_words WHERE rowid = products.id), ''),
    sku_folded = lower(sku);
DROP TABLE product_words;
DROP TABLE product_grams;
CREATE VIRTUAL TABLE product_words USING fts5(
    names, brand, category, sku_folded, content = 'products', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE VIRTUAL TABLE product_grams USING fts5(
    names, content = 'products', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TABLE cache_state (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO cache_state VALUES ('index_live', 1);
CREATE TRIGGER products_indexed_insert AFTER INSERT ON products
WHEN (SELECT value FROM cache_state WHERE key = 'index_live') BEGIN
    INSERT INTO product_words (rowid, names, brand, category, sku_folded)
        VALUES (new.id, new.names, new.brand, new.category, new.sku_folded);
    INSERT INTO product_grams (rowid, names) VALUES (new.id, new.names);
END;
CREATE TRIGGER products_indexed_delete AFTER DELETE ON products
WHEN (SELECT value FROM cache_state WHERE key = 'index_live') BEGIN
    INSERT INTO product_words (product_words, rowid, names, brand, category, sku_folded)
        VALUES ('delete', old.id, old.names, old.brand, old.category, old.sku_folded);
    INSERT INTO product_grams (product_grams, rowid, names) VALUES ('delete', old.id, old.names);
END;
CREATE TRIGGER products_indexed_update AFTER UPDATE ON products
WHEN (SELECT value FROM cache_state WHERE key = 'index_live') BEGIN
    INSERT INTO product_words (product_words, rowid, names, brand, category, sku_folded)
        VALUES ('delete', old.id, old.names, old.brand, old.category, old.sku_folded);
    INSERT INTO product_grams (product_grams, rowid, names) VALUES ('delete', old.id, old.names);
    INSERT INTO product_words (rowid, names, brand, category, sku_folded)
        VALUES (new.id, new.names, new.brand, new.category, new.sku_folded);
    INSERT INTO product_grams (rowid, names) VALUES (new.id, new.names);
END;
INSERT INTO product_words (product_words) VALUES ('rebuild');
INSERT INTO product_grams (product_grams) VALUES ('rebuild');
CREATE TABLE snapshots (store TEXT PRIMARY KEY, as_of TEXT NOT NULL, complete INTEGER NOT NULL) WITHOUT ROWID
"""

# Rows up to cache_state.indexed_upto are in the search index and the triggers keep them there; a bulk load
# (edge/search_index.py) indexes the rows above it a batch at a time on a thread of its own, so the next pages are
# validated meanwhile instead of waiting for one rebuild at the end. INDEX_LIVE: every row, now and to come.
# The word index keeps a prefix index for two letters only: one for three cost 25 % more to build (2.6 µs a
# product) and made no difference to searching a catalogue of 50,000. Both indexes are rebuilt here, which also
# finishes a bulk load the schema before left undone.
INDEX_LIVE = 2**63 - 1
M003_INDEXED_UPTO = f"""
DROP TRIGGER products_indexed_insert;
DROP TRIGGER products_indexed_delete;
DROP TRIGGER products_indexed_update;
DELETE FROM cache_state WHERE key = 'index_live';
INSERT INTO cache_state VALUES ('indexed_upto', {INDEX_LIVE});
DROP TABLE product_words;
CREATE VIRTUAL TABLE product_words USING fts5(
    names, brand, category, sku_folded, content = 'products', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2'
);
INSERT INTO product_words (product_words) VALUES ('rebuild');
INSERT INTO product_grams (product_grams) VALUES ('rebuild');
CREATE TRIGGER products_indexed_insert AFTER INSERT ON products
WHEN new.id <= (SELECT value FROM cache_state WHERE key = 'indexed_upto') BEGIN
    INSERT INTO product_words (rowid, names, brand, category, sku_folded)
        VALUES (new.id, new.names, new.brand, new.category, new.sku_folded);
    INSERT INTO product_grams (rowid, names) VALUES (new.id, new.names);
END;
CREATE TRIGGER products_indexed_delete AFTER DELETE ON products
WHEN old.id <= (SELECT value FROM cache_state WHERE key = 'indexed_upto') BEGIN
    INSERT INTO product_words (product_words, rowid, names, brand, category, sku_folded)
        VALUES ('delete', old.id, old.names, old.brand, old.category, old.sku_folded);
    INSERT INTO product_grams (product_grams, rowid, names) VALUES ('delete', old.id, old.names);
END;
-- The cache never changes a product's id: an update of an indexed row replaces its index entry.
CREATE TRIGGER products_indexed_update AFTER UPDATE ON products
WHEN old.id <= (SELECT value FROM cache_state WHERE key = 'indexed_upto') BEGIN
    INSERT INTO product_words (product_words, rowid, names, brand, category, sku_folded)
        VALUES ('delete', old.id, old.names, old.brand, old.category, old.sku_folded);
    INSERT INTO product_grams (product_grams, rowid, names) VALUES ('delete', old.id, old.names);
    INSERT INTO product_words (rowid, names, brand, category, sku_folded)
        VALUES (new.id, new.names, new.brand, new.category, new.sku_folded);
    INSERT INTO product_grams (rowid, names) VALUES (new.id, new.names);
END
"""

# (version, name, SQL script); append only, never edit a released migration.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "catalogue, stock and stores", M001_CACHE),
    (2, "search index over products, bulk loading, snapshot state", M002_EXTERNAL_INDEX),
    (3, "search index kept up to a row id, so a bulk load indexes as it goes", M003_INDEXED_UPTO),
]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply every migration not yet applied, each in its own transaction; return the schema version."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
               " applied_at TEXT)")
    applied = {row[0] for row in db.execute("SELECT version FROM _migrations").fetchall()}
    known = {version for version, _, _ in MIGRATIONS}
    if applied - known:
        raise SchemaError(f"cache has schema versions {sorted(applied - known)} unknown to this code")
    for version, name, script in MIGRATIONS:
        if version in applied:
            continue
        log.info("cache migration %d: %s", version, name)
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                db.conn.execute(statement)
            db.execute("INSERT INTO _migrations VALUES (?, ?, ?)", [version, name, utcnow().isoformat()])
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")
    return max(known)


def _statements(script: str) -> list[str]:
    # Statement by statement: executescript() would commit and break the migration's atomicity. A line ends a
    # statement only where SQLite says it is complete (trigger bodies hold semicolons of their own).
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
