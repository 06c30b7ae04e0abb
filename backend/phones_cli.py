"""``python -m backend devices phones|revoke-phone``: list enrolled shopper phones, cut one off."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from backend.db import Database
from backend.phones import UnknownPhone, list_phones, revoke_in_db
from mqtt.enrolment import PHONE_LOGIN_RE
from mqtt.payloads import utcnow

DEFAULT_DB = "var/backend.db"


def add_parsers(devices_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``phones`` and ``revoke-phone`` to the ``devices`` command group."""
    listing = devices_sub.add_parser("phones", help="shopper phones enrolled through a kiosk's code")
    listing.add_argument("--db", default=DEFAULT_DB, type=Path)
    listing.add_argument("--store", help="only this store's phones")
    revoke = devices_sub.add_parser("revoke-phone", help="revoke a shopper phone: the running backend disables its "
                                    "broker login, which disconnects it at once")
    revoke.add_argument("--db", default=DEFAULT_DB, type=Path)
    revoke.add_argument("--device", required=True, help="the phone's id, phone-<20 hex digits>")
    revoke.add_argument("--store", help="refuse unless the phone belongs to this store")


def handles(args: argparse.Namespace) -> bool:
    """Whether ``args`` is one of this module's commands."""
    return getattr(args, "devices_command", None) in ("phones", "revoke-phone")


def run(args: argparse.Namespace) -> int:
    """List phones or revoke one; returns the exit code."""
    if args.devices_command == "revoke-phone" and not PHONE_LOGIN_RE.fullmatch(args.device):
        print(f"error: {args.device!r:.80} is not a shopper phone id (phone-<20 hex digits>)", file=sys.stderr)
        return 1
    if not args.db.exists():
        print(f"error: no database at {args.db}", file=sys.stderr)
        return 1
    db = Database(args.db)
    try:
        if args.devices_command == "phones":
            for phone in list_phones(db, args.store):
                state = f"revoked {phone['revoked_at']}" if phone["revoked_at"] else "active"
                print(f"{phone['device']}  {phone['store']}  enrolled {phone['created_at']} via "
                      f"{phone['enrolled_via']}  {state}")
            return 0
        try:
            store_id, at = revoke_in_db(db, args.device, f"cli/{getpass.getuser()}", utcnow(), store_id=args.store)
        except UnknownPhone as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    finally:
        db.close()
    # The CLI holds no broker login: the backend, which does, applies every revocation it finds in the database.
    print(f"{args.device} of {store_id} revoked at {at.isoformat()}; the running backend disconnects it within a "
          "second (or when it next starts)")
    return 0
