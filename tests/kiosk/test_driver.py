"""The test driver stays outside the shipped app, and what it reads from the app is named in one checked table."""

from __future__ import annotations

import ast
import time
from types import SimpleNamespace

import pytest

from driver.launch import split_argv
from driver.status import PATHS, PathError, Status
from tests.kiosk.conftest import KioskApp

ROOTS = {"app", "state", "ui", "Clock"}


# That the shipped app never imports the driver is checked in tests/test_layout.py.


def test_every_status_path_starts_at_a_known_root() -> None:
    for name, path in PATHS.items():
        node = ast.parse(path, mode="eval").body
        while not isinstance(node, ast.Name):
            node = node.func if isinstance(node, ast.Call) else node.value  # type: ignore[attr-defined]
        assert node.id in ROOTS, f"{name}: {path}"


def test_status_reads_paths_and_a_rename_fails_loudly_at_the_check() -> None:
    screen = SimpleNamespace(ids=SimpleNamespace(preview=SimpleNamespace(fps=lambda: 12.0)))
    nav = SimpleNamespace(current="attract", screen=lambda name: screen if name == "scan" else None)
    app = SimpleNamespace(ctl=SimpleNamespace(nav=nav))
    status = Status({"app": app}, {"screen": "app.ctl.nav.current",
                                   "preview_fps": "app.ctl.nav.screen('scan').ids.preview.fps()"})
    status.check()
    read = status.read(alarms=2)
    assert (read["screen"], read["preview_fps"], read["alarms"]) == ("attract", 12.0, 2) and "now" in read
    del nav.current  # the app renamed it
    with pytest.raises(AttributeError, match=r"app\.ctl\.nav\.current.*'current'"):
        status.check()


@pytest.mark.parametrize("path", ["app.ctl.__class__.__subclasses__()[0]", "app.ctl.run(x)", "app.a + 1"])
def test_a_status_path_is_only_attributes_and_constant_calls(path: str) -> None:
    with pytest.raises(PathError):
        Status({"app": SimpleNamespace()}, {"x": path}).check()


def test_driver_arguments_come_before_the_apps() -> None:
    assert split_argv(["--harness-port", "5", "--", "--mode", "phone"]) == (["--harness-port", "5"],
                                                                             ["--mode", "phone"])
    assert split_argv(["--walkthrough", "out"]) == (["--walkthrough", "out"], [])


def search_hit(app: KioskApp, part: str, timeout: float = 10.0) -> str:
    """The search result naming ``part`` (the search runs a moment after typing stops)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [t for t in app.call("texts", frames=3) if part in t]
        if found:
            return found[0]
    raise AssertionError(f"no search result {part!r}")


@pytest.mark.slow
def test_a_tap_right_after_a_search_pick_reaches_the_product_screen(launch) -> None:  # noqa: ANN001
    # Sent at once, a tap must still reach its target: the picked search panel is fading out (and takes every touch
    # meanwhile) and the product screen may still be laying out; either would make "Add to cart" have no effect.
    phone = launch("phone", extra=("--language", "en"))
    status = phone.status()
    assert set(PATHS) | {"busy", "alarms", "last_tap", "last_settled", "now"} == set(status)
    for _ in range(3):
        phone.call("go", screen="attract")
        phone.tap("search_button")
        phone.call("set_text", target="query_input", value="Golden")
        phone.tap(search_hit(phone, "Golden Delicious apples"))
        phone.add_to_cart()  # no waiting for the product screen in between: the tap itself waits
