"""Group commit on the RPC server's worker: requests already queued run together and share one commit.

The server (mqtt/rpc.py) asks its ``BatchHook`` which operations may share a transaction and for that transaction;
what the hook commits is its own business (the backend's is backend/group_commit.py). Replies of a batch are held
here until it has committed, and become errors when it has not: no device hears "ok" for an uncommitted change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import paho.mqtt.client as paho

from mqtt.admission import FairQueue
from mqtt.client import Message
from mqtt.payloads import ErrorCode, ErrorInfo, Reply, encode

log = logging.getLogger(__name__)

Item = tuple[str, str, str, Message]  # (store, device, op as admitted, message): what RpcServer.handle queues
Publish = Callable[[str, bytes, str], paho.MQTTMessageInfo]  # (reply topic, payload, request id) -> sent


class BatchHook(Protocol):
    """What an RpcServer needs to run requests together: which may, how many, and the transaction they share."""

    size: int  # the most requests in one batch

    def batchable(self, op: str) -> bool:
        """Whether requests of ``op`` may run inside the shared transaction."""
        ...

    def transaction(self) -> AbstractContextManager[object]:
        """The shared transaction: commits on leaving, and raises when it did not (then nothing in it applied)."""
        ...


class Batcher:
    """Runs an RpcServer worker's requests in batches through a ``BatchHook``; holds their replies meanwhile."""

    def __init__(self, hook: BatchHook) -> None:
        self.hook = hook
        self.batches = 0  # batches of two or more requests run
        self.failed = 0  # of them, those that did not commit
        self.held: ReplyHold | None = None  # the replies of the running batch (worker thread)

    def serve(self, queue: FairQueue[object], first: Item, serve: Callable[[Item], None], publish: Publish
              ) -> Item | None:
        """Serve ``first`` with the batchable requests already queued behind it; return a next one not batchable.

        Never waits for more: under light load a batch is the one request there is, served by ``serve`` as without
        batching, so no reply waits to fill a batch. Replies leave through ``publish`` after the COMMIT, or as
        "unavailable" errors when there was none.
        """
        items, after = [first], None
        while self.hook.batchable(items[0][2]) and len(items) < self.hook.size:
            item = queue.get(timeout=0)
            if item is None:
                break
            if not self.hook.batchable(item[2]):  # type: ignore[index]  # only RpcServer.handle queues, an Item
                after = item
                break
            items.append(item)  # type: ignore[arg-type]
        if len(items) == 1:
            serve(first)
        else:
            self._run(items, serve, publish)
        return after  # type: ignore[return-value]

    def _run(self, items: list[Item], serve: Callable[[Item], None], publish: Publish) -> None:
        self.held = held = ReplyHold()
        begun = False
        failure: Exception | None = None
        try:
            with self.hook.transaction():
                begun = True
                for item in items:
                    serve(item)
        except Exception as exc:  # whatever stopped the COMMIT, nothing of the batch was applied
            failure = exc
        finally:
            self.held = None
        if not begun:  # the transaction could not even begin: each on its own, as without batching
            log.warning("could not begin a batch of %d requests (%s); serving them one by one", len(items), failure)
            for item in items:
                serve(item)
            return
        self.batches += 1
        if failure is None:
            held.release(publish)
            return
        self.failed += 1
        log.error("a batch of %d requests did not commit; every one is answered with an error: %s", len(items),
                  failure)
        held.release(publish, _not_saved)


class HeldReply:
    """A reply waiting for its batch's commit; stands for the MQTTMessageInfo it will have once sent."""

    def __init__(self, topic: str, data: bytes, request_id: str) -> None:
        self.topic = topic
        self.data = data
        self.request_id = request_id
        self.info: paho.MQTTMessageInfo | None = None
        self.lost = False  # publishing it failed: nothing to wait for

    def is_published(self) -> bool:
        """Whether the broker has acknowledged it (False while it is still held)."""
        return self.lost or (self.info is not None and self.info.is_published())


class ReplyHold:
    """The replies of one batch, in order, until it commits or fails."""

    def __init__(self) -> None:
        self.replies: list[HeldReply] = []

    def add(self, topic: str, data: bytes, request_id: str) -> HeldReply:
        """Hold one reply."""
        reply = HeldReply(topic, data, request_id)
        self.replies.append(reply)
        return reply

    def release(self, publish: Publish, failed: Callable[[str], bytes] | None = None) -> None:
        """Send every reply as it is (committed), or ``failed(request_id)`` instead of each (not committed)."""
        for reply in self.replies:
            data = reply.data if failed is None else failed(reply.request_id)
            try:
                reply.info = publish(reply.topic, data, reply.request_id)
            except Exception:  # as for a request served alone: one reply that cannot go must not stop the worker
                log.exception("could not answer request %s", reply.request_id[:64])
                reply.lost = True


def _not_saved(request_id: str) -> bytes:
    """The answer to each request of a batch whose COMMIT failed: nothing was applied, so asking again is safe."""
    message = "the store could not save this request; nothing was changed, try again"
    return encode(Reply(id=request_id, ok=False, error=ErrorInfo(code=ErrorCode.UNAVAILABLE, message=message,
                                                                   retry_after=1.0)))
