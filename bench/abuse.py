"""Benchmark: legitimate shoppers' requests while other devices flood the backend (issue 17).

In every cell two legitimate devices (fresh phone ids each cell, so they never meet the per-device hold caps) use
the store: one asks `stock.get` 20 times a second, the other places an order once a second, at most three times
(`order.options`, then `order.place` for pickup of one unit of a product the store has), while flooding devices
send 5,000 requests each as fast as they can: one device of one kind (`order.options`, `stock.get`, `cart.create`,
`cart.set_line`, `order.place`, `catalog.snapshot`), or ten devices together, each cycling through those kinds.
The "rest" cell has no flood. The cells of a repeat run in turn and repeats follow each other, so every condition
sees the same machine; a cell measures from the flood's start until its last reply (at least 3 s).

Everything runs on loopback: Mosquitto 2.0 (the `MosquittoBroker` launcher's configuration, persistence off), the
backend (`BackendService` on the demo data, `backend.demo.load_demo`, in its own process), the flooders (one process
per cell, one MQTT connection per flooding device) and the legitimate devices (this process). With `--compare` (the
default) a second broker and backend run with admission control off (`request_limits=None`: requests run on the
client's dispatcher behind its unbounded queue, as before issue 17; the MQTT client's read batching applies to
both), and the rest cell and the single-device `order.options` and `stock.get` floods run against it too.

    .venv/bin/python -m bench.abuse                  # the full table, about 2.5 minutes
    .venv/bin/python -m bench.abuse --quick          # smoke run: one repeat, 1,000 requests per flooder
    .venv/bin/python -m bench.abuse --only "rest,10 devices (mixed)" --no-compare
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.abuse_results import CellResult, percentile, table
from bench.common import DEMO_FILES, ROOT, ProcessGroup, ProductionBroker, cpu_seconds, run_header
from codes.catalog_csv import INVENTORY_COLUMNS, read_rows
from mqtt import topics
from mqtt.brokers import MosquittoBroker
from mqtt.client import Message, MqttClient
from mqtt.rpc import RemoteError, RpcClient, RpcTimeout
from mqtt.url import parse_broker_url

log = logging.getLogger(__name__)

STORE = "sthlm-city"
KINDS = ("order.options", "stock.get", "cart.create", "cart.set_line", "order.place", "catalog.snapshot")
COMPARED = ("order.options", "stock.get")  # the floods also run against the backend without admission
LEGIT_RATE = 20.0  # stock.get per second
ORDERS_PER_CELL = 3  # a phone may hold 3 unpaid orders (backend/holds.py PERSONAL_CAPS)
MIN_WINDOW = 3.0  # seconds measured in a cell even when the flood is over sooner
_CODE = re.compile(rb'"code":"([a-z_]+)"')


def store_skus(store: str = STORE, min_units: int = 0) -> list[str]:
    """SKUs of the benchmark store with at least ``min_units`` in the store (shelf and backroom), from the demo data."""
    return [row["sku"] for _, row in read_rows(DEMO_FILES[2], INVENTORY_COLUMNS)
            if row["store"] == store and int(row["shelf"]) + int(row["backroom"]) >= min_units]


# -- children ----------------------------------------------------------------------------------------------------


class _Stopped(Exception):
    """SIGTERM in the backend child."""


def run_backend(args: argparse.Namespace) -> int:
    """Child: the backend on the demo data; answers "stats" on stdin with its admission counters."""
    from backend.db import Database
    from backend.demo import load_demo
    from backend.limits import DEFAULT_LIMITS
    from backend.service import BackendService

    db = Database(Path(args.db))
    load_demo(db)
    limits = DEFAULT_LIMITS if args.admission == "on" else None
    if args.credentials:  # the production set-up: the backend's three logins, every bench device a kiosk
        from backend import roles
        from backend.logins import backend_urls, read_logins

        logins = read_logins(Path(args.credentials))
        for login in logins:
            if login.role == "kiosk":
                roles.register(db, login.device, STORE, "kiosk")
        urls = backend_urls(parse_broker_url(args.broker), logins)
        service = BackendService(db, urls.main, backend_id=urls.backend_id, state_url=urls.state,
                                 admin_url=urls.admin, request_limits=limits)
    else:
        service = BackendService(db, parse_broker_url(args.broker), backend_id=f"backend-{args.admission}",
                                 request_limits=limits)
    service.start()

    def stop(*_: Any) -> None:
        raise _Stopped

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "stats":
                adm = service.rpc.admission
                stats = {} if adm is None else {"admitted": adm.admitted, "rate_limited": adm.rate_limited,
                                                "penalties": adm.penalties,
                                                "busy": adm.busy, "unanswered": adm.unanswered,
                                                "high_water": adm.queue.high_water, "queued": len(adm.queue)}
                print(json.dumps(stats), flush=True)
    except _Stopped:
        pass
    service.stop()
    db.close()
    return 0


def flood_payload(kind: str, device: str, i: int, skus: list[str], cart: str | None) -> dict[str, Any]:
    """The arguments of the i-th flood request of one kind."""
    sku = skus[i % len(skus)]
    if kind == "order.options":
        return {"lines": [{"sku": skus[(i + k) % len(skus)], "quantity": 1} for k in range(5)]}
    if kind == "stock.get":
        return {"sku": sku}
    if kind == "cart.create":
        return {"lines": [{"sku": sku, "quantity": 1}]}
    if kind == "cart.set_line":
        return {"cart_id": cart, "sku": sku, "quantity": 1 + i % 5}
    if kind == "order.place":
        return {"order_id": f"o_{device[-12:]}-{i:010d}", "option_id": f"pickup:{STORE}",
                "lines": [{"sku": sku, "quantity": 1}]}
    if kind == "catalog.snapshot":
        return {"limit": 500}
    raise ValueError(kind)


def run_flood(args: argparse.Namespace) -> int:
    """Child: N devices send ``count`` requests each as fast as they can; prints what came back as JSON."""
    url = parse_broker_url(args.broker)
    skus = store_skus()
    devices = [f"{args.prefix}-{i}" for i in range(args.devices)]
    passwords: dict[str, str] = {}
    if args.credentials:  # production: each flooder is a kiosk login of its own
        from backend.logins import read_logins

        wanted = args.logins.split(",")
        passwords = {login.device: login.password for login in read_logins(Path(args.credentials))
                     if login.device in wanted}
        devices = wanted
    counts: dict[str, int] = {}
    lock = threading.Lock()
    last_reply = [time.monotonic()]

    def count(message: Message) -> None:
        found = _CODE.search(message.payload[:400])
        outcome = found.group(1).decode() if found else "ok"
        with lock:
            counts[outcome] = counts.get(outcome, 0) + 1
            last_reply[0] = time.monotonic()

    clients, carts = [], {}
    for device in devices:
        login = replace(url, username=device, password=passwords[device]) if passwords else url
        client = MqttClient(login, device)
        client.connect(10)
        base = topics.device_base(STORE, device)
        client.subscribe(f"{base}/reply/flood", count, qos=0)
        clients.append((device, client))
        if "cart.set_line" in args.kind or args.kind == "mixed":
            setup = RpcClient(client, STORE, device)
            carts[device] = setup.call("cart.create", {}, timeout=30)["cart"]["cart_id"]
            setup.close()
        client.wait_subscribed(f"{base}/reply/flood", 10)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    start = time.monotonic()
    for i in range(args.count):
        for n, (device, client) in enumerate(clients):
            kind = args.kind if args.kind != "mixed" else KINDS[(i + n) % len(KINDS)]
            body = {"v": 1, "id": f"f{n}x{i:08d}", "op": kind,
                    "reply_to": f"{topics.device_base(STORE, device)}/reply/flood",
                    "args": flood_payload(kind, device, i, skus, carts.get(device))}
            client.publish(topics.request(STORE, device), json.dumps(body, separators=(",", ":")).encode(), qos=1)
    sent = time.monotonic() - start
    total = args.count * len(clients)
    deadline = start + args.drain
    while time.monotonic() < deadline:
        with lock:
            got, quiet = sum(counts.values()), time.monotonic() - last_reply[0]
        if got >= total or (quiet > 2 and time.monotonic() - start > sent + 2):
            break
        time.sleep(0.02)
    done = time.monotonic() - start
    with lock:
        result = {"sent": total, "send_s": round(sent, 3), "done_s": round(done, 3), "outcomes": dict(counts),
                  "no_reply": total - sum(counts.values())}
    print(json.dumps(result), flush=True)
    for _, client in clients:
        client.close(1)
    return 0


# -- the legitimate device ---------------------------------------------------------------------------------------


class Legit:
    """One shopper's device: paced stock.get and a few orders, on its own connection."""

    def __init__(self, client: MqttClient, device: str, skus: list[str], cell: int) -> None:
        self.rpc = RpcClient(client, STORE, device)
        if not self.rpc.wait_ready(10):
            raise RuntimeError("legitimate device could not subscribe to its replies")
        self.device = device
        self.skus = skus
        self.cell = cell
        self.stop = threading.Event()

    def stock_loop(self, result: CellResult) -> None:
        """stock.get at LEGIT_RATE on a monotonic schedule until stopped; latency per answered call."""
        futures: list[concurrent.futures.Future[Any]] = []
        lock = threading.Lock()

        def done(sent: float, future: concurrent.futures.Future[Any]) -> None:
            elapsed = (time.monotonic() - sent) * 1000
            try:
                future.result()
            except RemoteError as exc:
                with lock:
                    result.stock_failures[exc.code.value] = result.stock_failures.get(exc.code.value, 0) + 1
                return
            with lock:
                result.latencies_ms.append(elapsed)
                result.sent_at.append(sent - start)

        start, i = time.monotonic(), 0
        while not self.stop.is_set():
            delay = start + i / LEGIT_RATE - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                break
            sent = time.monotonic()
            future = self.rpc.call_async("stock.get", {"sku": self.skus[i % len(self.skus)]})
            future.add_done_callback(lambda f, sent=sent: done(sent, f))
            futures.append(future)
            i += 1
        _, pending = concurrent.futures.wait(futures, timeout=30)
        with lock:
            if pending:
                result.stock_failures["no reply in 30 s"] = len(pending)

    def order_loop(self, result: CellResult) -> None:
        """One order a second, at most ORDERS_PER_CELL, each options then place; any refusal is a failure."""
        for n in range(ORDERS_PER_CELL):
            if n and self.stop.wait(1.0):
                break
            sku = self.skus[(self.cell * ORDERS_PER_CELL + n) % len(self.skus)]
            lines = [{"sku": sku, "quantity": 1}]
            result.orders_tried += 1
            try:
                options = self.rpc.call("order.options", {"lines": lines}, timeout=30)["options"]
                pickup = next((o["option_id"] for o in options if o["option_id"] == f"pickup:{STORE}"), None)
                if pickup is None:
                    result.order_failures.append("no pickup option")
                    continue
                order_id = f"o_{self.device[-16:]}-{n:04d}"
                placed = self.rpc.call("order.place", {"order_id": order_id, "option_id": pickup, "lines": lines},
                                       timeout=30)
                if placed["order"]["status"] == "awaiting_payment":
                    result.orders_ok += 1
                else:
                    result.order_failures.append(f"status {placed['order']['status']}")
            except (RemoteError, RpcTimeout) as exc:
                result.order_failures.append(str(exc)[:120])


