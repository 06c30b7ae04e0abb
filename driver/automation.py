"""Driving the real app as a person would: find widgets, tap them, type keys, take screenshots (UI thread only).

Used by the scripted walkthrough and the test harness; touches go through the Window like real ones. A tap
goes to a widget only when a person could tap it (``not_ready`` says why not yet), and is checked to have
reached it: under load a touch must not land on a modal that is still fading out or a layout still moving.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from kivy.core.window import Window
from kivy.tests.common import UnitTestTouch
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.modalview import ModalView
from kivy.uix.scrollview import ScrollView
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget

from kiosk.widgets.text import AButton, AText

log = logging.getLogger(__name__)


LAST_TAP = [0.0]  # monotonic time of the last simulated tap (for the benchmark)
_LAST_SPOT: dict[int, tuple[float, float]] = {}  # where each widget was at the previous readiness check


class NotFound(LookupError):
    """No visible widget matches."""


class NotReady(LookupError):
    """The widget is there but a person could not tap it yet (try again next frame)."""


def layers() -> list[Widget]:
    """What is on screen, topmost first: open modal views, then the current screen."""
    app_root = Window.children[-1] if Window.children else None
    modals = [w for w in Window.children if isinstance(w, ModalView)]
    result: list[Widget] = list(modals)
    if app_root is not None and not isinstance(app_root, ModalView):
        manager = app_root.ids.screens
        result.append(manager.current_screen)
        result.extend(w for w in (app_root.ids.notice, app_root.ids.idle))
    return result


def shown(widget: Widget) -> bool:
    """Visible: every ancestor opaque, on screen, with a size."""
    node: Any = widget
    while node is not None and node is not Window:
        if getattr(node, "opacity", 1) <= 0.01:
            return False
        node = node.parent
    x, y = widget.to_window(*widget.pos)
    if not (widget.width > 1 and widget.height > 1 and x < Window.width and y < Window.height and
            x + widget.width > 0 and y + widget.height > 0):
        return False
    # Inside every scroll view that holds it (its middle, at least): otherwise it is scrolled out of sight.
    cx, cy = widget.to_window(*widget.center)
    node = widget.parent
    while node is not None and node is not Window:
        if isinstance(node, ScrollView):
            sx, sy = node.to_window(*node.pos)
            if not (sx <= cx <= sx + node.width and sy <= cy <= sy + node.height):
                return False
        node = node.parent
    return True


def reachable(widget: Widget) -> bool:
    """Shown, or scrolled out of sight inside a shown scroll view (a person would scroll to it)."""
    if shown(widget):
        return True
    node: Any = widget
    while node is not None and node is not Window:
        if getattr(node, "opacity", 1) <= 0.01:
            return False
        if node is not widget and isinstance(node, ScrollView):
            return widget.width > 1 and widget.height > 1 and shown(node)
        node = node.parent
    return False


def ids_under(root: Widget) -> dict[str, Widget]:
    """Every kv id in the tree under ``root`` (inner rules win over outer ones)."""
    found: dict[str, Widget] = {}
    for widget in root.walk(restrict=True):
        for key, value in getattr(widget, "ids", {}).items():
            found.setdefault(key, value)
    return found


def label_of(widget: Widget) -> str:
    """The logical text a person reads on a widget."""
    if isinstance(widget, AButton):
        return widget.text
    if isinstance(widget, AText):
        return widget.raw
    if isinstance(widget, TextInput):
        return widget.text
    return str(getattr(widget, "text", "") or "")


def reveal(widget: Widget) -> None:
    """Scroll the widget into view if a ScrollView holds it (as a person would before tapping)."""
    node = widget.parent
    while node is not None and node is not Window:
        if isinstance(node, ScrollView):
            node.scroll_to(widget, padding=10, animate=False)
            node.update_from_scroll()
            return
        node = node.parent


def find(target: str) -> Widget:
    """The topmost visible widget with kv id ``target``, else the one whose text is ``target``."""
    for layer in layers():
        widget = ids_under(layer).get(target)
        if widget is not None and not shown(widget):
            reveal(widget)
        if widget is not None and shown(widget):
            return widget
    for visible in (shown, reachable):  # on screen first; else a scroll away, scrolled into view
        for layer in layers():
            for widget in layer.walk(restrict=True):
                if isinstance(widget, AButton | AText) and label_of(widget) == target and visible(widget):
                    if visible is reachable:
                        reveal(widget)
                    return widget.parent if isinstance(widget, AText) and isinstance(widget.parent, AButton) \
                        else widget
    raise NotFound(target)


def _layer_of(widget: Widget) -> Widget | None:
    """The child of the Window that holds ``widget``."""
    node: Any = widget
    while node is not None and node.parent is not Window:
        node = node.parent
    return node


def not_ready(widget: Widget) -> str:
    """Why a tap on ``widget`` would not reach it now ("" when it would); call once per frame until ""."""
    name = label_of(widget) or type(widget).__name__
    if widget.disabled:
        return f"{name} is disabled"
    if getattr(widget, "hidden", False):
        return f"{name} is hidden"
    if not shown(widget):
        return f"{name} is not on screen"
    layer = _layer_of(widget)
    if layer is None:
        return f"{name} is not in the window"
    # Window.children is topmost first; an open (or still fading) modal above takes every touch.
    above = Window.children[:Window.children.index(layer)]
    covering = [w for w in above if isinstance(w, ModalView)]
    if covering:
        return f"{name} is under {type(covering[0]).__name__}"
    app_root = Window.children[-1]
    manager = getattr(getattr(app_root, "ids", None), "screens", None)
    if manager is not None and manager.transition.is_active:
        return "a screen is still sliding in"
    spot = widget.to_window(*widget.center)
    before = _LAST_SPOT.get(id(widget))
    _LAST_SPOT.clear()
    _LAST_SPOT[id(widget)] = spot
    if before != spot:  # the layout moved it since the last frame (or this is the first look)
        return f"{name} is still moving"
    return ""


def tap(widget: Widget) -> None:
    """Press and release in the middle of the widget, through the Window; a button must get the press."""
    if widget.disabled:
        raise NotReady(f"{label_of(widget) or widget} is disabled")
    x, y = widget.to_window(*widget.center)
    pressed: list[bool] = []
    watch = isinstance(widget, ButtonBehavior)
    if watch:
        uid = widget.fbind("on_press", lambda *_a: pressed.append(True))
    LAST_TAP[0] = time.monotonic()
    touch = UnitTestTouch(x, y)
    try:
        touch.touch_down()
        touch.touch_up()  # inside a ScrollView the press itself arrives here, once the touch is not a scroll
    finally:
        if watch:
            widget.unbind_uid("on_press", uid)
    if watch and not pressed:
        raise NotFound(f"the tap on {label_of(widget) or widget} reached another widget")


def keys(text: str, enter: bool = True) -> None:
    """Type like a keyboard-wedge scanner: characters, then Enter."""
    for char in text:
        Window.dispatch("on_key_down", ord(char) if ord(char) < 256 else 0, 0, char, [])
        Window.dispatch("on_key_up", ord(char) if ord(char) < 256 else 0, 0)
    if enter:
        Window.dispatch("on_key_down", 13, 40, None, [])
        Window.dispatch("on_key_up", 13, 40)


def texts(scrolled: bool = False) -> list[str]:
    """Every visible text on screen, topmost layer first; with ``scrolled``, also those a scroll away."""
    result = []
    visible = reachable if scrolled else shown
    for layer in layers():
        for widget in layer.walk(restrict=True):
            if isinstance(widget, AText) and widget.raw and visible(widget):
                result.append(widget.raw)
    return result


def screenshot(path: Path) -> Path:
    """Draw the window now and save what it shows as PNG."""
    from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glReadPixels
    from PIL import Image

    Window.dispatch("on_draw")  # draw into the buffer we read, instead of reading a swapped-out one
    width, height = Window.size
    data = glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE)
    image = Image.frombytes("RGB", (width, height), data).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
