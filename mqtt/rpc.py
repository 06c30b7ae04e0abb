"""Request/response over MQTT 3.1.1 and 5: correlation id and reply topic travel in the payload."""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from pydantic import BaseModel, ValidationError

from mqtt import batching, topics
from mqtt.admission import Admission, Refusal
from mqtt.client import Message, MqttClient
from mqtt.envelope import error_reply, in_branch, salvage
from mqtt.payloads import (
    MAX_PAYLOAD_BYTES,
    ErrorCode,
    ErrorInfo,
    PayloadError,
    Reply,
    Request,
    decode,
    decode_or_none,
    describe,
    encode,
)
from mqtt.routes import DEVICE_ROUTE, Route

log = logging.getLogger(__name__)

_REPLY_START = re.compile(rb'\{"v":1,"id":"([A-Za-z0-9_-]{8,64})"')
# Where the op of a request not yet decoded is; the worker's full decode checks it (see RpcServer.handle).
_OP_FIELD = re.compile(rb'"op"\s*:\s*"([a-z][a-z_.]{0,63})"')
_REJECT_LOG_EVERY = 60.0  # seconds between summaries once rejected requests flood in


class RpcError(Exception):
    """Base of request/response failures."""


class RpcTimeout(RpcError, TimeoutError):
    """No reply arrived in time; the request may or may not have been applied."""


