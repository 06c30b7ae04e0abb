"""The Kivy App: loads layouts, builds the screens, hands everything else to the Controller."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.lang import Builder

from edge.cleanup import Cleanup
from kiosk.config import KioskConfig, Mode
from kiosk.i18n import catalogs
from kiosk.i18n.translator import tr
from kiosk.navigation import Navigator
from kiosk.screens import SCREENS, kv_files, screen_class
from kiosk.text.fonts import register_fonts
from kiosk.theme import ui

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
WIDGET_KV = ("common", "chrome", "media", "keyboard", "search", "cart_line", "choice", "alert_panel")
# An extension gets the started app and may return what undoes it when the app stops.
Extension = Callable[["AisleApp"], "Callable[[], None] | None"]


class AisleApp(App):
    """Thin on purpose: the controller owns the services, the screens own their behaviour.

    ``extensions`` is the app's one hook for code from outside (the test driver, ``python -m driver``): each is
    called with the app in ``on_start``, on the UI thread once the screens and the controller exist, and may
    return a callable that is called in ``on_stop`` (in reverse order). The app keeps the returned callables,
    so objects they hold stay alive for Kivy's weakly referencing clock.
    """

    title = "Aisle"

    def __init__(self, config: KioskConfig, device_id: str, *, started: float | None = None,
                 extensions: Sequence[Extension] = ()) -> None:
        super().__init__()
        self.kiosk_config = config
        self.device_id = device_id
        self.started = started or time.monotonic()
        self.ready_after: float | None = None
        self.exit_code = 0
        self.ctl = None
        self._extensions = tuple(extensions)
        self._undo = Cleanup("app extensions")

    def build(self) -> object:
        register_fonts()
        tr.root = catalogs.prepare(self.kiosk_config.data_dir)
        import kiosk.widgets.alert_panel  # noqa: F401 - registers widget classes with the Factory
        import kiosk.widgets.cart_line  # noqa: F401
        import kiosk.widgets.choice  # noqa: F401
        import kiosk.widgets.chrome  # noqa: F401
        import kiosk.widgets.keyboard  # noqa: F401
        import kiosk.widgets.layout  # noqa: F401
        import kiosk.widgets.media  # noqa: F401
        import kiosk.widgets.search  # noqa: F401
        import kiosk.widgets.text  # noqa: F401

        for name in WIDGET_KV:
            Builder.load_file(str(HERE / "widgets" / f"{name}.kv"))
        for path in kv_files():
            Builder.load_file(str(path))
        Builder.load_file(str(HERE / "root.kv"))
        root = Factory.RootView()
        manager = root.ids.screens
        for name in SCREENS:
            manager.add_widget(screen_class(name)(name=name))
        home = "staff_login" if self.kiosk_config.mode is Mode.STAFF else "attract"
        manager.current = home
        from kiosk.controller import Controller

        self.ctl = Controller(self.kiosk_config, self.device_id, Navigator(manager, home))
        for screen in manager.screens:  # each screen talks to its own view-model only
            screen.vm = screen.model(self.ctl, screen.name)
        self.ctl.start()
        Window.bind(size=self._shape)
        self._shape()
        return root

    def _shape(self, *_args: object) -> None:
        ui.landscape = Window.width >= Window.height

    def on_start(self) -> None:
        Clock.schedule_once(self._ready, 0)
        for extension in self._extensions:
            undo = extension(self)
            if undo is not None:
                self._undo.add(undo)

    def _ready(self, _dt: float) -> None:
        self.ready_after = time.monotonic() - self.started
        log.info("interactive after %.2f s", self.ready_after)

    def on_stop(self) -> None:
        self._undo.run()  # a failing extension must not keep the controller from closing
        if self.ctl is not None:
            self.ctl.close()
