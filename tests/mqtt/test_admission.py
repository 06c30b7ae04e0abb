"""Admission control in the request path: per-device budgets, a bounded fair queue, refusals with a retry hint."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest

from mqtt import topics
from mqtt.admission import Admission, Budget, FairQueue, TokenBucket
from mqtt.brokers import MosquittoBroker
from mqtt.payloads import ErrorCode
from mqtt.rpc import RemoteError, RpcClient, RpcServer
from tests import helpers
from tests.conftest import unique


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SmallPolicy:
    """Cheap calls and slow ones; the slow class has a small budget."""

    queue_size: int = 1000
    per_device_queued: int = 16
    refusal_answers: Budget | None = None
    reply_backlog: int = 1 << 30
    strikes: Budget | None = None
    penalty: float = 60.0
    budgets: dict[str, Budget] = field(default_factory=lambda: {"cheap": Budget(1000.0, 1000),
                                                                "slow": Budget(0.5, 3)})

    def kind(self, op: str) -> str:
        return "slow" if op == "test.slow" else "cheap"

    def budget(self, role: str, kind: str) -> Budget:
        return self.budgets[kind]


class Gate:
    """Operations whose runs the test can hold and release, recording who ran in which order."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.order: list[str] = []

    def operations(self) -> dict[str, Any]:
        def held(ctx, args):
            self.entered.set()
            assert self.open.wait(30), "the test never released the gate"
            self.order.append(ctx.device)
            return {"device": ctx.device}

        def echo(ctx, args):
            self.order.append(ctx.device)
            return {"device": ctx.device}

        def big(ctx, args):
            self.order.append(ctx.device)
            return {"text": "x" * 5000}

        return {"test.held": held, "test.echo": echo, "test.slow": echo, "test.big": big}


def start_server(make_client, policy: SmallPolicy, gate: Gate, clock=None) -> RpcServer:
    client = make_client(unique("srv"))
    admission = Admission(policy, clock=clock) if clock else Admission(policy)
    server = RpcServer(client, gate.operations(), admission=admission)
    server.start()
    assert client.wait_subscribed(topics.request_filter())
    return server


