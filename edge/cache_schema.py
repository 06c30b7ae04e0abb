"""The local cache's SQLite schema: its migrations, applied in order by storage.migrate."""

from __future__ import annotations

from storage import Migration

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

_INDEX_ROW = """    INSERT INTO product_words (rowid, names, brand, category, sku_folded)
        VALUES (new.id, new.names, new.brand, new.category, new.sku_folded);
    INSERT INTO product_grams (rowid, names) VALUES (new.id, new.names);
"""
_UNINDEX_ROW = """    INSERT INTO product_words (product_words, rowid, names, brand, category, sku_folded)
        VALUES ('delete', old.id, old.names, old.brand, old.category, old.sku_folded);
    INSERT INTO product_grams (product_grams, rowid, names) VALUES ('delete', old.id, old.names);
"""


def _index_triggers(new_row_indexed: str, old_row_indexed: str) -> str:
    """The three triggers that keep the search index following products, for rows the conditions select."""
    return f"""CREATE TRIGGER products_indexed_insert AFTER INSERT ON products
WHEN {new_row_indexed} BEGIN
{_INDEX_ROW}END;
CREATE TRIGGER products_indexed_delete AFTER DELETE ON products
WHEN {old_row_indexed} BEGIN
{_UNINDEX_ROW}END;
CREATE TRIGGER products_indexed_update AFTER UPDATE ON products
WHEN {old_row_indexed} BEGIN
{_UNINDEX_ROW}{_INDEX_ROW}END"""


# The search index reads its text from products (external content) and follows it through triggers, which a bulk
# load switches off (cache_state.index_live = 0) to rebuild the index once at the end: 30 µs a product instead of
# 50. The folded texts are taken over from the old index tables, so an upgraded device keeps its cache.
_INDEX_LIVE = "(SELECT value FROM cache_state WHERE key = 'index_live')"
M002_EXTERNAL_INDEX = f"""
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
{_index_triggers(_INDEX_LIVE, _INDEX_LIVE)};
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
-- The cache never changes a product's id: an update of an indexed row replaces its index entry (old.id).
{_index_triggers("new.id <= (SELECT value FROM cache_state WHERE key = 'indexed_upto')",
                 "old.id <= (SELECT value FROM cache_state WHERE key = 'indexed_upto')")}
"""

# The store's retained recall list (mqtt.recalls.RecallList) as received: a device offline still warns of a recall.
M004_RECALLS = """
CREATE TABLE recall_lists (
    store TEXT PRIMARY KEY, seq INTEGER NOT NULL, received_at TEXT NOT NULL, payload TEXT NOT NULL
) WITHOUT ROWID
"""

# Append only, never edit a released migration (a refactoring must leave its statements as they were).
MIGRATIONS: list[Migration] = [
    Migration(1, "catalogue, stock and stores", M001_CACHE),
    Migration(2, "search index over products, bulk loading, snapshot state", M002_EXTERNAL_INDEX),
    Migration(3, "search index kept up to a row id, so a bulk load indexes as it goes", M003_INDEXED_UPTO),
    Migration(4, "the store's recall list", M004_RECALLS),
]
