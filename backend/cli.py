"""Command line of the backend: serve, stock adjust/show, import-catalog, policy show, and the set-up commands."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from backend import central_cli, phones_cli, provision_cli, recalls_cli
from backend.chain import cli as chain_cli
from backend.db import Database
from backend.logins import LoginsError, backend_urls, read_logins, tool_url
from backend.policy import PolicyError, StorePolicy, load_policy, show
from mqtt.brokers import BrokerError, EmbeddedBroker
from mqtt.client import ConnectError, MqttClient
from mqtt.rpc import RemoteError, RpcClient, RpcTimeout
from mqtt.url import EMBEDDED, BrokerUrl, BrokerUrlError, parse_broker_url

log = logging.getLogger("backend")

DEFAULT_DB = "var/backend.db"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m backend``."""
    parser = argparse.ArgumentParser(prog="python -m backend", description="Aisle store backend")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the backend service")
    serve.add_argument("--broker", default=EMBEDDED, help="mqtt://host:port, mqtts://host:port or 'embedded'")
    serve.add_argument("--db", default=DEFAULT_DB, type=Path, help="SQLite database file")
    serve.add_argument("--demo", action="store_true", help="load the demo stores and products on first start")
    serve.add_argument("--embedded-port", type=int, default=1883, help="port of the embedded broker")
    serve.add_argument("--credentials", type=Path, help="devices.csv from broker-config: the backend's logins "
                       "(rows of role backend) are taken from it; the broker URL then carries no user")
    serve.add_argument("--policy", type=Path, help="store policy file (TOML): request limits, hold caps, payment "
                       "deadline, retention, shopper reports; see `policy show`")
    serve.add_argument("--no-group-commit", action="store_true", help="commit every stock change and order on "
                       "its own (one fsync each), as before group commit: for comparing, not for stores")
    serve.add_argument("--store", help="serve as this store of a chain: publish only its state, mirror the nearby "
                       "stores' stock and apply HQ's catalogue, all over the store broker's bridge")

    policy = sub.add_parser("policy", help="the store policy in force")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    policy_show = policy_sub.add_parser("show", help="print the policy in force (the defaults, or FILE's values "
                                        "over them) as a policy file")
    policy_show.add_argument("--policy", type=Path, help="store policy file (TOML)")

    stock = sub.add_parser("stock", help="stock operations through the running service")
    stock_sub = stock.add_subparsers(dest="stock_command", required=True)
    adjust = stock_sub.add_parser("adjust", help="add or remove units")
    _client_args(adjust)
    adjust.add_argument("--sku", required=True)
    adjust.add_argument("--delta", required=True, type=int, help="units to add (negative to remove)")
    adjust.add_argument("--reason", required=True, help="why, written to the stock ledger")
    adjust.add_argument("--location", default="shelf", choices=["shelf", "backroom", "warehouse"])
    show = stock_sub.add_parser("show", help="print the current stock of a product")
    _client_args(show)
    show.add_argument("--sku", required=True)
    near = stock_sub.add_parser("nearby", help="print a product's stock in the chain's other stores, as the store's "
                                "backend knows it (live, or last known at ...)")
    _client_args(near)
    near.add_argument("--sku", required=True)
    product = stock_sub.add_parser("product", help="print a product's catalogue entry (price) as the store's devices "
                                   "get it")
    _client_args(product)
    product.add_argument("--sku", required=True)

    broker = sub.add_parser("broker-config", help="write a production Mosquitto configuration for one store")
    broker.add_argument("--out", required=True, type=Path)
    broker.add_argument("--store", required=True)
    broker.add_argument("--devices", type=int, default=4, help="shopper kiosks to create logins for")
    broker.add_argument("--staff", type=int, default=2, help="staff phones to create logins for")
    broker.add_argument("--host", action="append", help="broker host name or address for the certificate "
                        "(repeatable; default localhost and 127.0.0.1)")
    broker.add_argument("--port", type=int, default=8883)
    broker.add_argument("--db", type=Path, help="backend database to register the devices' roles in")
    broker.add_argument("--bridge", metavar="mqtts://HOST:PORT", help="also bridge this store to the chain's "
                        "central broker (written by central-config; needs --bridge-logins and --bridge-ca)")
    broker.add_argument("--bridge-logins", type=Path, metavar="CENTRAL_DIR/logins.csv",
                        help="central-config's logins.csv: the store's bridge login is taken from it")
    broker.add_argument("--bridge-ca", type=Path, metavar="CENTRAL_DIR/ca.crt",
                        help="the central broker's CA certificate (copied beside the store's files)")
    broker.add_argument("--nearby", default="", metavar="B,C", help="stores whose stock and details the bridge "
                        "brings into this store (comma-separated; none unless given)")
    central_cli.add_parser(sub)
    chain_cli.add_parsers(sub)
    recalls_cli.add_parsers(sub)

    devices = sub.add_parser("devices", help="device roles")
    devices_sub = devices.add_subparsers(dest="devices_command", required=True)
    add = devices_sub.add_parser("add", help="give a device a role")
    add.add_argument("--db", default=DEFAULT_DB, type=Path)
    add.add_argument("--device", required=True)
    add.add_argument("--store", required=True)
    add.add_argument("--role", required=True, choices=["kiosk", "phone", "web", "staff", "admin"])
    provision_cli.add_parsers(devices_sub)
    phones_cli.add_parsers(devices_sub)

    report = sub.add_parser("report", help="reports from the backend database")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    alerts_report = report_sub.add_parser("alerts", help="time to claim and resolve restock alerts")
    alerts_report.add_argument("--db", default=DEFAULT_DB, type=Path)
    alerts_report.add_argument("--days", type=int, default=14)
    alerts_report.add_argument("--chart", type=Path, default=Path("alerts-report.png"), help="PNG to write")

    imp = sub.add_parser("import-catalog", help="import a stores, catalogue, inventory or Shopify CSV file")
    imp.add_argument("--db", default=DEFAULT_DB, type=Path)
    imp.add_argument("--store", help="store that a Shopify file's prices and stock belong to")
    imp.add_argument("--locale", default="en", help="language of a Shopify file's titles")
    imp.add_argument("files", nargs="+", type=Path)
    return parser


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", default=DEFAULT_BROKER)
    parser.add_argument("--store", required=True)
    parser.add_argument("--device", default="admin-cli", help="device id the request is sent as")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--credentials", type=Path, help="devices.csv from broker-config: connect with the store's "
                        "admin login (the broker URL then carries no user)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "stock":
            return stock_command(args)
        if args.command == "report":
            return report_command(args)
        if args.command == "broker-config":
            return broker_config_command(args)
        if recalls_cli.handles(args):
            return recalls_cli.run(args)
        if chain_cli.handles(args):
            return chain_cli.run(args)
        if args.command == "central-config":
            return central_cli.run(args)
        if args.command == "devices":
            return devices_command(args)
        if args.command == "policy":
            print(show(load_policy(args.policy) if args.policy else StorePolicy()), end="")
            return 0
        return import_command(args)
    except (BrokerUrlError, ConnectError, BrokerError, LoginsError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def serve(args: argparse.Namespace) -> int:
    """Run the service until SIGINT/SIGTERM."""
    from backend.demo import load_demo
    from backend.service import BackendService

    policy = load_policy(args.policy) if args.policy else StorePolicy()  # a bad file stops here, before anything
    if args.policy:
        log.info("store policy from %s", args.policy)
    broker = None
    if args.broker == EMBEDDED:
        broker = EmbeddedBroker("127.0.0.1", args.embedded_port).start()
        url: BrokerUrl = broker.url
        log.info("embedded broker listening on %s", url)
    else:
        url = parse_broker_url(args.broker)
    connections = {}
    if args.credentials:
        urls = backend_urls(url, read_logins(args.credentials))
        url = urls.main
        connections = {"backend_id": urls.backend_id, "state_url": urls.state, "admin_url": urls.admin}
    db = Database(args.db)
    if args.demo:
        load_demo(db)
    service = BackendService(db, url, limits=policy.holds, retention=policy.retention,
                             request_limits=policy.requests, reports=policy.reports, site=args.store,
                             group_commit=not args.no_group_commit, **connections)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        service.start()
        print(f"backend ready on {url} (database {args.db}); Ctrl-C to stop", file=sys.stderr, flush=True)
        stop.wait()
    finally:
        service.stop()
        db.close()
        if broker is not None:
            broker.stop()
    return 0


def stock_command(args: argparse.Namespace) -> int:
    """Send a stock request to the running service and print the answer."""
    url = parse_broker_url(args.broker)
    device, client_id = args.device, f"{args.device}-{secrets.token_hex(4)}"
    if args.credentials:
        # The broker names the connection after its login: that login is the device the request comes from.
        device, url = tool_url(url, read_logins(args.credentials), args.store)
        client_id = device
    client = MqttClient(url, client_id)
    client.connect(args.timeout)
    rpc = RpcClient(client, args.store, device)
    try:
        if args.stock_command == "adjust":
            result = rpc.call("stock.adjust", {"sku": args.sku, "delta": args.delta, "reason": args.reason,
                                               "location": args.location}, timeout=args.timeout)
        else:
            op = {"show": "stock.get", "nearby": "stock.nearby", "product": "catalog.get"}[args.stock_command]
            result = rpc.call(op, {"sku": args.sku}, timeout=args.timeout)
    except RemoteError as exc:
        print(f"error: {exc.message} ({exc.code.value})", file=sys.stderr)
        return 1
    except RpcTimeout as exc:
        print(f"error: {exc}; is `python -m backend serve` running on {url}?", file=sys.stderr)
        return 3
    finally:
        rpc.close()
        client.close()
    key = {"nearby": "stores", "product": "product"}.get(args.stock_command, "stock")
    print(json.dumps(result[key], ensure_ascii=False, indent=2 if key == "stores" else None))
    return 0


def broker_config_command(args: argparse.Namespace) -> int:
    """Write the broker set-up and, if asked, register the devices' roles."""
    from backend import roles
    from backend.broker_config import BrokerConfigError, write_config

    if args.devices < 0 or args.staff < 0:
        print("error: --devices and --staff must not be negative", file=sys.stderr)
        return 1
    try:
        bridge = central_cli.bridge_from_args(args)  # read and checked before anything is written
        logins = write_config(args.out, args.store, args.devices, args.staff,
                              hosts=args.host or ["localhost", "127.0.0.1"], port=args.port, bridge=bridge)
    except (BrokerConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.db:
        db = Database(args.db)
        try:
            for login in logins:
                roles.register(db, login.device, login.store, login.role)
        finally:
            db.close()
    print(f"wrote {args.out}/mosquitto.conf, acl, passwd, ca.crt, server.crt and devices.csv "
          f"({len(logins)} logins; devices.csv holds the passwords: hand them out, then delete it)")
    if bridge is not None:
        print(f"bridged to {bridge.host}:{bridge.port} as {bridge.login} (central CA copied; mosquitto.conf "
              "holds the bridge password and is readable by its owner only)")
    print(f"run: mosquitto -c {args.out.resolve()}/mosquitto.conf")
    return 0


def devices_command(args: argparse.Namespace) -> int:
    """Register a device's role, or provision a device, set the staff PIN, issue or revoke badges."""
    from backend import roles

    if provision_cli.handles(args):
        return provision_cli.run(args)
    if phones_cli.handles(args):
        return phones_cli.run(args)
    db = Database(args.db)
    try:
        roles.register(db, args.device, args.store, args.role)
    finally:
        db.close()
    print(f"{args.device} is now {args.role} in {args.store}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    """Print the alerts report and write its chart."""
    from backend.report import alert_rows, format_table, write_chart

    if not args.db.exists():
        print(f"error: no database at {args.db}", file=sys.stderr)
        return 1
    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 1
    if importlib.util.find_spec("matplotlib") is None:  # the [report] extra; a backend-only install lacks it
        print("error: the chart needs matplotlib: pip install 'aisle[report]'", file=sys.stderr)
        return 1
    db = Database(args.db)
    try:
        per_day, per_category = alert_rows(db, args.days)
    finally:
        db.close()
    print(format_table("Per day", per_day))
    print()
    print(format_table("Per category", per_category))
    write_chart(args.chart, per_day, per_category, args.days)
    print(f"\nchart written to {args.chart}")
    return 0


def import_command(args: argparse.Namespace) -> int:
    """Import CSV files into the database; exit 1 when any row was rejected."""
    from backend.import_cli import import_files

    db = Database(args.db)
    try:
        return import_files(db, args.files, stores=[args.store], locale=args.locale)
    finally:
        db.close()
