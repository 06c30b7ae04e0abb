"""Moving between screens with a history; slides follow the reading direction."""

from __future__ import annotations

import logging
from typing import Any

from kivy.uix.screenmanager import ScreenManager, SlideTransition

from kiosk.state import state
from kiosk.theme import ui

log = logging.getLogger(__name__)

TRANSITION_SECONDS = 0.16


class Navigator:
    """``go`` forward, ``back``, ``home``; screens get ``prepare(**params)`` before they show."""

    def __init__(self, manager: ScreenManager, home: str) -> None:
        self.manager = manager
        self.home_name = home
        self.history: list[str] = []
        manager.transition = SlideTransition(duration=TRANSITION_SECONDS)

    @property
    def current(self) -> str:
        """Name of the screen showing now."""
        return str(self.manager.current)

    def screen(self, name: str) -> Any:
        """A screen by name."""
        return self.manager.get_screen(name)

    def go(self, name: str, *, remember: bool = True, **params: Any) -> None:
        """Show a screen; with ``remember`` the current one is where Back returns to."""
        target = self.screen(name)
        target.prepare(**params)
        if name == self.current:
            return
        if remember and self.current:
            self.history.append(self.current)
            del self.history[:-20]
        self._switch(name, forward=True)

    def replace(self, name: str, **params: Any) -> None:
        """Show a screen in place of the current one (Back skips the current one)."""
        self.go(name, remember=False, **params)

    def back(self) -> None:
        """Return to the previous screen, or home."""
        name = self.history.pop() if self.history else self.home_name
        if name == self.current:
            return
        self._switch(name, forward=False)

    def home(self, name: str | None = None) -> None:
        """Forget the history and show the home screen."""
        self.history.clear()
        target = name or self.home_name
        self.screen(target).prepare()
        if target != self.current:
            self._switch(target, forward=False)

    def _switch(self, name: str, forward: bool) -> None:
        # Forward slides towards the reading direction's end: leftwards in LTR, rightwards in RTL.
        direction = "left" if forward != ui.rtl else "right"
        self.manager.transition.direction = direction
        state.notice = ""  # a notice belongs to the screen it was shown on
        log.debug("screen %s -> %s", self.current, name)
        self.manager.current = name
