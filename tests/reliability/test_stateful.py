"""A Hypothesis state machine drives stock changes, orders and carts against a simple model of the truth."""

import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from backend import carts, orders, stock
from backend.carts import CartError
from backend.db import Database
from edge.outbox import new_order_id
from mqtt.commerce import LineRequest, OrderStatus
from tests.conftest import load_fixture_catalog

SKUS = ["FRU-APL-GOLDEN", "DAI-MILK-1L", "DRY-PASTA-500"]
PRICES = {"FRU-APL-GOLDEN": Decimal("29.95"), "DAI-MILK-1L": Decimal("16.90"), "DRY-PASTA-500": Decimal("21.50")}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class StoreMachine(RuleBasedStateMachine):
    """Store test-a as the backend keeps it, and as it should be."""

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.db = Database(Path(self._dir.name) / "b.db")
        load_fixture_catalog(self.db)
        self.qty = {(s, loc): stock.level(self.db, "test-a", s).model_dump()[loc] for s in SKUS
                    for loc in ("shelf", "backroom")}
        self.reserved = dict.fromkeys(SKUS, 0)
        self.orders: dict[str, tuple[str, int, bool]] = {}

    def teardown(self) -> None:
        self.db.close()
        self._dir.cleanup()

    def available(self, sku: str) -> int:
        return self.qty[(sku, "shelf")] + self.qty[(sku, "backroom")] - self.reserved[sku]

    @rule(sku=st.sampled_from(SKUS), location=st.sampled_from(["shelf", "backroom"]),
          delta=st.integers(-8, 8).filter(bool))
    def adjust(self, sku: str, location: str, delta: int) -> None:
        before = self.qty[(sku, location)]
        try:
            stock.adjust(self.db, "test-a", sku, location, delta, "test", idempotency_key=new_order_id(), now=NOW)
        except stock.InsufficientStock:
            assert before + delta < 0
            return
        assert before + delta >= 0
        self.qty[(sku, location)] = before + delta

    @rule(sku=st.sampled_from(SKUS), quantity=st.integers(1, 6))
    def place_pickup(self, sku: str, quantity: int) -> None:
        order_id = new_order_id()
        try:
            orders.place(self.db, "test-a", "kiosk-1", order_id, "pickup:test-a",
                         [LineRequest(sku=sku, quantity=quantity)], None, None, NOW)
        except CartError:
            assert self.available(sku) < quantity
            return
        assert self.available(sku) >= quantity
        self.reserved[sku] += quantity
        self.orders[order_id] = (sku, quantity, False)

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def replay_order(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(list(self.orders)))  # placing order: ids are random
        sku, quantity, _ = self.orders[order_id]
        _, duplicate, _ = orders.place(self.db, "test-a", "kiosk-1", order_id, "pickup:test-a",
                                       [LineRequest(sku=sku, quantity=quantity)], None, None, NOW)
        assert duplicate

    @precondition(lambda self: any(not cancelled for _, _, cancelled in self.orders.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from([k for k, v in self.orders.items() if not v[2]]))
        sku, quantity, _ = self.orders[order_id]
        orders.set_status(self.db, order_id, OrderStatus.CANCELLED, NOW)
        self.reserved[sku] -= quantity
        self.orders[order_id] = (sku, quantity, True)

    @rule(lines=st.dictionaries(st.sampled_from(SKUS), st.integers(1, 99), min_size=1))
    def cart_total(self, lines: dict[str, int]) -> None:
        cart = carts.create(self.db, "test-a", "web", [LineRequest(sku=s, quantity=q) for s, q in lines.items()], NOW)
        assert cart.total.amount == sum(PRICES[s] * q for s, q in lines.items())

    @invariant()
    def database_matches_model(self) -> None:
        for sku in SKUS:
            level = stock.level(self.db, "test-a", sku)
            assert (level.shelf, level.backroom) == (self.qty[(sku, "shelf")], self.qty[(sku, "backroom")])
            assert level.reserved == self.reserved[sku]
            assert level.available == max(0, self.available(sku))

    @invariant()
    def ledger_balances(self) -> None:
        assert stock.ledger_balances(self.db) == []


StoreMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestStoreMachine = StoreMachine.TestCase
