"""A broker for the demo on this machine: reuse an anonymous local one already on the port, or start our own.

A desktop that has `apt-get install mosquitto` runs one on 127.0.0.1:1883, and a previous demo may still hold the
port; neither is a reason to stop with a traceback.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from mqtt import topics
from mqtt.brokers import Broker, BrokerError, EmbeddedBroker, MosquittoBroker, free_port, wait_for_port
from mqtt.client import ConnectError, Message, MqttClient
from mqtt.payloads import DeviceStatus, decode
from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PROBE_TIMEOUT = 3.0
BACKENDS_ONLINE = f"{topics.PREFIX}/{topics.BACKEND_BRANCH}/+/status"


@dataclass
class LocalBroker:
    """The broker the demo uses: ``owned`` is None when it belongs to someone else; ``note`` says which, in one line."""

    url: BrokerUrl
    owned: Broker | None
    note: str

    def stop(self) -> None:
        """Stop the broker if we started it; leave someone else's running."""
        if self.owned is not None:
            self.owned.stop()


def listening(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    return wait_for_port(host, port, 0, connect_timeout=1.0)


def probe(url: BrokerUrl, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when ``url`` is an anonymous MQTT broker free for the demo; otherwise why it is not."""
    client = MqttClient(url, f"aisle-demo-probe-{secrets.token_hex(4)}")
    try:
        client.connect(timeout)
    except ConnectError as exc:
        return f"does not take anonymous MQTT connections ({exc})"
    try:
        echoed = threading.Event()
        backends: list[str] = []
        topic = f"aisle-demo-probe/{client.client_id}"
        client.subscribe(topic, lambda message: echoed.set())
        client.subscribe(BACKENDS_ONLINE, lambda message: _online_backend(message, backends.append))
        if not (client.wait_subscribed(topic, timeout) and client.wait_subscribed(BACKENDS_ONLINE, timeout)):
            return "did not confirm a subscription"
        client.publish(topic, b"ping", qos=1)
        if not echoed.wait(timeout):
            return "did not deliver a test message back"
        # Retained statuses arrive with the subscription acknowledgement, before our echo: the list is complete.
        if backends:
            return f"already serves a running Aisle backend ({', '.join(sorted(set(backends)))}; a previous demo?)"
        return None
    finally:
        client.close()


def _online_backend(message: Message, found: Callable[[str], None]) -> None:
    try:
        status = decode(DeviceStatus, message.payload)
    except (ValidationError, ValueError):
        return  # not ours to judge: only a well-formed "online" status means a backend is there
    if status.state == "online":
        found(status.device)


def start_own(kind: str, port: int, workdir: Path) -> Broker:
    """Start an embedded (amqtt) or Mosquitto broker on ``port``."""
    if kind == "embedded":
        return EmbeddedBroker(HOST, port).start()
    return MosquittoBroker(port=port, workdir=workdir).start()


def _elsewhere(kind: str, workdir: Path) -> Broker:
    port = free_port(HOST)
    # A workdir of its own: the broker on the usual port may be a previous demo's Mosquitto, still using that one.
    return start_own(kind, port, workdir / f"port-{port}")


def local_broker(kind: str, port: int, workdir: Path) -> LocalBroker:
    """The demo's broker on ``port``: started there, reused when it is a free anonymous broker, else on a free port."""
    wanted = BrokerUrl(HOST, port)
    if listening(port):
        reason = probe(wanted)
        if reason is None:
            return LocalBroker(wanted, None, f"broker: using the MQTT broker already listening on {wanted} "
                                             f"(anonymous, local)")
        own = _elsewhere(kind, workdir)
        return LocalBroker(own.url, own, f"broker: {wanted} {reason}; started the {kind} broker on {own.url} "
                                         f"instead")
    try:
        own = start_own(kind, port, workdir)
    except BrokerError as exc:  # taken between our look and our start, or bound without listening
        log.debug("broker on port %d did not start: %s", port, exc)
        own = _elsewhere(kind, workdir)
        return LocalBroker(own.url, own, f"broker: port {port} is taken; started the {kind} broker on {own.url}")
    return LocalBroker(own.url, own, f"broker: started the {kind} broker on {own.url}")
