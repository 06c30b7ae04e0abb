"""Probe: does a store broker keep serving its own clients while its TLS bridge cannot reach the centre?

A store broker from ``broker-config --bridge`` is started with its bridge pointed at a centre that fails in one of
four ways; a client of the store publishes and receives its own message every 0.2 s, and the worst round trip over
the run is printed per kind of outage. With Mosquitto 2.0.11 the *closing* outage (the peer accepts TCP, then closes
during the TLS handshake, as a load balancer without a healthy node does) stops the store broker for good.

    .venv/bin/python -m bench.bridge_probe                  # all four, 40 s each
    .venv/bin/python -m bench.bridge_probe --only closing --seconds 10
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from backend.bridge_config import load_bridge
from backend.broker_config import write_config
from bench.chain_stack import Central, open_dirs, start_mosquitto
from bench.common import ProcessGroup, run_header
from mqtt.brokers import free_port
from mqtt.client import ConnectError, MqttClient
from mqtt.url import BrokerUrl

OUTAGES = {
    "refused": "nothing listens at the centre's address",
    "unroutable": "the address does not answer at all (packets dropped)",
    "silent": "the peer accepts TCP and never says a word",
    "closing": "the peer accepts TCP and closes it at once (a load balancer with no healthy node)",
}


def fake_centre(kind: str) -> tuple[str, int, list[socket.socket]]:
    """(host, port, sockets to close) of a centre failing as ``kind`` says."""
    if kind == "unroutable":
        return "10.255.255.1", 8883, []
    port = free_port()
    if kind == "refused":
        return "127.0.0.1", port, []
    server = socket.create_server(("127.0.0.1", port))
    held: list[socket.socket] = [server]

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if kind == "closing":
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return "127.0.0.1", port, held


def probe(kind: str, seconds: float, workdir: Path, group: ProcessGroup) -> float:
    """The worst round trip (s) a store client saw through ``seconds`` of one outage; inf if it never got one."""
    central = Central(workdir / kind, ["s01", "s02"], group).configure()
    host, port, held = fake_centre(kind)
    store_dir = workdir / kind / "s01"
    store_dir.mkdir(parents=True)
    open_dirs(store_dir)
    bridge = load_bridge("s01", f"mqtts://{host}:{port}", central.dir / "logins.csv", central.dir / "ca.crt",
                         ["s02"])
    store_port = free_port()
    logins = write_config(store_dir, "s01", 1, 0, hosts=["localhost", "127.0.0.1"], port=store_port, bridge=bridge)
    broker = start_mosquitto(store_dir / "mosquitto.conf", store_port, store_dir / "mosquitto.log", group)
    admin = next(login for login in logins if login.role == "admin")
    url = BrokerUrl("127.0.0.1", store_port, tls=True, ca_file=str(store_dir / "ca.crt"))
    client = MqttClient(replace(url, username=admin.device, password=admin.password), admin.device)
    worst = 0.0
    try:
        try:
            client.connect(20)
        except ConnectError:
            return float("inf")
        got = threading.Event()
        topic = f"aisle/v1/s01/device/{admin.device}/status"
        client.subscribe(topic, lambda _message: got.set(), qos=1)
        client.wait_subscribed(topic, 20)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            got.clear()
            started = time.monotonic()
            client.publish(topic, b"probe", qos=1)
            if not got.wait(max(1.0, end - time.monotonic())):
                return float("inf")
            worst = max(worst, time.monotonic() - started)
            time.sleep(0.2)
        return worst
    finally:
        client.close()
        group.stop([broker])
        for sock in held:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    """Run the probes and print one line per outage."""
    parser = argparse.ArgumentParser(prog="python -m bench.bridge_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(OUTAGES), action="append", help="outage(s) to probe")
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args(argv)
    print(run_header("bridge_probe", datetime.now(UTC)))
    group = ProcessGroup()
    workdir = Path(tempfile.mkdtemp(prefix="aisle-bridge-probe-"))
    stuck = 0
    try:
        for kind in args.only or list(OUTAGES):
            worst = probe(kind, args.seconds, workdir, group)
            stuck += worst == float("inf")
            shown = "NO ANSWER: the store broker stopped serving" if worst == float("inf") else f"{1000 * worst:.0f} ms"
            print(f"{kind:<10} ({OUTAGES[kind]}): worst store round trip over {args.seconds:g} s: {shown}")
    finally:
        group.stop()
    return 1 if stuck else 0


if __name__ == "__main__":
    sys.exit(main())
