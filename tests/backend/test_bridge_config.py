"""The store->central bridge and the central broker's set-up: generated text, refusals, and real bridged brokers."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from backend.bridge_config import CENTRAL_CA_FILE, BridgeConfigError, downlink, load_bridge, masked, uplink
from backend.broker_config import BrokerConfigError, write_config
from backend.central_config import CentralConfigError, write_central_config
from backend.chain_logins import LOGINS_FILE, read_logins
from mqtt import topics
from tests.conftest import ROOT, Collector
from tests.security.central_broker import CentralBroker, PersistentSubscriber, payloads, watch

HOSTS = ["localhost", "127.0.0.1"]


@pytest.fixture
def central_dir(tmp_path: Path) -> Path:
    """A central-config output for stores test-a, test-b and test-c."""
    write_central_config(tmp_path / "central", ["test-a", "test-b", "test-c"], hosts=HOSTS, port=8883)
    return tmp_path / "central"


def _conf_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_bridge_section_maps_exactly_the_designed_topics(central_dir: Path, tmp_path: Path, caplog) -> None:
    bridge = load_bridge("test-a", "mqtts://central.example:8883", central_dir / LOGINS_FILE,
                         central_dir / "ca.crt", ["test-b", "test-c"])
    password = bridge.password
    assert password not in repr(bridge)
    with caplog.at_level(logging.DEBUG):
        write_config(tmp_path / "store", "test-a", 1, 1, hosts=HOSTS, port=8884, bridge=bridge)
    conf = tmp_path / "store" / "mosquitto.conf"
    lines = _conf_lines(conf)
    assert conf.stat().st_mode & 0o077 == 0  # it holds the bridge's central password
    assert password not in caplog.text and password not in masked(conf.read_text())
    section = lines[lines.index("connection aisle-test-a-central"):]
    for option in ("address central.example:8883", f"bridge_cafile {tmp_path / 'store' / CENTRAL_CA_FILE}",
                   "bridge_insecure false", "remote_clientid bridge-test-a", "remote_username bridge-test-a",
                   f"remote_password {password}", "cleansession false", "bridge_protocol_version mqttv311",
                   "try_private true", "restart_timeout 2 30", "keepalive_interval 30", "notifications true",
                   "notifications_local_only true", "notification_topic aisle/v1/_chain/test-a/link"):
        assert option in section
    assert (tmp_path / "store" / CENTRAL_CA_FILE).read_bytes() == (central_dir / "ca.crt").read_bytes()
    assert [line for line in section if line.startswith("topic ")] == [
        "topic aisle/v1/test-a/info out 1", "topic aisle/v1/test-a/stock/+ out 1",
        "topic aisle/v1/_chain/test-a/live out 1", "topic aisle/v1/_chain/+/test-a/req out 1",
        "topic aisle/v1/_chain/test-a/+/reply/+ out 1",
        "topic aisle/v1/test-b/info in 1", "topic aisle/v1/test-b/stock/+ in 1",
        "topic aisle/v1/_chain/test-b/live in 1",
        "topic aisle/v1/test-c/info in 1", "topic aisle/v1/test-c/stock/+ in 1",
        "topic aisle/v1/_chain/test-c/live in 1",
        "topic aisle/v1/_chain/hq/live in 1", "topic aisle/v1/_chain/hq/head/test-a in 1",
        "topic aisle/v1/_chain/test-a/+/req in 1", "topic aisle/v1/_chain/+/test-a/reply/+ in 1"]
    # The store's catalogue stays local: HQ owns the chain's catalogue.
    assert not any("catalog" in line for line in section)
    # The max_queued_messages line is global (before the section) and big enough for an hour's cut.
    assert lines.index("max_queued_messages 1000000") < lines.index("connection aisle-test-a-central")


def test_central_acl_grants_each_login_exactly_its_patterns(central_dir: Path) -> None:
    grants: dict[str, list[str]] = {}
    user = ""
    for line in _conf_lines(central_dir / "acl"):
        if line.startswith("user "):
            user = line.split()[1]
        elif line.startswith("topic "):
            grants.setdefault(user, []).append(line)
    for store in ("test-a", "test-b", "test-c"):
        # The same patterns as the bridge's topic map: out = may write, in (for any nearby store) = may read.
        assert grants[f"bridge-{store}"] == ([f"topic write {p}" for p in uplink(store)]
                                             + [f"topic read {p}" for p in downlink(store, None)])
    assert grants["bridge-test-b"] == [
        "topic write aisle/v1/test-b/info", "topic write aisle/v1/test-b/stock/+",
        "topic write aisle/v1/_chain/test-b/live", "topic write aisle/v1/_chain/+/test-b/req",
        "topic write aisle/v1/_chain/test-b/+/reply/+",
        "topic read aisle/v1/+/info", "topic read aisle/v1/+/stock/+", "topic read aisle/v1/_chain/+/live",
        "topic read aisle/v1/_chain/hq/head/test-b", "topic read aisle/v1/_chain/test-b/+/req",
        "topic read aisle/v1/_chain/+/test-b/reply/+"]
    assert grants["hq"] == [
        "topic write aisle/v1/_chain/hq/live", "topic write aisle/v1/_chain/hq/head/+",
        "topic write aisle/v1/_chain/+/hq/req", "topic write aisle/v1/_chain/hq/+/reply/+",
        "topic write aisle/v1/hq/device/+/reply/+", "topic write aisle/v1/hq/device/+/event",
        "topic read aisle/v1/_chain/hq/+/req", "topic read aisle/v1/_chain/+/hq/reply/+",
        "topic read aisle/v1/_chain/+/live", "topic read aisle/v1/+/info", "topic read aisle/v1/+/stock/+",
        "topic read aisle/v1/hq/device/+/req"]
    # The web shop's server is a device of site hq: its own request, reply, event and status topics, nothing else.
    assert grants["web-1"] == [
        "topic write aisle/v1/hq/device/web-1/req", "topic write aisle/v1/hq/device/web-1/status",
        "topic read aisle/v1/hq/device/web-1/reply/+", "topic read aisle/v1/hq/device/web-1/event",
        "topic read aisle/v1/hq/device/web-1/status"]
    assert grants["observer"] == ["topic read aisle/v1/#"]
    conf = (central_dir / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "persistence true" in conf
    assert conf.index("use_username_as_clientid true") > conf.index("listener 8883")
    assert (central_dir / LOGINS_FILE).stat().st_mode & 0o077 == 0
    assert [(x.login, x.site, x.role) for x in read_logins(central_dir / LOGINS_FILE)] == [
        ("bridge-test-a", "test-a", "bridge"), ("bridge-test-b", "test-b", "bridge"),
        ("bridge-test-c", "test-c", "bridge"), ("web-1", "hq", "web"), ("hq", "hq", "hq"), ("observer", "", "observer")]
    hashed = (central_dir / "passwd").read_text()
    assert all(x.password not in hashed for x in read_logins(central_dir / LOGINS_FILE))


@pytest.mark.parametrize("stores, reason", [
    (["test-a", "hq"], "HQ"), (["_chain"], "invalid store id"), (["Test-A"], "invalid store id"),
    (["test-a", "test-b", "test-a"], "test-a more than once"), ([], "no store")])
def test_central_config_refuses_bad_stores(tmp_path: Path, stores: list[str], reason: str) -> None:
    with pytest.raises(CentralConfigError, match=reason):
        write_central_config(tmp_path / "central", stores, hosts=HOSTS)
    assert not (tmp_path / "central").exists()  # refused before anything was written


def test_central_config_keeps_existing_logins_unless_forced(central_dir: Path) -> None:
    before = (central_dir / LOGINS_FILE).read_text()
    with pytest.raises(CentralConfigError, match="exists"):
        write_central_config(central_dir, ["test-a"], hosts=HOSTS)
    assert (central_dir / LOGINS_FILE).read_text() == before
    write_central_config(central_dir, ["test-a"], hosts=HOSTS, force=True)
    assert [x.login for x in read_logins(central_dir / LOGINS_FILE)] == ["bridge-test-a", "web-1", "hq", "observer"]


@pytest.mark.parametrize("store, url, nearby, reason", [
    ("test-a", "mqtt://central:1883", [], "mqtts"),
    ("test-a", "mqtts://bridge-test-a:secret@central:8883", [], "no login"),
    ("test-a", "mqtts://central host:8883", [], "HOST"),
    ("test-a", "mqtts://central:8883/x", [], "HOST"),
    ("test-d", "mqtts://central:8883", [], "no login bridge-test-d"),
    ("hq", "mqtts://central:8883", [], "HQ"),
    ("test-a", "mqtts://central:8883", ["test-a"], "store itself"),
    ("test-a", "mqtts://central:8883", ["test-b", "test-b"], "twice"),
    ("test-a", "mqtts://central:8883", ["hq"], "HQ"),
    ("test-a", "mqtts://central:8883", ["_chain"], "invalid store id")])
def test_bridge_refuses_bad_input(central_dir: Path, store: str, url: str, nearby: list[str], reason: str) -> None:
    with pytest.raises(BridgeConfigError, match=reason):
        load_bridge(store, url, central_dir / LOGINS_FILE, central_dir / "ca.crt", nearby)


def test_bridge_refuses_missing_or_wrong_central_files(central_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BridgeConfigError, match="cannot read logins"):
        load_bridge("test-a", "mqtts://central", tmp_path / "nope.csv", central_dir / "ca.crt", [])
    with pytest.raises(BridgeConfigError, match="no PEM certificate"):
        load_bridge("test-a", "mqtts://central", central_dir / LOGINS_FILE, central_dir / "acl", [])
    (tmp_path / "bad.csv").write_text("login,site,role,password\nbridge-test-a,test-a,bridge,short pw\n")
    with pytest.raises(BridgeConfigError, match="no usable password"):
        load_bridge("test-a", "mqtts://central", tmp_path / "bad.csv", central_dir / "ca.crt", [])


def test_broker_config_refuses_a_store_called_hq(tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match="HQ"):
        write_config(tmp_path / "store", "hq", 1, 1, hosts=HOSTS)


def test_cli_writes_central_and_bridged_store_without_printing_passwords(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "backend", *args], capture_output=True, text=True, cwd=ROOT)

    central, store = tmp_path / "central", tmp_path / "store"
    result = run("central-config", "--out", str(central), "--stores", "test-a,test-b", "--port", "9883")
    assert result.returncode == 0, result.stderr
    assert run("central-config", "--out", str(central), "--stores", "test-a").returncode == 1  # logins kept
    refused = run("central-config", "--out", str(tmp_path / "c2"), "--stores", "test-a,hq")
    assert refused.returncode == 1 and "HQ" in refused.stderr
    half = run("broker-config", "--out", str(store), "--store", "test-a", "--bridge", "mqtts://localhost:9883")
    assert half.returncode == 1 and "--bridge-logins" in half.stderr and not store.exists()
    result = run("-v", "broker-config", "--out", str(store), "--store", "test-a", "--bridge",
                 "mqtts://localhost:9883", "--bridge-logins", str(central / LOGINS_FILE), "--bridge-ca",
                 str(central / "ca.crt"), "--nearby", "test-b")
    assert result.returncode == 0, result.stderr
    password = next(x.password for x in read_logins(central / LOGINS_FILE) if x.login == "bridge-test-a")
    assert password not in result.stdout + result.stderr
    assert f"remote_password {password}" in _conf_lines(store / "mosquitto.conf")
    assert "topic aisle/v1/test-b/stock/+ in 1" in _conf_lines(store / "mosquitto.conf")


def test_bridge_carries_store_state_up_and_hq_head_down() -> None:
    central = CentralBroker(["test-a", "test-b"]).start()
    store = central.bridged_store("test-a", nearby=["test-b"]).start()
    try:
        link = watch(store, "backend-main", topics.chain_link("test-a"))
        assert link.wait_for(lambda m: payloads(m, topics.chain_link("test-a"))[-1:] == [b"1"], 20)
        local = store.connect("backend-main-state")
        local_seen = Collector()
        for topic_filter in (topics.hq_head("test-a"), topics.stock_filter("test-b")):
            local.subscribe(topic_filter, local_seen)
            assert local.wait_subscribed(topic_filter, 5)
        # Down: HQ's head for this store, and a nearby store's stock (published here under that store's bridge).
        central.connect("hq").publish(topics.hq_head("test-a"), b'{"seq":7}', retain=True).wait_for_publish(5)
        central.connect("bridge-test-b").publish(topics.stock("test-b", "B1"), b'{"b":1}',
                                                 retain=True).wait_for_publish(5)
        assert local_seen.wait_for(lambda m: payloads(m, topics.hq_head("test-a")) == [b'{"seq":7}']
                                   and payloads(m, topics.stock("test-b", "B1")) == [b'{"b":1}'], 10)
        # Up: a retained stock level; the catalogue entry published before it on the same connection stays local.
        own = store.connect("backend-main")
        own.publish(topics.catalog("test-a", "A1"), b'{"cat":1}', retain=True).wait_for_publish(5)
        own.publish(topics.stock("test-a", "A1"), b'{"a":1}', retain=True).wait_for_publish(5)
        observer = central.connect("observer")
        everything = Collector()
        observer.subscribe("aisle/v1/#", everything)
        assert observer.wait_subscribed("aisle/v1/#", 5)
        assert everything.wait_for(lambda m: payloads(m, topics.stock("test-a", "A1")) == [b'{"a":1}'], 10)
        assert not any("/catalog/" in m.topic for m in everything.messages)
        # Retained at the centre: a later subscriber still gets it.
        again = Collector()
        observer.subscribe(topics.stock_filter("test-a"), again)
        assert again.wait_for(lambda m: any(x.topic == topics.stock("test-a", "A1") and x.retain for x in m), 5)
    finally:
        store.close()
        central.close()


def test_nothing_published_during_a_central_outage_is_lost() -> None:
    central = CentralBroker(["test-a"]).start()
    store = central.bridged_store("test-a").start()
    hq: PersistentSubscriber | None = None
    try:
        link = watch(store, "backend-main-state", topics.chain_link("test-a"))
        up = topics.chain_link("test-a")
        assert link.wait_for(lambda m: payloads(m, up)[-1:] == [b"1"], 20)
        # HQ's session outlives the outage: what reaches the centre for it afterwards is queued for it there.
        hq = PersistentSubscriber(central, "hq", topics.chain_request_filter("hq"))
        # More retained levels than Mosquitto's default in-flight window (20) before the outage: the bridge re-sends
        # them all on reconnect, which stalled 2.0.11's bridge for good without `max_inflight_messages 0`.
        before = store.connect("backend-main-state")
        for i in range(30):
            before.publish(topics.stock("test-a", f"PRE-{i}"), b'{"pre":1}', retain=True).wait_for_publish(5)
        central.stop()
        assert link.wait_for(lambda m: payloads(m, up)[-1:] == [b"0"], 20)  # the store knows it is cut off
        local = store.connect("backend-main")
        skus = [f"SKU-{i}" for i in range(20)]
        for round_ in (1, 2):  # two values per SKU: the newest must win at the centre
            for sku in skus:
                local.publish(topics.stock("test-a", sku), f'{{"r":{round_}}}'.encode(), retain=True
                              ).wait_for_publish(5)
        # Requests are not retained: only the bridge's queue in the store broker carries them over the cut.
        requests = [f'{{"n":{n}}}'.encode() for n in range(60)]
        for body in requests:
            local.publish(topics.chain_request("hq", "test-a"), body).wait_for_publish(5)
        central.start()  # same port, same persistence
        assert link.wait_for(lambda m: payloads(m, up)[-1:] == [b"1"], 40)
        seen = watch(central, "observer", topics.stock_filter("test-a"))
        expected = {topics.stock("test-a", sku) for sku in skus}
        assert seen.wait_for(lambda m: {x.topic for x in m if x.payload == b'{"r":2}'} >= expected, 10), \
            sorted(seen.topics())
        asked = topics.chain_request("hq", "test-a")
        assert hq.seen.wait_for(lambda m: len(payloads(m, asked)) >= len(requests), 10), len(hq.seen.messages)
        assert payloads(hq.seen.messages, asked) == requests  # each once, in order
        # And the bridge still carries what is published after the reconnect.
        local.publish(topics.stock("test-a", "AFTER"), b'{"after":1}', retain=True).wait_for_publish(5)
        assert seen.wait_for(lambda m: payloads(m, topics.stock("test-a", "AFTER")) == [b'{"after":1}'], 10)
    finally:
        if hq is not None:
            hq.close()
        store.close()
        central.close()


def test_a_central_broker_that_lost_its_state_gets_the_stores_levels_again() -> None:
    # A new central node, or one that crashed before saving: the bridge re-sends every retained level on reconnect.
    # Mosquitto 2.0.11 with its default in-flight window of 20 sent none of 30 and nothing after them (found by
    # bench/capacity_inputs.py); the store's `max_inflight_messages 0` is what this guards.
    central = CentralBroker(["test-a"]).start()
    store = central.bridged_store("test-a").start()
    try:
        link = watch(store, "backend-main-state", topics.chain_link("test-a"))
        up = topics.chain_link("test-a")
        assert link.wait_for(lambda m: payloads(m, up)[-1:] == [b"1"], 20)
        local = store.connect("backend-main")
        levels = {topics.stock("test-a", f"SKU-{i}") for i in range(30)}
        for topic in sorted(levels):
            local.publish(topic, b'{"v":1}', retain=True).wait_for_publish(5)
        first = watch(central, "observer", topics.stock_filter("test-a"))
        assert first.wait_for(lambda m: {x.topic for x in m} >= levels, 10)
        central.stop()
        for saved in (central.out / "data").glob("*.db"):
            saved.unlink()
        central.start()
        assert link.wait_for(lambda m: payloads(m, up)[-2:] == [b"0", b"1"], 40)
        again = watch(central, "observer", topics.stock_filter("test-a"))
        assert again.wait_for(lambda m: {x.topic for x in m} >= levels, 15), sorted(again.topics())
        local.publish(topics.stock("test-a", "AFTER"), b'{"after":1}', retain=True).wait_for_publish(5)
        assert again.wait_for(lambda m: payloads(m, topics.stock("test-a", "AFTER")) == [b'{"after":1}'], 10)
    finally:
        store.close()
        central.close()
