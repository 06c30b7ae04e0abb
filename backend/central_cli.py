"""``python -m backend central-config`` and the ``--bridge`` options of ``broker-config``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from backend.bridge_config import Bridge, BridgeConfigError, load_bridge


def add_parser(sub: Any) -> None:
    """Register ``central-config`` on the backend's sub-command parser."""
    central = sub.add_parser("central-config", help="write the chain's central Mosquitto configuration: TLS, "
                             "one login per store bridge, hq and observer, and the ACLs between them")
    central.add_argument("--out", required=True, type=Path)
    central.add_argument("--stores", required=True, metavar="A,B,C", help="the chain's store ids, comma-separated")
    central.add_argument("--host", action="append", help="central host name or address for the certificate "
                         "(repeatable; default localhost and 127.0.0.1)")
    central.add_argument("--port", type=int, default=8883)
    central.add_argument("--web", type=int, default=1, help="logins for the web shop's servers (web-1, ...), which "
                         "keep online carts at HQ")
    central.add_argument("--force", action="store_true", help="overwrite an existing set-up in --out: every login "
                         "gets a new password and a new CA, so every store must run broker-config --bridge again")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def bridge_from_args(args: argparse.Namespace) -> Bridge | None:
    """The bridge ``broker-config`` was asked for, read and checked; None without ``--bridge``."""
    if not args.bridge:
        if args.bridge_logins or args.bridge_ca or args.nearby:
            raise BridgeConfigError("--bridge-logins, --bridge-ca and --nearby go with --bridge")
        return None
    if not args.bridge_logins or not args.bridge_ca:
        raise BridgeConfigError("--bridge needs --bridge-logins CENTRAL_DIR/logins.csv and --bridge-ca "
                                "CENTRAL_DIR/ca.crt (both written by central-config)")
    return load_bridge(args.store, args.bridge, args.bridge_logins, args.bridge_ca, _split(args.nearby))


def run(args: argparse.Namespace) -> int:
    """Write the central set-up; exit 1 on bad input."""
    from backend.broker_config import BrokerConfigError
    from backend.central_config import CentralConfigError, write_central_config

    try:
        logins = write_central_config(args.out, _split(args.stores), hosts=args.host or ["localhost", "127.0.0.1"],
                                      port=args.port, force=args.force, web=max(0, args.web))
    except (CentralConfigError, BrokerConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    print(f"wrote {out}/mosquitto.conf, acl, passwd, ca.crt, server.crt and logins.csv ({len(logins)} logins; "
          "logins.csv holds the passwords: give each store its bridge row and ca.crt)")
    print(f"run: mosquitto -c {out}/mosquitto.conf")
    print(f"each store: python -m backend broker-config ... --bridge mqtts://HOST:{args.port} "
          f"--bridge-logins {out}/logins.csv --bridge-ca {out}/ca.crt [--nearby B,C]")
    return 0
