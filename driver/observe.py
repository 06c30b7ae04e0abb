"""What the app does not keep for itself, watched from outside through its Kivy properties and wrapped calls.

The app has no state for tests: the driver binds to the screen manager and wraps ``ctl.tasks.run`` and
``ctl.alarm.ring`` on the app's instances when it attaches (a renamed one fails there, with an AttributeError).
Work started before that (while the app was being built) is not counted as busy.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock

if TYPE_CHECKING:
    from kiosk.app import AisleApp


class Observer:
    """What the app does not keep for itself, watched from outside: background work, screens settling, alarms."""

    def __init__(self, app: AisleApp) -> None:
        self.app = app
        self.settled = 0.0  # when the last screen change finished sliding in (for the benchmark)
        self.alarms = 0  # urgent-alert chimes rung
        self.running = 0  # background tasks whose results the UI has not taken yet
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """Whether background work is running or its result is still on its way to the UI thread."""
        with self._lock:
            return self.running > 0

    def start(self) -> None:
        """Bind to the screen manager, count background tasks and the alarm's rings (UI thread, app started)."""
        manager = self.app.ctl.nav.manager
        manager.fbind("transition", lambda _m, transition: transition.fbind("on_complete", self._settled))
        manager.transition.fbind("on_complete", self._settled)
        manager.fbind("current", self._switched)
        alarm = self.app.ctl.alarm
        ring = alarm.ring

        def counted() -> None:
            self.alarms += 1
            ring()

        alarm.ring = counted
        tasks = self.app.ctl.tasks
        run = tasks.run

        def watched(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.running += 1
            future = run(*args, **kwargs)
            # Done once the UI thread has run what the task handed it: that was queued on the clock before this.
            future.add_done_callback(lambda _f: Clock.schedule_once(self._task_done, 0))
            return future

        tasks.run = watched

    def _task_done(self, _dt: float) -> None:
        with self._lock:
            self.running -= 1

    def _settled(self, *_args: object) -> None:
        self.settled = time.monotonic()

    def _switched(self, *_args: object) -> None:
        # NoTransition switches at once; a slide reports its end through on_complete.
        Clock.schedule_once(lambda _dt: self._settled() if not self.app.ctl.nav.manager.transition.is_active
                            else None, 0)
