"""The central broker's ACLs, run in a real Mosquitto: a store's bridge writes only its own store's topics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from mqtt import topics
from mqtt.client import ConnectRefused, MqttClient
from tests.conftest import Collector
from tests.helpers import OpenClients
from tests.security.central_broker import CentralBroker


@pytest.fixture(scope="module")
def central_broker() -> Iterator[CentralBroker]:
    """The generated central broker of a chain of stores test-a and test-b, shared by the module."""
    broker = CentralBroker(["test-a", "test-b"]).start()
    yield broker
    broker.close()


@pytest.fixture
def central(central_broker: CentralBroker) -> Iterator[CentralBroker]:
    """The shared central broker; a test's connections are closed when it ends (one per login at a time)."""
    yield central_broker
    central_broker.clients.close()
    central_broker.clients = OpenClients()


def _forgeries_are_dropped(central: CentralBroker, forger: str, forged: list[str], legit: str, *,
                           legit_by: str | None = None, watcher: str = "observer") -> None:
    """``forger`` publishes ``forged``, then ``legit_by`` (the forger unless told) ``legit``: a watcher subscribed
    before everything sees ``legit`` and none of the forgeries."""
    clients = OpenClients()  # one connection per login at a time: the broker pins client ids to logins
    try:
        seen = Collector()
        watching = clients.connect(central.url(watcher), watcher)
        watching.subscribe("aisle/v1/#", seen)
        assert watching.wait_subscribed("aisle/v1/#", 5)
        client = clients.connect(central.url(forger), forger)
        for topic in forged:
            client.publish(topic, b'{"forged":true}', retain=True).wait_for_publish(5)
        # The broker routes a QoS 1 message to its subscribers before acknowledging it, so the legit one reaches
        # the watcher after the forgeries: once it is in, they had their chance.
        sender = client if legit_by is None else clients.connect(central.url(legit_by), legit_by)
        sender.publish(legit, b'{"legit":true}').wait_for_publish(5)
        assert seen.wait_for(lambda m: any(x.topic == legit for x in m), 10)
        assert [m.topic for m in seen.messages if m.payload == b'{"forged":true}'] == []
    finally:
        clients.close()


def test_a_store_bridge_cannot_write_another_sites_topics(central: CentralBroker) -> None:
    forged = [topics.stock("test-b", "X1"), topics.store_info("test-b"), topics.chain_live("test-b"),
              topics.chain_live("hq"), topics.hq_head("test-a"), topics.hq_head("test-b"),
              topics.chain_request("test-b", "hq"), topics.chain_request("hq", "test-b"),
              topics.chain_reply("test-b", "hq", "n1"), topics.chain_reply("hq", "test-a", "n1"),
              topics.catalog("test-a", "X1"), topics.request("test-b", "test-b-kiosk-1")]
    _forgeries_are_dropped(central, "bridge-test-a", forged, topics.stock("test-a", "X1"))


def test_hq_and_the_observer_cannot_write_store_state(central: CentralBroker) -> None:
    _forgeries_are_dropped(central, "hq", [topics.stock("test-a", "X2"), topics.chain_live("test-a"),
                                           topics.chain_request("hq", "test-a")], topics.hq_head("test-a"))
    _forgeries_are_dropped(central, "observer", [topics.stock("test-a", "X3"), topics.hq_head("test-a"),
                                                 topics.chain_request("test-a", "hq")],
                           topics.chain_live("hq"), legit_by="hq", watcher="bridge-test-a")


def test_a_store_bridge_reads_only_what_is_meant_for_it(central: CentralBroker) -> None:
    bridge = central.connect("bridge-test-a")
    seen = Collector()
    for topic_filter in (topics.chain_request_filter("test-b"), topics.chain_request_filter("test-a"),
                         topics.hq_head_filter(), topics.chain_reply_pattern("+", "test-b"),
                         topics.chain_reply_pattern("+", "test-a")):
        bridge.subscribe(topic_filter, seen)
        bridge.wait_subscribed(topic_filter, 5)  # a denied filter may be acknowledged all the same
    hq = central.connect("hq")
    hidden = [topics.chain_request("test-b", "hq"), topics.hq_head("test-b"), topics.chain_reply("hq", "test-b", "n2")]
    meant = [topics.chain_request("test-a", "hq"), topics.hq_head("test-a"), topics.chain_reply("hq", "test-a", "n2")]
    for topic in hidden + meant:
        hq.publish(topic, b"{}").wait_for_publish(5)
    assert seen.wait_for(lambda m: set(meant) <= {x.topic for x in m}, 10)
    assert not set(hidden) & seen.topics()


@pytest.mark.parametrize("credentials", [None, ("bridge-test-a", "wrong-password-0123456789"), ("nobody", "x")])
def test_central_refuses_anonymous_and_wrong_logins(central: CentralBroker, credentials) -> None:
    url = central.base if credentials is None else replace(central.base, username=credentials[0],
                                                           password=credentials[1])
    started = time.monotonic()
    with pytest.raises(ConnectRefused, match="refused: Not authorized"):
        MqttClient(url, "intruder").connect(10)
    assert time.monotonic() - started < 5
