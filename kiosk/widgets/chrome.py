"""The frame around every screen: top bar, idle countdown banner, notices."""

from __future__ import annotations

from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.state import state
from kiosk.widgets.layout import DirBox

NOTICE_SECONDS = 7.0


class TopBar(DirBox):
    """Back, title, cart and connection; mirrored in right-to-left languages."""

    title = StringProperty("")
    show_back = BooleanProperty(True)
    show_cart = BooleanProperty(True)
    __events__ = ("on_back", "on_cart")

    def on_back(self) -> None:
        pass

    def on_cart(self) -> None:
        pass


class NoticeBar(BoxLayout):
    """A notice at the bottom of the screen that hides itself after a while or when tapped."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._hide = Clock.create_trigger(self._clear, NOTICE_SECONDS)
        state.fbind("notice", self._shown)
        self.fbind("height", self._place)

    def _shown(self, *_args: object) -> None:
        if state.notice:
            self._hide.cancel()
            self._hide()
            self._place()

    def _place(self, *_args: object) -> None:
        # Just under the current screen's top bar: the top bar holds Back and Cart, the bottom the main action.
        manager = self.parent.ids.get("screens") if self.parent is not None else None
        screen = manager.current_screen if manager is not None else None
        bar = screen.ids.get("topbar") if screen is not None else None
        top = bar.height if bar is not None else 0.0
        if self.parent is not None:
            self.y = self.parent.height - self.height - top

    def _clear(self, *_args: object) -> None:
        state.notice = ""

    def on_touch_down(self, touch: object) -> bool:
        # A tap hides the notice and still reaches what lies beneath: one tap, never two.
        if state.notice and self.collide_point(*touch.pos):  # type: ignore[attr-defined]
            self._clear()
        return False


class IdleBanner(BoxLayout):
    """"Still there?" with a countdown; any touch keeps the session (the controller sees every touch)."""

    def on_touch_down(self, touch: object) -> bool:
        return bool(state.idle_warning and self.collide_point(*touch.pos))  # type: ignore[attr-defined]