# -- the run -----------------------------------------------------------------------------------------------------


class Backend:
    """A broker and a backend child on it."""

    def __init__(self, name: str, workdir: Path, group: ProcessGroup, production_logins: int = 0) -> None:
        self.name = name
        self.production: ProductionBroker | None = None
        self.broker: MosquittoBroker | None = None
        if production_logins:
            self.production = ProductionBroker(workdir / f"production-{name}", STORE, production_logins).start()
            self.url, self.broker_pid = self.production.url, self.production.proc.pid if self.production.proc else 0
            extra = ["--credentials", str(self.production.credentials)]
            self.address = self.production.address
        else:
            self.broker = MosquittoBroker(workdir=workdir / f"mosquitto-{name}",
                                          extra_config="persistence false\nset_tcp_nodelay true\n").start()
            self.url, extra = self.broker.url, []
            self.address = str(self.broker.url)
            self.broker_pid = self.broker._proc.pid if self.broker._proc else 0  # only for CPU accounting
        self.proc = group.spawn([sys.executable, "-m", "bench.abuse", "--child", "backend", "--broker", self.address,
                                 "--db", str(workdir / f"backend-{name}.db"), "--admission", name, *extra],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if _read_line(self.proc, 120) != "ready":
            raise RuntimeError(f"backend {name} did not start")
        self.client = MqttClient(self.url, f"bench-legit-{name}-{os.getpid()}")
        if self.production is None:  # one connection for every legitimate device (no ACL to keep them apart)
            self.client.connect(10)
        self._own: list[MqttClient] = []

    def device(self, tag: str) -> tuple[MqttClient, str]:
        """A legitimate device: its connection and id (in production a kiosk login of its own)."""
        if self.production is None:
            return self.client, tag
        login = self.production.take(1)[0]
        client = MqttClient(self.production.url_for(login), login.device)
        client.connect(10)
        self._own.append(client)
        return client, login.device

    def flood_args(self, devices: int) -> list[str]:
        """Command-line arguments naming the flooders' logins (production only)."""
        if self.production is None:
            return []
        logins = self.production.take(devices)
        return ["--credentials", str(self.production.credentials), "--logins", ",".join(x.device for x in logins)]

    def stats(self) -> dict[str, Any]:
        """The backend's admission counters."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(_read_line(self.proc, 10) or "{}")

    def close(self) -> None:
        """Disconnect the legitimate devices and stop the broker (the group stops the backend)."""
        for client in [self.client, *self._own]:
            client.close()
        if self.broker is not None:
            self.broker.close()
        if self.production is not None:
            self.production.close()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def run_cell(backend: Backend, group: ProcessGroup, flood: str, repeat: int, cell: int, args: argparse.Namespace,
             skus: list[str]) -> CellResult:
    """One measurement: the legitimate device's requests during one flood (or at rest)."""
    result = CellResult(backend.name, flood, repeat)
    child = None
    if flood != "rest":
        devices, kind = (10, "mixed") if flood == "10 devices (mixed)" else (1, flood)
        child = group.spawn([sys.executable, "-m", "bench.abuse", "--child", "flood", "--broker", backend.address,
                             "--kind", kind, "--devices", str(devices), "--count", str(args.count),
                             "--prefix", f"flood{cell:03d}{backend.name}", "--drain", str(args.drain),
                             *backend.flood_args(devices)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if _read_line(child, 60) != "ready":
            raise RuntimeError(f"flooder of {flood} did not start")
    # Two shoppers' devices: one reading stock, one ordering (a device's own requests run in order, so one
    # device doing both would measure its stock.get behind its own order's commit, not behind the flood).
    tag = f"{cell:03d}{backend.name}{os.getpid() % 10000:04d}"
    legit = Legit(*backend.device(f"legit-r{tag}"), skus, cell)
    # The shopper orders what the store has (some demo products are out of stock: no pickup to offer).
    orderer = Legit(*backend.device(f"legit-o{tag}"), store_skus(min_units=20), cell)
    cpu0 = cpu_seconds(backend.proc.pid), cpu_seconds(backend.broker_pid), cpu_seconds(child.pid) if child else 0.0
    start = time.monotonic()
    threads = [threading.Thread(target=legit.stock_loop, args=(result,)),
               threading.Thread(target=orderer.order_loop, args=(result,))]
    for thread in threads:
        thread.start()
    if child is not None:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        line = _read_line(child, args.drain + 30)
        result.flood_result = json.loads(line) if line else {"error": "flooder gave no result"}
        result.flood_cpu = cpu_seconds(child.pid) - cpu0[2]
        group.stop([child])
    remaining = start + MIN_WINDOW - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    legit.stop.set()
    orderer.stop.set()
    result.window_s = time.monotonic() - start
    for thread in threads:
        thread.join(60)
    result.backend_cpu = (cpu_seconds(backend.proc.pid) - cpu0[0]) / result.window_s
    result.broker_cpu = (cpu_seconds(backend.broker_pid) - cpu0[1]) / result.window_s
    result.flood_cpu /= result.window_s
    legit.rpc.close()
    orderer.rpc.close()
    return result


def main_run(args: argparse.Namespace) -> int:
    """Start brokers and backends, run every cell of every repeat, print the table."""
    skus = store_skus()
    floods = ["rest", *KINDS, "10 devices (mixed)"]
    if args.only:
        floods = [flood for flood in floods if flood in args.only.split(",")]
    plan = [("on", flood) for flood in floods]
    if args.compare and not args.production:
        plan += [("off", flood) for flood in ["rest", *COMPARED] if flood in floods]
    group = ProcessGroup()
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="aisle-abuse-") as tmp:
        backends: dict[str, Backend] = {}
        try:
            # In production every device of every cell is a kiosk login used once: two shoppers and the flooders.
            logins = args.repeats * sum(2 + (10 if f.startswith("10 ") else 0 if f == "rest" else 1) for f in floods)
            for name in dict.fromkeys(name for name, _ in plan):
                backends[name] = Backend(name, Path(tmp), group, logins if args.production else 0)
            results, cell = [], 0
            for repeat in range(args.repeats):
                for name, flood in plan:
                    cell += 1
                    log.info("repeat %d/%d: backend %s, flood %s", repeat + 1, args.repeats, name, flood)
                    result = run_cell(backends[name], group, flood, repeat, cell, args, skus)
                    log.info("  stock.get p99 %.1f ms over %d, orders %d/%d %s, flood %s", percentile(
                        result.latencies_ms, 99), len(result.latencies_ms), result.orders_ok, result.orders_tried,
                        result.order_failures, result.flood_result)
                    slowest = sorted(zip(result.latencies_ms, result.sent_at, strict=True), reverse=True)[:5]
                    log.info("  slowest stock.get: %s", ", ".join(f"{ms:.0f} ms at +{at:.2f} s" for ms, at in slowest))
                    results.append(result)
            stats = {name: b.stats() for name, b in backends.items()}
        finally:
            for backend in backends.values():
                backend.close()
            group.stop()
    print("\n" + run_header("abuse", started) + f", load average before the run {load_before:.1f}; "
          f"{args.repeats} repeats, {args.count} requests per flooding device.\n")
    print(table(results))
    print(f"\nBackend admission counters at the end: {json.dumps(stats)}")
    refused = sum(r.orders_tried - r.orders_ok for r in results if r.backend == "on")
    worst = max((percentile(r.latencies_ms, 99) for r in results if r.backend == "on"), default=float("nan"))
    print(f"Admission on: worst per-cell stock.get p99 {worst:.1f} ms (goal < 50), legitimate orders refused: "
          f"{refused} (goal 0)")
    failures = [f"{r.backend}/{r.flood}: {why}" for r in results for why in r.order_failures]
    if failures:
        print("Refused orders: " + "; ".join(failures))
    return 0


def main() -> int:
    """Parse the command line and run the benchmark or one of its children."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over every cell (default 3)")
    parser.add_argument("--count", type=int, default=5000, help="requests per flooding device (default 5000)")
    parser.add_argument("--drain", type=float, default=120.0, help="longest wait for a flood's replies, seconds")
    parser.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                        help="also flood a backend without admission control (default on)")
    parser.add_argument("--quick", action="store_true", help="one repeat of 1,000 requests per flooder")
    parser.add_argument("--only", help="comma-separated cells to run, e.g. rest,stock.get,10 devices, mixed")
    parser.add_argument("--production", action="store_true",
                        help="run against the generated production broker (TLS, logins, ACLs, dynamic security: "
                        "flooders are cut off at the broker); admission on only")
    parser.add_argument("--child", choices=["backend", "flood"], help=argparse.SUPPRESS)
    parser.add_argument("--credentials", help=argparse.SUPPRESS)
    parser.add_argument("--logins", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--admission", choices=["on", "off"], default="on", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count < 1 or args.repeats < 1 or args.count > 100_000:
        parser.error("--count must be 1..100000 and --repeats at least 1")
    logging.basicConfig(level=logging.INFO if args.child is None else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.child == "backend":
        return run_backend(args)
    if args.child == "flood":
        return run_flood(args)
    if args.quick:
        args.repeats, args.count = 1, 1000
    return main_run(args)


if __name__ == "__main__":
    sys.exit(main())
