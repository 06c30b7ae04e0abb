"""Benchmark: stock adjustments through the backend and a real Mosquitto, fanned out to N devices.

For each (devices, rate) cell the benchmark first runs the raw floor (a plain MQTT publisher sending
QoS 1 retained messages with its send time in the payload, at the same rate, to the same
subscribers), then the backend path (`stock.adjust` requests paced at the rate; latency is the
device's receive time minus the payload's `updated_at`, the backend's commit time). Devices are
MQTT connections subscribed at QoS 0 as edge.Edge is, in one process (bench.fanout.pool) or one
mosquitto_sub each (--simulator mosquitto_sub), stamping each message on receipt, plus one full
device client (MqttClient + StoreMirror) in its own process. The backend runs as
`python -m backend serve`.

    .venv/bin/python -m bench.stock_fanout                 # full run, about 3 minutes on 2 cores
    .venv/bin/python -m bench.stock_fanout --quick         # smoke run
    .venv/bin/python -m bench.stock_fanout --devices 10,50 --rates 10,100 --duration 3
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import DEMO_FILES, ProcessGroup, cpu_seconds, run_header
from bench.fanout.nodelay import patch_paho
from bench.fanout.procs import (
    FLOOR_PREFIX,
    IngressSampler,
    Subscribers,
    TailReader,
    client_ports,
    close_stdin,
    start_backend,
    start_device,
    wait_quiet,
)
from bench.fanout.stats import TABLE_HEADER, Acked, CellResult, iso_to_ns, parse_device, parse_subscribers, table_row
from codes.catalog_csv import INVENTORY_COLUMNS, read_rows
from mqtt.brokers import MosquittoBroker
from mqtt.client import MqttClient
from mqtt.rpc import RpcClient

log = logging.getLogger(__name__)

STORE = "sthlm-city"
# A device the demo data registers as staff: only staff devices may request stock.adjust.
LOADGEN_DEVICE = f"{STORE}-staff-1"
# The backend's policy in this benchmark: budgets that do not bind the one load-generating device.
OPEN_BUDGETS = """[requests]
queue_size = 20000
per_device_queued = 20000

