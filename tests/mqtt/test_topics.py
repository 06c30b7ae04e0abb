"""Topic builders and parser."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codes import ids
from mqtt import topics


def test_builders_produce_documented_layout() -> None:
    assert topics.catalog("sthlm-city", "DAI-MILK-1L") == "aisle/v1/sthlm-city/catalog/DAI-MILK-1L"
    assert topics.stock("sthlm-city", "DAI-MILK-1L") == "aisle/v1/sthlm-city/stock/DAI-MILK-1L"
    assert topics.request("s1", "kiosk-7") == "aisle/v1/s1/device/kiosk-7/req"
    assert topics.reply("s1", "kiosk-7", "ab12") == "aisle/v1/s1/device/kiosk-7/reply/ab12"
    assert topics.device_status("s1", "kiosk-7") == "aisle/v1/s1/device/kiosk-7/status"
    assert topics.stock_filter() == "aisle/v1/+/stock/+"


@pytest.mark.parametrize("topic,kind,store,key", [
    ("aisle/v1/s1/info", "info", "s1", "s1"),
    ("aisle/v1/s1/catalog/SKU-1", "catalog", "s1", "SKU-1"),
    ("aisle/v1/s1/stock/SKU-1", "stock", "s1", "SKU-1"),
    ("aisle/v1/s1/device/kiosk-1/req", "req", "s1", "kiosk-1"),
    ("aisle/v1/s1/device/kiosk-1/status", "status", "s1", "kiosk-1"),
])
def test_parse_round_trip(topic: str, kind: str, store: str, key: str) -> None:
    parsed = topics.parse(topic)
    assert (parsed.kind, parsed.store, parsed.key) == (kind, store, key)


@pytest.mark.parametrize("bad", [
    "aisle/v1/s1/stock/sku-lower", "aisle/v2/s1/stock/SKU", "aisle/v1/S1/stock/SKU", "aisle/v1/s1/stock/SKU/x",
    "aisle/v1/s1/device/k1/reply", "aisle/v1/s1/device/k1/other", "", "aisle/v1/s1/stock/+", "aisle/v1/s1/stock/#",
])
def test_parse_rejects_foreign_topics(bad: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.parse(bad)


@pytest.mark.parametrize("store", ["", "A", "a/b", "a+", "#", "x" * 40, "-x"])
def test_builders_refuse_ids_that_would_break_topics(store: str) -> None:
    with pytest.raises(ids.InvalidIdentifier):
        topics.stock(store, "SKU")


@given(st.text(max_size=200))
def test_parse_never_raises_anything_but_topic_error(text: str) -> None:
    try:
        topics.parse(text)
    except topics.TopicError:
        pass


@given(st.lists(st.sampled_from(["a", "b", "+", "#", "", "$SYS"]), min_size=1, max_size=4),
       st.lists(st.sampled_from(["a", "b", "", "$SYS"]), min_size=1, max_size=4))
def test_client_filter_matching_agrees_with_paho(filter_levels: list[str], topic_levels: list[str]) -> None:
    import paho.mqtt.client as paho

    from mqtt.client import _matches

    if "#" in filter_levels[:-1]:
        return  # not a valid filter
    topic_filter, topic = "/".join(filter_levels), "/".join(topic_levels)
    assert _matches(topic_filter, topic.split("/")) == paho.topic_matches_sub(topic_filter, topic)


@pytest.mark.parametrize("topic,kind,store,key", [
    (topics.chain_live("hq"), "live", "hq", "hq"),
    (topics.chain_link("sthlm-city"), "link", "sthlm-city", "sthlm-city"),
    (topics.hq_head("sthlm-city"), "head", "hq", "sthlm-city"),
    (topics.chain_request("hq", "sthlm-city"), "req", "hq", "sthlm-city"),
    (topics.chain_request("cph-1", "sthlm-city"), "req", "cph-1", "sthlm-city"),
])
def test_chain_topics_round_trip(topic: str, kind: str, store: str, key: str) -> None:
    parsed = topics.parse_chain(topic)
    assert (parsed.kind, parsed.store, parsed.key) == (kind, store, key)


def test_no_store_may_be_called_hq() -> None:
    with pytest.raises(ids.InvalidIdentifier):
        topics.hq_head("hq")
    with pytest.raises(ids.InvalidIdentifier):
        ids.chain_store_id("hq")


@given(st.one_of(st.text(max_size=200),
                 st.lists(st.sampled_from(["aisle", "v1", "_chain", "hq", "s1", "live", "head", "req", "reply",
                                           "x!", "", "+", "#", "link", "n0nce"]), max_size=8).map("/".join)))
def test_parse_chain_never_raises_anything_but_topic_error(text: str) -> None:
    try:
        topics.parse_chain(text)
    except topics.TopicError:
        pass
