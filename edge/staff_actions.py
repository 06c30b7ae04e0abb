"""Staff actions on restock alerts (claim, resolve, dismiss) taken offline: kept on disk, sent in order when online."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.outbox import PERMANENT
from mqtt.payloads import utcnow
from mqtt.rpc import RemoteError, RpcClient, RpcError
from storage import Durability, Migration, open_migrated

log = logging.getLogger(__name__)

OPERATIONS = frozenset({"alert.claim", "alert.resolve", "alert.dismiss"})
# IF NOT EXISTS: files written before the schema had versions hold this table already and are adopted as they are.
M001_STAFF_ACTIONS = """CREATE TABLE IF NOT EXISTS staff_actions (
    id INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
)"""

# The queue file's schema, applied by storage.migrate; append only, never edit a released migration.
MIGRATIONS = [Migration(1, "staff actions queued while offline", M001_STAFF_ACTIONS)]


class StaffActionError(ValueError):
    """Not an action this queue takes."""


@dataclass(frozen=True)
class ActionOutcome:
    """What became of a queued action: sent (with the backend's answer) or refused for good (with why)."""

    action_id: int
    op: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error: str | None = None


class StaffActionQueue:
    """A durable, ordered queue of alert actions; a thread sends them whenever the device is connected."""

    def __init__(self, path: Path, rpc: RpcClient, is_online: Callable[[], bool], *, retry: float = 2.0,
                 call_timeout: float = 6.0) -> None:
        self.path = Path(path)
        # POWER_CUT: an action the staff member saw accepted survives a power cut.
        self._db = open_migrated(self.path, MIGRATIONS, what=f"staff action queue {self.path.name}",
                                 durability=Durability.POWER_CUT, busy_timeout=5.0)
        self._rpc = rpc
        self._is_online = is_online
        self._retry = retry
        self._call_timeout = call_timeout
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listeners: list[Callable[[ActionOutcome], None]] = []

    def start(self) -> None:
        """Start sending (what an earlier run left queued goes first)."""
        self._thread = threading.Thread(target=self._run, name="staff-actions", daemon=True)
        self._thread.start()

    def submit(self, op: str, args: dict[str, Any]) -> int:
        """Keep an action (durably, before returning) and send it as soon as possible; returns its id."""
        if op not in OPERATIONS:
            raise StaffActionError(f"{op!r} is not a queued staff action")
        with self._lock:
            cursor = self._db.execute("INSERT INTO staff_actions (op, args, queued_at) VALUES (?, ?, ?)",
                                      [op, json.dumps(args), utcnow().isoformat()])
        self._wake.set()
        return int(cursor.lastrowid or 0)

    def pending(self) -> list[tuple[int, str, dict[str, Any]]]:
        """Actions not yet answered, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, op, args FROM staff_actions ORDER BY id").fetchall()
        return [(row[0], row[1], json.loads(row[2])) for row in rows]

    def wake(self) -> None:
        """Try now (the device just came back online)."""
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is queued; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(0.05)
        return True

    def close(self) -> None:
        """Stop sending; queued actions stay on disk for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self._call_timeout + 2)
        with self._lock:
            self._db.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._retry)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._send_all()
            except sqlite3.Error:
                log.exception("staff action queue unreadable; retrying")

    def _send_all(self) -> None:
        for action_id, op, args in self.pending():
            if self._stop.is_set() or not self._is_online():
                return
            try:
                result = self._rpc.call(op, args, timeout=self._call_timeout)
            except RemoteError as exc:
                if exc.code not in PERMANENT:
                    self._note_attempt(action_id, str(exc))
                    return  # the backend is struggling: keep the order, try again later
                self._finish(ActionOutcome(action_id, op, args, False, error_code=exc.code.value, error=exc.message))
                continue
            except RpcError as exc:
                self._note_attempt(action_id, str(exc))
                return
            self._finish(ActionOutcome(action_id, op, args, True, result=result))

    def _note_attempt(self, action_id: int, error: str) -> None:
        with self._lock:
            self._db.execute("UPDATE staff_actions SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                             [error, action_id])

    def _finish(self, outcome: ActionOutcome) -> None:
        with self._lock:
            self._db.execute("DELETE FROM staff_actions WHERE id = ?", [outcome.action_id])
        log.info("staff action %s %s: %s", outcome.op, outcome.args, "sent" if outcome.ok else outcome.error)
        for listener in list(self.listeners):
            try:
                listener(outcome)
            except Exception:  # one broken listener must not stop the queue
                log.exception("staff action listener failed")
