"""The Kivy App: loads layouts, builds the screens, hands everything else to the Controller."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.lang import Builder

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


class AisleApp(App):
    """Thin on purpose: the controller owns the services, the screens own their behaviour."""

    title = "Aisle"

    def __init__(self, config: KioskConfig, device_id: str, *, started: float | None = None,
                 walkthrough: Path | None = None, harness_port: int | None = None) -> None:
        super().__init__()
        self.kiosk_config = config
        self.device_id = device_id
        self.started = started or time.monotonic()
        self.ready_after: float | None = None
        self.walkthrough_dir = walkthrough
        self.harness_port = harness_port
        self.exit_code = 0
        self.ctl = None
        self._harness = None
        self._walkthrough = None

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
        self.ctl.start()
        Window.bind(size=self._shape)
        self._shape()
        return root

    def _shape(self, *_args: object) -> None:
        ui.landscape = Window.width >= Window.height

    def on_start(self) -> None:
        Clock.schedule_once(self._ready, 0)
        if self.harness_port:
            from kiosk.harness import Harness

            self._harness = Harness(self, self.harness_port)
            self._harness.start()
        if self.walkthrough_dir is not None:
            from kiosk.walkthrough import Walkthrough

            # Kivy's clock holds bound methods weakly: keep the walkthrough alive here.
            self._walkthrough = Walkthrough(self, self.walkthrough_dir)
            self._walkthrough.start()

    def _ready(self, _dt: float) -> None:
        self.ready_after = time.monotonic() - self.started
        log.info("interactive after %.2f s", self.ready_after)

    def on_stop(self) -> None:
        if self._harness is not None:
            self._harness.stop()
        if self.ctl is not None:
            self.ctl.close()
