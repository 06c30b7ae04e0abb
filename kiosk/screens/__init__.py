"""The app's screens, each a .py (behaviour) and .kv (layout) pair with a view-model (``model``), by name."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

SCREENS = {
    "attract": "AttractScreen",
    "scan": "ScanScreen",
    "product": "ProductScreen",
    "recognise": "RecogniseScreen",
    "cart": "CartScreen",
    "handoff": "HandoffScreen",
    "address": "AddressScreen",
    "options": "OptionsScreen",
    "confirm": "ConfirmScreen",
    "staff_login": "StaffLoginScreen",
    "staff": "StaffScreen",
    "adjust": "AdjustScreen",
    "enrol": "EnrolScreen",
    "settings": "SettingsScreen",
}
HERE = Path(__file__).resolve().parent


def screen_class(name: str) -> type:
    """The class of a screen (importing its module)."""
    return getattr(import_module(f"kiosk.screens.{name}"), SCREENS[name])  # type: ignore[no-any-return]


def kv_files() -> list[Path]:
    """The layout files of every screen."""
    return [HERE / f"{name}.kv" for name in SCREENS]
