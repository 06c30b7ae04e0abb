"""``python -m driver``: the app started through its normal entry, with the harness and/or the walkthrough attached.

    python -m driver [--harness-port PORT] [--walkthrough OUTDIR] -- [python -m kiosk arguments]

The app is built by ``kiosk.cli.main`` exactly as ``python -m kiosk`` builds it; the driver's parts join it through
``AisleApp``'s ``extensions`` hook once it has started, and import Kivy only then (after the app configured it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.cli import main as kiosk_main

if TYPE_CHECKING:
    from kiosk.app import AisleApp, Extension


def build_parser() -> argparse.ArgumentParser:
    """The driver's own options (the app's come after ``--``)."""
    p = argparse.ArgumentParser(prog="python -m driver", description="Start the Aisle app and drive it from outside",
                                epilog="Everything after -- goes to the app: see python -m kiosk --help.")
    p.add_argument("--harness-port", type=int, metavar="PORT",
                   help="accept automation commands (JSON lines) on 127.0.0.1:PORT, for tests and benchmarks")
    p.add_argument("--walkthrough", type=Path, metavar="OUTDIR",
                   help="drive the app through every screen, save PNG screenshots there, then exit")
    return p


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """The driver's arguments and the app's, separated by the first ``--``."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def harness(port: int) -> Extension:
    """An extension serving the test harness on ``port`` while the app runs."""

    def attach(app: AisleApp) -> Callable[[], None]:
        from driver.harness import Harness

        served = Harness(app, port)
        served.start()
        return served.stop

    return attach


def walkthrough(out: Path) -> Extension:
    """An extension running the scripted walkthrough, which stops the app when it is done."""

    def attach(app: AisleApp) -> Callable[[], None]:
        from driver.walkthrough import Walkthrough

        script = Walkthrough(app, out)
        script.start()
        return script.stop  # also what keeps it alive: Kivy's clock holds bound methods weakly

    return attach


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app with the requested driver parts until it exits; returns its exit code."""
    own, app_argv = split_argv(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    extensions: list[Extension] = []
    if args.harness_port:
        extensions.append(harness(args.harness_port))
    if args.walkthrough is not None:
        extensions.append(walkthrough(args.walkthrough))
    return kiosk_main(app_argv, extensions=extensions)
