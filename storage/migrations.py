"""The one migration runner: numbered SQL scripts, applied in order, each in its own transaction."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from storage.connect import connect, transaction

log = logging.getLogger(__name__)

# Every Aisle database records the migrations it has had here (the backend's and the cache's always have).
_TABLE = "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)"


class Migration(NamedTuple):
    """One step of a database's schema; append new ones, never edit a released one."""

    version: int
    name: str
    script: str


class SchemaTooNew(RuntimeError):
    """The database was written by newer code: it has schema versions this code does not know."""


def migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[int, str, str]], *,
            what: str = "database") -> int:
    """Apply every migration the database has not had, each atomically; return its schema version.

    ``conn`` must be in autocommit mode (``storage.connect``); ``migrations`` are numbered 1, 2, 3... in order;
    ``what`` names the database in the error raised for one written by newer code (SchemaTooNew).
    """
    steps = [Migration(*m) for m in migrations]
    if [m.version for m in steps] != list(range(1, len(steps) + 1)):
        raise ValueError(f"{what} migrations must be numbered 1 to {len(steps)} in order")
    conn.execute(_TABLE)
    applied = {row[0] for row in conn.execute("SELECT version FROM _migrations")}
    unknown = applied - {m.version for m in steps}
    if unknown:
        raise SchemaTooNew(f"{what} has schema versions {sorted(unknown)} unknown to this code")
    for step in steps:
        if step.version in applied:
            continue
        log.info("%s migration %d: %s", what, step.version, step.name)
        with transaction(conn):
            # Statement by statement: executescript() would commit and break the migration's atomicity.
            for statement in statements(step.script):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations VALUES (?, ?, ?)",
                         [step.version, step.name, datetime.now(UTC).isoformat()])
    return len(steps)


def open_migrated(path: str | Path, migrations: Sequence[tuple[int, str, str]], *, what: str,
                  **pragmas: Any) -> sqlite3.Connection:
    """``connect`` (``pragmas`` are its options) and ``migrate``; nothing stays open when either fails."""
    conn = connect(path, **pragmas)
    try:
        migrate(conn, migrations, what=what)
    except BaseException:
        conn.close()
        raise
    return conn


def statements(script: str) -> list[str]:
    """The statements of a script, whole-line ``--`` comments left out."""
    found, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        current += line
        # A line ends a statement only where SQLite says it is complete (trigger bodies hold semicolons of their own).
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    if current.strip():
        found.append(current.strip())
    return found
