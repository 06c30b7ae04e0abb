"""``python -m backend devices provision|pin|badge ...``: what production devices and staff get from the backend."""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import replace
from pathlib import Path

from backend import badges, roles
from backend.db import Database
from mqtt.credentials import write_private

DEFAULT_DB = "var/backend.db"


def add_parsers(devices_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``provision``, ``pin`` and ``badge`` to the ``devices`` command group."""
    provision = devices_sub.add_parser(
        "provision", help="write a device's provisioning file or one-time QR (broker login, staff keys)")
    provision.add_argument("--db", default=DEFAULT_DB, type=Path)
    provision.add_argument("--store", required=True)
    provision.add_argument("--device", required=True)
    provision.add_argument("--broker", required=True, help="mqtts://host:port the device connects to (no password)")
    provision.add_argument("--ca", type=Path, metavar="FILE",
                           help="the broker's CA certificate (PEM) to hand to the device (default: the URL's ca= file)")
    provision.add_argument("--credentials", required=True, type=Path,
                           help="the devices.csv broker-config wrote (the device's password is read from it)")
    out = provision.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="provisioning file to write (mode 0600)")
    out.add_argument("--qr", type=Path, help="PNG of a provisioning QR code to write (mode 0600)")

    pin = devices_sub.add_parser("pin", help="set the store's staff PIN (read from the terminal or stdin)")
    pin.add_argument("--db", default=DEFAULT_DB, type=Path)
    pin.add_argument("--store", required=True)

    badge = devices_sub.add_parser("badge", help="staff badges signed by the store's key")
    badge_sub = badge.add_subparsers(dest="badge_command", required=True)
    issue = badge_sub.add_parser("issue", help="sign a badge for a member of staff and print its QR text")
    issue.add_argument("--db", default=DEFAULT_DB, type=Path)
    issue.add_argument("--store", required=True)
    issue.add_argument("--staff", required=True, help="staff id, e.g. anna.k")
    issue.add_argument("--days", type=int, default=90, help="valid for this many days (default 90)")
    issue.add_argument("--qr", type=Path, help="also write the badge as a QR code PNG")
    revoke = badge_sub.add_parser("revoke", help="revoke a badge, or every badge of one person")
    revoke.add_argument("--db", default=DEFAULT_DB, type=Path)
    revoke.add_argument("--store", required=True)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--badge", help="badge id (see badge list)")
    which.add_argument("--staff", help="revoke every live badge of this staff id")
    listing = badge_sub.add_parser("list", help="badges issued for a store")
    listing.add_argument("--db", default=DEFAULT_DB, type=Path)
    listing.add_argument("--store", required=True)


def handles(args: argparse.Namespace) -> bool:
    """Whether ``args`` is one of this module's commands."""
    return getattr(args, "devices_command", None) in ("provision", "pin", "badge")


def run(args: argparse.Namespace) -> int:
    """Run a provisioning, PIN or badge command; returns the exit code."""
    db = Database(args.db)
    try:
        if args.devices_command == "provision":
            return _provision(db, args)
        if args.devices_command == "pin":
            return _pin(db, args)
        return _badge(db, args)
    except badges.StaffCredentialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()


def _provision(db: Database, args: argparse.Namespace) -> int:
    role, password = badges.device_password(args.credentials, args.device, args.store)
    data = badges.provisioning(db, args.store, args.device, args.broker, password, args.ca)
    roles.register(db, args.device, args.store, role)
    if args.out:
        write_private(args.out, data.to_json())
        print(f"wrote {args.out} (mode 0600) for {role} device {args.device}: copy it to the device, run "
              f"`python -m kiosk --provision {args.out.name}` there, then delete it here")
        return 0
    import segno

    try:
        code = segno.make(data.qr_text(), error="m")
    except segno.DataOverflowError:
        # A big CA (RSA-4096, a long chain) does not fit in the largest QR code: the device must get it another way.
        data = replace(data, broker_ca="")
        code = segno.make(data.qr_text(), error="m")
        print("warning: the CA certificate does not fit in a QR code; it is left out: put it on the device at the "
              "URL's ca= path, or provision with --out FILE", file=sys.stderr)
    args.qr.parent.mkdir(parents=True, exist_ok=True)
    args.qr.touch(mode=0o600)
    args.qr.chmod(0o600)
    code.save(str(args.qr), scale=6, border=4)
    print(f"wrote {args.qr} (mode 0600) for {role} device {args.device}: show it to the device once, "
          "then delete it; it holds the device's broker password")
    return 0


def _pin(db: Database, args: argparse.Namespace) -> int:
    # Never from the command line: arguments are visible to every user in ps.
    if sys.stdin.isatty():
        pin = getpass.getpass("new staff PIN (4-8 digits): ")
        if getpass.getpass("again: ") != pin:
            print("error: the PINs differ", file=sys.stderr)
            return 1
    else:
        pin = sys.stdin.readline().strip()
    badges.set_staff_pin(db, args.store, pin)
    print(f"staff PIN of {args.store} set; provision the store's devices again to hand it out")
    return 0


def _badge(db: Database, args: argparse.Namespace) -> int:
    if args.badge_command == "issue":
        text = badges.issue_badge(db, args.store, args.staff, args.days)
        if args.qr:
            import segno

            segno.make(text, error="m").save(str(args.qr), scale=6, border=4)
            print(f"wrote {args.qr}", file=sys.stderr)
        print(text)
        return 0
    if args.badge_command == "revoke":
        revoked = badges.revoke(db, args.store, badge_id=args.badge, staff_id=args.staff)
        if not revoked:
            print("error: no live badge matches", file=sys.stderr)
            return 1
        print(f"revoked {', '.join(revoked)}; the running backend publishes the list to devices")
        return 0
    for b in badges.list_badges(db, args.store):
        state = f"revoked {b.revoked_at:%Y-%m-%d}" if b.revoked_at else f"until {b.expires_at:%Y-%m-%d}"
        print(f"{b.badge_id}  {b.staff_id:<20}  issued {b.issued_at:%Y-%m-%d}  {state}")
    return 0
