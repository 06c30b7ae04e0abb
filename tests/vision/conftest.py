"""Vision fixtures: the shared barcode photos, scored once per session, and a controllable clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vision.decode import decode
from vision.evaluation import (
    SetScore,
    combined_reads,
    load_samples,
    raw_pyzbar_reads,
    raw_zxing_reads,
    score_set,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BARCODES = SHARED_DATA / "barcodes"


@pytest.fixture(scope="session")
def barcode_dir() -> Path:
    """Folder of labelled barcode photos; tests using it skip when the shared data is absent."""
    if not BARCODES.is_dir():
        pytest.skip(f"shared barcode photos not found at {BARCODES} (they are never copied into the repo)")
    return BARCODES


@dataclass(frozen=True)
class DatasetScores:
    """Per-set scores of the combined decoder and of each library used alone."""

    combined: dict[str, SetScore]
    zxing: dict[str, SetScore]
    pyzbar: dict[str, SetScore]


@pytest.fixture(scope="session")
def dataset_scores(barcode_dir: Path) -> DatasetScores:
    """Decode every photo once per test session with each decoder (the slow part of the suite)."""
    samples = load_samples(barcode_dir)
    cache: dict[Path, np.ndarray] = {}
    results: dict[str, dict[str, SetScore]] = {"combined": {}, "zxing": {}, "pyzbar": {}}
    readers = {"combined": combined_reads(decode), "zxing": raw_zxing_reads, "pyzbar": raw_pyzbar_reads}
    for name, set_samples in samples.items():
        for label, reader in readers.items():
            results[label][name] = score_set(name, set_samples, reader, cache)
    return DatasetScores(**results)


class FakeClock:
    """Monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fresh FakeClock."""
    return FakeClock()
