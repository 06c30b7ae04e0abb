"""The nearby mirror takes whatever arrives over the bridge without failing, and never lets an older level win."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.chain.mirror import NearbyMirror
from mqtt import topics
from mqtt.chain import SiteLive
from mqtt.client import Message
from mqtt.payloads import StockLevel, encode

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def level(store: str, available: int, seq: int) -> Message:
    body = StockLevel(sku="TEA", store=store, available=available, on_hand=available, reserved=0, seq=seq,
                      updated_at=NOW)
    return Message(topics.stock(store, "TEA"), encode(body), 1, True)


def live(site: str, at: datetime, state: str = "online") -> Message:
    return Message(topics.chain_live(site), encode(SiteLive(site=site, at=at, state=state)), 1, True)  # type: ignore


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([topics.stock("far", "TEA"), topics.store_info("far"), topics.chain_live("far"),
                        "aisle/v1/far/stock", "aisle/v1/_chain/far/live/x", "junk"]),
       st.binary(max_size=300))
def test_anything_from_the_bridge_is_taken_or_dropped_never_raised(topic: str, payload: bytes) -> None:
    mirror = NearbyMirror("home", clock=lambda: NOW)
    for feed in (mirror.on_stock, mirror.on_info, mirror.on_live, mirror.on_link):
        feed(Message(topic, payload, 1, False))
    mirror.entries("TEA")


def test_an_older_level_never_wins_and_a_level_for_another_store_is_dropped() -> None:
    mirror = NearbyMirror("home", clock=lambda: NOW)
    mirror.on_stock(level("far", 5, 7))
    mirror.on_stock(level("far", 9, 6))  # replayed by the bridge after a reconnect
    forged = level("near", 1, 99)
    mirror.on_stock(Message(topics.stock("far", "TEA"), forged.payload, 1, True))  # body names another store
    mirror.on_stock(level("home", 3, 50))  # this store's own: the database has it
    assert [(e["store"], e["available"], e["seq"]) for e in mirror.entries("TEA")] == [("far", 5, 7)]


def test_live_until_silent_or_cut_then_last_known() -> None:
    now = [NOW]
    mirror = NearbyMirror("home", stale_after=timedelta(minutes=2), clock=lambda: now[0])
    mirror.on_stock(level("far", 5, 1))
    assert not mirror.entries("TEA")[0]["live"]  # never heard: not promised
    mirror.on_live(live("far", NOW))
    assert mirror.entries("TEA")[0]["live"]
    now[0] = NOW + timedelta(minutes=1)
    mirror.on_link(Message(topics.chain_link("home"), b"0", 1, True))
    entry = mirror.entries("TEA")[0]
    assert not entry["live"] and entry["as_of"] == now[0].isoformat()  # last known when the link went down
    mirror.on_link(Message(topics.chain_link("home"), b"1", 1, True))
    assert mirror.entries("TEA")[0]["live"]
    now[0] = NOW + timedelta(minutes=3)  # no heartbeat for three minutes
    entry = mirror.entries("TEA")[0]
    assert not entry["live"] and entry["as_of"] == NOW.isoformat()
