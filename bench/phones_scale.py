"""Benchmark: shopper phone logins in Mosquitto's dynamic security plugin as their number grows (issue 17).

Every registered phone is a client and a role in the plugin, which keeps them in one JSON file and rewrites that
file on every change. This measures, on the generated production broker, what a registration (createRole +
createClient, as backend/phones.py sends them), a revocation (disableClient) and a phone's TLS login cost with
N phones already there, and how large the file is.

    .venv/bin/python -m bench.phones_scale                       # up to 5,000 phones, a row every 1,000
    .venv/bin/python -m bench.phones_scale --phones 2000 --step 500
"""

from __future__ import annotations

import argparse
import logging
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from backend.broker_config import ADMIN_USER
from backend.dynsec import DynsecAdmin
from backend.phones import phone_acls
from bench.common import ProductionBroker, run_header
from mqtt.client import MqttClient
from mqtt.enrolment import PHONE_PREFIX

STORE = "bench-store"
SAMPLES = 20  # registrations, revocations and logins timed at each size


def register_commands(login: str, password: str) -> list[dict[str, object]]:
    """What the backend sends to register one phone (backend/phones.py)."""
    return [{"command": "createRole", "rolename": login, "acls": phone_acls(STORE, login)},
            {"command": "createClient", "username": login, "password": password, "roles": [{"rolename": login}]}]


def main() -> int:
    """Grow the plugin's phones in steps and time the three operations at each size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=5000, help="phones registered by the end (default 5000)")
    parser.add_argument("--step", type=int, default=1000, help="phones between measured rows (default 1000)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = datetime.now(UTC)
    rows = []
    with tempfile.TemporaryDirectory(prefix="aisle-phones-") as tmp:
        broker = ProductionBroker(Path(tmp) / "broker", STORE, kiosks=1).start()
        admin_login = next(login for login in broker.logins if login.device == ADMIN_USER)
        client = MqttClient(broker.url_for(admin_login), ADMIN_USER)
        try:
            client.connect(10)
            admin = DynsecAdmin(client, timeout=60)
            assert admin.wait_ready(10)
            admin.secure_defaults()
            dynsec_file = next(Path(tmp).rglob("dynamic-security.json"))
            count, made = 0, []
            while True:
                # Time a few registrations, revocations and logins at this size, then grow to the next one.
                reg, rev, logins = [], [], []
                for _ in range(SAMPLES):
                    login, password = f"{PHONE_PREFIX}{secrets.token_hex(10)}", secrets.token_urlsafe(24)
                    t = time.perf_counter()
                    admin.run(*register_commands(login, password))
                    reg.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    phone = MqttClient(broker.url_for_password(login, password), login)
                    phone.connect(10)
                    logins.append(time.perf_counter() - t)
                    phone.close(1)
                    t = time.perf_counter()
                    admin.run({"command": "disableClient", "username": login})
                    rev.append(time.perf_counter() - t)
                count += SAMPLES
                rows.append((count - SAMPLES, statistics.median(reg) * 1000, max(reg) * 1000,
                             statistics.median(rev) * 1000, statistics.median(logins) * 1000,
                             dynsec_file.stat().st_size / 1024))
                print(f"{rows[-1][0]:>6} phones: register {rows[-1][1]:.1f} ms, revoke {rows[-1][3]:.1f} ms, "
                      f"login {rows[-1][4]:.1f} ms, file {rows[-1][5]:.0f} KiB", file=sys.stderr, flush=True)
                if count >= args.phones:
                    break
                target = min(args.phones, count + args.step) - SAMPLES
                t = time.perf_counter()
                batch = []
                while count < target:
                    login = f"{PHONE_PREFIX}{secrets.token_hex(10)}"
                    batch += register_commands(login, secrets.token_urlsafe(24))
                    made.append(login)
                    count += 1
                    if len(batch) >= 20 or count >= target:  # 10 phones: ~20 KB, under max_packet_size
                        admin.run(*batch)
                        batch = []
                print(f"  grew to {count} in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        finally:
            client.close()
            broker.close()
    print("\n" + run_header("phones_scale", started) + f"; median of {SAMPLES} of each at every size.\n")
    print("| phones already registered | register ms (median / max) | revoke ms | phone TLS login ms | "
          "dynamic-security.json KiB |")
    print("|---:|---|---:|---:|---:|")
    for n, reg, reg_max, rev, login, size in rows:
        print(f"| {n:,} | {reg:.1f} / {reg_max:.1f} | {rev:.1f} | {login:.1f} | {size:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
