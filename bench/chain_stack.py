"""Store stacks, a central broker, HQ and cuttable WAN links on one machine, from the generated configurations.

Used by ``bench/chain.py`` and by the chain's end-to-end tests: every part runs as it would in a store (its own
Mosquitto from ``broker-config --bridge``, its own ``backend serve --store`` process and SQLite file), and each
store's bridge reaches the centre through a TCP relay that can cut the link the way a WAN outage does.
"""

from __future__ import annotations

import csv
import logging
import math
import subprocess
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import assets
from backend import roles
from backend.bridge_config import load_bridge
from backend.broker_config import write_config
from backend.central_config import write_central_config
from backend.db import Database
from backend.importer import import_file
from bench.common import ProcessGroup
from codes.catalog_csv import INVENTORY_COLUMNS, read_rows
from mqtt.brokers import find_mosquitto, free_port, wait_for_port
from mqtt.client import MqttClient
from mqtt.rpc import RpcClient
from mqtt.url import BrokerUrl
from tests.reliability.proxy import CuttableProxy  # the tests' cuttable link, one copy for both

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEMO = assets.path("demo")


def start_mosquitto(conf: Path, port: int, log_path: Path, group: ProcessGroup) -> subprocess.Popen[Any]:
    with log_path.open("ab") as sink:
        proc = group.spawn([find_mosquitto() or "mosquitto", "-c", str(conf)], stdout=sink, stderr=subprocess.STDOUT)
    if not wait_for_port("127.0.0.1", port, 20) or proc.poll() is not None:
        raise RuntimeError(f"mosquitto did not start; see {log_path}")
    return proc


def open_dirs(path: Path) -> None:
    for folder in (path, *path.parents):  # Mosquitto started as root drops to its own user and must reach in
        if folder in (Path("/tmp"), Path("/")):
            break
        folder.chmod(0o755)


def chain_data(workdir: Path, stores: list[str]) -> dict[str, Path]:
    """The chain's CSV files: N stores around Stockholm, the demo products, a price and stock for each everywhere."""
    workdir.mkdir(parents=True, exist_ok=True)
    demo_prices = {row["sku"]: row["price"] for _, row in read_rows(DEMO / "inventory.csv", INVENTORY_COLUMNS)
                   if row["store"] == "sthlm-city"}
    paths = {"stores": workdir / "stores.csv", "products": DEMO / "products.csv",
             "inventory": workdir / "inventory.csv"}
    with paths["stores"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "name", "kind", "currency", "locale", "locales", "lat", "lon", "address"])
        for i, store in enumerate(stores):
            angle = 2 * math.pi * i / max(1, len(stores))
            writer.writerow([store, f"Aisle {store}", "store", "SEK", "sv_SE", "sv en", round(59.33 + 0.05 *
                             math.sin(angle), 5), round(18.06 + 0.1 * math.cos(angle), 5), ""])
    with paths["inventory"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["store", "sku", "price", "shelf_location", "shelf", "backroom", "warehouse",
                         "reorder_threshold"])
        for store in stores:
            for sku, price in demo_prices.items():
                writer.writerow([store, sku, price, "", 50, 20, 0, 5])
    return paths


def load_csv(db: Database, paths: list[Path], only_store: str | None = None) -> None:
    """Import CSV files (for one store: only its rows of the stores and inventory files)."""
    for path in paths:
        if only_store is not None and path.name in ("stores.csv", "inventory.csv"):
            lines = path.read_text().splitlines()
            picked = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] == only_store]
            path = path.with_name(f"{only_store}-{path.name}")
            path.write_text("\n".join(picked) + "\n")
        report = import_file(db, path, progress=False)
        if report.errors:
            raise RuntimeError(f"{path}: {report.errors[:3]}")


class Central:
    """The chain's central Mosquitto from ``central-config``, and HQ's process on it."""

    def __init__(self, workdir: Path, stores: list[str], group: ProcessGroup) -> None:
        self.dir = workdir / "central"
        self.stores = stores
        self.group = group
        self.port = free_port()
        self.proc: subprocess.Popen[Any] | None = None
        self.hq: subprocess.Popen[Any] | None = None
        self.hq_db = workdir / "hq.db"

    def configure(self) -> Central:
        """Write the central broker's files."""
        self.dir.mkdir(parents=True, exist_ok=True)
        open_dirs(self.dir)
        write_central_config(self.dir, self.stores, hosts=["localhost", "127.0.0.1"], port=self.port)
        return self

    def start(self) -> Central:
        """Start (or restart, same files and persistence) the central broker."""
        self.proc = start_mosquitto(self.dir / "mosquitto.conf", self.port, self.dir / "mosquitto.log", self.group)
        return self

    def stop(self) -> None:
        """Stop the central broker (its persistence is kept)."""
        if self.proc is not None:
            self.group.stop([self.proc])
            self.proc = None

    @property
    def address(self) -> str:
        """The central broker's URL for HQ (TLS with the central CA)."""
        return f"mqtts://127.0.0.1:{self.port}?ca={self.dir / 'ca.crt'}"

    def start_hq(self, data: dict[str, Path]) -> None:
        """Load the chain's catalogue into HQ's database and start ``hq serve``."""
        db = Database(self.hq_db)
        try:
            load_csv(db, [data["stores"], data["products"], data["inventory"]])
            from backend.chain.hq_entries import stage
            stage(db)
        finally:
            db.close()
        self.hq = _start_backend_process(self.group, ["hq", "serve", "--db", str(self.hq_db), "--broker",
                                                      self.address, "--logins", str(self.dir / "logins.csv")],
                                         self.dir / "hq.log", b"HQ ready")


