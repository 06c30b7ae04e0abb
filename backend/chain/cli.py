"""``python -m backend hq ...`` (the chain's HQ) and ``python -m backend prices ...`` (a store's own prices)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from backend import catalog, roles
from backend.chain import apply, hq_entries
from backend.chain_logins import HQ_LOGIN, ChainLoginsError, find_login, read_logins
from backend.db import Database
from codes import ids
from mqtt.payloads import utcnow
from mqtt.url import BrokerUrl, parse_broker_url

log = logging.getLogger(__name__)

DEFAULT_HQ_DB = "var/hq.db"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``hq`` and ``prices`` commands to the backend's parser."""
    hq = sub.add_parser("hq", help="the chain's HQ: one catalogue and price lists for every store")
    hq_sub = hq.add_subparsers(dest="hq_command", required=True)
    serve = hq_sub.add_parser("serve", help="publish catalogue versions to the stores and answer their pulls")
    serve.add_argument("--db", default=DEFAULT_HQ_DB, type=Path)
    serve.add_argument("--broker", required=True, help="the central broker, mqtts://host:8883?ca=central/ca.crt")
    serve.add_argument("--logins", type=Path, help="logins.csv from central-config: HQ connects with its row")
    imp = hq_sub.add_parser("import", help="import stores, catalogue, prices (Aisle CSV) or a Shopify export, then "
                            "stage the changes for the stores (a running `hq serve` tells them)")
    imp.add_argument("--db", default=DEFAULT_HQ_DB, type=Path)
    imp.add_argument("--store", action="append", default=[], help="store(s) a Shopify file's prices go to "
                     "(repeat for a group of stores); Aisle inventory files name their stores per row")
    imp.add_argument("--locale", default="en", help="language of a Shopify file's titles")
    imp.add_argument("files", nargs="+", type=Path)
    status = hq_sub.add_parser("status", help="each store's newest catalogue version")
    status.add_argument("--db", default=DEFAULT_HQ_DB, type=Path)

    prices = sub.add_parser("prices", help="a chain store's own prices: overrides of HQ's, local products")
    prices_sub = prices.add_subparsers(dest="prices_command", required=True)
    for name, text in (("list", "products priced by this store, with HQ's price beside"),
                       ("override", "sell a product at this store's own price, whatever HQ sends"),
                       ("clear", "go back to HQ's price")):
        cmd = prices_sub.add_parser(name, help=text)
        cmd.add_argument("--db", required=True, type=Path)
        cmd.add_argument("--store", required=True)
        if name != "list":
            cmd.add_argument("--sku", required=True)
        if name == "override":
            cmd.add_argument("--price", required=True, help="decimal amount in the store's currency, e.g. 12.90")


def handles(args: argparse.Namespace) -> bool:
    """Whether ``run`` handles this command."""
    return args.command in ("hq", "prices")


def run(args: argparse.Namespace) -> int:
    """Run an ``hq`` or ``prices`` command; returns the exit code."""
    try:
        if args.command == "hq":
            return {"serve": _serve, "import": _import, "status": _status}[args.hq_command](args)
        return _prices(args)
    except (ChainLoginsError, catalog.NotFound, apply.ChainApplyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def hq_url(url: BrokerUrl, logins: Path | None) -> BrokerUrl:
    """The central broker's address with HQ's login from ``logins`` (when given)."""
    if logins is None:
        return url
    row = find_login(read_logins(logins), HQ_LOGIN)
    return replace(url, username=row.login, password=row.password)


def _serve(args: argparse.Namespace) -> int:
    from backend.chain.hq_service import HqService

    url = hq_url(parse_broker_url(args.broker), args.logins)
    db = Database(args.db)
    if args.logins:
        for row in read_logins(args.logins):  # the web shop's servers are devices of HQ's own site
            if row.role == "web":
                roles.register(db, row.login, ids.HQ_SITE, "web")
    service = HqService(db, url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        service.start()
        print(f"HQ ready on {url} (database {args.db}); Ctrl-C to stop", file=sys.stderr, flush=True)
        stop.wait()
    finally:
        service.stop()
        db.close()
    return 0


def _import(args: argparse.Namespace) -> int:
    from backend.import_cli import import_files

    db = Database(args.db)
    try:
        status = import_files(db, args.files, stores=args.store or [None], locale=args.locale, name_store=True)
        print(hq_entries.stage(db).summary())
    finally:
        db.close()
    return status


def _status(args: argparse.Namespace) -> int:
    db = Database(args.db)
    try:
        print(json.dumps(hq_entries.heads(db), indent=2))
    finally:
        db.close()
    return 0


def _prices(args: argparse.Namespace) -> int:
    db = Database(args.db)
    try:
        catalog.get_store(db, args.store)
        if args.prices_command == "override":
            try:
                price = Decimal(args.price)
            except InvalidOperation:
                print(f"error: --price {args.price!r} is not a decimal amount such as 12.90", file=sys.stderr)
                return 1
            if not price.is_finite() or price < 0:
                print("error: --price must be a finite amount of at least 0", file=sys.stderr)
                return 1
            apply.set_override(db, args.store, args.sku, price, utcnow())
            print(f"{args.sku} now sells at {price} in {args.store}, whatever HQ sends (clear with `prices clear`)")
        elif args.prices_command == "clear":
            hq = apply.clear_override(db, args.store, args.sku, utcnow())
            print(f"{args.sku} back to HQ's price {hq}" if hq is not None else
                  f"{args.sku}: HQ has no price for it here; the local price stays")
        else:
            for row in apply.local_prices(db, args.store):
                origin = f"override of HQ's {row.hq_price}" if row.hq_price is not None else "local product"
                print(f"{row.sku}\t{row.price}\t{origin}")
    finally:
        db.close()
    return 0
