"""Loading the demo stores, catalogue and inventory shipped in ``assets/demo``."""

from __future__ import annotations

import logging
from pathlib import Path

import assets
from backend.db import Database
from backend.importer import ImportReport, import_file

log = logging.getLogger(__name__)

DEMO_DIR = assets.path("demo")
DEMO_FILES = ("stores.csv", "products.csv", "inventory.csv")


class DemoDataMissing(FileNotFoundError):
    """The demo CSV files are not where they should be."""


def load_demo(db: Database, directory: Path = DEMO_DIR, *, only_if_empty: bool = True) -> list[ImportReport]:
    """Import the demo data (on first start only, unless told otherwise)."""
    if only_if_empty and db.count("stores"):
        log.info("database already has stores; demo data not reloaded")
        register_demo_devices(db)
        return []
    reports = []
    for name in DEMO_FILES:
        path = directory / name
        if not path.is_file():
            raise DemoDataMissing(f"demo data file {path} is missing")
        report = import_file(db, path, progress=False)
        for line, reason in report.errors:
            log.error("%s line %d: %s", name, line, reason)
        log.info(report.summary())
        reports.append(report)
    register_demo_devices(db)
    return reports


def register_demo_devices(db: Database) -> None:
    """Roles for the demo's own tools and staff phones (production devices come from broker-config)."""
    from backend import catalog, roles

    roles.register(db, "admin-cli", "-", "admin")
    for info in catalog.stores(db):
        if info.kind == "store":
            for i in (1, 2):
                roles.register(db, f"{info.id}-staff-{i}", info.id, "staff")
