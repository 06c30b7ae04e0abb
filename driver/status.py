"""What the harness's ``status`` reports, read from the app through one table of named paths (UI thread only).

Every value the tests read from the app's internals is named here once, as a plain attribute path from a few
roots. ``check`` resolves them all when the driver attaches, so a rename in the app stops the app at start-up
with an AttributeError naming the path, instead of failing a test later over the socket.
"""

from __future__ import annotations

import ast
import time
from typing import Any

# Field name -> path from the roots ``app`` (the AisleApp), ``state`` (kiosk.state.state), ``ui`` (kiosk.theme.ui)
# and ``Clock``. A path is attributes, calls with constant arguments, nothing else.
PATHS: dict[str, str] = {
    "screen": "app.ctl.nav.current",
    "moving": "app.ctl.nav.manager.transition.is_active",
    "ready_after": "app.ready_after",
    "notice": "state.notice",
    "notice_kind": "state.notice_kind",
    "idle_warning": "state.idle_warning",
    "idle_left": "state.idle_left",
    "cart_count": "state.cart_count",
    "lang": "ui.lang",
    "rtl": "ui.rtl",
    "connected": "state.connected",
    "staff": "state.staff_id",
    "store_name": "state.store_name",
    "synced": "app.ctl.link.edge.synced(0.2)",
    "link": "state.link_state",
    "link_status": "state.link_status",
    "session": "app.ctl.link.sessions.session.id",
    "camera_fps": "app.ctl.camera.fps()",
    "preview_fps": "app.ctl.nav.screen('scan').ids.preview.fps()",
    "decode_fps": "app.ctl.camera.decode_rate()",
    "ui_fps": "Clock.get_fps()",
}


class PathError(AttributeError):
    """A status path does not resolve (the app renamed something the tests read)."""


def _compile(path: str) -> ast.expr:
    try:
        tree = ast.parse(path, mode="eval").body
    except SyntaxError as exc:
        raise PathError(f"status path {path!r} is not a path: {exc}") from exc
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute | ast.Name | ast.Call | ast.Constant | ast.Load):
            raise PathError(f"status path {path!r}: only attributes and calls, not {type(node).__name__}")
    return tree


def _value(node: ast.expr, roots: dict[str, Any], path: str) -> Any:
    if isinstance(node, ast.Name):
        if node.id not in roots:
            raise PathError(f"status path {path!r}: unknown root {node.id!r}")
        return roots[node.id]
    if isinstance(node, ast.Attribute):
        owner = _value(node.value, roots, path)
        try:
            return getattr(owner, node.attr)
        except AttributeError as exc:
            raise PathError(f"status path {path!r}: {type(owner).__name__} has no {node.attr!r}") from exc
    if isinstance(node, ast.Call):
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if len(args) != len(node.args) or node.keywords:
            raise PathError(f"status path {path!r}: call arguments must be constants")
        return _value(node.func, roots, path)(*args)
    raise PathError(f"status path {path!r}: unexpected {type(node).__name__}")


class Status:
    """Reads ``PATHS`` from the given roots; ``extra`` adds values the driver observes itself."""

    def __init__(self, roots: dict[str, Any], paths: dict[str, str] | None = None) -> None:
        self.roots = roots
        self.paths = dict(PATHS if paths is None else paths)
        self._compiled = {name: _compile(path) for name, path in self.paths.items()}

    def check(self) -> None:
        """Resolve every path once; raises PathError (an AttributeError) naming the first that does not."""
        self.read()

    def read(self, **extra: Any) -> dict[str, Any]:
        """Every field now, plus ``extra`` and the app's monotonic ``now``."""
        values = {name: _value(node, self.roots, self.paths[name]) for name, node in self._compiled.items()}
        return {**values, **extra, "now": time.monotonic()}
