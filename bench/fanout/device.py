"""One full device client for bench.stock_fanout: MqttClient + StoreMirror in its own process.

Writes one line per accepted live stock update, ``<receive time ns> <sku> <seq>``, taken on the
client's dispatcher thread after StoreMirror validated the payload and checked its seq, and one
line ``rej <reason>`` per update the mirror refused. Prints ``ready`` once the retained stock of
the store has been mirrored; exits when stdin closes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from mqtt.client import MqttClient
from mqtt.mirror import StoreMirror
from mqtt.payloads import StockLevel
from mqtt.url import parse_broker_url

log = logging.getLogger(__name__)


class _RejectionLines(logging.Handler):
    """Turns the mirror's 'ignored ...' warnings into ``rej`` lines of the output file."""

    def __init__(self, out: TextIO, lock: threading.Lock) -> None:
        super().__init__(logging.WARNING)
        self.out = out
        self.lock = lock

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:
            self.out.write(f"rej {record.getMessage()[:200]}\n")
            self.out.flush()


def main() -> int:
    """Mirror one store until stdin closes, recording when each stock update was applied."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--expect", type=int, required=True, help="stock items of the store (readiness)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--nodelay", action="store_true", help="TCP_NODELAY on the MQTT socket")
    args = parser.parse_args()
    if args.nodelay:
        from bench.fanout.nodelay import patch_paho

        patch_paho()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    lock = threading.Lock()
    ready = threading.Event()
    with args.out.open("w") as out:
        logging.getLogger("mqtt.mirror").addHandler(_RejectionLines(out, lock))
        client = MqttClient(parse_broker_url(args.broker), f"bench-device-{int(time.time())}")
        mirror = StoreMirror(client, args.store)

        def applied(level: StockLevel) -> None:
            now = time.time_ns()
            if not ready.is_set():
                return  # the retained burst at subscription time is not a change
            with lock:
                out.write(f"{now} {level.sku} {level.seq}\n")
                out.flush()

        mirror.stock.listeners.append(applied)
        client.connect(10)
        deadline = time.monotonic() + 30
        while len(mirror.stock) < args.expect and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # let the tail of the retained burst through before recording
        ready.set()
        print("ready" if len(mirror.stock) >= args.expect else f"timeout {len(mirror.stock)}", flush=True)
        try:
            sys.stdin.read()  # the benchmark closes our stdin when it is done
        finally:
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
