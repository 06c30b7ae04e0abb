"""Benchmark: a chain of N store stacks bridged to one central broker, with HQ, on this machine.

Each store runs its own Mosquitto (``broker-config --bridge``, TLS, ACLs) and its own ``backend serve --store``
process and SQLite file; the central Mosquitto comes from ``central-config``; HQ is ``backend hq serve``. Each
store's bridge reaches the centre through a relay that the benchmark cuts to play a WAN outage.

Measured: cross-store latency (adjust stock in store A until store B's backend answers ``stock.nearby`` with it),
an HQ price push to every store (until every store's devices see the new prices on their own broker), and a WAN
cut of one store (changes on both sides and at HQ during the cut; time to converge once the link is back; every
change checked at the end: ``lost`` counts what never arrived).

    .venv/bin/python -m bench.chain             # 20 stores, 30 s cut
    .venv/bin/python -m bench.chain --quick     # 3 stores, 10 s cut
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from backend import catalog
from backend.chain.hq_entries import stage
from backend.db import Database
from bench.chain_stack import Central, StoreStack, chain_data, hq_prices
from bench.common import ProcessGroup, run_header
from mqtt import topics
from mqtt.payloads import Product, decode, utcnow
from mqtt.rpc import RpcClient, RpcError

log = logging.getLogger(__name__)


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.02) -> float:
    """Seconds until ``check()`` holds; raises TimeoutError naming ``what``."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except RpcError:
            pass  # a store still starting or reconnecting
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not within {timeout:g} s")
        time.sleep(every)


def nearby_level(rpc: RpcClient, sku: str, store: str) -> tuple[int | None, bool]:
    """(available, live) of ``store`` in the asking store's ``stock.nearby`` answer."""
    for row in rpc.call("stock.nearby", {"sku": sku}, timeout=5)["stores"]:
        if row["store"] == store:
            return row["available"], row["live"]
    return None, False


def stock_of(rpc: RpcClient, sku: str) -> int:
    """A store's own available stock of one product."""
    return int(rpc.call("stock.get", {"sku": sku}, timeout=5)["stock"]["available"])


class PriceWatch:
    """A device of each store subscribed to its catalogue: which price it last saw for each product."""

    def __init__(self, stacks: list[StoreStack]) -> None:
        self.seen: dict[tuple[str, str], Decimal] = {}
        for stack in stacks:
            client, _ = stack.client("kiosk")
            client.subscribe(topics.catalog_filter(stack.store), self._on_product, qos=1)
            if not client.wait_subscribed(topics.catalog_filter(stack.store), 20):
                raise RuntimeError(f"{stack.store}: kiosk could not subscribe to its catalogue")

    def _on_product(self, message) -> None:  # type: ignore[no-untyped-def]
        if message.payload:
            product = decode(Product, message.payload)
            self.seen[(product.store, product.sku)] = product.price.amount

    def all_at(self, stores: list[str], skus: list[str], price: Callable[[str], Decimal]) -> bool:
        """Whether every store's device sees ``price(sku)`` for every sku."""
        return all(self.seen.get((store, sku)) == price(sku) for store in stores for sku in skus)


