"""The backend's request limits: every operation classified, budgets a working kiosk never meets, floods refused."""

from __future__ import annotations

import pytest

from backend.limits import DEFAULT_LIMITS, EXPENSIVE, KINDS, OPERATION_KINDS, READ, SYNC, WRITE, RequestLimits
from mqtt.admission import Admission, Budget
from mqtt.rpc import RpcClient
from tests.helpers import wait_until
from tests.mqtt.test_admission import outcome

LINES = [{"sku": "DAI-MILK-1L", "quantity": 1}]


class Clock:
    """A monotonic clock moved by hand."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_every_operation_the_service_serves_is_classified(service) -> None:
    served = set(service.rpc._operations)
    assert served and served <= set(OPERATION_KINDS), served - set(OPERATION_KINDS)
    assert set(OPERATION_KINDS.values()) <= set(KINDS)
    assert DEFAULT_LIMITS.kind("order.options") == EXPENSIVE and DEFAULT_LIMITS.kind("stock.get") == READ
    assert DEFAULT_LIMITS.kind("no.such_op") == WRITE  # unclassified is never free


def test_a_working_kiosk_never_meets_the_defaults() -> None:
    clock = Clock()
    admission = Admission(DEFAULT_LIMITS, clock=clock)
    for page in range(100):  # a first sync of 50,000 products, as fast as the pages come
        assert admission.offer("s", "kiosk-1", "catalog.snapshot", object()) is None, page
        admission.queue.get(0)  # served (nobody serves here: only the budgets are under test)
    for minute in range(30):  # a busy half hour: a shopper scanning an item every 2 s, a checkout a minute
        for scan in range(30):
            clock.now = minute * 60 + scan * 2
            for op in ("catalog.get", "stock.get", "cart.set_line"):
                assert admission.offer("s", "kiosk-1", op, object()) is None, (minute, scan, op)
                admission.queue.get(0)
        for op in ("cart.get", "order.options", "order.options", "order.place"):
            assert admission.offer("s", "kiosk-1", op, object()) is None, (minute, op)
            admission.queue.get(0)


def test_staff_and_tools_get_larger_budgets_than_shoppers() -> None:
    for kind in KINDS:
        shopper = DEFAULT_LIMITS.budget("phone", kind)
        assert shopper == DEFAULT_LIMITS.budget("", kind) == DEFAULT_LIMITS.budget("kiosk", kind)
        assert DEFAULT_LIMITS.budget("staff", kind).burst > shopper.burst
        assert DEFAULT_LIMITS.budget("backend", kind).rate > DEFAULT_LIMITS.budget("staff", kind).rate
    assert DEFAULT_LIMITS.budget("phone", EXPENSIVE).rate < DEFAULT_LIMITS.budget("phone", READ).rate
    assert DEFAULT_LIMITS.budget("phone", SYNC).burst >= 100


def test_a_role_learnt_later_resizes_the_bucket_without_a_free_burst() -> None:
    clock = Clock()
    limits = RequestLimits(budgets={READ: Budget(1.0, 2), WRITE: Budget(1.0, 2), EXPENSIVE: Budget(1.0, 2),
                                    SYNC: Budget(1.0, 2)}, role_factors={"staff": 10.0})
    admission = Admission(limits, clock=clock)
    assert [admission.offer("s", "staff-1", "stock.get", i) for i in range(2)] == [None, None]
    assert admission.queue.get(0) == 0 and admission.queue.get(0) == 1
    assert admission.offer("s", "staff-1", "stock.get", 2) is not None
    admission.note_role("s", "staff-1", "staff")
    results = []
    for i in range(20):
        results.append(admission.offer("s", "staff-1", "stock.get", i))
        admission.queue.get(0)
    assert results.count(None) == 18  # a burst of 20, of which the 2 used before still count
    with pytest.raises(ValueError):
        RequestLimits(budgets={READ: Budget(1.0, 1)})  # every class needs a budget
    with pytest.raises(ValueError):
        Budget(0.0, 5)


def test_a_flood_of_order_options_is_refused_while_a_shopper_still_gets_stock_and_orders(service,
                                                                                       make_client) -> None:
    flooder = RpcClient(make_client(), "test-a", "kiosk-flood")
    shopper = RpcClient(make_client(), "test-a", "kiosk-legit")
    assert flooder.wait_ready() and shopper.wait_ready()
    burst = DEFAULT_LIMITS.budget("kiosk", EXPENSIVE).burst
    told = DEFAULT_LIMITS.refusal_answers.burst if DEFAULT_LIMITS.refusal_answers else 0
    flood = [flooder.call_async("order.options", {"lines": LINES}) for _ in range(burst + told)]
    # The shopper asks in the middle of the flood, and is answered.
    assert shopper.call("stock.get", {"sku": "DAI-MILK-1L"}, timeout=15)["stock"]["sku"] == "DAI-MILK-1L"
    options = shopper.call("order.options", {"lines": LINES}, timeout=15)["options"]
    pickup = next(o["option_id"] for o in options if o["option_id"] == "pickup:test-a")
    placed = shopper.call("order.place", {"order_id": "o_kiosk-legit-00000001", "option_id": pickup,
                                          "lines": LINES}, timeout=15)
    assert placed["order"]["status"] == "awaiting_payment"
    results = [outcome(f) for f in flood]
    # The budget's burst is served; every refusal is answered with a hint (the clock may refill a token or two).
    assert results[:burst] == ["ok"] * burst and results.count("rate_limited") >= told - 2
    admission = service.rpc.admission
    assert admission is not None
    # Past the refusals it is told about, a device that keeps flooding is no longer answered.
    before = admission.rate_limited
    ignored = [flooder.call_async("order.options", {"lines": LINES}) for _ in range(5)]
    assert wait_until(lambda: admission.rate_limited >= before + 5)
    assert admission.unanswered >= 3 and sum(f.done() for f in ignored) <= 2
    assert admission.queue.high_water <= DEFAULT_LIMITS.per_device_queued * 2
    assert shopper.call("stock.get", {"sku": "DAI-MILK-1L"}, timeout=15)  # and the shopper is still answered
