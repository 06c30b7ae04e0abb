"""The local cache: seq guard, every GTIN form, multilingual search, hostile messages."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.cache import CacheError, LocalCache, Outcome, RejectedMessage, parse_message
from edge.folding import fold
from mqtt.payloads import Product, StockLevel, StoreDetails, encode, utcnow

FUZZ = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                deadline=None)
NOW = utcnow()
NAMES = {
    "MILK": {"en": "Standard milk 3%", "sv": "Standardmjölk 3%", "fa": "شیر کامل", "ar": "حليب كامل",
             "vi": "Sữa tươi"},
    "PASTA": {"en": "Spaghetti", "fa": "اسپاگتی", "ar": "سباغيتي", "vi": "Mì Ý"},
    "APPLE": {"en": "Golden Delicious apple", "sv": "Äpple Golden Delicious", "da": "Æbler Golden Delicious",
              "fa": "سیب گلدن دلیشس", "ar": "تفاح ذهبي", "vi": "Táo vàng"},
    "TOFU": {"en": "Tofu", "vi": "Đậu phụ", "fa": "توفو می‌خواهم"},
    "OATMILK": {"en": "Oat milk", "sv": "Havredryck"},
    "MILK-FROTHER": {"en": "Frother", "sv": "Skummare"},
    "MJOLK-EKO": {"sv": "Ekologisk mjölk"},
}
GTINS = {"MILK": ["2012345678903", "20123451"], "PASTA": ["0036000291452"], "APPLE": ["2000000000015"]}


def product(sku: str, seq: int = 1, store: str = "test-a", **changes: object) -> Product:
    fields = {"sku": sku, "store": store, "gtins": GTINS.get(sku, []), "names": NAMES.get(sku, {"en": sku}),
              "brand": "Arla" if sku == "MILK" else "", "category": "dairy" if "MILK" in sku else "",
              "price": {"amount": "16.90", "currency": "SEK"}, "seq": seq, "updated_at": NOW}
    return Product.model_validate({**fields, **changes})


def level(sku: str, available: int, seq: int, store: str = "test-a") -> StockLevel:
    return StockLevel(sku=sku, store=store, available=available, on_hand=available, reserved=0, shelf=available,
                      seq=seq, updated_at=NOW)


@pytest.fixture
def cache(tmp_path: Path) -> LocalCache:
    c = LocalCache(tmp_path / "cache.db")
    c.apply_many([product(sku) for sku in NAMES])
    yield c
    c.close()


def test_seq_guard_ignores_older_and_equal_updates(cache: LocalCache) -> None:
    assert cache.apply_stock(level("MILK", 10, 5))
    assert not cache.apply_stock(level("MILK", 99, 5))
    assert not cache.apply_stock(level("MILK", 99, 4))
    assert cache.stock("test-a", "MILK").level.available == 10
    assert cache.apply_stock(level("MILK", 7, 6))
    assert cache.stock("test-a", "milk").level.available == 7
    assert not cache.apply_product(product("MILK", 1, brand="Fake"))
    assert cache.apply_product(product("MILK", 2, brand="Garant"))
    assert cache.product_by_sku("test-a", "MILK").product.brand == "Garant"
    # Within one batch the newest wins whatever the order, and each item gets its own outcome.
    outcomes = cache.apply_many([level("PASTA", 1, 3), level("PASTA", 2, 9), level("PASTA", 3, 4)])
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.STALE]
    assert cache.stock("test-a", "PASTA").level.available == 2
    assert cache.apply_many([level("PASTA", 2, 9)]) == [Outcome.SAME]


def test_store_details_are_guarded_by_updated_at(cache: LocalCache) -> None:
    details = StoreDetails(store="test-a", name="A", kind="store", currency="SEK", locale="sv_SE", locales=["sv"],
                           lat=59.3, lon=18.0, updated_at=NOW)
    assert cache.apply_store(details)
    assert not cache.apply_store(details.model_copy(update={"name": "Old", "updated_at": NOW - timedelta(1)}))
    assert cache.store_details("test-a").details.name == "A"
    assert [s.details.store for s in cache.stores()] == ["test-a"]


@pytest.mark.parametrize("code", ["0036000291452", "036000291452", "00036000291452", " 036000291452\n"])
def test_upc_a_ean13_and_gtin14_resolve_to_the_same_product(cache: LocalCache, code: str) -> None:
    assert cache.product_by_gtin("test-a", code).product.sku == "PASTA"


def test_ean8_and_unknown_gtins(cache: LocalCache) -> None:
    assert cache.product_by_gtin("test-a", "20123451").product.sku == "MILK"
    assert cache.product_by_gtin("test-a", "00000020123451").product.sku == "MILK"
    assert cache.product_by_gtin("test-a", "0036000291453") is None  # bad check digit
    assert cache.product_by_gtin("test-b", "0036000291452") is None  # another store's catalogue
    assert cache.product_by_gtin("test-a", "not a gtin") is None


def test_changed_gtins_and_names_replace_the_old_ones(cache: LocalCache) -> None:
    cache.apply_product(product("PASTA", 2, gtins=["96385074"], names={"en": "Linguine"}))
    assert cache.product_by_gtin("test-a", "036000291452") is None
    assert cache.product_by_gtin("test-a", "96385074").product.sku == "PASTA"
    assert [h.product.sku for h in cache.search("test-a", "linguine")] == ["PASTA"]
    assert cache.search("test-a", "spaghetti") == []


@pytest.mark.parametrize(
    "query,sku",
    [
        ("milk", "MILK"), ("MILK", "MILK"), ("mjö", "MILK"), ("mjolk", "MILK"), ("standardmjölk", "MILK"),
        ("stand", "MILK"), ("arla", "MILK"), ("dairy", "MILK"), ("sua tuoi", "MILK"), ("sữa", "MILK"),
        ("شیر", "MILK"), ("شير", "MILK"),  # Persian and Arabic yeh
        ("حليب", "MILK"), ("حَلِيب", "MILK"),  # with harakat
        ("spag", "PASTA"), ("اسپاگ", "PASTA"), ("mi y", "PASTA"),
        ("äpple", "APPLE"), ("apple", "APPLE"), ("aebler", "APPLE"), ("æbler", "APPLE"), ("tao vang", "APPLE"),
        ("dau phu", "TOFU"), ("đậu", "TOFU"), ("میخواهم", "TOFU"), ("می‌خواهم", "TOFU"), ("خواهم", "TOFU"),
        ("havre", "OATMILK"),
    ],
)
def test_search_finds_names_in_every_language(cache: LocalCache, query: str, sku: str) -> None:
    assert sku in [h.product.sku for h in cache.search("test-a", query)], query


def test_search_ranks_limits_and_ignores_other_stores(cache: LocalCache) -> None:
    cache.apply_product(product("MILK", 1, store="test-b", names={"en": "Other store milk"}))
    hits = [h.product.sku for h in cache.search("test-a", "milk")]
    assert set(hits) == {"MILK", "OATMILK", "MILK-FROTHER"}
    assert hits[-1] == "MILK-FROTHER"  # a name beats a SKU
    hits = [h.product.sku for h in cache.search("test-a", "mjölk")]
    assert hits == ["MJOLK-EKO", "MILK"]  # a word beats a part of a compound word
    assert len(cache.search("test-a", "milk", limit=1)) == 1
    assert cache.search("test-a", "") == [] and cache.search("test-a", "\"*)(") == []
    assert cache.search("test-a", "milk AND NOT OR NEAR") == []  # FTS syntax is only ever words to look for


def test_fold_is_case_diacritic_and_script_variant_insensitive() -> None:
    assert fold("Standardmjölk") == fold("STANDARDMJOLK")
    assert fold("Sữa tươi") == "sua tuoi"
    assert fold("حَلِيب كامل") == fold("حليب کامل")


def test_cache_survives_reopening_and_keeps_received_at(tmp_path: Path) -> None:
    with LocalCache(tmp_path / "c.db") as first:
        first.apply_stock(level("MILK", 3, 1), received_at=NOW)
    with LocalCache(tmp_path / "c.db") as again:
        assert again.stock("test-a", "MILK").received_at == NOW
        assert again.count("stock", "test-a") == 1


def test_a_corrupt_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError):
        LocalCache(bad)


# Hostile messages.

TOPIC = "aisle/v1/test-a/stock/MILK"


@pytest.mark.parametrize(
    "topic,payload,reason",
    [
        (TOPIC, b"not json", "json"),
        (TOPIC, b"[]", "object"),
        (TOPIC, b"", "empty"),
        (TOPIC, json.dumps({**level("MILK", 1, 9).model_dump(mode="json"), "available": "many"}).encode(), "available"),
        (TOPIC, json.dumps({**level("MILK", 1, 9).model_dump(mode="json"), "extra": 1}).encode(), "extra"),
        (TOPIC, encode(level("PASTA", 1, 9)), "payload names test-a/PASTA"),
        (TOPIC, encode(level("MILK", 1, 9, store="test-b")), "payload names test-b/MILK"),
        ("aisle/v1/test-a/catalog/MILK", encode(level("MILK", 1, 9)), "names: Field required"),
        ("aisle/v1/test-a/device/x1/status", b"{}", "not a catalogue"),
        ("aisle/v1/TEST/stock/MILK", encode(level("MILK", 1, 9)), "store id"),
        (TOPIC, b"{" * 100_000, "exceeds"),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(cache: LocalCache, topic: str, payload: bytes,
                                                       reason: str, caplog: pytest.LogCaptureFixture) -> None:
    cache.apply_stock(level("MILK", 5, 2))
    with pytest.raises(RejectedMessage, match=f"(?i){reason}"):
        parse_message(topic, payload)
    with caplog.at_level(logging.WARNING, logger="edge.cache"):
        assert not cache.apply_message(topic, payload)
    assert "ignored" in caplog.text
    assert cache.stock("test-a", "MILK").level.available == 5


def test_stale_message_leaves_the_cache_unchanged(cache: LocalCache) -> None:
    assert cache.apply_message(TOPIC, encode(level("MILK", 5, 2)))
    assert not cache.apply_message(TOPIC, encode(level("MILK", 1, 1)))
    assert cache.stock("test-a", "MILK").level.available == 5


def _snapshot(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        return [conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("products", "stock", "stores")]


json_junk = st.dictionaries(
    st.sampled_from(["sku", "store", "seq", "available", "on_hand", "reserved", "updated_at", "names", "price"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=5)),
).map(lambda d: json.dumps(d).encode())


@FUZZ
@given(topic=st.sampled_from([TOPIC, "aisle/v1/test-a/catalog/MILK", "aisle/v1/test-a/info", "x/y"]),
       payload=st.one_of(st.binary(max_size=300), json_junk))
def test_random_bytes_never_change_the_cache(cache: LocalCache, topic: str, payload: bytes) -> None:
    before = _snapshot(cache.path)
    assert not cache.apply_message(topic, payload)
    assert _snapshot(cache.path) == before


def test_a_bulk_load_smaller_than_an_index_batch_is_indexed_at_its_end(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "bulk.db")
    cache.apply_product(product("PASTA"))
    cache.begin_bulk()
    cache.apply_many([product("MILK"), product("PASTA", seq=2, names={"en": "Penne"})])
    assert cache.search("test-a", "milk") == []  # not indexed yet
    cache.end_bulk()
    assert [p.product.sku for p in cache.search("test-a", "mjölk")] == ["MILK"]
    assert [p.product.sku for p in cache.search("test-a", "penne")] == ["PASTA"]
    assert cache.search("test-a", "spaghetti") == []  # the old name left the index with the update
    cache.apply_product(product("PASTA", seq=3, names={"en": "Fusilli"}))  # live again: row by row
    assert [p.product.sku for p in cache.search("test-a", "fusilli")] == ["PASTA"]
    assert cache.search("test-a", "penne") == []
    cache.close()


def test_rows_written_one_by_one_or_as_one_json_parameter_end_the_same(tmp_path: Path) -> None:
    batches = [
        [product(sku) for sku in NAMES] + [level(sku, 3, seq=2) for sku in NAMES],
        [product("PASTA", 2, gtins=["96385074"]), product("MILK", 1, names={"en": "stale"}), level("MILK", 9, 1),
         level("TOFU", 0, 5), product("APPLE", 3), product("APPLE", 2), product("NEW", 1, store="test-b")],
    ]
    caches = {mode: LocalCache(tmp_path / f"{mode}.db") for mode in ("json", "rows")}
    outcomes = {mode: [c.apply_many(b, NOW, row_by_row=mode == "rows") for b in batches] for mode, c in caches.items()}
    assert outcomes["json"] == outcomes["rows"]
    assert outcomes["rows"][1] == [Outcome.APPLIED, Outcome.SAME, Outcome.STALE, Outcome.APPLIED, Outcome.APPLIED,
                                   Outcome.STALE, Outcome.APPLIED]
    assert _snapshot(caches["json"].path) == _snapshot(caches["rows"].path)
    assert caches["rows"].product_by_gtin("test-a", "96385074").product.seq == 2
    assert caches["rows"].product_by_gtin("test-a", "0036000291452") is None
    for c in caches.values():
        c.close()


def test_a_batch_around_a_cached_sku_is_still_checked_against_it(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "range.db")
    cache.apply_many([product("B-1", seq=5), level("B-1", 1, seq=5)])
    # Neither A-1 nor C-1 is cached, but B-1 lies between them; B-1 itself comes with an older seq.
    assert cache.apply_many([product("A-1"), product("C-1"), product("B-1", seq=4), level("A-1", 2, seq=1),
                             level("B-1", 9, seq=5)]) == [Outcome.APPLIED, Outcome.APPLIED, Outcome.STALE,
                                                          Outcome.APPLIED, Outcome.SAME]
    assert cache.product_by_sku("test-a", "B-1").product.seq == 5 and cache.stock("test-a", "B-1").level.available == 1
    assert cache.apply_many([product("D-1"), product("E-1", store="test-b")]) == [Outcome.APPLIED, Outcome.APPLIED]
    cache.close()


def test_an_interrupted_bulk_load_is_indexed_when_the_cache_reopens(tmp_path: Path) -> None:
    first = LocalCache(tmp_path / "c.db")
    first.begin_bulk()
    first.apply_many([product("MILK"), product("TOFU")])
    first.close()  # the app died before end_bulk
    again = LocalCache(tmp_path / "c.db")
    assert [p.product.sku for p in again.search("test-a", "شیر")] == ["MILK"]
    again.apply_product(product("APPLE"))
    assert [p.product.sku for p in again.search("test-a", "táo")] == ["APPLE"]
    again.close()


def test_a_cache_of_the_first_schema_keeps_its_products_and_search(tmp_path: Path) -> None:
    from edge.cache_schema import M001_CACHE
    from edge.folding import index_names
    from storage import statements

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)")
    for statement in statements(M001_CACHE):
        conn.execute(statement)
    conn.execute("INSERT INTO _migrations VALUES (1, 'catalogue, stock and stores', NULL)")
    milk = product("MILK")
    # What the first release wrote for a product: its row, its GTINs and two index rows of folded text.
    conn.execute("INSERT INTO products VALUES (7, 'test-a', 'MILK', 1, ?, ?, ?)",
                 [NOW.isoformat(), NOW.isoformat(), milk.model_dump_json()])
    conn.execute("INSERT INTO product_gtins VALUES ('test-a', '02012345678903', 'MILK')")
    conn.execute("INSERT INTO product_words (rowid, names, brand, category, sku)"
                 " VALUES (7, ?, 'arla', 'dairy', 'milk')", [index_names(milk)])
    conn.execute("INSERT INTO product_grams (rowid, names) VALUES (7, ?)", [index_names(milk)])
    conn.close()
    cache = LocalCache(path)
    assert [p.product.sku for p in cache.search("test-a", "حليب")] == ["MILK"]
    assert [p.product.sku for p in cache.search("test-a", "arla")] == ["MILK"]
    assert [p.product.sku for p in cache.search("test-a", "ndardmj")] == ["MILK"]  # trigrams
    assert cache.product_by_gtin("test-a", "2012345678903").product == milk
    cache.apply_product(product("MILK", seq=2, names={"en": "Whole milk"}))
    assert cache.search("test-a", "حليب") == [] and len(cache.search("test-a", "whole")) == 1
    cache.close()
