"""Test harness: JSON-line commands on a loopback port, each run on the UI thread (``python -m driver
--harness-port PORT``).

Commands are a fixed list of things a person can do or see (tap, type, read texts, screenshot); there is
no way to run arbitrary code. A tap waits (on the clock, the app keeps drawing) until its target could be
tapped by a person: shown, enabled, nothing modal over it, not moving.
"""

from __future__ import annotations

import json
import logging
import socketserver
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock

from driver import automation
from driver.observe import Observer
from driver.status import Status
from kiosk.state import state
from kiosk.theme import ui

if TYPE_CHECKING:
    from kiosk.app import AisleApp

log = logging.getLogger(__name__)
READY_TIMEOUT = 10.0  # seconds a command may wait for its target to become tappable
READ_PROPS = ("product_name", "price", "stock", "stock_state", "stock_detail", "shelf", "nearby_status", "total",
              "flagged", "reference", "phase", "status", "message", "levels", "summary", "sku", "empty", "error",
              "pack", "label_note", "batch_note", "batch_tone", "blocked", "weighed", "withdrawn")


class HarnessError(Exception):
    """A command cannot be carried out."""


def _await(target: str) -> Any:
    """The widget ``target``; not there yet means look again next frame (a result list filling, a panel opening)."""
    try:
        return automation.find(target)
    except automation.NotFound as exc:
        raise automation.NotReady(f"no {exc} on screen") from exc


class Harness:
    """Serves one client at a time; every command waits for the UI thread to run it."""

    def __init__(self, app: AisleApp, port: int) -> None:
        self.app = app
        self.port = port
        self.observer = Observer(app)
        self.status = Status({"app": app, "state": state, "ui": ui, "Clock": Clock})
        self._server: socketserver.TCPServer | None = None

    def start(self) -> None:
        """Check the status paths, watch the app, and listen on 127.0.0.1:port (UI thread)."""
        self.status.check()  # a renamed attribute stops the app here, not a test over the socket
        self.observer.start()
        harness = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    reply = harness.handle_line(raw.decode("utf-8"))
                    self.wfile.write((json.dumps(reply, ensure_ascii=False) + "\n").encode("utf-8"))
                    self.wfile.flush()

        socketserver.TCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="harness", daemon=True).start()
        log.info("harness listening on 127.0.0.1:%d", self.port)

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle_line(self, line: str) -> dict[str, Any]:
        """Parse one command, run it on the UI thread, and answer."""
        try:
            command = json.loads(line)
            name = command.pop("cmd")
        except (ValueError, KeyError, AttributeError) as exc:
            return {"ok": False, "error": f"bad command: {exc}"}
        future: Future[Any] = Future()
        frames = int(command.pop("frames", 1))  # let layouts settle for this many frames first
        deadline = time.monotonic() + READY_TIMEOUT

        def run(_dt: float) -> None:
            nonlocal frames
            frames -= 1
            if frames > 0:
                Clock.schedule_once(run, 0)
                return
            try:
                future.set_result(getattr(self, f"do_{name}")(**command))
            except automation.NotReady as exc:
                if time.monotonic() < deadline:  # not yet: look again next frame
                    Clock.schedule_once(run, 0)
                else:
                    future.set_exception(exc)
            except (HarnessError, LookupError, ValueError, TypeError, AttributeError) as exc:
                future.set_exception(exc)

        if not hasattr(self, f"do_{name}"):
            return {"ok": False, "error": f"unknown command {name!r}"}
        Clock.schedule_once(run, 0)
        try:
            return {"ok": True, "result": future.result(timeout=20)}
        except Exception as exc:  # reported to the test, which decides
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    # -- commands (UI thread) -------------------------------------------------------

    def do_status(self) -> dict[str, Any]:
        return self.status.read(busy=self.observer.busy, alarms=self.observer.alarms,
                                last_tap=automation.LAST_TAP[0], last_settled=self.observer.settled)

    def do_tap(self, target: str) -> str:
        widget = _await(target)
        reason = automation.not_ready(widget)
        if reason:
            raise automation.NotReady(reason)
        automation.tap(widget)
        return automation.label_of(widget)

    def do_keys(self, text: str, enter: bool = True) -> None:
        automation.keys(text, enter)

    def do_texts(self, scrolled: bool = False) -> list[str]:
        return automation.texts(scrolled)

    def do_props(self, screen: str | None = None) -> dict[str, Any]:
        target = self.app.ctl.nav.screen(screen or self.app.ctl.nav.current)
        return {name: getattr(target, name) for name in READ_PROPS if hasattr(target, name)}

    def do_get_text(self, target: str) -> str:
        widget = _await(target)
        if not hasattr(widget, "insert_text"):
            raise HarnessError(f"{target} is not a text field")
        return str(widget.text)

    def do_set_text(self, target: str, value: str) -> None:
        widget = _await(target)
        if not hasattr(widget, "insert_text"):
            raise HarnessError(f"{target} is not a text field")
        widget.text = value

    def do_screenshot(self, path: str) -> str:
        return str(automation.screenshot(Path(path)))

    def do_language(self, code: str) -> str:
        self.app.ctl.set_language(code)
        return ui.lang

    def do_go(self, screen: str, **params: Any) -> str:
        self.app.ctl.nav.go(screen, **params)
        return screen

    def do_settings(self, **changes: Any) -> None:
        self.app.ctl.settings_changed(**changes)

    def do_window(self, width: int, height: int) -> list[int]:
        from kivy.core.window import Window

        Window.size = (width, height)
        return list(Window.size)

    def do_fast(self) -> None:
        from kivy.uix.screenmanager import NoTransition

        self.app.ctl.nav.manager.transition = NoTransition()

    def do_idle(self, timeout: float, warning: float) -> None:
        sessions = self.app.ctl.link.sessions
        sessions.idle_timeout, sessions.warning = timeout, warning

    def do_problems(self) -> list[str]:
        from driver.inspection import problems

        return problems()

    def do_quit(self) -> None:
        Clock.schedule_once(lambda _dt: self.app.stop(), 0.1)
