"""Importing CSV files from the command line (`import-catalog`, `hq import`): a line per file, bad rows named."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from backend.db import Database
from backend.importer import ImportFileError, import_file


def import_files(db: Database, files: Sequence[Path], *, stores: Sequence[str | None] = (None,), locale: str,
                 name_store: bool = False) -> int:
    """Import each file (once per store a Shopify file's prices go to); returns 1 when any file or row was refused."""
    status = 0
    for path in files:
        for store in stores:
            try:
                report = import_file(db, path, target_store=store, locale=locale, progress=sys.stderr.isatty())
            except ImportFileError as exc:
                print(f"error: {exc}", file=sys.stderr)
                status = 1
                break  # the file as a whole is unusable, for every store
            for line, reason in report.errors:
                print(f"{path}:{line}: {reason}", file=sys.stderr)
            print(report.summary() + (f" (for {store})" if name_store and store else ""))
            if report.errors:
                status = 1
    return status
