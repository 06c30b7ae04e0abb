"""Group commit: queued stock changes and orders share one transaction, so one fsync, each in its own savepoint.

The RPC worker (mqtt/batching.py) runs the requests already queued behind a stock.adjust or order.place together
inside ``GroupCommit.transaction``; each runs in a savepoint, so a request that fails undoes only its own writes.
What the handlers publish (stock levels, events) waits for the COMMIT (``Database.after_commit``), and so do the
replies: a batch whose COMMIT fails answers every request in it with an error and publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backend.db import Database
from mqtt.payloads import ErrorCode
from mqtt.rpc import OpError, OpHandler, RequestContext

log = logging.getLogger(__name__)

# Writes of a few rows each whose cost is the commit's fsync: worth sharing one. Not the others: cart.* and
# alert.* publish through paths that do not wait for a commit, and reads commit nothing.
BATCHED_OPS = frozenset({"stock.adjust", "order.place"})
BATCH_SIZE = 64  # requests per commit at most: a batch's replies all wait for its end


class GroupCommit:
    """The backend's batch hook for the RPC server (mqtt.batching.BatchHook), with its counters."""

    def __init__(self, db: Database, ops: frozenset[str] = BATCHED_OPS, size: int = BATCH_SIZE) -> None:
        if size < 1:
            raise ValueError("a batch holds at least one request")
        self.db = db
        self.ops = ops
        self.size = size
        self.commits = 0  # batches committed
        self.batched = 0  # requests served inside committed batches (failed ones included: they were answered)
        self._running = 0  # requests served in the open batch

    def batchable(self, op: str) -> bool:
        """Whether requests of ``op`` may share a commit."""
        return op in self.ops

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for a batch: committed on leaving; raises (nothing applied) when it could not be."""
        self._running = 0
        with self.db.group():
            yield
        self.commits += 1
        self.batched += self._running

    def wrap(self, table: dict[str, OpHandler]) -> dict[str, OpHandler]:
        """The operation table with each handler in a savepoint of its own while a batch is open."""
        return {name: self._in_savepoint(name, handler) for name, handler in table.items()}

    def _in_savepoint(self, name: str, handler: OpHandler) -> OpHandler:
        batchable = name in self.ops

        def run(ctx: RequestContext, args: dict[str, Any]) -> Any:
            if not self.db.grouping():
                return handler(ctx, args)  # not in a batch: exactly as without group commit
            if not batchable:
                # Batches are chosen by the op the request names first; only a crafted request names two.
                raise OpError(ErrorCode.BAD_REQUEST, f"{ctx.op} cannot be sent as another operation")
            self._running += 1
            with self.db.transaction():  # a savepoint: a failure undoes this request's writes and publishes only
                return handler(ctx, args)

        return run
