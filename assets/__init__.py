"""The files shipped with Aisle (demo data, the recognition model): the one place that knows where they are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """The asset file or folder at ``parts`` under assets/, e.g. ``path("demo", "products.csv")``."""
    return ROOT.joinpath(*parts)
