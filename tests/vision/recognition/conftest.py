"""Fixtures for recognition tests: the committed model/gallery and the shared grocery photos (skipped if absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from recognition_helpers import GROCERY

from vision.recognition.recognizer import DEFAULT_GALLERY, DEFAULT_MODEL, Recognizer


@pytest.fixture(scope="session")
def grocery() -> Path:
    """The shared Grocery Store Dataset folder."""
    if not (GROCERY / "val.txt").is_file():
        pytest.skip(f"shared grocery data not found at {GROCERY.resolve()}")
    return GROCERY.resolve()


@pytest.fixture(scope="session")
def committed_model() -> Path:
    """The committed embedding model."""
    if not DEFAULT_MODEL.is_file():
        pytest.skip(f"committed model missing: {DEFAULT_MODEL} (run `python -m vision train --out assets/models`)")
    return DEFAULT_MODEL


@pytest.fixture
def recognizer(committed_model: Path) -> Recognizer:
    """A recogniser over the committed model and gallery (read-only: no data dir)."""
    return Recognizer.open(committed_model, DEFAULT_GALLERY)

