"""catalog.snapshot pages: the same payloads as the retained messages, complete, in order, under the size limit."""

import dataclasses
import json
from datetime import datetime, timedelta

from backend import catalog, snapshot, stock
from backend.db import Database
from backend.demo import load_demo
from backend.payload_cache import PayloadCache
from backend.service import BackendService
from mqtt.payloads import MAX_PAYLOAD_BYTES, Product, Reply, StockLevel, encode, utcnow


def _items(page: snapshot.Page) -> tuple[list[dict], list[dict]]:
    result = json.loads(page.to_result().json)
    assert set(result) == {"products", "stock", "next", "as_of"} and result["next"] == page.next
    return result["products"], result["stock"]


def _all_pages(db: Database, store_id: str, **kwargs: object) -> list[snapshot.Page]:
    pages, after = [], ""
    while True:
        page = snapshot.page(db, store_id, after, **kwargs)  # type: ignore[arg-type]
        pages.append(page)
        if page.next is None:
            return pages
        assert page.next > after
        after = page.next


def test_pages_hold_exactly_the_retained_payloads(db: Database) -> None:
    pages = _all_pages(db, "test-a", limit=2)
    assert len(pages) > 1
    products = [Product.model_validate(p) for page in pages for p in _items(page)[0]]
    levels = [StockLevel.model_validate(s) for page in pages for s in _items(page)[1]]
    skus = [p.sku for p in products]
    assert skus == sorted(skus) and len(set(skus)) == len(skus)
    assert set(skus) == {sku for (store_id, sku) in catalog.catalog_versions(db) if store_id == "test-a"}
    for product in products:
        assert product == catalog.product_payload(db, "test-a", product.sku)
    stocked = {sku for (store_id, sku) in stock.stock_versions(db) if store_id == "test-a"}
    assert {level.sku for level in levels} == stocked & set(skus)
    for level in levels:
        assert level == stock.level(db, "test-a", level.sku)


def test_a_page_stays_under_the_payload_limit(tmp_path) -> None:
    demo = Database(tmp_path / "demo.db")
    load_demo(demo)
    small = _all_pages(demo, "sthlm-city", limit=1000, budget=8000)
    assert len(small) > 2
    assert all(len(_reply(page)) < 8000 + 1000 for page in small)
    full = _all_pages(demo, "sthlm-city", limit=1000)
    assert sum(len(p.products) for p in small) == sum(len(p.products) for p in full) > 50
    batched = _all_pages(demo, "sthlm-city", limit=5, batch=3)
    def skus(pages: list[snapshot.Page]) -> list[str]:
        return [p["sku"] for page in pages for p in _items(page)[0]]

    assert skus(batched) == skus(full)
    # The real reply envelope, as the RPC server encodes it (raises PayloadError over the limit).
    assert all(len(_reply(page)) <= MAX_PAYLOAD_BYTES for page in full)
    demo.close()


def _reply(page: snapshot.Page) -> bytes:
    raw = page.to_result().reply("snapshot-test-1")
    # Byte for byte what encode() writes for the same reply: the device decodes it as any other.
    assert raw == encode(Reply(id="snapshot-test-1", ok=True, result=json.loads(raw)["result"]))
    return raw


def test_since_returns_only_what_changed(db: Database) -> None:
    first = _all_pages(db, "test-a")[-1]
    assert not snapshot.page(db, "test-a", since=utcnow() + timedelta(seconds=1)).stock
    stock.adjust(db, "test-a", "DAI-MILK-1L", "shelf", 3, "delivery")
    changed = _all_pages(db, "test-a", since=datetime.fromisoformat(first.as_of))
    assert [s["sku"] for p in changed for s in _items(p)[1]] == ["DAI-MILK-1L"]
    assert [p["sku"] for page in changed for p in _items(page)[0]] == []


def test_an_unknown_store_gives_an_empty_last_page(db: Database) -> None:
    page = snapshot.page(db, "nowhere")
    assert (page.products, page.stock, page.next) == ([], [], None)
    assert json.loads(page.to_result().json) == {"products": [], "stock": [], "next": None, "as_of": page.as_of}


def test_cached_texts_make_the_same_pages_and_a_change_retires_them(db: Database) -> None:
    cache = PayloadCache()
    built = _all_pages(db, "test-a", limit=3, cache=cache)
    assert len(cache) == sum(len(p.products) + len(p.stock) for p in built)
    # Texts that are not what SQLite would build, at the current seqs: a page made from the cache carries them.
    for (kind, store_id, sku), (seq, _) in list(cache._texts.items()):
        cache._texts[(kind, store_id, sku)] = (seq, json.dumps({"cached": sku, "kind": kind}).encode())
    served = _all_pages(db, "test-a", limit=3, cache=cache)
    assert [p.next for p in served] == [p.next for p in built]
    assert all(entry["cached"] for page in served for entry in _items(page)[0] + _items(page)[1])
    # A stock change bumps the item's seq: its level is built again (and kept), the rest still come from the cache.
    stock.adjust(db, "test-a", "DAI-MILK-1L", "shelf", 2, "delivery")
    after = [entry for page in _all_pages(db, "test-a", limit=3, cache=cache) for entry in _items(page)[1]]
    fresh = [entry for entry in after if "cached" not in entry]
    assert [StockLevel.model_validate(e) for e in fresh] == [stock.level(db, "test-a", "DAI-MILK-1L")]
    assert cache.get("stock", "test-a", "DAI-MILK-1L", fresh[0]["seq"]) is not None


def test_the_cache_keeps_the_newest_seq_and_stops_growing_at_its_bound() -> None:
    cache = PayloadCache(max_entries=2)
    cache.put("catalog", "s", "A", 2, b"a2")
    cache.put("catalog", "s", "A", 1, b"a1")  # an older publish racing a newer one
    assert (cache.get("catalog", "s", "A", 2), cache.get("catalog", "s", "A", 1)) == (b"a2", None)
    cache.put("stock", "s", "A", 1, b"stock")
    cache.put("catalog", "s", "B", 1, b"b1")  # full: a new key is not kept
    assert cache.get("catalog", "s", "B", 1) is None and len(cache) == 2
    cache.put("catalog", "s", "A", 3, b"a3")  # a key already held still takes its newer text
    assert cache.get("catalog", "s", "A", 3) == b"a3"


def test_the_service_serves_snapshots_from_what_it_published(service: BackendService) -> None:
    published = len(service.payload_cache)
    listed = sum(1 for (store_id, _) in catalog.catalog_versions(service.db) if store_id == "test-a")
    assert published >= listed
    pages = _all_pages(service.db, "test-a", cache=service.payload_cache)
    assert len(service.payload_cache) == published  # nothing had to be built again
    for product in (Product.model_validate(p) for page in pages for p in _items(page)[0]):
        assert product == catalog.product_payload(service.db, "test-a", product.sku)


def test_a_new_currency_renews_every_catalogue_entry_of_the_store(db: Database) -> None:
    cache = PayloadCache()
    before = [Product.model_validate(p) for page in _all_pages(db, "test-a", cache=cache) for p in _items(page)[0]]
    assert {p.price.currency for p in before} == {"SEK"}
    info = dataclasses.replace(catalog.get_store(db, "test-a"), currency="EUR")
    with db.transaction():
        catalog.upsert_store(db, info)
    after = [Product.model_validate(p) for page in _all_pages(db, "test-a", cache=cache) for p in _items(page)[0]]
    assert {p.price.currency for p in after} == {"EUR"}
    assert [p.seq for p in after] == [p.seq + 1 for p in before]  # devices and the publisher take them as new