class RemoteError(RpcError):
    """The backend answered with an error."""

    def __init__(self, code: ErrorCode, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds the backend asked us to wait (rate_limited, unavailable)


class OpError(Exception):
    """Raised by an operation handler to answer with a specific error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_request_id() -> str:
    """A fresh correlation id (also usable as an idempotency key)."""
    return secrets.token_urlsafe(16)


class RpcClient:
    """Sends requests on a device's request topic and matches replies by correlation id."""

    def __init__(self, client: MqttClient, store: str, device: str, *, route: Route | None = None) -> None:
        self._client = client
        self.store = store
        self.device = device
        route = route or DEVICE_ROUTE
        self.request_topic = route.request(store, device)
        self.reply_topic = route.reply(store, device, secrets.token_hex(8))
        self._pending: dict[str, tuple[Future[Any], bool]] = {}  # request id -> (future, wants raw bytes)
        self._lock = threading.Lock()
        self._unsubscribe = client.subscribe(self.reply_topic, self._on_reply, qos=1)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait until the broker has confirmed the reply subscription (a reply sent earlier would be lost)."""
        return self._client.wait_subscribed(self.reply_topic, timeout)

    def close(self) -> None:
        """Stop listening for replies and fail every pending call."""
        self._unsubscribe()
        with self._lock:
            pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            future.set_exception(RpcError("client closed"))

    def call_async(self, op: str, args: dict[str, Any] | BaseModel | None = None,
                   request_id: str | None = None, *, raw: bool = False) -> Future[Any]:
        """Send a request and return a future of its result: a dict, or with ``raw`` the reply's bytes as received.

        A raw reply that names its request without being parsed (MQTT 5 correlation data, or the start every
        ``RpcServer`` reply has) is handed over unparsed, so a caller can validate a large result straight from JSON
        into its own model; ``reply_result`` reads one, and raises RemoteError for a failed reply as the future
        itself does when the reply had to be parsed to be matched.
        """
        if isinstance(args, BaseModel):
            args = args.model_dump(mode="json")
        request = Request(id=request_id or new_request_id(), op=op, reply_to=self.reply_topic, args=args or {})
        future: Future[Any] = Future()
        with self._lock:
            self._pending[request.id] = (future, raw)
        self._client.publish(self.request_topic, encode(request), qos=1,
                             response_topic=self.reply_topic, correlation_data=request.id.encode())
        return future

    def call(self, op: str, args: dict[str, Any] | BaseModel | None = None, *, timeout: float = 5.0,
             request_id: str | None = None) -> dict[str, Any]:
        """Send a request and wait for its result; raises RemoteError or RpcTimeout."""
        self._client.wait_subscribed(self.reply_topic, timeout)
        future = self.call_async(op, args, request_id)
        try:
            return future.result(timeout)
        except FutureTimeout:
            with self._lock:
                self._pending = {k: v for k, v in self._pending.items() if v[0] is not future}
            raise RpcTimeout(f"no reply to {op} within {timeout:g} s") from None

    def _on_reply(self, message: Message) -> None:
        # The request id without parsing the reply: MQTT 5 correlation data, or the start every reply of ours has.
        if message.correlation_data:
            key = message.correlation_data.decode("ascii", "replace")
        else:
            match = _REPLY_START.match(message.payload)
            key = match.group(1).decode("ascii") if match else ""
        with self._lock:
            wants_raw = self._pending.get(key, (None, False))[1]
            entry = self._pending.pop(key) if wants_raw else None
        if entry is not None:
            entry[0].set_result(message.payload)
            return
        reply = decode_or_none(Reply, message.payload, f"reply on {message.topic}", log)
        if reply is None:
            return
        with self._lock:
            entry = self._pending.pop(reply.id, None)
        if entry is None:
            log.debug("reply %s matches no pending request", reply.id)
            return
        future, raw = entry
        if reply.ok:
            future.set_result(message.payload if raw else reply.result or {})
        else:
            future.set_exception(_remote_error(reply))


def reply_result(payload: bytes) -> dict[str, Any]:
    """The result of a raw reply (see ``RpcClient.call_async``); raises RemoteError or PayloadError."""
    reply = decode(Reply, payload)
    if not reply.ok:
        raise _remote_error(reply)
    return reply.result or {}


def _remote_error(reply: Reply) -> RemoteError:
    error = reply.error or ErrorInfo(code=ErrorCode.INTERNAL, message="no reason given")
    return RemoteError(error.code, error.message, error.retry_after)


@dataclass(frozen=True)
class RequestContext:
    """Who asked: the store and device named by the request topic."""

    store: str
    device: str
    request_id: str
    op: str
    role: str = ""


@dataclass(frozen=True)
class RawResult:
    """A result its handler serialised itself (a JSON object, UTF-8), sent without a second encoding pass."""

    json: bytes

    def reply(self, request_id: str) -> bytes:
        """The encoded Reply carrying this result, as ``encode(Reply(...))`` would write it."""
        data = b'{"v":1,"id":%s,"ok":true,"result":%s,"error":null}' % (json.dumps(request_id).encode(), self.json)
        if len(data) > MAX_PAYLOAD_BYTES:
            raise PayloadError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        return data


OpHandler = Callable[[RequestContext, dict[str, Any]], dict[str, Any] | BaseModel | RawResult]


class RpcServer:
    """Receives every device's requests, runs the matching operation, and replies.

    With ``admission``, requests are checked against their device's budget as they arrive (on the MQTT network
    thread) and queued, boundedly and fairly across devices, for a worker thread that runs them; a request over
    budget or finding the queue full is answered at once with a retry hint. Without it, requests run one at a time
    on the client's dispatcher, behind its unbounded queue.
    """

    # Set before start(), with admission: the worker runs queued requests its hook may batch under one commit.
    batcher: batching.Batcher | None = None

    def __init__(self, client: MqttClient, operations: dict[str, OpHandler], *,
                 identify: Callable[[str, str], str] | None = None,
                 authorize: Callable[[RequestContext], bool] | None = None,
                 admission: Admission | None = None, route: Route | None = None) -> None:
        self._client = client
        self._route = route or DEVICE_ROUTE
        self._operations = dict(operations)
        self._identify = identify
        self._authorize = authorize
        self._unsubscribe: Callable[[], None] | None = None
        self.rejected = 0
        self._reject_window = [time.monotonic(), 0, 0]  # window start, rejections not logged, rejections in window
        self._retained_seen: set[str] = set()
        self.admission = admission
        # With admission, the broker delivers requests at QoS 0. QoS 1 bought nothing here: the session is clean,
        # so a reconnect loses unacknowledged requests either way (the client times out and resends; operations
        # are idempotent by request id). It cost a PUBACK per request: under a flood, thousands of them on this
        # connection ahead of the replies (bench/abuse.py: 10 flooding devices, a shopper's p99 halved without).
        self.request_qos = 0 if admission is not None else 1
        self._worker: threading.Thread | None = None
        self._refusals_logged: dict[tuple[str, str], float] = {}  # device -> when its refusals were last logged
        # Replies not yet acknowledged by the broker, per device: one device's large replies (catalogue pages) must
        # not fill the connection that carries everyone's replies (Mosquitto reads it one packet per pass).
        self._unsent: dict[tuple[str, str], deque[tuple[paho.MQTTMessageInfo, int]]] = {}
        self.backlogged = 0  # requests refused because their device's earlier replies had not left yet
        self._topics: dict[str, topics.ParsedTopic] = {}  # request topics already parsed: a flood repeats one topic
        self._reject_lock = threading.Lock()  # rejections come from the network thread and the worker

    def start(self) -> None:
        """Subscribe to the request topics of every device in every store."""
        if self.admission is not None:
            # One worker: the database serialises its work anyway, and a device's requests stay in order.
            self._worker = threading.Thread(target=self._work, name="rpc-worker", daemon=True)
            self._worker.start()
        self._unsubscribe = self._client.subscribe(self._route.request_filter(), self.handle, qos=self.request_qos,
                                                   direct=self.admission is not None)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop answering requests; queued ones are told to come back later."""
        if self._unsubscribe:
            self._unsubscribe()
        if self.admission is not None:
            for store, device, op, message in self.admission.queue.close():  # type: ignore[misc]
                self._refuse_unparsed(message, store, device, Refusal(True, 5.0, op))
            if self._worker is not None:
                self._worker.join(timeout)

    def handle(self, message: Message) -> None:
        """Answer one request message (with admission: queue it, or refuse it at once); never raises."""
        where = self._where(message)
        if where is None:
            return
        if self.admission is None:
            self._decode_and_serve(message, where.store, where.key)
            return
        # On the network thread, as messages arrive: only what admission needs, read cheaply, so that refusing a
        # flood costs little. The worker decodes and checks the whole request, and charges again if the op differs.
        found = _OP_FIELD.search(message.payload, 0, MAX_PAYLOAD_BYTES)
        op = found.group(1).decode("ascii") if found else ""
        refusal = self.admission.offer(where.store, where.key, op, (where.store, where.key, op, message))
        if refusal is not None:
            self._refuse_unparsed(message, where.store, where.key, refusal)
            for store, device, _, queued in refusal.dropped:  # type: ignore[misc]  # handle() queues these tuples
                self._refuse_unparsed(queued, store, device, refusal)

    def _where(self, message: Message) -> topics.ParsedTopic | None:
        """The store and device of a request topic; None (handled) for bad topics, retained and empty messages."""
        where = self._topics.get(message.topic)
        if where is None:
            try:
                where = self._route.parse(message.topic)
                if where.kind != "req":
                    raise topics.TopicError(f"not a request topic: {message.topic!r:.120}")
            except topics.TopicError as exc:
                self._reject(message, str(exc))
                return None
            if len(self._topics) >= 10_000:
                self._topics.clear()
            self._topics[message.topic] = where
        if message.retain:
            self._drop_retained(message)
            return None
        if not message.payload:
            return None  # the empty message that clears a retained request (ours, in _drop_retained)
        return where

    def _decode_and_serve(self, message: Message, store: str, device: str, admitted_as: str | None = None
                          ) -> str | None:
        """Validate a request and serve it; returns the device's role, or None when it was not served."""
        device_branch = self._route.reply_branch(store, device)
        try:
            request = decode(Request, message.payload)
        except PayloadError as exc:
            self._reject(message, str(exc))
            self._answer_unparsed(message, device_branch, str(exc))
            return None
        if not in_branch(request.reply_to, device_branch):
            # Replies go only to the requester's own branch, so no device can make us publish elsewhere.
            self._reject(message, f"reply_to {request.reply_to!r:.100} is outside {device_branch}")
            return None
        if admitted_as is not None and self.admission is not None:
            refusal = self.admission.charge(store, device, request.op, admitted_as)
            if refusal is None and self._unsent_bytes(store, device) > self.admission.policy.reply_backlog:
                refusal = Refusal(True, 0.5, self.admission.policy.kind(request.op))
                self.backlogged += 1
            if refusal is not None:
                self._refuse(store, device, request.id, request.reply_to, refusal)
                return None
        role = self._identify(store, device) if self._identify else ""
        context = RequestContext(store, device, request.id, request.op, role)
        reply = self._run(context, request)
        data = reply if isinstance(reply, bytes) else encode(reply)
        sent = self._send_reply(request.reply_to, data, request.id)  # in a batch: held until it commits
        if admitted_as is not None:
            self._unsent.setdefault((store, device), deque()).append((sent, len(data)))
        return role

    def _unsent_bytes(self, store: str, device: str) -> int:
        """Bytes of this device's replies the broker has not yet acknowledged (worker thread only)."""
        replies = self._unsent.get((store, device))
        while replies and replies[0][0].is_published():
            replies.popleft()
        if not replies:
            self._unsent.pop((store, device), None)
            if len(self._unsent) > 10_000:  # devices that went quiet with replies still out: forget the oldest
                del self._unsent[next(iter(self._unsent))]
            return 0
        return sum(size for _, size in replies)

    def _work(self) -> None:
        """The worker: run admitted requests, fairly across devices, until the queue closes."""
        assert self.admission is not None
        queue = self.admission.queue
        item = queue.get()
        while item is not None:
            after = None
            if self.batcher is None:
                self._serve_admitted(item)  # type: ignore[arg-type]  # only handle() queues, always an Item
            else:  # requests already queued behind a batchable one share its commit (mqtt/batching.py)
                after = self.batcher.serve(queue, item, self._serve_admitted, self._publish_reply)  # type: ignore
            item = after if after is not None else queue.get()

    def _serve_admitted(self, item: batching.Item) -> None:
        """Serve one admitted request and charge its device for the time it took."""
        assert self.admission is not None
        store, device, op, message = item
        started, cpu = time.monotonic(), time.thread_time()
        try:
            role = self._decode_and_serve(message, store, device, admitted_as=op)
        except Exception:  # _run answers every handler failure; this is a failure to publish: keep serving
            log.exception("could not answer %s from %s/%s", op, store, device)
            role = None
        if role is not None:
            self.admission.note_role(store, device, role)
        self.admission.done(store, device, time.monotonic() - started, time.thread_time() - cpu)

    def _send_reply(self, topic: str, data: bytes, request_id: str) -> paho.MQTTMessageInfo | batching.HeldReply:
        """Publish a reply, or hold it until the running batch commits (worker thread only)."""
        if self.batcher is not None and self.batcher.held is not None:
            return self.batcher.held.add(topic, data, request_id)
        return self._publish_reply(topic, data, request_id)

    def _publish_reply(self, topic: str, data: bytes, request_id: str) -> paho.MQTTMessageInfo:
        return self._client.publish(topic, data, qos=1, correlation_data=request_id.encode())

    def _refuse_unparsed(self, message: Message, store: str, device: str, refusal: Refusal) -> None:
        """Refuse a request not yet decoded, answering under the id and reply topic it names (if it names them)."""
        salvaged = salvage(message) if refusal.answer else None
        if salvaged is not None and in_branch(salvaged[1], self._route.reply_branch(store, device)):
            self._refuse(store, device, *salvaged, refusal)
        else:
            self._log_refusal(store, device, refusal)

    def _refuse(self, store: str, device: str, request_id: str, reply_to: str, refusal: Refusal) -> None:
        """Answer at once: over budget (rate_limited) or the queue is full (unavailable), with when to retry."""
        self._log_refusal(store, device, refusal)
        if not refusal.answer:
            return
        wait = round(refusal.retry_after, 2)
        if refusal.busy:
            reply = error_reply(request_id, ErrorCode.UNAVAILABLE, f"the store is busy; try again in {wait:g} s",
                           retry_after=wait)
        else:
            reply = error_reply(request_id, ErrorCode.RATE_LIMITED, f"too many {refusal.kind} requests from this "
                           f"device; try again in {wait:g} s", retry_after=wait)
        self._client.publish(reply_to, encode(reply), qos=1, correlation_data=request_id.encode())

    def _log_refusal(self, store: str, device: str, refusal: Refusal) -> None:
        # One line per device a minute: a flood must not turn into a flood of log lines.
        now = time.monotonic()
        if now - self._refusals_logged.get((store, device), -_REJECT_LOG_EVERY) >= _REJECT_LOG_EVERY:
            if len(self._refusals_logged) >= 10_000:
                self._refusals_logged.clear()
            self._refusals_logged[(store, device)] = now
            log.warning("%s %s/%s (%s requests; logged once a minute per device)",
                        "queue full, refused" if refusal.busy else "over budget, refused", store[:32], device[:64],
                        refusal.kind)

    def _run(self, context: RequestContext, request: Request) -> Reply | bytes:
        operation = self._operations.get(request.op)
        if operation is None:
            return error_reply(request.id, ErrorCode.UNKNOWN_OP, f"unknown operation {request.op!r}")
        if self._authorize is not None and not self._authorize(context):
            who = f"a {context.role} device" if context.role else "this device"
            return error_reply(request.id, ErrorCode.FORBIDDEN, f"{who} may not request {request.op}")
        try:
            result = operation(context, request.args)
        except OpError as exc:
            return error_reply(request.id, exc.code, exc.message)
        except PayloadError as exc:
            return error_reply(request.id, ErrorCode.BAD_REQUEST, str(exc))
        except ValidationError as exc:
            return error_reply(request.id, ErrorCode.BAD_REQUEST, describe(exc))
        except Exception:
            log.exception("operation %s from %s/%s failed", request.op, context.store, context.device)
            return error_reply(request.id, ErrorCode.INTERNAL, "internal error; the request was not applied")
        if isinstance(result, RawResult):
            try:
                return result.reply(request.id)
            except PayloadError:
                log.exception("operation %s from %s/%s: reply too large", request.op, context.store, context.device)
                return error_reply(request.id, ErrorCode.INTERNAL, "internal error: the reply was too large")
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return Reply(id=request.id, ok=True, result=result)

    def _reject(self, message: Message, reason: str) -> None:
        # One short line per bad request, but a flood of them becomes one summary a minute, not a log per message.
        with self._reject_lock:
            self.rejected += 1
            now = time.monotonic()
            if now - self._reject_window[0] >= _REJECT_LOG_EVERY:
                if self._reject_window[1]:
                    log.warning("%d more requests rejected in the last %.0f s", self._reject_window[1],
                                now - self._reject_window[0])
                self._reject_window = [now, 0, 0]
            self._reject_window[2] += 1
            if self._reject_window[2] <= 5:
                log.warning("rejected request on %s: %s", message.topic[:200], reason[:200])
            else:
                self._reject_window[1] += 1

    def _answer_unparsed(self, message: Message, device_branch: str, reason: str) -> None:
        """Answer bad_request to a request that did not parse, when it still names its id and reply topic."""
        salvaged = salvage(message)
        if salvaged is None:
            return
        request_id, reply_to = salvaged
        if not in_branch(reply_to, device_branch):
            return
        reply = error_reply(request_id, ErrorCode.BAD_REQUEST, f"the request is not valid: {reason}")
        self._client.publish(reply_to, encode(reply), qos=1, correlation_data=request_id.encode())

    def _drop_retained(self, message: Message) -> None:
        """A retained request would run again on every (re)subscription: ignore it, log once, and clear it."""
        if message.topic not in self._retained_seen:
            if len(self._retained_seen) < 10_000:
                self._retained_seen.add(message.topic)
            log.warning("ignored a retained request on %s (requests are never retained); clearing it",
                        message.topic[:200])
        self.rejected += 1
        if message.payload:
            self._client.publish(message.topic, b"", qos=1, retain=True)