[requests.role_factors]
staff = 2000
"""
# Roughly the size of a StockLevel payload, so the floor moves the same bytes.
FLOOR_PAD = "x" * 110


def store_skus(store: str = STORE) -> list[str]:
    """SKUs stocked in the benchmark store, from the demo inventory."""
    return [row["sku"] for _, row in read_rows(DEMO_FILES[2], INVENTORY_COLUMNS) if row["store"] == store]


def pace(start: float, index: int, rate: float) -> None:
    """Sleep until message `index` is due on a monotonic schedule of `rate` per second."""
    delay = start + index / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)


@dataclass
class AdjustPhase:
    """What the load generator sent and had acknowledged during one cell."""

    sent: int
    acked: Acked
    errors: list[str]
    send_rate: float
    achieved_rate: float
    first_send_mono: float
    last_ack_mono: float


class Adjuster:
    """Sends `stock.adjust` requests at a fixed rate, alternating +1/-1 per SKU so stock never runs out."""

    def __init__(self, client: MqttClient, skus: list[str]) -> None:
        self.rpc = RpcClient(client, STORE, LOADGEN_DEVICE)
        if not client.wait_subscribed(self.rpc.reply_topic, 10):
            raise RuntimeError("load generator could not subscribe to its reply topic")
        self.skus = skus
        self.counter = 0

    def run(self, rate: float, duration: float, drain_timeout: float) -> AdjustPhase:
        """Send rate*duration adjustments on schedule, then wait for their acknowledgements."""
        total = max(1, round(rate * duration))
        acked: Acked = {}
        errors: list[str] = []
        lock = threading.Lock()
        last_ack = [0.0]

        def done(sent_ns: int, future: concurrent.futures.Future[dict[str, Any]]) -> None:
            now = time.monotonic()
            try:
                stock = future.result()["stock"]
            except Exception as exc:  # recorded and reported; the cell goes on
                with lock:
                    errors.append(repr(exc)[:200])
                return
            with lock:
                acked[(stock["sku"], int(stock["seq"]))] = (sent_ns, iso_to_ns(stock["updated_at"]))
                last_ack[0] = max(last_ack[0], now)

        futures = []
        start = time.monotonic()
        for i in range(total):
            pace(start, i, rate)
            k = self.counter
            self.counter += 1
            args = {"sku": self.skus[k % len(self.skus)], "delta": 1 if (k // len(self.skus)) % 2 == 0 else -1,
                    "reason": "bench", "location": "shelf"}
            sent_ns = time.time_ns()
            future = self.rpc.call_async("stock.adjust", args)
            future.add_done_callback(lambda f, sent_ns=sent_ns: done(sent_ns, f))
            futures.append(future)
        send_elapsed = time.monotonic() - start
        _, pending = concurrent.futures.wait(futures, timeout=drain_timeout)
        with lock:
            if pending:
                errors.extend([f"no reply within {drain_timeout:.0f} s"] * len(pending))
            commits = sorted(commit for _, commit in acked.values())
            # What the backend sustained: commits per second between its first and last commit of the cell.
            span = (commits[-1] - commits[0]) / 1e9 if len(commits) > 1 else 0.0
            achieved = (len(commits) - 1) / span if span > 0 else float(len(commits))
            return AdjustPhase(total, dict(acked), list(errors), total / max(send_elapsed, 1e-9),
                               achieved, start, last_ack[0])


class FloorPublisher:
    """The raw floor: a plain MqttClient publishing QoS 1 retained messages stamped with their send time."""

    def __init__(self, client: MqttClient, skus: list[str]) -> None:
        self.client = client
        self.topics = [f"{FLOOR_PREFIX}/{sku}" for sku in skus]

    def marker(self, number: int) -> None:
        """A readiness marker every subscriber prints once subscribed."""
        self.client.publish(f"{FLOOR_PREFIX}/ready", str(number).encode(), qos=1)

    def run(self, cell: int, rate: float, duration: float, timeout: float, extra: int = 0) -> int:
        """Publish rate*duration messages on schedule (each followed by `extra` unsubscribed ones); return the count."""
        total = max(1, round(rate * duration))
        infos = []
        start = time.monotonic()
        for i in range(total):
            pace(start, i, rate)
            payload = f'{{"c":{cell},"i":{i},"t":{time.time_ns()},"pad":"{FLOOR_PAD}"}}'.encode()
            infos.append(self.client.publish(self.topics[i % len(self.topics)], payload, qos=1, retain=True))
            for _ in range(extra):
                self.client.publish("bench/void", b"-", qos=1)
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.01, deadline - time.monotonic()))
        unacked = sum(1 for info in infos if not info.is_published())
        if unacked:
            log.warning("%d floor messages not acknowledged by the broker within %.0f s", unacked, timeout)
        return total


class Bench:
    """One broker, one backend, one full device client; subscriber sets come and go per device count."""

    def __init__(self, args: argparse.Namespace, workdir: Path, group: ProcessGroup) -> None:
        self.args = args
        self.workdir = workdir
        self.group = group
        self.skus = store_skus()
        config = ("" if args.broker_persistence else "persistence false\n") + (
            "set_tcp_nodelay true\n" if args.broker_nodelay else "")
        self.broker = MosquittoBroker(workdir=workdir / "mosquitto", extra_config=config).start()
        proc = self.broker._proc  # only its pid, for CPU accounting
        self.broker_pid = proc.pid if proc else 0
        url = str(self.broker.url)
        log.info("mosquitto on %s; starting backend", url)
        if args.nodelay:
            patch_paho()  # the load generator's client, like the backend's and the device's
        self.client = MqttClient(self.broker.url, f"bench-loadgen-{os.getpid()}")
        try:
            extra = ("--no-group-commit",) if args.no_group_commit else ()
            if not args.store_budgets:
                # One load generator stands for a delivery booked in, a stock count, many tills: the store's
                # per-device budgets (a staff device: 20 writes/s) would measure admission, not the commit path.
                policy = workdir / "bench-policy.toml"
                policy.write_text(OPEN_BUDGETS)
                extra += ("--policy", str(policy))
            self.backend = start_backend(group, url, workdir, nodelay=args.nodelay, extra=extra)
            self.device_reader = TailReader(workdir / "device.txt")
            self.device = start_device(group, url, STORE, len(self.skus), self.device_reader.path,
                                       nodelay=args.nodelay)
            self.client.connect(10)
            self.adjuster = Adjuster(self.client, self.skus)
            port = self.broker.url.port
            self.ports = {"backend": client_ports(self.backend.pid, port), "bench": client_ports(os.getpid(), port)}
            if args.nice:
                for pid in (0, self.broker_pid, self.backend.pid, self.device.pid):
                    os.setpriority(os.PRIO_PROCESS, pid, args.nice)  # 0: this process
        except BaseException:
            self.client.close()
            group.stop()
            self.broker.close()
            raise
        self.floor = FloorPublisher(self.client, self.skus)
        self.subs: Subscribers | None = None
        self.cells = 0

    def use_devices(self, count: int) -> None:
        """Replace the mosquitto_sub set by `count` fresh subscribers, all subscribed."""
        if self.subs is not None:
            self.subs.stop()
        log.info("starting %d simulated devices (%s)", count, self.args.simulator)
        nice = self.args.nice if self.args.sub_nice is None else self.args.sub_nice
        url = self.broker.url
        if self.args.simulator == "pool":
            self.subs = Subscribers.pool(self.group, url.host, url.port, STORE, count, self.workdir, nice,
                                         self.args.sub_qos, self.args.pool_processes)
        else:
            self.subs = Subscribers(self.group, url.host, url.port, STORE, count, self.workdir, nice,
                                    self.args.sub_qos)
        self.subs.wait_ready(self.floor.marker)
        self.device_reader.skip_to_end()

    def run_cell(self, devices: int, rate: int) -> CellResult:
        """Floor phase, then backend phase, at one rate to the current subscribers."""
        assert self.subs is not None and len(self.subs.readers) == devices
        self.cells += 1
        cell = self.cells
        # Overloaded cells only grow their backlog: cap the deliveries per phase to keep the run bounded.
        duration = min(self.args.duration, max(1.0, self.args.max_deliveries / (rate * devices)))
        drain = max(60.0, 20 * duration)

        def size() -> int:
            return self.subs.total_bytes() + self.device_reader.size()  # type: ignore[union-attr]

        log.info("  floor phase: %d messages/s for %g s", rate, duration)
        with IngressSampler(self.broker.url.port, {"floor": self.ports["bench"]}) as floor_ingress:
            published = self.floor.run(cell, rate, duration, drain, self.args.floor_extra_packets)
            wait_quiet(size, timeout=drain)
        backend_cpu0, broker_cpu0 = cpu_seconds(self.backend.pid), cpu_seconds(self.broker_pid)
        subs_cpu0 = sum(cpu_seconds(p.pid) for p in self.subs.procs)
        log.info("  backend phase: %d adjustments/s for %g s", rate, duration)
        with IngressSampler(self.broker.url.port, {"backend": self.ports["backend"]}) as ingress:
            phase = self.adjuster.run(rate, duration, drain)
            elapsed = time.monotonic() - phase.first_send_mono  # run() returned at the last acknowledgement
            backend_cpu = (cpu_seconds(self.backend.pid) - backend_cpu0) / elapsed
            broker_cpu = (cpu_seconds(self.broker_pid) - broker_cpu0) / elapsed
            subs_cpu = (sum(cpu_seconds(p.pid) for p in self.subs.procs) - subs_cpu0) / elapsed
            if not wait_quiet(size, timeout=drain):
                log.warning("devices still receiving after %.0f s; counting what arrived", drain)
        subs = parse_subscribers(self.subs.new_lines(), phase.acked, cell)
        device = parse_device(self.device_reader.new_lines(), phase.acked)
        if phase.errors:
            log.warning("%d adjustments failed, e.g. %s", len(phase.errors), phase.errors[0])
        return CellResult(devices, rate, duration, phase.sent, len(phase.acked), len(phase.errors),
                          phase.send_rate, phase.achieved_rate, subs, device, published, backend_cpu, broker_cpu,
                          subs_cpu, os.getloadavg()[0], ingress.peak["backend"], floor_ingress.peak["floor"])

    def close(self) -> None:
        """Stop clients and every child process."""
        self.client.close()
        close_stdin(self.device)
        self.group.stop()
        self.broker.close()


def search_rates(bench: Bench, devices: int, results: list[CellResult], limit_ms: float, steps: int) -> None:
    """Bisect between the highest passing and lowest failing measured rate for `devices`."""
    for _ in range(steps):
        measured = {r.rate: r.passes(limit_ms) for r in results if r.devices == devices}
        good = [rate for rate, ok in measured.items() if ok]
        lo = max(good, default=0)
        bad = [rate for rate, ok in measured.items() if not ok and rate > lo]
        if not bad or not good:
            return
        hi = min(bad)
        mid = int(round((lo + hi) / 2, -1))
        if hi - lo <= max(20, lo // 10) or mid in measured:
            return
        results.append(run_and_report(bench, devices, mid))


def run_and_report(bench: Bench, devices: int, rate: int) -> CellResult:
    """Run one cell and log its row."""
    log.info("cell %d: %d devices, %d adjustments/s", bench.cells + 1, devices, rate)
    result = bench.run_cell(devices, rate)
    log.info("  %s", table_row(result))
    return result


def highest_rate_statement(results: list[CellResult], devices: int, limit_ms: float) -> str:
    """The sentence answering 'highest rate at which `devices` devices see p99 < limit'."""
    rows = sorted((r for r in results if r.devices == devices), key=lambda r: r.rate)
    if not rows:
        return f"{devices} devices were not measured."
    good = [r.rate for r in rows if r.passes(limit_ms)]
    bad = [str(r.rate) for r in rows if not r.passes(limit_ms)]
    criterion = f"p99 < {limit_ms:g} ms, nothing lost and the backend keeping up"
    if not good:
        return f"{devices} devices: no measured rate met {criterion} (tried {', '.join(bad)}/s)."
    failing = f"; failed at {', '.join(bad)}/s" if bad else "; every measured rate passed"
    return f"{devices} devices: highest measured rate with {criterion}: {max(good)} adjustments/s{failing}."


def ints(text: str) -> list[int]:
    """Parse a comma-separated list of integers."""
    return sorted({int(x) for x in text.split(",") if x.strip()})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=ints, default=[10, 50, 200], help="comma-separated device counts")
    parser.add_argument("--rates", type=ints, default=[10, 100, 1000], help="adjustments per second")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per phase of a cell")
    parser.add_argument("--max-deliveries", type=int, default=400_000,
                        help="shorten a phase so that rate*duration*devices stays under this")
    parser.add_argument("--search-devices", type=int, default=50, help="device count to find the highest rate for")
    parser.add_argument("--search-limit-ms", type=float, default=50.0, help="p99 the search must stay under")
    parser.add_argument("--search-rates", type=ints, default=[200, 500], help="extra rates tried for the search")
    parser.add_argument("--search-steps", type=int, default=3, help="bisection steps after the extra rates")
    parser.add_argument("--broker-persistence", action="store_true",
                        help="keep MosquittoBroker's persistence (autosave every second) instead of turning it off")
    parser.add_argument("--nodelay", action="store_true",
                        help="experiment: TCP_NODELAY on the backend's, load generator's and device's MQTT sockets")
    parser.add_argument("--broker-nodelay", action="store_true",
                        help="experiment: mosquitto with set_tcp_nodelay true")
    parser.add_argument("--floor-extra-packets", type=int, default=0,
                        help="experiment: the floor publisher sends this many extra unsubscribed QoS 1 messages per"
                             " message (the backend sends 3 packets per adjustment: PUBACK, stock, reply)")
    parser.add_argument("--nice", type=int, default=0,
                        help="nice value of every benchmark process (negative needs root): on a shared machine,"
                             " keeps other work from dominating the figures")
    parser.add_argument("--sub-nice", type=int, help="nice value of the mosquitto_sub devices (default: --nice)")
    parser.add_argument("--simulator", choices=["pool", "mosquitto_sub"], default="pool",
                        help="devices as one process of raw MQTT connections (pool) or one mosquitto_sub each")
    parser.add_argument("--pool-processes", type=int, default=1, help="processes the pool simulator uses")
    parser.add_argument("--sub-qos", type=int, choices=[0, 1], default=0,
                        help="QoS of the simulated devices' subscriptions (0, as edge.Edge and StoreMirror subscribe)")
    parser.add_argument("--store-budgets", action="store_true",
                        help="keep the store's request budgets for the load generator (refuses most of a high rate)")
    parser.add_argument("--no-group-commit", action="store_true",
                        help="the backend commits each adjustment on its own (to compare with group commit)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 devices, 10 and 100/s, 1.5 s")
    parser.add_argument("--json", type=Path, help="also write every cell's figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (subscriber outputs, logs)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.devices, args.rates, args.duration, args.search_rates, args.search_steps = [10], [10, 100], 1.5, [], 0
    return args


def run(args: argparse.Namespace, workdir: Path) -> list[CellResult]:
    """Every cell of the run, in order."""
    group = ProcessGroup()
    results: list[CellResult] = []
    bench: Bench | None = None
    try:
        bench = Bench(args, workdir, group)
        for devices in args.devices:
            bench.use_devices(devices)
            extra = args.search_rates if devices == args.search_devices else []
            for rate in sorted(set(args.rates) | set(extra)):
                results.append(run_and_report(bench, devices, rate))
            if devices == args.search_devices:
                search_rates(bench, devices, results, args.search_limit_ms, args.search_steps)
    finally:
        if bench is not None:
            bench.close()
        group.stop()
    return results


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the Markdown table."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a background job may inherit it ignored
        signal.signal(sig, _terminate)
    tmp = tempfile.mkdtemp(prefix="aisle-fanout-")
    started, started_at = time.monotonic(), datetime.now(UTC)
    try:
        results = run(args, Path(tmp))
    except KeyboardInterrupt:
        log.error("interrupted; every child process was stopped")
        return 130
    finally:
        if args.keep:
            log.info("work directory kept: %s", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results.sort(key=lambda r: (r.devices, r.rate))
    print(run_header("stock_fanout", started_at))
    print()
    print(TABLE_HEADER)
    for result in results:
        print(table_row(result))
    print()
    print(highest_rate_statement(results, args.search_devices, args.search_limit_ms))
    lost = sum(max(0, r.lost) for r in results) + sum(r.errors for r in results)
    print(f"Lost stock updates over all cells: {lost}. Duration {time.monotonic() - started:.0f} s, "
          f"{args.duration:g} s per phase.")
    if args.json:
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.as_dict().items()}
                for r in results]
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
