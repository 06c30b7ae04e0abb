"""Sync by catalog.snapshot over MQTT 5: a new device, a device catching up, old and hostile backends."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backend import stock
from backend.limits import EXPENSIVE, READ, SYNC, WRITE, RequestLimits
from codes import ids
from edge import snapshot
from edge.snapshot import SnapshotError, next_hint, parse_page, parse_reply
from mqtt import topics
from mqtt.admission import Admission, Budget
from mqtt.client import MqttClient
from mqtt.payloads import ErrorCode, Reply, encode
from mqtt.rpc import RawResult, RemoteError, RequestContext, RpcClient, RpcServer
from mqtt.url import BrokerUrl
from tests.conftest import clear_retained, unique
from tests.edge.test_cache import level, product
from tests.helpers import wait_until


@contextmanager
def snapshot_backend(make_client: Callable[..., MqttClient], name: str,
                     handler: Callable[[RequestContext, dict[str, Any]], Any]) -> Iterator[RpcServer]:
    """A stand-in backend answering ``catalog.snapshot`` with ``handler``, listening before the device asks."""
    client = make_client(unique(name))
    server = RpcServer(client, {"catalog.snapshot": handler})
    server.start()
    try:
        assert client.wait_subscribed(topics.request_filter())
        yield server
    finally:
        server.stop()


@pytest.fixture
def url5(broker_url: BrokerUrl) -> BrokerUrl:
    """The session broker, spoken to in MQTT 5."""
    return dataclasses.replace(broker_url, protocol=5)


def test_a_new_device_syncs_by_pages_and_skips_the_retained_burst(service, make_edge, url5) -> None:
    edge = make_edge("test-a", url=url5)
    assert edge.wait_synced(10)
    result = edge.last_snapshot
    assert result is not None and (result.products, result.stock, result.rejected) == (3, 3, 0)
    # Every entry was applied once: had the broker also sent the retained copies, they would count as "same".
    assert edge.stats().get("same", 0) == 0 and edge.stats()["catalog"] == 3
    assert edge.product("036000291452").sku == "DRY-PASTA-500"
    pasta = edge.stock("DRY-PASTA-500")
    assert pasta.live and pasta.available == 10
    # The name index was built once at the end of the bulk load, in every script.
    for query in ("mjö", "milk", "شیر", "حليب", "sua tuoi"):
        assert [p.sku for p in edge.search(query)] == ["DAI-MILK-1L"], query
    # Changes after the snapshot still arrive on the (retained) topics.
    _adjust(service, "DRY-PASTA-500", 4)
    assert wait_until(lambda: edge.stock("DRY-PASTA-500").available == 14, 5)


def _adjust(service, sku: str, delta: int) -> None:
    result = stock.adjust(service.db, "test-a", sku, "shelf", delta, "delivery")
    service.publish_changes()
    assert not result.duplicate


def test_a_device_back_online_catches_up_on_what_changed_meanwhile(service, make_edge, url5, tmp_path) -> None:
    cache = tmp_path / "phone.db"
    first = make_edge("test-a", url=url5, cache=cache, device_id="phone-catchup")
    assert first.wait_synced(10)
    first.close()
    _adjust(service, "DAI-MILK-1L", 5)
    again = make_edge("test-a", url=url5, cache=cache, device_id="phone-catchup")
    # Before the catch-up completes the cached level is shown, but not as live.
    assert again.wait_synced(10)
    milk = again.stock("DAI-MILK-1L")
    assert milk.live and milk.available == stock.level(service.db, "test-a", "DAI-MILK-1L").available
    assert again.stock("DRY-PASTA-500").live  # unchanged, confirmed by the completed catch-up
    assert again.cache.snapshot_as_of("test-a") is not None


def test_an_old_backend_without_snapshots_means_retained_messages_again(service, make_edge, url5, caplog) -> None:
    service.rpc._operations.pop("catalog.snapshot")  # the backend of an earlier release
    edge = make_edge("test-a", url=url5)
    assert wait_until(lambda: edge.cache.count("products", "test-a") == 3 and edge.stock("DRY-PASTA-500").live, 10)
    assert edge.last_snapshot is None
    assert "no catalog.snapshot" in caplog.text


def test_hostile_pages_reject_entries_and_never_loop(broker_url, make_edge, url5, make_client) -> None:
    store = "test-hostile"
    clear_retained(broker_url, f"aisle/v1/{store}/#")
    calls: list[dict[str, Any]] = []
    good = {"sku": "OK-1", "store": store, "gtins": ["00036000291452"], "names": {"en": "Fine"},
            "price": {"amount": "1.00", "currency": "SEK"}, "seq": 1, "updated_at": "2026-11-30T10:00:00+00:00"}

    def hostile(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args)
        if args.get("after") is None:
            bad = {**good, "sku": "BAD-1", "price": {"amount": 3.5, "currency": "SEK"}}
            other = {**good, "sku": "OTHER-1", "store": "test-a"}
            return {"products": [good, bad, other, "junk"], "stock": [], "next": "OK-1",
                    "as_of": "2026-11-30T10:00:00+00:00"}
        return {"products": [], "stock": [], "next": "AAA", "as_of": "2026-11-30T10:00:00+00:00"}  # goes backwards

    with snapshot_backend(make_client, "hostile-backend", hostile):
        edge = make_edge(store, url=url5)
        assert wait_until(lambda: len(calls) >= 4, 10), calls  # retried, with a back-off, not in a tight loop
        assert edge.product("OK-1") is not None and edge.product("BAD-1") is None and edge.product("OTHER-1") is None
        reasons = " ".join(reason for _, reason in edge.rejections)
        assert "decimal string" in reasons and "names store test-a" in reasons
        assert edge.last_snapshot is None and not edge.synced()
        assert len(calls) < 12


@pytest.mark.parametrize("busy", [False, True])
def test_pages_gather_while_the_cache_writer_is_busy(service, make_client, url5, busy: bool) -> None:
    rpc = RpcClient(make_client(url=url5), "test-a", "kiosk-gather")
    assert rpc.wait_ready(5)
    batches: list[list[str]] = []
    result = snapshot.fetch(rpc, "test-a", None, lambda items: batches.append([i.sku for i in items]),
                            lambda topic, reason: None, limit=1, busy=lambda: busy)
    assert result is not None and (result.products, result.pages) == (3, 4)  # the last page comes empty
    skus = sorted({"DAI-MILK-1L", "DRY-PASTA-500", "FRU-APL-GOLDEN"})
    if busy:  # one page at a time while the writer is free; all of them at the end while it never is
        assert batches == [[sku for sku in skus for _ in (1, 2)]]
    else:
        assert batches == [[sku, sku] for sku in skus] + [[]]


def test_a_wrong_guess_of_the_next_page_costs_a_request_and_nothing_else(broker_url, make_edge, url5,
                                                                         make_client) -> None:
    store = "test-guess"
    clear_retained(broker_url, f"aisle/v1/{store}/#")
    calls: list[Any] = []

    def entry(sku: str, **extra: object) -> dict[str, Any]:
        return {"sku": sku, "store": store, "names": {"en": sku}, "price": {"amount": "1.00", "currency": "SEK"},
                "seq": 1, "updated_at": "2026-11-30T10:00:00+00:00", **extra}

    def backend(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args.get("after"))
        if args.get("after") is None:
            # The page's cursor comes first and a (rejected) entry last, with a "next" key of its own.
            return {"next": "A-1", "as_of": "2026-11-30T10:00:00+00:00", "products": [entry("A-1")],
                    "stock": [entry("A-1", next="ZZZ")]}
        if args.get("after") == "A-1":
            return {"products": [entry("B-1")], "stock": [], "next": None, "as_of": "2026-11-30T10:00:00+00:00"}
        return {"products": [entry("Z-9")], "stock": [], "next": None, "as_of": "2026-11-30T10:00:00+00:00"}

    with snapshot_backend(make_client, "guess-backend", backend):
        edge = make_edge(store, url=url5)
        assert wait_until(lambda: edge.last_snapshot is not None, 10)
        assert calls == [None, "ZZZ", "A-1"]  # the guess went out before validation, then the real cursor
        assert edge.product("A-1") is not None and edge.product("B-1") is not None
        assert edge.product("Z-9") is None  # the reply to the wrong guess was never applied


def test_the_cursor_guess_reads_a_real_page_and_never_fails_on_junk() -> None:
    result = _valid_result()
    assert next_hint(_reply(result)) == parse_reply(_reply(result), "test-a", None).next == "P-9"
    assert next_hint(_reply({**result, "next": None})) is None
    assert next_hint(b'{"next":"lower-case"}') is None and next_hint(b'"next":"' + b"A" * 100) is None


@given(st.binary(max_size=400))
def test_any_bytes_give_no_guess_or_a_well_formed_sku(raw: bytes) -> None:
    hint = next_hint(raw)
    assert hint is None or ids.SKU_RE.fullmatch(hint)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["products", "stock", "next", "as_of", "x"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                                    lambda inner: st.lists(inner, max_size=4)
                                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)))
@example({"products": [], "stock": [], "as_of": 0})  # JSON parsing once took a number of seconds as a time
def test_any_reply_is_a_page_or_a_snapshot_error_the_same_parsed_or_raw(result: dict[str, Any]) -> None:
    pages = []
    for parse in (lambda: parse_page(result, "test-a", None), lambda: parse_reply(_reply(result), "test-a", None)):
        try:
            pages.append(parse())
        except SnapshotError:
            pages.append(None)
    assert pages[0] == pages[1]
    assert pages[0] is None or all(item.store == "test-a" for item in pages[0].items)


def test_a_page_with_a_good_cursor_parses() -> None:
    page = parse_page({"products": [], "stock": [], "next": "B-1", "as_of": "2026-11-30T10:00:00Z"}, "test-a", "A-1")
    assert page.next == "B-1" and page.as_of.tzinfo is not None
    with pytest.raises(SnapshotError, match="does not move"):
        parse_page({"products": [], "stock": [], "next": "A-1", "as_of": "2026-11-30T10:00:00Z"}, "test-a", "B-1")
    with pytest.raises(SnapshotError, match="time zone"):
        parse_page({"products": [], "stock": [], "next": None, "as_of": "2026-11-30T10:00:00"}, "test-a", None)




def _reply(result: dict[str, Any]) -> bytes:
    return RawResult(json.dumps(result).encode()).reply("request-0001")


def _valid_result(count: int = 3) -> dict[str, Any]:
    return {"products": [product(f"P-{i}", seq=i + 1).model_dump(mode="json") for i in range(count)],
            "stock": [level(f"P-{i}", i, seq=i + 1).model_dump(mode="json") for i in range(count)],
            "next": "P-9", "as_of": "2026-11-30T10:00:00+00:00"}


def test_a_valid_reply_parses_in_one_pass_to_what_the_entry_by_entry_parser_finds() -> None:
    result = _valid_result()
    result["products"][0]["gtins"] = ["0036000291452", "036000291452"]  # normalised the same way on both paths
    fast, slow = parse_reply(_reply(result), "test-a", "P-0"), parse_page(result, "test-a", "P-0")
    assert fast == slow
    assert fast.items[0].gtins == ["00036000291452", "00036000291452"] and not fast.rejected


def test_a_reply_with_bad_entries_keeps_the_good_ones_and_names_the_bad() -> None:
    result = _valid_result()
    result["products"][1]["price"] = {"amount": 16.9, "currency": "SEK"}  # a JSON number: never money
    result["stock"][2]["store"] = "test-b"
    page = parse_reply(_reply(result), "test-a", None)
    assert [i.sku for i in page.items] == ["P-0", "P-2", "P-0", "P-1"]
    assert [topic for topic, _ in page.rejected] == ["aisle/v1/test-a/catalog/P-1", "aisle/v1/test-a/stock/P-2"]
    assert "not a JSON number" in page.rejected[0][1] and "test-b" in page.rejected[1][1]


def test_an_error_reply_is_the_remote_error_and_garbage_is_a_snapshot_error() -> None:
    error = encode(Reply(id="request-0001", ok=False, error={"code": "unknown_op", "message": "no such op"}))
    with pytest.raises(RemoteError) as err:
        parse_reply(error, "test-a", None)
    assert err.value.code == ErrorCode.UNKNOWN_OP
    for raw in (b"", b"not json", b"[]", b'{"v":1,"id":"request-0001","ok":true}', b"{" * 70_000):
        with pytest.raises(SnapshotError):
            parse_reply(raw, "test-a", None)


def test_the_collector_pause_nests_and_restores_the_state_it_found() -> None:
    import gc

    from edge.snapshot import collector_paused

    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_a_sync_refused_for_its_budget_waits_as_told_and_finishes(broker_url, make_client, url5) -> None:
    store = unique("st-sync")
    skus = [f"P-{n}" for n in range(1, 7)]

    def entry(sku: str) -> dict[str, Any]:
        return {"sku": sku, "store": store, "names": {"en": sku}, "price": {"amount": "1.00", "currency": "SEK"},
                "seq": 1, "updated_at": "2026-11-30T10:00:00+00:00"}

    def pages(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        after = args.get("after")
        rest = [s for s in skus if after is None or s > after]
        return {"products": [entry(rest[0])] if rest else [], "stock": [], "as_of": "2026-11-30T10:00:00+00:00",
                "next": rest[0] if len(rest) > 1 else None}

    # A sync budget of 2 pages at once, then 4 a second: a catalogue of 6 pages meets it.
    limits = RequestLimits(budgets={READ: Budget(100, 100), WRITE: Budget(100, 100), EXPENSIVE: Budget(100, 100),
                                    SYNC: Budget(4.0, 2)})
    admission = Admission(limits)
    server = RpcServer(make_client(unique("sync-backend")), {"catalog.snapshot": pages}, admission=admission)
    server.start()
    try:
        rpc = RpcClient(make_client(url=url5), store, "kiosk-sync")
        assert rpc.wait_ready(5)
        got: list[str] = []
        result = snapshot.fetch(rpc, store, None, lambda items: got.extend(i.sku for i in items),
                                lambda topic, reason: None, limit=1)
        assert result is not None and sorted(got) == skus  # every page, none twice, none lost
        assert admission.rate_limited > 0  # it did meet its budget...
        assert admission.penalties == 0  # ...and waited as told each time, so it was never penalised
    finally:
        server.stop()