def _start_backend_process(group: ProcessGroup, args: list[str], log_path: Path, ready: bytes,
                           timeout: float = 90.0) -> subprocess.Popen[Any]:
    with log_path.open("ab") as sink:
        start = log_path.stat().st_size
        proc = group.spawn([sys.executable, "-m", "backend", *args], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while ready not in log_path.read_bytes()[start:]:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{args[0]} did not start: {log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return proc


class StoreStack:
    """One store: its Mosquitto (bridged to the centre through a relay) and its backend process."""

    def __init__(self, workdir: Path, store: str, central: Central, nearby: list[str], group: ProcessGroup) -> None:
        self.store = store
        self.dir = workdir / store
        self.central = central
        self.nearby = nearby
        self.group = group
        self.port = free_port()
        self.relay = CuttableProxy(central.port, refuse_when_cut=True)  # the store's WAN link
        self.db_path = self.dir / "store.db"
        self.broker: subprocess.Popen[Any] | None = None
        self.backend: subprocess.Popen[Any] | None = None
        self.logins: dict[str, Any] = {}
        self._clients: list[tuple[MqttClient, RpcClient | None]] = []

    def configure(self, data: dict[str, Path]) -> StoreStack:
        """Write the store's broker set-up (bridge to the relay) and seed its database with its own rows."""
        self.dir.mkdir(parents=True, exist_ok=True)
        open_dirs(self.dir)
        bridge = load_bridge(self.store, f"mqtts://127.0.0.1:{self.relay.port}", self.central.dir / "logins.csv",
                             self.central.dir / "ca.crt", self.nearby)
        logins = write_config(self.dir, self.store, 2, 1, hosts=["localhost", "127.0.0.1"], port=self.port,
                              bridge=bridge)
        self.logins = {login.role: login for login in reversed(logins)}  # the first login of each role
        db = Database(self.db_path)
        try:
            load_csv(db, [data["stores"], data["products"], data["inventory"]], only_store=self.store)
            for login in logins:
                roles.register(db, login.device, login.store, login.role)
        finally:
            db.close()
        return self

    @property
    def url(self) -> BrokerUrl:
        """The store broker's address without a login."""
        return BrokerUrl("127.0.0.1", self.port, tls=True, ca_file=str(self.dir / "ca.crt"))

    def start(self) -> StoreStack:
        """Start the relay, the store's broker and its backend."""
        self.broker = start_mosquitto(self.dir / "mosquitto.conf", self.port, self.dir / "mosquitto.log",
                                       self.group)
        self.start_backend()
        return self

    def start_backend(self) -> None:
        """Start (or restart) ``backend serve --store``."""
        address = f"mqtts://127.0.0.1:{self.port}?ca={self.dir / 'ca.crt'}"
        self.backend = _start_backend_process(self.group, ["serve", "--store", self.store, "--db", str(self.db_path),
                                                           "--broker", address, "--credentials",
                                                           str(self.dir / "devices.csv")],
                                              self.dir / "backend.log", b"backend ready")

    def stop_backend(self) -> None:
        """Stop the store's backend process."""
        if self.backend is not None:
            self.group.stop([self.backend])
            self.backend = None

    def client(self, role: str = "admin") -> tuple[MqttClient, RpcClient]:
        """A connected client of this store under the first login of ``role``, with an RPC client."""
        login = self.logins[role]
        client = MqttClient(replace(self.url, username=login.device, password=login.password), login.device)
        client.connect(20)
        rpc = RpcClient(client, self.store, login.device)
        self._clients.append((client, rpc))
        return client, rpc

    def close(self) -> None:
        """Close the clients and the WAN link (the processes belong to the group)."""
        self.close_clients()
        self.relay.close()

    def close_clients(self) -> None:
        """Close every client opened with ``client``."""
        for client, rpc in self._clients:
            if rpc is not None:
                rpc.close()
            client.close()
        self._clients.clear()


def hq_prices(hq_db: Path, store: str) -> dict[str, Decimal]:
    """HQ's price of every product in one store (read-only)."""
    db = Database(hq_db)
    try:
        with db.lock:
            return {sku: Decimal(price) for sku, price in db.conn.execute(
                "SELECT sku, price FROM store_products WHERE store = ?", [store])}
    finally:
        db.close()