def push_prices(hq_db: Path, stores: list[str], skus: list[str], price: Callable[[str], Decimal]) -> int:
    """What `hq import` of a price list does: write the prices, stage them (HQ's process tells the stores)."""
    db = Database(hq_db)
    try:
        with db.transaction():
            for store in stores:
                for sku in skus:
                    catalog.set_store_product(db, store, sku, price(sku), None, None, utcnow())
        return sum(stage(db, stores).changed.values())
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the tables and the summary line last."""
    parser = argparse.ArgumentParser(prog="python -m bench.chain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 stores, 10 s cut, fewer trials")
    parser.add_argument("--stores", type=int, help="store stacks (default 20, 3 with --quick)")
    parser.add_argument("--cut", type=float, help="WAN cut in seconds (default 30, 10 with --quick)")
    parser.add_argument("--trials", type=int, help="cross-store latency trials (default 60, 15 with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, databases)")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    n = args.stores or (3 if args.quick else 20)
    cut_for = args.cut if args.cut is not None else (10.0 if args.quick else 30.0)
    trials = args.trials or (15 if args.quick else 60)
    if n < 2:
        parser.error("--stores must be at least 2")
    rng = random.Random(args.seed)
    print(run_header("chain", datetime.now(UTC)))
    stores = [f"s{i:02d}" for i in range(1, n + 1)]
    workdir = Path(tempfile.mkdtemp(prefix="aisle-chain-"))
    group = ProcessGroup()
    stacks: list[StoreStack] = []
    try:
        started = time.monotonic()
        data = chain_data(workdir / "data", stores)
        central = Central(workdir, stores, group).configure().start()
        central.start_hq(data)
        for store in stores:  # one after the other: a store's port is taken before the next one is picked
            stacks.append(StoreStack(workdir, store, central, [o for o in stores if o != store], group)
                          .configure(data).start())
        admins = {stack.store: stack.client("admin")[1] for stack in stacks}
        skus = sorted(catalog_skus(data["inventory"]))
        print(f"{n} store stacks, central broker and HQ up in {time.monotonic() - started:.1f} s "
              f"({len(skus)} products per store)")
        # Every store mirrors every other store's stock before measuring.
        for stack in stacks:
            other = next(s for s in stores if s != stack.store)
            wait_for(lambda a=admins[stack.store], o=other: nearby_level(a, skus[0], o)[0] is not None, 120,
                     f"{stack.store} mirroring {other}")
        expected: dict[tuple[str, str], int] = {}  # (store, sku) -> level every other store must end up seeing

        def adjust(store: str, sku: str, delta: int) -> None:
            result = admins[store].call("stock.adjust", {"sku": sku, "delta": delta, "reason": "bench",
                                                         "location": "shelf"}, timeout=10)
            expected[(store, sku)] = int(result["stock"]["available"])

        # 1. cross-store latency
        latencies = []
        for _ in range(trials):
            a, b = rng.sample(stores, 2)
            sku = rng.choice(skus)
            adjust(a, sku, rng.choice((-1, 1, 2)))
            target = expected[(a, sku)]
            latencies.append(1000 * wait_for(lambda b=b, sku=sku, a=a, t=target:
                                             nearby_level(admins[b], sku, a) == (t, True), 30,
                                             f"{b} seeing {a}'s {sku}", every=0.005))
        cross = sorted(latencies)
        cross_p50, cross_p99 = statistics.median(cross), cross[min(len(cross) - 1, int(0.99 * len(cross)))]
        print(f"cross-store: n={len(cross)} p50={cross_p50:.1f} ms p99={cross_p99:.1f} ms max={cross[-1]:.1f} ms")

        # 2. HQ price push to every store
        watch = PriceWatch(stacks)
        base = hq_prices(central.hq_db, stores[0])
        new_price: Callable[[str], Decimal] = lambda sku: base[sku] + Decimal("1.00")  # noqa: E731
        t0 = time.monotonic()
        pushed = push_prices(central.hq_db, stores, skus, new_price)
        wait_for(lambda: watch.all_at(stores, skus, new_price), 300, "the price push")
        price_push = time.monotonic() - t0  # from the import at HQ to the last store's devices
        print(f"price push: {pushed} entries to {n} stores; every store's devices saw them in {price_push:.2f} s")

        # 3. a WAN cut of one store
        cut, peer = stacks[0], stacks[1]
        cut.relay.cut()
        cut_started = time.monotonic()
        cut_price: Callable[[str], Decimal] = lambda sku: base[sku] + Decimal("2.00")  # noqa: E731
        changes = 0
        while time.monotonic() - cut_started < cut_for:
            for store in (cut.store, peer.store):
                adjust(store, rng.choice(skus), rng.choice((-1, 1, 3)))
                changes += 1
            if changes == 2:
                push_prices(central.hq_db, [cut.store], skus, cut_price)
            time.sleep(0.5)
        cut.relay.restore()
        t0 = time.monotonic()

        def converged() -> bool:
            return (all(nearby_level(admins[peer.store], sku, cut.store)[0] == level
                        for (store, sku), level in expected.items() if store == cut.store)
                    and all(nearby_level(admins[cut.store], sku, peer.store)[0] == level
                            for (store, sku), level in expected.items() if store == peer.store)
                    and watch.all_at([cut.store], skus, cut_price))

        try:
            converge = wait_for(converged, 120, "convergence after the cut", every=0.2)
        except TimeoutError:
            behind = [(s, sku, level, nearby_level(admins[peer.store if s == cut.store else cut.store], sku, s))
                      for (s, sku), level in expected.items() if s in (cut.store, peer.store)]
            print("not converged:", [b for b in behind if b[2] != b[3][0]][:10],
                  "prices behind:", sum(1 for sku in skus if watch.seen.get((cut.store, sku)) != cut_price(sku)))
            raise
        print(f"WAN cut of {cut.store} for {cut_for:g} s with {changes} stock changes and a price push: "
              f"converged {converge:.2f} s after the link came back ({time.monotonic() - t0:.2f} s)")

        # Nothing lost: every store sees every other store's final levels, every device HQ's prices.
        lost = 0
        for stack in stacks:
            for (store, sku), level in expected.items():
                if store != stack.store and nearby_level(admins[stack.store], sku, store)[0] != level:
                    lost += 1
        lost += sum(1 for s in stores[1:] for sku in skus if watch.seen.get((s, sku)) != new_price(sku))
        lost += sum(1 for sku in skus if watch.seen.get((cut.store, sku)) != cut_price(sku))
        for store, rpc in admins.items():
            lost += sum(1 for (s, sku), level in expected.items() if s == store and stock_of(rpc, sku) != level)
        print(f"chain: stores={n} cross_p99_ms={cross_p99:.1f} price_push_s={price_push:.2f} "
              f"cut_converge_s={converge:.2f} lost={lost}")
        return 0 if lost == 0 else 1
    finally:
        for stack in stacks:
            stack.close()
        group.stop()
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def catalog_skus(inventory: Path) -> set[str]:
    """Every sku of the generated inventory."""
    return {line.split(",")[1] for line in inventory.read_text().splitlines()[1:]}


if __name__ == "__main__":
    sys.exit(main())
