"""A paho-mqtt 2.x wrapper: reconnects, resubscribes, and hands messages to the application thread."""

from __future__ import annotations

import logging
import queue
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt.dispatch import Dispatch, Listeners
from mqtt.paho_reads import BufferedReads
from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)


class ConnectError(ConnectionError):
    """The broker could not be reached or refused the connection."""


class ConnectRefused(ConnectError):
    """The broker answered and refused us (bad login, not authorised): retrying at once will not help."""


# Reconnect delays: each wait is drawn at random ("decorrelated jitter"), so that every kiosk of a store does not
# come back in lockstep after an outage; a refusal waits longer, since only an administrator can fix it.
MIN_RECONNECT_DELAY = 1.0
MAX_RECONNECT_DELAY = 30.0
MAX_REFUSED_DELAY = 120.0


def next_delay(previous: float | None, *, refused: bool = False, rng: random.Random | None = None,
               cap: float = MAX_RECONNECT_DELAY) -> float:
    """The next reconnect wait after ``previous``: random between the minimum and three times the last wait."""
    rng = rng or random
    cap = max(cap, MAX_REFUSED_DELAY) if refused else cap
    low = MIN_RECONNECT_DELAY * (5 if refused else 1)
    if previous is None:
        return rng.uniform(low, low * 2)
    delay = rng.uniform(low, max(low * 2, previous * 3))
    # Clamping to the cap would put every device back on the same period; past it, draw again below it.
    return delay if delay <= cap else rng.uniform(cap / 2, cap)


