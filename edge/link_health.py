"""Whether a device has its store's data, and why not: "last known at" kept on disk, each change logged once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from edge.device import Edge
from mqtt.payloads import utcnow

log = logging.getLogger(__name__)

SAVE_SYNCED_EVERY = timedelta(minutes=5)  # how stale "last known at" may be after a crash while in sync


@dataclass(frozen=True)
class LinkHealth:
    """Whether this device has its store's data, and why not: for the attract screen, Settings and the log."""

    connected: bool
    synced: bool  # connected and caught up with the store right now
    ever_synced: bool  # had the store's data once (in this run or an earlier one)
    problem: str | None  # MqttClient.problem while not connected: "unreachable...", "refused: ...", "tls: ..."
    last_known: datetime | None  # when the data here was last known to be current


class LinkMonitor:
    """Connection and sync state of one Edge for ``health``; remembers when its data was last current."""

    def __init__(self, edge: Edge, path: Path) -> None:
        self._edge = edge
        self._path = path  # "last known at", so a restart while offline still says how old the data is
        self._last_live: datetime | None = None
        self._saved_live: datetime | None = None
        self._logged: tuple[str, str] | None = None

    def load(self) -> None:
        """Read "last known at" of an earlier run (the Edge must be started: an old cache may know it instead)."""
        self._last_live = self._saved_live = self._read_last_live()

    def health(self) -> LinkHealth:
        """Connection and sync state now; from one thread (the UI tick), as it saves "last known at" and logs."""
        # Each change of trouble is logged once here; the MQTT client repeats its own line at backoff intervals.
        client = self._edge.client
        connected = client.connected
        synced = connected and self._edge.synced()
        problem = None if connected else client.problem
        if synced:
            self._last_live = utcnow()
            if self._saved_live is None or self._last_live - self._saved_live >= SAVE_SYNCED_EVERY:
                self._save_live(self._last_live)
        elif not connected and self._last_live is not None and self._saved_live != self._last_live:
            self._save_live(self._last_live)  # the moment the link went down is what the data is as of
        health = LinkHealth(connected, synced, self._last_live is not None, problem, self._last_live)
        self._log_health(health)
        return health

    def _log_health(self, health: LinkHealth) -> None:
        store = self._edge.store
        if health.connected:
            key = ("connected", "")
        elif health.problem is None:
            key = ("connecting", "")  # the first attempt has not failed yet: nothing to say
        else:
            key = ("offline" if health.ever_synced else "not_ready", health.problem.split(":", 1)[0])
        if key == self._logged:
            return
        was, self._logged = self._logged, key
        if key[0] == "not_ready":
            log.warning("store %s not ready: no data yet and no connection to the broker (%s)", store,
                        health.problem)
        elif key[0] == "offline":
            log.warning("store %s offline: showing data last known at %s (%s)", store,
                        health.last_known.isoformat(timespec="seconds") if health.last_known else "?", health.problem)
        elif key[0] == "connected" and was is not None and was[0] in ("not_ready", "offline"):
            log.info("store %s: connected again", store)

    def _read_last_live(self) -> datetime | None:
        try:
            moment = datetime.fromisoformat(self._path.read_text(encoding="ascii").strip())
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            return moment
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("ignored unreadable %s: %s", self._path, exc)
        found = self._edge.cache.store_details(self._edge.store)  # a cache from before this file existed
        return found.received_at if found else None

    def _save_live(self, moment: datetime) -> None:
        try:
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text(moment.isoformat(), encoding="ascii")
            temporary.replace(self._path)
        except OSError as exc:  # a full disk must not stop the kiosk; "last known at" is only less exact
            log.warning("cannot save %s: %s", self._path, exc)
        self._saved_live = moment
