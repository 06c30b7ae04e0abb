"""The RPC worker's batches: taken from what is queued (never waited for), replies held until the COMMIT."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mqtt.admission import FairQueue
from mqtt.batching import Batcher, Item
from mqtt.client import Message
from mqtt.payloads import ErrorCode, Reply, decode


class Hook:
    """Batches stock.adjust; its transaction fails to begin or to commit when told to."""

    size = 3

    def __init__(self) -> None:
        self.log: list[str] = []
        self.fail_begin = self.fail_commit = False

    def batchable(self, op: str) -> bool:
        return op == "stock.adjust"

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.fail_begin:
            raise OSError("cannot begin")
        self.log.append("begin")
        yield
        if self.fail_commit:
            raise OSError("cannot commit")
        self.log.append("commit")


def _item(op: str, n: int) -> Item:
    return ("s", f"d{n}", op, Message(topic="t", payload=b"", qos=0, retain=False))


@pytest.fixture
def hook() -> Hook:
    return Hook()


def _serve(batcher: Batcher, hook: Hook, items: list[Item]) -> tuple[list[object], list[tuple[str, bytes]]]:
    """Queue all but the first item, serve from the first; (what each step logged, replies published)."""
    queue: FairQueue[object] = FairQueue(100, 100)
    for item in items[1:]:
        queue.put(item[1], item)
    published: list[tuple[str, bytes]] = []

    def serve(item: Item) -> None:
        hook.log.append(item[1])
        reply = Reply(id=f"request-{item[1]}", ok=True, result={}).model_dump_json().encode()
        if batcher.held is not None:
            batcher.held.add(f"reply/{item[1]}", reply, f"request-{item[1]}")
            hook.log.append(f"held {item[1]}")
        else:
            published.append((f"reply/{item[1]}", reply))

    def publish(topic: str, data: bytes, request_id: str) -> None:
        hook.log.append(f"sent {topic}")
        published.append((topic, data))

    after = batcher.serve(queue, items[0], serve, publish)  # type: ignore[arg-type]
    return [after[1] if after else None, *hook.log], published


def test_queued_batchable_requests_share_one_commit_and_replies_wait_for_it(hook: Hook) -> None:
    batcher = Batcher(hook)
    items = [_item("stock.adjust", 1), _item("stock.adjust", 2), _item("stock.adjust", 3), _item("stock.adjust", 4)]
    log, published = _serve(batcher, hook, items)
    assert log == [None, "begin", "d1", "held d1", "d2", "held d2", "d3", "held d3", "commit",
                   "sent reply/d1", "sent reply/d2", "sent reply/d3"]  # at most size; d4 stays queued
    assert batcher.batches == 1 and len(published) == 3 and batcher.held is None


def test_one_request_alone_and_a_request_that_may_not_join_run_as_without_batching(hook: Hook) -> None:
    batcher = Batcher(hook)
    log, _ = _serve(batcher, hook, [_item("stock.adjust", 1)])
    assert log == [None, "d1"]  # nothing queued behind it: no waiting, no batch
    hook.log.clear()
    log, _ = _serve(batcher, hook, [_item("stock.adjust", 1), _item("cart.get", 2), _item("stock.adjust", 3)])
    assert log == ["d2", "d1"]  # the next one may not join: it is handed back, to run after
    hook.log.clear()
    log, _ = _serve(batcher, hook, [_item("cart.get", 1), _item("stock.adjust", 2)])
    assert log == [None, "d1"] and batcher.batches == 0


def test_a_batch_that_does_not_commit_answers_each_request_unavailable(hook: Hook) -> None:
    batcher = Batcher(hook)
    hook.fail_commit = True
    log, published = _serve(batcher, hook, [_item("stock.adjust", 1), _item("stock.adjust", 2)])
    replies = [decode(Reply, data) for _, data in published]
    assert [r.id for r in replies] == ["request-d1", "request-d2"] and not any(r.ok for r in replies)
    assert {r.error.code for r in replies if r.error} == {ErrorCode.UNAVAILABLE} and batcher.failed == 1
    assert "commit" not in log


def test_a_batch_that_cannot_begin_is_served_one_by_one(hook: Hook) -> None:
    batcher = Batcher(hook)
    hook.fail_begin = True
    log, published = _serve(batcher, hook, [_item("stock.adjust", 1), _item("stock.adjust", 2)])
    assert log == [None, "d1", "d2"] and len(published) == 2 and batcher.batches == 0
