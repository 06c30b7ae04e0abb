"""A real central Mosquitto running what `python -m backend central-config` writes, and stores bridged to it."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from backend.bridge_config import load_bridge
from backend.central_config import write_central_config
from backend.chain_logins import LOGINS_FILE, ChainLogin
from mqtt.brokers import free_port
from mqtt.client import Message
from mqtt.url import BrokerUrl
from tests.conftest import Collector
from tests.helpers import OpenClients
from tests.security.conftest import SecuredBroker


class CentralBroker(SecuredBroker):
    """The generated central set-up for ``stores``: start, stop, kill and connect as its broker does for a store."""

    def __init__(self, stores: list[str]) -> None:  # noqa: D107 - the store broker's __init__ writes a store set-up
        self.out = Path(tempfile.mkdtemp(prefix="aisle-central-config-"))
        self.out.chmod(0o755)  # the broker drops to the mosquitto user and must reach in
        self.port = free_port()
        self.chain_logins: list[ChainLogin] = write_central_config(self.out, stores, port=self.port,
                                                                   hosts=["localhost", "127.0.0.1"])
        self.logins = []
        self.passwords = {login.login: login.password for login in self.chain_logins}
        self.base = BrokerUrl("127.0.0.1", self.port, tls=True, ca_file=str(self.out / "ca.crt"))
        self.proc = None
        self.clients = OpenClients()

    def bridged_store(self, store: str, nearby: list[str] | None = None) -> SecuredBroker:
        """A store broker (not started) whose generated configuration bridges it to this central broker."""
        bridge = load_bridge(store, f"mqtts://127.0.0.1:{self.port}", self.out / LOGINS_FILE, self.out / "ca.crt",
                             nearby or [])
        return SecuredBroker(store=store, bridge=bridge)


def watch(client_broker: SecuredBroker, login: str, topic_filter: str) -> Collector:
    """A Collector of ``topic_filter`` under ``login``, subscribed (retained messages on their way) when returned."""
    seen = Collector()
    client = client_broker.connect(login)
    client.subscribe(topic_filter, seen)
    assert client.wait_subscribed(topic_filter, 5)
    return seen


def payloads(messages: list[Message], topic: str) -> list[bytes]:
    """The payloads seen on ``topic``, in order."""
    return [m.payload for m in messages if m.topic == topic]


class PersistentSubscriber:
    """A client with a persistent session (clean session off): the broker keeps its subscription and queue."""

    def __init__(self, broker: SecuredBroker, login: str, topic_filter: str) -> None:
        self.seen = Collector()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=login, clean_session=False,
                                   protocol=paho.MQTTv311)
        self._client.username_pw_set(login, broker.passwords[login])
        self._client.tls_set(ca_certs=str(broker.out / "ca.crt"))
        self._client.reconnect_delay_set(0.1, 0.5)  # back as soon as the broker is
        self._client.on_connect = lambda client, *_: client.subscribe(topic_filter, 1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = lambda _c, _u, msg: self.seen(Message(msg.topic, msg.payload, msg.qos, msg.retain))
        self._client.connect("127.0.0.1", broker.port)
        self._client.loop_start()
        assert self._subscribed.wait(10), f"{login} did not subscribe to {topic_filter}"

    def close(self) -> None:
        """Disconnect (the session stays on the broker) and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