class _Paho(BufferedReads):
    """paho's client with jittered reconnect waits and the reason of the last failed connection attempt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_error: BaseException | None = None
        self.refused = False
        self.delay: float | None = None
        self.max_delay = MAX_RECONNECT_DELAY

    def reconnect(self) -> paho.MQTTErrorCode:
        """Open the connection, remembering why it failed (paho's connect-fail callback is not told)."""
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_error = exc
            raise

    def _reconnect_wait(self) -> None:
        # paho's own wait doubles a fixed delay: every device that lost the broker together retries together.
        self.delay = next_delay(self.delay, refused=self.refused, cap=self.max_delay)
        deadline = time.monotonic() + self.delay
        while not self._thread_terminate and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


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
    direct: list[Handler] = field(default_factory=list)  # run on paho's network thread (subscribe(direct=True))
    acked: threading.Event = field(default_factory=threading.Event)


class MqttClient:
    """One connection to a broker, shared by every part of a process that talks MQTT.

    paho's network thread only copies messages into a queue; handlers run on the
    dispatcher (a thread of ours by default, or e.g. Kivy's clock via ``dispatch``),
    except those subscribed ``direct``, which run on the network thread itself.
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
        max_reconnect_delay: float = MAX_RECONNECT_DELAY,
    ) -> None:
        self.url = url
        self.client_id = client_id
        protocol = MQTTProtocolVersion.MQTTv5 if url.protocol == 5 else MQTTProtocolVersion.MQTTv311
        kwargs: dict[str, Any] = {}
        if protocol == MQTTProtocolVersion.MQTTv311:
            kwargs["clean_session"] = True
        self._paho = _Paho(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            **kwargs,
        )
        self._keepalive = keepalive
        self._paho.max_delay = max_reconnect_delay  # one backend needs no spreading out, only a quick return
        self._paho.max_inflight_messages_set(max_inflight)
        self._paho.max_queued_messages_set(0)
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
        self._paho.on_connect_fail = self._on_connect_fail
        self._paho.on_socket_open = _no_delay
        self._lock = threading.Lock()
        self._subs: dict[str, _Subscription] = {}
        self._pending_sub_mids: dict[int, list[str]] = {}
        self._listeners: Listeners[bool] = Listeners(self._hand_over)
        self._connected = threading.Event()
        self._attempted = threading.Event()  # set by every answer or failure of a connection attempt
        self._problem: str | None = None
        self._problem_logged: tuple[str | None, float, float] = (None, 0.0, 0.0)  # problem, when, next interval
        self._dispatch = dispatch
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._closed = False
        self._retained_lock = threading.Lock()
        self._retained_sent = 0

    # -- lifecycle ---------------------------------------------------------

    def connect(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Start the network loop; with ``wait``, block until the broker accepts or ``timeout`` passes."""
        if self._dispatch is None and self._worker is None:
            self._worker = threading.Thread(target=self._run_worker, name=f"mqtt-dispatch-{self.client_id}",
                                            daemon=True)
            self._worker.start()
        self._paho.connect_async(self.url.host, self.url.port, keepalive=self._keepalive)
        self._paho.loop_start()
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while not self._connected.is_set():
            # A refusal or a TLS failure is final for this call: fail at once and name it, instead of waiting.
            problem = self._problem
            if problem is not None and not problem.startswith("unreachable"):
                self.close()
                error = ConnectRefused if problem.startswith("refused") else ConnectError
                raise error(f"cannot connect to MQTT broker {self.url}: {problem}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = self._problem or f"no answer from {self.url.host}:{self.url.port}"
                self.close()
                raise ConnectError(f"cannot connect to MQTT broker {self.url}: {reason} (waited {timeout:g} s)")
            self._attempted.wait(min(remaining, 0.5))
            self._attempted.clear()

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

    @property
    def retained_sent(self) -> int:
        """How many retained messages this client has queued so far."""
        return self._retained_sent

    @property
    def problem(self) -> str | None:
        """Why we are not connected: None, "unreachable[: why]", "refused: <reason>" or "tls: <reason>"."""
        return None if self._connected.is_set() else self._problem

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected or the timeout passes."""
        return self._connected.wait(timeout)

    def add_connection_listener(self, listener: ConnectionListener) -> Callable[[], None]:
        """Call ``listener(connected)`` on the dispatcher when the connection changes; returns a remover."""
        return self._listeners.add(listener)

    # -- subscribe / publish -------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1, *,
                  skip_retained: bool = False, direct: bool = False) -> Callable[[], None]:
        """Deliver messages matching ``topic_filter`` to ``handler``; returns a function that unsubscribes.

        ``skip_retained`` asks an MQTT 5 broker not to send the retained messages when subscribing (retain handling
        2), for a client that fetches the current state another way; MQTT 3.1.1 has no such option and ignores it.
        ``direct`` runs the handler on paho's network thread as each message arrives, ahead of the dispatcher's
        unbounded queue (admission control that must see a flood as it comes): such a handler must be quick and
        must never block (no database, no waiting on replies), or every message of this connection waits for it.
        """
        with self._lock:
            sub = self._subs.get(topic_filter)
            new = sub is None
            if sub is None:
                sub = self._subs[topic_filter] = _Subscription(qos, 2 if skip_retained else 0)
            (sub.direct if direct else sub.handlers).append(handler)
        if new and self.connected:
            self._send_subscribe([topic_filter])

        def unsubscribe() -> None:
            with self._lock:
                current = self._subs.get(topic_filter)
                handlers = None if current is None else current.direct if direct else current.handlers
                if current is None or handlers is None or handler not in handlers:
                    return
                handlers.remove(handler)
                empty = not current.handlers and not current.direct
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
        if retain:
            with self._retained_lock:
                self._retained_sent += 1
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
            self._paho.refused = True
            self._set_problem(f"refused: {reason}")
            return
        self._paho.refused = False
        self._paho.delay = None
        self._problem = None
        self._problem_logged = (None, 0.0, 0.0)
        with self._lock:
            filters = list(self._subs)
            for sub in self._subs.values():
                sub.acked.clear()
        if filters:
            self._send_subscribe(filters)
        self._connected.set()
        self._attempted.set()
        log.info("connected to %s as %s", self.url, self.client_id)
        self._notify_connection(True)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        error = self._paho.last_error
        if isinstance(error, ssl.SSLError | ssl.CertificateError):
            self._set_problem(f"tls: {getattr(error, 'reason', None) or error}")
        else:
            self._set_problem(f"unreachable: {error}" if error else "unreachable")

    def _set_problem(self, problem: str) -> None:
        """Record why the last attempt failed; log it once, then again only at growing intervals."""
        self._problem = problem
        self._attempted.set()
        if self._closed:
            return
        last, when, interval = self._problem_logged
        now = time.monotonic()
        if problem == last and now - when < interval:
            return
        interval = 10.0 if problem != last else min(interval * 3, 600.0)
        self._problem_logged = (problem, now, interval)
        log.warning("cannot connect to MQTT broker %s as %s: %s (retrying with backoff)", self.url,
                    self.client_id, problem)

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
        levels = message.topic.split("/")
        with self._lock:
            matching = [s for f, s in self._subs.items() if _matches(f, levels)]
        for handler in [h for s in matching for h in s.direct]:
            try:
                handler(message)
            except Exception:  # a faulty handler must not stop the network loop
                log.exception("handler %r failed on %s", handler, message.topic)
        if any(s.handlers for s in matching):
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
        self._listeners.emit(up)

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
