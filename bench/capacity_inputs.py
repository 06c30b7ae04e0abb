"""Measured inputs of the capacity math in docs/deployment.md: payload sizes, Mosquitto's cost per retained message.

Payloads are the real ones (the demo data imported into a fresh backend database, encoded as the backend publishes
them). The broker part starts Mosquitto on a free loopback port with a minimal configuration, publishes N retained
messages of the measured size over one raw MQTT 3.1.1 connection, and reads the broker's VmRSS (/proc/PID/status)
and its own heap count ($SYS/broker/heap/current) before and after; then it stops the broker, sizes the persistence
file it writes on exit and times a restart on it. Last, one store's stock crosses a bridge (plain TCP) to a central
broker, which is restarted: the bridge sends it all again. Light enough for a shared machine: run it niced.

    nice -n 10 .venv/bin/python -m bench.capacity_inputs                 # 100,000 retained messages per kind
    nice -n 10 .venv/bin/python -m bench.capacity_inputs --count 20000   # quicker
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from backend import catalog, stock
from backend.db import Database
from backend.demo import load_demo
from bench.common import cpu_seconds, machine
from bench.fanout.pool import _packet, _text
from mqtt.brokers import find_mosquitto, free_port, wait_for_port
from mqtt.client import Message, MqttClient
from mqtt.payloads import encode, utcnow
from mqtt.url import BrokerUrl

CHAIN_STORE = "store-0412"  # a store id as long as the demo's sthlm-city


@dataclass(frozen=True)
class Sizes:
    """Byte sizes of one kind of message over the demo data."""

    kind: str
    payloads: list[int]
    topics: list[int]

    def line(self) -> str:
        p, t = self.payloads, self.topics
        return (f"payload {self.kind}: n={len(p)} mean={statistics.fmean(p):.0f} median={statistics.median(p):.0f} "
                f"max={max(p)} B; topic mean={statistics.fmean(t):.0f} B")


def payload_sizes(db: Database) -> tuple[list[Sizes], dict[str, bytes]]:
    """Sizes of every retained stock level, catalogue entry and store message of the demo, and a median one of each."""
    stock_sizes, product_sizes = Sizes("StockLevel", [], []), Sizes("Product", [], [])
    texts: dict[str, list[bytes]] = {"stock": [], "product": []}
    for store_id, sku in sorted(catalog.catalog_versions(db)):
        product = encode(catalog.product_payload(db, store_id, sku))
        product_sizes.payloads.append(len(product))
        product_sizes.topics.append(len(f"aisle/v1/{store_id}/catalog/{sku}"))
        texts["product"].append(product)
        try:
            level = encode(stock.level(db, store_id, sku))
        except stock.UnknownItem:
            continue
        stock_sizes.payloads.append(len(level))
        stock_sizes.topics.append(len(f"aisle/v1/{store_id}/stock/{sku}"))
        texts["stock"].append(level)
    info = Sizes("StoreDetails", [], [])
    for store in catalog.stores(db):
        info.payloads.append(len(encode(catalog.store_payload(store, utcnow()))))
        info.topics.append(len(f"aisle/v1/{store.id}/info"))
    # The chain messages of the design, written as the backend writes JSON (compact, UTC with "Z").
    at = utcnow().isoformat().replace("+00:00", "Z")
    live = Sizes("_chain live", [len(json.dumps({"site": CHAIN_STORE, "at": at}, separators=(",", ":")))],
                 [len(f"aisle/v1/_chain/{CHAIN_STORE}/live")])
    head = Sizes("_chain head", [len(json.dumps({"seq": 123_456_789}, separators=(",", ":")))],
                 [len(f"aisle/v1/_chain/hq/head/{CHAIN_STORE}")])
    # The sample each kind's retained messages copy: one of median size.
    samples = {kind: sorted(found, key=len)[len(found) // 2] for kind, found in texts.items()}
    return [stock_sizes, product_sizes, info, live, head], samples


def synthetic(kind: str, sample: bytes, count: int) -> list[tuple[str, bytes]]:
    """``count`` retained messages like ``sample``, spread over two stores of a chain with their own SKUs."""
    fields = json.loads(sample)
    old_sku, old_store = fields["sku"], fields["store"]
    out = []
    for i in range(count):
        store = f"store-{i % 2:04d}"
        sku = f"{old_sku[:9]}-{i:06d}"  # the demo SKU's shape, 16 characters
        text = sample.replace(f'"sku":"{old_sku}"'.encode(), f'"sku":"{sku}"'.encode(), 1)
        out.append((f"aisle/v1/{store}/{kind}/{sku}", text.replace(old_store.encode(), store.encode(), 1)))
    return out


def rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class SysReader:
    """The broker's own counters ($SYS), refreshed every second."""

    def __init__(self, port: int) -> None:
        self.values: dict[str, str] = {}
        self.changed = threading.Condition()
        self.client = MqttClient(BrokerUrl("127.0.0.1", port), f"capacity-sys-{time.monotonic_ns()}")
        self.client.subscribe("$SYS/broker/#", self._take, qos=0)

    def _take(self, message: Message) -> None:
        with self.changed:
            self.values[message.topic.removeprefix("$SYS/broker/")] = message.payload.decode()
            self.changed.notify_all()

    def wait(self, key: str, minimum: int, timeout: float = 30.0) -> int:
        """Wait until counter ``key`` reaches ``minimum``; return its value."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while int(self.values.get(key, "-1")) < minimum:
                if not self.changed.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"$SYS/broker/{key} stayed at {self.values.get(key)}")
            return int(self.values[key])

    def settled(self, key: str, quiet: float = 3.0) -> int:
        """The value of ``key`` once it has not changed for ``quiet`` seconds (the broker reports only changes)."""
        while True:
            with self.changed:
                before = self.values.get(key)
            time.sleep(quiet)
            with self.changed:
                if self.values.get(key) == before:
                    return int(before or 0)

    def fresh(self, key: str) -> int:
        """The next value the broker reports for ``key`` (not one from before the caller's last action)."""
        with self.changed:
            self.values.pop(key, None)
        return self.wait(key, 0)


def publish_all(port: int, messages: list[tuple[str, bytes]], qos: int = 0) -> None:
    """Publish retained messages on one connection and return once the broker has read them all.

    At QoS 0 a last QoS 1 message's PUBACK says so (a connection's packets are handled in order); at QoS 1, as the
    backend publishes stock, every PUBACK is awaited (4 bytes each).
    """
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(_packet(0x10, _text("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _text("capacity-pub")))
    if sock.recv(4)[:1] != b"\x20":
        raise RuntimeError("no CONNACK")
    acks = bytearray()
    drain = threading.Thread(target=_read_into, args=(sock, acks, 4 * len(messages) if qos else 4), daemon=True)
    drain.start()
    batch = bytearray()
    for i, (topic, payload) in enumerate(messages):
        packet_id = struct.pack("!H", i % 65535 + 1) if qos else b""
        batch += _packet(0x31 | qos << 1, _text(topic) + packet_id + payload)  # PUBLISH, retain
        if len(batch) > 1 << 20:
            sock.sendall(batch)
            batch.clear()
    if not qos:
        batch += _packet(0x32, _text("capacity/done") + struct.pack("!H", 1) + b"x")
    sock.sendall(batch)
    drain.join(300)
    sock.close()
    if drain.is_alive():
        raise RuntimeError(f"only {len(acks) // 4} PUBACKs")


def _read_into(sock: socket.socket, sink: bytearray, size: int) -> None:
    while len(sink) < size:
        data = sock.recv(65536)
        if not data:
            return
        sink += data


class Broker:
    """A Mosquitto on a free loopback port with a minimal configuration and a persistence file saved only on exit."""

    def __init__(self, workdir: Path, extra: str = "") -> None:
        self.port, self.workdir, self.extra, self.proc = free_port(), workdir, extra, None
        self.conf = workdir / "mosquitto.conf"

    def start(self) -> float:
        """Start; return the seconds until it listened (it loads its persistence file first)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Started as root, Mosquitto drops to its own user, which must reach in and write its persistence file.
        self.workdir.parent.chmod(0o755)
        self.workdir.chmod(0o777)
        # No autosave: the file is written once, on exit, so a run is not an autosave benchmark.
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {self.workdir}/\nautosave_interval 0\nsys_interval 1\n"
                             "log_dest stderr\nlog_type error\n" + self.extra)
        started = time.monotonic()
        with (self.workdir / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen([find_mosquitto() or "mosquitto", "-c", str(self.conf)], stdout=log,
                                         stderr=subprocess.STDOUT)
        if not wait_for_port("127.0.0.1", self.port, 60, connect_timeout=0.05):
            raise RuntimeError(f"mosquitto did not start; see {self.workdir / 'mosquitto.log'}")
        return time.monotonic() - started

    def stop(self) -> float:
        """SIGTERM (it saves its persistence file); return the seconds it took."""
        started = time.monotonic()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return time.monotonic() - started

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def counters(self) -> SysReader:
        """A connected reader of this broker's $SYS counters."""
        reader = SysReader(self.port)
        reader.client.connect()
        return reader


def retained_memory(kind: str, messages: list[tuple[str, bytes]], workdir: Path) -> str:
    """Retain ``messages`` in a fresh broker; report memory, CPU and persistence per message, and reload time."""
    broker = Broker(workdir)
    broker.start()
    try:
        sys_reader = broker.counters()
        base_count = sys_reader.fresh("retained messages/count")
        base_heap, base_rss, base_cpu = sys_reader.fresh("heap/current"), rss_kib(broker.pid), cpu_seconds(broker.pid)
        publish_all(broker.port, messages)
        cpu = cpu_seconds(broker.pid) - base_cpu
        count = sys_reader.wait("retained messages/count", base_count + len(messages)) - base_count
        heap, rss = sys_reader.fresh("heap/current"), rss_kib(broker.pid)
        sys_reader.client.close()
        saved = broker.stop()
        reload = broker.start()
    finally:
        broker.stop()
    n = len(messages)
    mean_bytes = sum(len(t) + len(p) for t, p in messages) / n
    db_size = (workdir / "mosquitto.db").stat().st_size
    return (f"mosquitto {kind}: retained={count} topic+payload mean={mean_bytes:.0f} B; "
            f"RSS +{(rss - base_rss) / 1024:.1f} MiB = {(rss - base_rss) * 1024 / n:.0f} B/msg; "
            f"heap +{(heap - base_heap) / 2**20:.1f} MiB = {(heap - base_heap) / n:.0f} B/msg; broker CPU "
            f"{cpu * 1e6 / n:.1f} us/msg; persistence file {db_size / 2**20:.1f} MiB = {db_size / n:.0f} B/msg, "
            f"saved on exit in {saved:.1f} s, reloaded (start to listening) in {reload:.1f} s")


def bridge_resend(messages: list[tuple[str, bytes]], workdir: Path, inflight: int, wait: float = 30.0) -> str:
    """A store broker bridged to a central one: what the bridge sends again when the central broker restarts."""
    central = Broker(workdir / "central")
    # The design's bridge, in plain TCP on loopback; the out-queue as large as the generated store configuration's.
    store = Broker(workdir / "store", f"max_queued_messages 1000000\nmax_inflight_messages {inflight}\n"
                   f"connection capacity-central\naddress 127.0.0.1:{central.port}\n"
                   "remote_clientid bridge-store-0000\ncleansession false\ntry_private true\n"
                   "bridge_protocol_version mqttv311\nrestart_timeout 1\nnotifications false\n"
                   "topic aisle/v1/store-0000/stock/+ out 1\n")
    central.start()
    store.start()
    n = len(messages)
    try:
        reader = central.counters()
        base = reader.fresh("retained messages/count")
        started = time.monotonic()
        publish_all(store.port, messages, qos=1)
        reader.wait("retained messages/count", base + n, timeout=120)
        first = time.monotonic() - started
        reader.client.close()
        central.stop()
        started = time.monotonic()
        central.start()
        reader = central.counters()
        # The central broker loaded every message from its file, yet a reconnecting bridge sends them all again.
        try:
            reader.wait("messages/received", n, timeout=wait)
            again = f"the first {n} within {time.monotonic() - started:.1f} s of the restart"
        except TimeoutError:
            again = f"fewer than {n} within {wait:.0f} s of the restart"
        received, wire = reader.settled("messages/received"), reader.settled("bytes/received")
        reader.client.close()
    finally:
        store.stop()
        central.stop()
    return (f"bridge (max_inflight_messages {inflight}): {n} retained QoS 1 stock messages of one store crossed it "
            f"in {first:.1f} s; after a central restart it sent {received} packets ({received / n:.2f} per message, "
            f"{wire / n:.0f} B per message on the wire, MQTT without TLS), {again}")


def mirror_cost(sample: bytes, levels: int = 200_000) -> str:
    """RSS and CPU per level of a store backend's in-memory nearby mirror (backend/chain/mirror.py)."""
    from backend.chain.mirror import NearbyMirror
    from mqtt.client import Message

    messages = [Message(topic, payload, 1, True) for topic, payload in synthetic("stock", sample, levels)
                if "/store-0000/" not in topic]
    gc.collect()
    before = rss_kib(os.getpid())
    mirror = NearbyMirror("store-0000")
    started = time.process_time()
    for message in messages:
        mirror.on_stock(message)
    cpu = time.process_time() - started
    gc.collect()
    grown = rss_kib(os.getpid()) - before
    return (f"nearby mirror: {mirror.size()} levels held, {1024 * grown / max(1, mirror.size()):.0f} B RSS and "
            f"{1e6 * cpu / max(1, len(messages)):.1f} us CPU per level")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="retained messages per kind (default 100,000)")
    parser.add_argument("--bridge-skus", type=int, default=50_000, help="one store's stock sent over a bridge")
    parser.add_argument("--no-broker", action="store_true", help="payload sizes only")
    args = parser.parse_args()
    print(f"Machine: {machine()}; mosquitto {find_mosquitto()}")
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        db = Database(Path(tmp) / "demo.db")
        load_demo(db)
        sizes, samples = payload_sizes(db)
        db.close()
        for size in sizes:
            print(size.line())
        print(mirror_cost(samples["stock"]), flush=True)
        if args.no_broker:
            return 0
        for kind, sample in (("stock", samples["stock"]), ("catalog", samples["product"])):
            print(retained_memory(kind, synthetic(kind, sample, args.count), Path(tmp) / kind), flush=True)
        one_store = [m for m in synthetic("stock", samples["stock"], 2 * args.bridge_skus) if "/store-0000/" in m[0]]
        for inflight in (20, 0):  # Mosquitto's default, and no limit
            print(bridge_resend(one_store, Path(tmp) / f"bridge-{inflight}", inflight), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
