"""``python -m backend recalls add|remove|list``: recall a product or one batch of it, end a recall, show them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from backend import recalls
from backend.db import Database
from mqtt.payloads import utcnow

DEFAULT_DB = "var/backend.db"


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``recalls`` command group."""
    group = sub.add_parser("recalls", help="recalled products and batches, published to the stores' devices")
    recalls_sub = group.add_subparsers(dest="recalls_command", required=True)
    add = recalls_sub.add_parser("add", help="recall a product, or one batch of it")
    remove = recalls_sub.add_parser("remove", help="end a recall (the same product and batch as it was added with)")
    for parser in (add, remove):
        parser.add_argument("--db", default=DEFAULT_DB, type=Path)
        parser.add_argument("--sku", help="the product's SKU")
        parser.add_argument("--gtin", help="the product's GTIN (8, 12, 13 or 14 digits), e.g. a supplier's recall")
        parser.add_argument("--batch", help="only this batch or lot (GS1 AI 10); every batch when left out")
        parser.add_argument("--store", action="append", default=[], help="only this store (repeatable); "
                            "every store in the database when left out")
    add.add_argument("--reason", required=True, help="why, shown to shoppers and staff (at most 200 characters)")
    listing = recalls_sub.add_parser("list", help="print the recalls in force, as JSON lines")
    listing.add_argument("--db", default=DEFAULT_DB, type=Path)
    listing.add_argument("--store", action="append", default=[], help="only this store (repeatable)")


def handles(args: argparse.Namespace) -> bool:
    """Whether ``args`` is one of this module's commands."""
    return getattr(args, "command", None) == "recalls"


def run(args: argparse.Namespace) -> int:
    """Add, remove or list recalls; the running backend publishes every change within a second."""
    if not args.db.exists():
        print(f"error: no database at {args.db}", file=sys.stderr)
        return 1
    db = Database(args.db)
    try:
        now = utcnow()
        if args.recalls_command == "list":
            stores = args.store or recalls.shops(db)
            for store_id in stores:
                for entry in recalls.recall_list(db, store_id, now).entries:
                    print(json.dumps({"store": store_id, **entry.model_dump(mode="json", exclude_none=True)},
                                     ensure_ascii=False))
            return 0
        try:
            target = recalls.RecallTarget.checked(args.sku, args.gtin, args.batch)
            if args.recalls_command == "add":
                changed = recalls.add(db, target, args.reason, args.store, now)
            else:
                changed = recalls.remove(db, target, args.store, now)
        except recalls.RecallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    finally:
        db.close()
    what = f"{target.sku or target.gtin}" + (f" batch {target.batch}" if target.batch else " (every batch)")
    if not changed:
        print(f"{what}: nothing changed ({'already recalled' if args.recalls_command == 'add' else 'no such recall'})")
        return 0
    done = "recalled" if args.recalls_command == "add" else "no longer recalled"
    print(f"{what} {done} in {', '.join(changed)}; the running backend publishes it within a second")
    return 0
