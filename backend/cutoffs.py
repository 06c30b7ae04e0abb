"""Cutting a flooding device off at the broker for its penalty, through Mosquitto's dynamic security plugin.

The backend's admission control refuses a device that keeps sending after being refused (mqtt/admission.py), but
every message of its flood still crosses the broker and the backend's connection: ten such devices cost the
backend more than the shoppers it serves (bench/abuse.py). Where the plugin is loaded (the production set-up), the
device's login is disabled for the penalty, which disconnects it and refuses its reconnects, and enabled again
afterwards:

* a phone (a dynamic client) is disabled and enabled again, unless it was revoked meanwhile;
* a static login (kiosk, staff phone: the password file) is shadowed by a disabled dynamic client of the same name,
  which the plugin answers for before the password file, and the shadow is deleted afterwards.

Every change is tagged, so a backend that died during a penalty lifts it at its next start. The store's own tools
(admin, backend) and the web shop (every online shopper behind one login) are never cut off; they are only refused.
"""

from __future__ import annotations

import heapq
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from backend.dynsec import DynsecAdmin, DynsecError
from mqtt.enrolment import RESERVED_PREFIXES

log = logging.getLogger(__name__)

CUTOFF_TAG = "aisle-cutoff"  # textname of a shadow login, textdescription of a disabled phone: ours to undo
NEVER_CUT = ("admin", "backend", "web")
MAX_PENDING = 1000  # requests waiting for the broker; beyond it a device is only refused by the backend
# Each change holds every connection of the broker while the plugin rewrites its file: 2 ms with a few phones,
# half a second with 5,000 (bench/phones_scale.py). Cut-offs may take this share of the broker's time (with this
# much at once); beyond it a flooder is only refused by the backend, which holds on its own.
BROKER_SHARE = 0.02
BROKER_BURST = 1.0  # seconds