def rpc_for(make_client, store: str, device: str) -> RpcClient:
    rpc = RpcClient(make_client(), store, device)
    assert rpc.wait_ready()
    return rpc


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``predicate`` until it holds (replies and queueing happen on other threads), every 5 ms."""
    return helpers.wait_until(predicate, timeout, interval=0.005)


def outcome(future: Future[Any], timeout: float = 15.0) -> str:
    """"ok" or the error code of a finished call."""
    try:
        future.result(timeout)
    except RemoteError as exc:
        return exc.code.value
    return "ok"


# -- the mechanism -------------------------------------------------------------------------------


def test_a_bucket_gives_its_burst_then_refuses_with_the_wait_and_refills_at_its_rate() -> None:
    bucket = TokenBucket(Budget(rate=2.0, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token comes every 1/rate seconds
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0 and bucket.tokens == pytest.approx(2.0)  # refill stops at the burst


def test_the_fair_queue_bounds_each_key_and_the_whole_and_serves_keys_in_turn() -> None:
    queue: FairQueue[str] = FairQueue(capacity=5, per_key=3)
    assert [queue.put("a", f"a{i}") for i in range(4)] == [True, True, True, False]  # a's share is 3
    assert queue.put("b", "b0") and queue.put("c", "c0")
    assert not queue.put("d", "d0") and len(queue) == 5 == queue.high_water  # full for everyone
    assert [queue.get(0) for _ in range(5)] == ["a0", "b0", "c0", "a1", "a2"]
    assert queue.get(0) is None


def test_a_key_whose_items_are_slow_falls_behind_one_whose_items_are_quick() -> None:
    queue: FairQueue[str] = FairQueue(capacity=100, per_key=10)
    for i in range(3):
        queue.put("slow", f"s{i}")
        queue.put("quick", f"q{i}")
    served = []
    for _ in range(6):
        item = queue.get(0)
        assert item is not None
        served.append(item)
        queue.done("slow" if item.startswith("s") else "quick", 1.0 if item.startswith("s") else 0.001)
    assert served == ["s0", "q0", "q1", "q2", "s1", "s2"]  # by service time used, not by turns


def test_a_quiet_device_charged_a_slow_wall_clock_keeps_its_turn_by_cpu_time() -> None:
    admission = Admission(SmallPolicy(), clock=FakeClock())
    for i in range(3):
        assert admission.offer("s", "flood", "test.echo", f"f{i}") is None
    assert admission.offer("s", "quiet", "test.echo", "q0") is None
    assert admission.queue.get(0) == "f0"
    admission.done("s", "flood", 0.001, 0.001)
    assert admission.queue.get(0) == "q0"
    assert admission.offer("s", "quiet", "test.echo", "q1") is None  # asked again while q0 was running
    # q0 waited 0.5 s for the machine (wall time) but worked 0.2 ms: charged by its work, it stays in front.
    admission.done("s", "quiet", 0.5, 0.0002)
    assert admission.queue.get(0) == "q1"


def test_a_device_that_keeps_sending_after_its_refusals_is_refused_everything_for_a_while() -> None:
    clock = FakeClock()
    admission = Admission(SmallPolicy(strikes=Budget(1.0, 5), penalty=30.0), clock=clock)
    assert [admission.offer("s", "flood", "test.slow", f"ok{i}") for i in range(3)] == [None] * 3
    assert admission.offer("s", "flood", "test.echo", "queued") is None  # another class, waiting for the worker
    refusals = [admission.offer("s", "flood", "test.slow", f"no{i}") for i in range(7)]
    assert all(r is not None and not r.busy for r in refusals)
    # The first refusal tells it to wait 2 s; the next five, sent before then, are strikes; the 6th penalises it.
    assert [len(r.dropped) for r in refusals if r is not None] == [0, 0, 0, 0, 0, 0, 4]
    last = refusals[-1]
    assert last is not None and last.retry_after == pytest.approx(30.0)
    assert sorted(last.dropped) == ["ok0", "ok1", "ok2", "queued"] and len(admission.queue) == 0  # none will run
    assert admission.penalised("s", "flood") and admission.penalties == 1
    cheap = admission.offer("s", "flood", "test.echo", "x")  # a class with budget left: refused all the same
    assert cheap is not None and cheap.retry_after == pytest.approx(30.0)
    assert admission.offer("s", "other", "test.slow", "o") is None  # another device is not touched
    clock.now += 30.0
    assert not admission.penalised("s", "flood")
    assert admission.offer("s", "flood", "test.echo", "back") is None  # served again, with a fresh start


def test_a_device_that_waits_as_told_is_never_penalised_however_often_it_is_refused() -> None:
    clock = FakeClock()
    admission = Admission(SmallPolicy(strikes=Budget(0.001, 2), penalty=30.0), clock=clock)
    refused = 0
    for n in range(200):
        refusal = admission.offer("s", "kiosk", "test.slow", n)
        if refusal is not None:
            refused += 1
            clock.now += refusal.retry_after  # waits as long as it was told, then asks again at once
        else:
            admission.queue.get(0)
    assert refused > 90 and admission.penalties == 0 and not admission.penalised("s", "kiosk")
    # Asking before the hint is up is what counts: served, refused with a hint, then three times too early: out.
    results = [admission.offer("s", "kiosk", "test.slow", n) for n in range(5)]
    assert admission.penalised("s", "kiosk"), results


def test_a_device_with_its_whole_share_queued_is_refused_and_charged_not_told_the_store_is_busy() -> None:
    clock = FakeClock()
    admission = Admission(SmallPolicy(per_device_queued=2, budgets={"cheap": Budget(1.0, 10),
                                                                   "slow": Budget(1.0, 10)}), clock=clock)
    assert admission.offer("s", "k", "test.echo", 0) is None and admission.offer("s", "k", "test.echo", 1) is None
    refusal = admission.offer("s", "k", "test.echo", 2)
    assert refusal is not None and not refusal.busy  # its own doing: rate_limited, not unavailable
    assert admission.busy == 0 and admission.rate_limited == 1
    admission.queue.get(0), admission.queue.get(0)
    admitted = 0
    while admission.offer("s", "k", "test.echo", admitted) is None:
        admitted += 1
        admission.queue.get(0)  # served at once: the share never fills again
    assert admitted == 7  # the refused request's token stayed spent: a burst of 10, of which 3 were asked


def test_budgets_refill_with_time(make_client) -> None:
    clock = FakeClock()
    server = start_server(make_client, SmallPolicy(), Gate(), clock)
    try:
        rpc = rpc_for(make_client, unique("st"), "kiosk-refill")
        assert [outcome(rpc.call_async("test.slow")) for _ in range(3)] == ["ok"] * 3
        with pytest.raises(RemoteError) as err:
            rpc.call("test.slow")
        assert err.value.code == ErrorCode.RATE_LIMITED and err.value.retry_after == pytest.approx(2.0, abs=0.01)
        clock.now += err.value.retry_after  # as long as the hint said
        assert rpc.call("test.slow") == {"device": "kiosk-refill"}
        assert outcome(rpc.call_async("test.slow")) == "rate_limited"  # one token came back, not a new burst
    finally:
        server.stop()


# -- against a real broker -------------------------------------------------------------------------


def test_a_device_over_budget_is_refused_at_once_while_another_device_is_served(make_client) -> None:
    server = start_server(make_client, SmallPolicy(), Gate())
    try:
        store = unique("st")
        flooder = rpc_for(make_client, store, "kiosk-flood")
        other = rpc_for(make_client, store, "kiosk-other")
        flood = [flooder.call_async("test.slow", {"i": i}) for i in range(40)]
        results = [outcome(f) for f in flood]
        assert results[:3] == ["ok"] * 3 and set(results[3:]) == {"rate_limited"}
        with pytest.raises(RemoteError) as err:
            flooder.call("test.slow")
        assert err.value.code == ErrorCode.RATE_LIMITED and 0 < err.value.retry_after <= 2.0
        assert "try again in" in err.value.message
        # The flooder's budget is its own: another device's expensive call still runs, and its cheap ones.
        assert other.call("test.slow") == {"device": "kiosk-other"}
        assert flooder.call("test.echo") == {"device": "kiosk-flood"}  # and its other classes are not spent
    finally:
        server.stop()


def test_the_queue_never_grows_past_its_bound_and_the_surplus_is_told_to_come_back(make_client) -> None:
    policy = SmallPolicy(queue_size=20, per_device_queued=4)
    gate = Gate()
    server = start_server(make_client, policy, gate)
    assert server.admission is not None
    try:
        store = unique("st")
        holder = rpc_for(make_client, store, "kiosk-hold")
        held = holder.call_async("test.held")
        assert gate.entered.wait(10)  # the worker is busy: everything after this waits in the queue
        devices = [rpc_for(make_client, store, f"kiosk-q{i}") for i in range(8)]
        calls = [rpc.call_async("test.echo", {"n": n}) for n in range(10) for rpc in devices]  # 80 requests
        # 8 devices x 4 queued = 32 > 20: exactly 20 wait, and the other 60 are answered while the worker is held.
        assert wait_until(lambda: sum(f.done() for f in calls) >= 60)
        refused = [f for f in calls if f.done()]
        assert len(refused) == 60
        assert len(server.admission.queue) == 20 == server.admission.queue.high_water
        # Refused because the store is full ("unavailable"), or, for a device whose requests happened to arrive
        # first, because its own share of 4 was full ("rate_limited": its own doing). Never served, never lost.
        outcomes = [outcome(f) for f in refused]
        assert set(outcomes) <= {"unavailable", "rate_limited"} and outcomes.count("unavailable") >= 30
        with pytest.raises(RemoteError) as err:
            refused[0].result(0)
        assert err.value.retry_after is not None and err.value.retry_after > 0
        gate.open.set()
        assert outcome(held) == "ok"
        assert [outcome(f) for f in calls].count("ok") == 20
        assert server.admission.queue.high_water == 20  # never more than the bound, whatever the flood
    finally:
        gate.open.set()
        server.stop()


def test_a_penalised_flooder_has_its_queued_requests_refused_and_others_are_served(make_client) -> None:
    gate = Gate()
    policy = SmallPolicy(strikes=Budget(0.1, 3), penalty=30.0, budgets={"cheap": Budget(1000.0, 1000),
                                                                        "slow": Budget(0.1, 1)})
    server = start_server(make_client, policy, gate)
    assert server.admission is not None
    try:
        store = unique("st")
        flooder = rpc_for(make_client, store, "kiosk-flood")
        other = rpc_for(make_client, store, "kiosk-other")
        held = other.call_async("test.held")
        assert gate.entered.wait(10)  # the worker is busy: the flooder's cheap requests wait in the queue
        queued = [flooder.call_async("test.echo", {"i": i}) for i in range(3)]
        assert wait_until(lambda: server.admission.queue.queued((store, "kiosk-flood")) == 3)
        refused = [flooder.call_async("test.slow", {"i": i}) for i in range(6)]  # 1 queued, then 5 refusals
        assert [outcome(f) for f in refused[1:]] == ["rate_limited"] * 5
        assert server.admission.penalised(store, "kiosk-flood")
        # What it had queued never runs: each is answered with the penalty's hint, before the worker is free.
        for future in [*queued, refused[0]]:
            with pytest.raises(RemoteError) as err:
                future.result(10)
            assert err.value.code == ErrorCode.RATE_LIMITED and err.value.retry_after == pytest.approx(30, abs=1)
        gate.open.set()
        assert outcome(held) == "ok" and other.call("test.slow") == {"device": "kiosk-other"}
        assert "kiosk-flood" not in gate.order
    finally:
        gate.open.set()
        server.stop()


def test_a_flooding_device_waits_its_turn_behind_others_not_in_front(make_client) -> None:
    gate = Gate()
    server = start_server(make_client, SmallPolicy(), gate)
    try:
        store = unique("st")
        flooder = rpc_for(make_client, store, "kiosk-a")
        quiet = rpc_for(make_client, store, "kiosk-b")
        first = flooder.call_async("test.held")
        assert gate.entered.wait(10)
        flood = [flooder.call_async("test.echo") for _ in range(10)]
        assert server.admission is not None
        assert wait_until(lambda: server.admission.queue.queued((store, "kiosk-a")) == 10)  # all in, behind `first`
        late = quiet.call_async("test.echo")
        assert wait_until(lambda: server.admission.queue.queued((store, "kiosk-b")) == 1)
        gate.open.set()
        assert [outcome(f) for f in [first, *flood, late]] == ["ok"] * 12
        # Round robin: the quiet device's one request runs right after the flooder's next one, not after all ten.
        assert gate.order.index("kiosk-b") <= 2, gate.order
    finally:
        gate.open.set()
        server.stop()


def test_a_device_whose_replies_have_not_left_waits_instead_of_filling_the_connection(make_client, tmp_path) -> None:
    # A broker of its own, paused so that no reply is acknowledged while the worker runs the queued requests.
    broker = MosquittoBroker(workdir=tmp_path / "mosquitto").start()
    assert broker._proc is not None
    gate = Gate()
    try:
        server = start_server(lambda cid: make_client(cid, url=broker.url), SmallPolicy(reply_backlog=1000), gate)
        rpc = RpcClient(make_client(url=broker.url), "st-backlog", "kiosk-big")
        assert rpc.wait_ready()
        held = rpc.call_async("test.held")
        assert gate.entered.wait(10)
        pages = [rpc.call_async("test.big") for _ in range(3)]
        assert server.admission is not None
        assert wait_until(lambda: server.admission.queue.queued(("st-backlog", "kiosk-big")) == 3)
        os.kill(broker._proc.pid, signal.SIGSTOP)
        try:
            gate.open.set()
            assert wait_until(lambda: server.backlogged == 2)  # 5 kB of the first page wait: the rest are refused
        finally:
            os.kill(broker._proc.pid, signal.SIGCONT)
        assert outcome(held) == "ok" and [outcome(f) for f in pages] == ["ok", "unavailable", "unavailable"]
        with pytest.raises(RemoteError) as err:
            pages[1].result(0)
        assert err.value.retry_after == 0.5
        assert rpc.call("test.big")["text"]  # once the page has left, the device is served again
        server.stop()
    finally:
        gate.open.set()
        broker.close()
