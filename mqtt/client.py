"""A paho-mqtt 2.x wrapper: reconnects, resubscribes, and hands messages to the application thread."""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)

Dispatch = Callable[[Callable[[], None]], None]


class ConnectError(ConnectionError):
    """The broker could not be reached or refused the connection."""


@dataclass(frozen=True)
class Message:
    """An immutable received message, safe to hand across threads."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    response_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass(frozen=True)
class Will:
    """Last Will the broker publishes when this client vanishes."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


Handler = Callable[[Message], None]
ConnectionListener = Callable[[bool], None]


@dataclass
class _Subscription:
    qos: int
    retain_handling: int = 0
    handlers: list[Handler] = field(default_factory=list)
    acked: threading.Event = field(default_factory=threading.Event)


class MqttClient:
    """One connection to a broker, shared by every part of a process that talks MQTT.

    paho's network thread only copies messages into a queue; handlers run on the
    dispatcher (a thread of ours by default, or e.g. Kivy's clock via ``dispatch``).
    """

    def __init__(
        self,
        url: BrokerUrl,
        client_id: str,
        *,
        will: Will | None = None,
        dispatch: Dispatch | None = None,
        keepalive: int = 30,
        max_inflight: int = 100,
    ) -> None:
        self.url = url
        self.client_id = client_id
        protocol = MQTTProtocolVersion.MQTTv5 if url.protocol == 5 else MQTTProtocolVersion.MQTTv311
        kwargs: dict[str, Any] = {}
        if protocol == MQTTProtocolVersion.MQTTv311:
            kwargs["clean_session"] = True
        self._paho = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            **kwargs,
        )
        self._keepalive = keepalive
        self._paho.max_inflight_messages_set(max_inflight)
        self._paho.max_queued_messages_set(0)
        self._paho.reconnect_delay_set(min_delay=1, max_delay=10)
        if url.username:
            self._paho.username_pw_set(url.username, url.password)
        if url.tls:
            # Hostname checks stay on: a kiosk on a shop network must not trust a look-alike broker.
            self._paho.tls_set(ca_certs=url.ca_file, certfile=url.cert_file, keyfile=url.key_file,
                               cert_reqs=ssl.CERT_REQUIRED)
        if will is not None:
            self._paho.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self._paho.on_connect = self._on_connect
        self._paho.on_disconnect = self._on_disconnect
        self._paho.on_message = self._on_message
        self._paho.on_subscribe = self._on_subscribe
        self._paho.on_socket_open = _no_delay
        self._lock = threading.Lock()
        self._subs: dict[str, _Subscription] = {}
        self._pending_sub_mids: dict[int, list[str]] = {}
        self._listeners: list[ConnectionListener] = []
        self._connected = threading.Event()
        self._refused: str | None = None
        self._dispatch = dispatch
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    def connect(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Start the network loop; with ``wait``, block until the broker accepts or ``timeout`` passes."""
        if self._dispatch is None and self._worker is None:
            self._worker = threading.Thread(target=self._run_worker, name=f"mqtt-dispatch-{self.client_id}",
                                            daemon=True)
            self._worker.start()
        self._paho.connect_async(self.url.host, self.url.port, keepalive=self._keepalive)
        self._paho.loop_start()
        if wait and not self._connected.wait(timeout):
            reason = self._refused or f"no answer from {self.url.host}:{self.url.port} within {timeout:g} s"
            self.close()
            raise ConnectError(f"cannot connect to MQTT broker {self.url}: {reason}")

    def close(self, timeout: float = 5.0) -> None:
        """Disconnect cleanly (no Last Will) and stop the threads."""
        if self._closed:
            return
        self._closed = True
        try:
            self._paho.disconnect()
        finally:
            self._paho.loop_stop()
            if self._worker is not None:
                self._queue.put(None)
                self._worker.join(timeout)

    @property
    def connected(self) -> bool:
        """Whether the broker currently accepts our messages."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected or the timeout passes."""
        return self._connected.wait(timeout)

    def add_connection_listener(self, listener: ConnectionListener) -> Callable[[], None]:
        """Call ``listener(connected)`` on the dispatcher when the connection changes; returns a remover."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    # -- subscribe / publish -------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1, *,
                  skip_retained: bool = False) -> Callable[[], None]:
        """Deliver messages matching ``topic_filter`` to ``handler``; returns a function that unsubscribes.

        ``skip_retained`` asks an MQTT 5 broker not to send the retained messages when subscribing (retain handling
        2), for a client that fetches the current state another way; MQTT 3.1.1 has no such option and ignores it.
        """
        with self._lock:
            sub = self._subs.get(topic_filter)
            new = sub is None
            if sub is None:
                sub = self._subs[topic_filter] = _Subscription(qos, 2 if skip_retained else 0)
            sub.handlers.append(handler)
        if new and self.connected:
            self._send_subscribe([topic_filter])

        def unsubscribe() -> None:
            with self._lock:
                current = self._subs.get(topic_filter)
                if current is None or handler not in current.handlers:
                    return
                current.handlers.remove(handler)
                empty = not current.handlers
                if empty:
                    del self._subs[topic_filter]
            if empty and self.connected:
                self._paho.unsubscribe(topic_filter)

        return unsubscribe

    def wait_subscribed(self, topic_filter: str, timeout: float = 5.0) -> bool:
        """Block until the broker has acknowledged the subscription to ``topic_filter``."""
        with self._lock:
            sub = self._subs.get(topic_filter)
        return sub is not None and sub.acked.wait(timeout)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
    ) -> paho.MQTTMessageInfo:
        """Queue a message for sending; QoS 1 messages survive a reconnect."""
        properties = None
        if self.url.protocol == 5 and (response_topic or correlation_data):
            properties = Properties(PacketTypes.PUBLISH)
            if response_topic:
                properties.ResponseTopic = response_topic
            if correlation_data:
                properties.CorrelationData = correlation_data
        return self._paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    # -- paho callbacks (network thread: touch nothing but our own queues) --

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            log.warning("broker %s refused connection: %s", self.url, reason)
            return
        with self._lock:
            filters = list(self._subs)
            for sub in self._subs.values():
                sub.acked.clear()
        if filters:
            self._send_subscribe(filters)
        self._connected.set()
        log.info("connected to %s as %s", self.url, self.client_id)
        self._notify_connection(True)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closed:
            log.warning("disconnected from %s: %s", self.url, reason)
            self._notify_connection(False)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._lock:
            filters = self._pending_sub_mids.pop(mid, [])
            for topic_filter, reason in zip(filters, reasons, strict=False):
                if getattr(reason, "is_failure", False):
                    log.error("broker refused subscription to %s: %s", topic_filter, reason)
                    continue
                sub = self._subs.get(topic_filter)
                if sub is not None:
                    sub.acked.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        message = Message(
            topic=msg.topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            retain=bool(msg.retain),
            response_topic=getattr(props, "ResponseTopic", None) if props else None,
            correlation_data=getattr(props, "CorrelationData", None) if props else None,
        )
        self._hand_over(lambda: self._deliver(message))

    # -- helpers -----------------------------------------------------------

    def _send_subscribe(self, filters: list[str]) -> None:
        # The lock spans the send so a fast SUBACK cannot arrive before its mid is recorded.
        with self._lock:
            subs = [(f, self._subs[f]) for f in filters if f in self._subs]
            if not subs:
                return
            if self.url.protocol == 5:
                pairs: list[tuple[str, Any]] = [
                    (f, SubscribeOptions(qos=s.qos, retainHandling=s.retain_handling)) for f, s in subs]
            else:
                pairs = [(f, s.qos) for f, s in subs]
            rc, mid = self._paho.subscribe(pairs)
            if rc == paho.MQTT_ERR_SUCCESS:
                self._pending_sub_mids[mid] = [f for f, _ in subs]

    def _notify_connection(self, up: bool) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            self._hand_over(lambda listener=listener: listener(up))

    def _hand_over(self, job: Callable[[], None]) -> None:
        if self._dispatch is not None:
            self._dispatch(job)
        else:
            self._queue.put(job)

    def _deliver(self, message: Message) -> None:
        levels = message.topic.split("/")
        with self._lock:
            handlers = [h for f, s in self._subs.items() if _matches(f, levels) for h in s.handlers]
        for handler in handlers:
            try:
                handler(message)
            except Exception:  # a faulty handler must not stop delivery to the others
                log.exception("handler %r failed on %s", handler, message.topic)

    def _run_worker(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("dispatched job failed")


def _no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    # paho leaves Nagle on: a PUBLISH sent right after a PUBACK then waits for a delayed ACK (~40 ms on Linux).
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket (e.g. a test double): nothing to tune


def _matches(topic_filter: str, levels: list[str]) -> bool:
    """MQTT filter matching on a topic already split into levels (cheaper than building a matcher per call)."""
    parts = topic_filter.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            return not (i == 0 and levels[0].startswith("$"))
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
        if part == "+" and i == 0 and levels[0].startswith("$"):
            return False
    return len(parts) == len(levels)