class BrokerTime:
    """A budget of the broker's time: ``share`` of every second, up to ``burst`` seconds saved up."""

    def __init__(self, share: float = BROKER_SHARE, burst: float = BROKER_BURST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.share, self.burst, self._clock = share, burst, clock
        self.left, self._stamp = burst, clock()

    def allows(self) -> bool:
        """Whether there is time left for another change."""
        now = self._clock()
        self.left = min(self.burst, self.left + (now - self._stamp) * self.share)
        self._stamp = now
        return self.left > 0

    def spend(self, seconds: float) -> None:
        """A change took ``seconds`` of the broker (the balance may go below zero: the next ones wait longer)."""
        self.left -= max(0.0, seconds)


class Cutoffs:
    """Disables penalised devices' logins in the broker and enables them again when the penalty ends."""

    def __init__(self, admin: DynsecAdmin, role_of: Callable[[str, str], str],
                 enable_unless_revoked: Callable[[str], bool], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.admin = admin
        self._role_of = role_of  # (store, device) -> role
        self._enable_unless_revoked = enable_unless_revoked  # the phone registry's, under its lock
        self._clock = clock
        self.broker_time = BrokerTime(clock=clock)
        self._skipped_logged = -60.0
        self._requests: queue.SimpleQueue[tuple[str, str, float] | None] = queue.SimpleQueue()
        self._active: dict[str, float] = {}  # login -> when to let it back (clock)
        self._due: list[tuple[float, str]] = []
        self._thread: threading.Thread | None = None
        self.cut = 0  # logins disabled so far, for tests and monitoring
        self.skipped = 0  # penalised devices left connected because the broker's changes were too slow
        self.restored = 0

    def start(self) -> None:
        """Lift cut-offs a previous run left behind, then start applying new ones."""
        lifted = self._lift_stale()
        if lifted:
            log.info("let %d devices back that an earlier run had cut off at the broker", lifted)
        self._thread = threading.Thread(target=self._run, name="broker-cutoffs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, and let every device still cut off back in: nobody stays locked out by a stopped backend."""
        if self._thread is not None:
            self._requests.put(None)
            self._thread.join(10)
            self._thread = None
        for login in list(self._active):
            self.restored += self._restore(login)

    def request(self, store: str, device: str, seconds: float) -> None:
        """Cut ``device`` off for ``seconds``; never blocks (called as messages arrive)."""
        if self._requests.qsize() < MAX_PENDING:
            self._requests.put((store, device, seconds))

    def active(self) -> list[str]:
        """Logins cut off right now."""
        return sorted(self._active)

    def _run(self) -> None:
        while True:
            wait = max(0.0, self._due[0][0] - self._clock()) if self._due else None
            try:
                item = self._requests.get(timeout=wait)
            except queue.Empty:
                item = ()
            if item is None:
                return
            try:
                if item:
                    self._cut(*item)
                self._restore_due()
            except Exception:  # a broker hiccup must not end the thread: the next request or expiry retries
                log.exception("cutting a device off at the broker failed")

    def _cut(self, store: str, device: str, seconds: float) -> None:
        login = device  # the broker pins each connection's client id, and so its topics, to its login
        role = self._role_of(store, device)
        if role in NEVER_CUT:
            return
        until = self._clock() + seconds
        if login not in self._active:
            if not self.broker_time.allows():
                self.skipped += 1
                if self._clock() - self._skipped_logged >= 60:  # once a minute, not once a flooder
                    self._skipped_logged = self._clock()
                    log.warning("not cutting %s/%s off at the broker: changes to its logins are slow right now "
                                "(many phones registered); the backend still refuses it", store[:32], login[:64])
                return
            started = self._clock()
            try:
                self.admin.run(*self._disable_commands(login))
            except DynsecError as exc:
                log.error("could not cut %s/%s off at the broker: %s", store[:32], login[:64], exc)
                return
            finally:
                # Letting it back costs about half as much again: charged now, so the budget holds for both.
                self.broker_time.spend((self._clock() - started) * 1.5)
            self.cut += 1
            log.warning("cut %s/%s off at the broker for %g s: it kept sending after being refused",
                        store[:32], login[:64], seconds)
        self._active[login] = max(until, self._active.get(login, 0.0))
        heapq.heappush(self._due, (self._active[login], login))

    def _restore_due(self) -> None:
        now = self._clock()
        while self._due and self._due[0][0] <= now:
            until, login = heapq.heappop(self._due)
            if self._active.get(login) == until:
                self.restored += self._restore(login)

    def _restore(self, login: str) -> bool:
        """Let ``login`` back in; False (it stays cut off until the next start) if the broker would not."""
        try:
            if login.startswith(RESERVED_PREFIXES):
                self.admin.run({"command": "modifyClient", "username": login, "textdescription": ""},
                               tolerate=("not found",))
                self._enable_unless_revoked(login)
            else:
                self.admin.run({"command": "deleteClient", "username": login}, tolerate=("not found",))
        except DynsecError as exc:
            log.error("could not let %s back in at the broker (the next start will): %s", login[:64], exc)
            return False
        self._active.pop(login, None)
        log.info("let %s back in at the broker", login[:64])
        return True

    def _disable_commands(self, login: str) -> list[dict[str, Any]]:
        if login.startswith(RESERVED_PREFIXES):  # a phone or an enrolment login: a dynamic client already
            return [{"command": "modifyClient", "username": login, "textdescription": CUTOFF_TAG},
                    {"command": "disableClient", "username": login}]
        # A static login: the plugin answers for a name it knows before the password file is read, so a disabled
        # client of that name locks it out (and disabling disconnects the live connection).
        return [{"command": "createClient", "username": login, "password": secrets.token_urlsafe(24),
                 "textname": CUTOFF_TAG},
                {"command": "disableClient", "username": login}]

    def _lift_stale(self) -> int:
        data = self.admin.run({"command": "listClients", "verbose": True})[0].get("data", {})
        lifted = 0
        for client in data.get("clients", []):
            if not isinstance(client, dict) or not isinstance(client.get("username"), str):
                continue
            shadow = client.get("textname") == CUTOFF_TAG and not client["username"].startswith(RESERVED_PREFIXES)
            if shadow or client.get("textdescription") == CUTOFF_TAG:  # a static login's shadow, or a phone
                lifted += self._restore(client["username"])
        return lifted
