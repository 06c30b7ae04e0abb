"""Units without the trained model: dataset lists, catalogue, frames, calibration, backends, async worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vision.recognition.backends import InterpreterBackend, backend_status, pick_backend
from vision.recognition.calibration import fit_calibration
from vision.recognition.catalog import read_vision_products
from vision.recognition.dataset import read_classes, read_list, resolve_list
from vision.recognition.errors import CatalogError, DatasetError, NoInterpreterError
from vision.recognition.images import frame_problem, model_input
from vision.recognition.recognizer import Match, Recognition
from vision.recognition.worker import RecognitionWorker


def test_list_parsing_and_errors(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("a/b.jpg, 3, 1\n\n/c/d.jpg,0,0\n")
    samples = read_list(tmp_path, resolve_list(tmp_path, "l.txt"), num_classes=4)
    assert [(s.path, s.fine_id, s.coarse_id) for s in samples] == [
        (tmp_path / "a/b.jpg", 3, 1), (tmp_path / "c/d.jpg", 0, 0)]
    (tmp_path / "bad.txt").write_text("a.jpg, x, 1\n")
    with pytest.raises(DatasetError, match="bad.txt:1"):
        read_list(tmp_path, tmp_path / "bad.txt")
    with pytest.raises(DatasetError, match="outside"):
        read_list(tmp_path, tmp_path / "l.txt", num_classes=2)
    with pytest.raises(DatasetError, match="not found"):
        resolve_list(tmp_path, "nope.txt")


def test_shared_classes_match_demo_catalogue(grocery: Path) -> None:
    classes = read_classes(grocery / "classes.csv")
    products = read_vision_products()
    assert len(classes) == 81
    assert {c.name for c in classes} <= set(products), "every class is a vision_label of the demo catalogue"


def test_catalogue_errors(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("sku,vision_label\nA,x\nB,x\n")
    with pytest.raises(CatalogError, match="twice"):
        read_vision_products(tmp_path / "p.csv")
    with pytest.raises(CatalogError, match="not found"):
        read_vision_products(tmp_path / "missing.csv")


def test_frame_checks() -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert frame_problem(photo) is None
    assert "blank" in (frame_problem(np.zeros((240, 320, 3), np.uint8)) or "")
    assert "small" in (frame_problem(photo[:8, :8]) or "")
    x = model_input(photo, 96)
    assert x.shape == (1, 96, 96, 3) and x.dtype == np.float32


def _separable(seed: int, n: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and similarities where each image's own class stands clear of the others."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    sims = rng.uniform(0.0, 0.4, (n, classes))
    sims[np.arange(n), labels] = rng.uniform(0.6, 0.9, n)
    return sims, labels


def test_calibration_separates_known_from_left_out() -> None:
    sims, labels = _separable(0, 400, 10)
    report = fit_calibration(sims, labels)
    assert 0.4 <= report.calibration.unknown_below <= 0.6
    assert report.known_accepted == 1.0 and report.unknown_rejected == 1.0
    assert 0.001 < report.calibration.temperature < 0.5


def test_calibration_gate_scores_the_top_ranked_class() -> None:
    sims, labels = _separable(1, 300, 6)
    plain = fit_calibration(sims, labels)
    assert fit_calibration(sims, labels, sims) == plain  # the ranking's own similarities: the same fit
    # A gate that finds every top-ranked class equally far: known and left-out cannot be told apart.
    far = fit_calibration(sims, labels, np.full_like(sims, 0.1))
    assert far.known_accepted + far.unknown_rejected <= 1.0 + 1e-9
    # A gate that agrees with the labels but on another scale moves the threshold onto that scale.
    scaled = fit_calibration(sims, labels, sims * 0.5)
    assert scaled.calibration.unknown_below == pytest.approx(plain.calibration.unknown_below * 0.5, abs=0.02)


def test_no_usable_backend_is_a_clear_error() -> None:
    fake = (InterpreterBackend("nope", "no_such_module_xyz.interpreter"),)
    assert "not importable" in (backend_status(fake)["nope"] or "")
    with pytest.raises(NoInterpreterError, match="install ai-edge-litert"):
        pick_backend(None, fake)
    with pytest.raises(NoInterpreterError, match="unknown interpreter backend"):
        pick_backend("other", fake)
    assert backend_status()["litert"] is None


class SlowRecognizer:
    """Stands in for Recognizer: takes 50 ms and reports the frame's first pixel."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def recognize(self, frame: np.ndarray, k: int = 5) -> Recognition:
        time.sleep(0.05)
        self.seen.append(int(frame[0, 0]))
        if frame[0, 0] == 99:
            raise ValueError("bad frame")
        return Recognition((Match(str(frame[0, 0]), "x", 1.0, 1.0),), False)


def test_worker_hands_results_to_callback_newest_frame_wins() -> None:
    fake = SlowRecognizer()
    results: list[tuple[Recognition, str]] = []
    done = threading.Event()

    def callback(r: Recognition) -> None:
        results.append((r, threading.current_thread().name))
        if r.matches and r.matches[0].sku == "9":
            done.set()

    with RecognitionWorker(fake) as worker:  # type: ignore[arg-type]
        frame = np.zeros((4, 4), np.uint8)
        for i in range(10):
            frame[0, 0] = i  # the caller reuses its buffer: the worker must have copied it
            worker.submit(frame, callback)
        assert done.wait(5)
        assert worker.idle(5)
        assert worker.dropped > 0 and fake.seen[-1] == 9 and len(fake.seen) < 10
    assert all(name == "recognition" for _, name in results)
    with pytest.raises(AttributeError):
        results[0][0].unknown = True  # type: ignore[misc]


def test_worker_survives_errors_and_bad_callbacks() -> None:
    got: list[Recognition] = []
    with RecognitionWorker(SlowRecognizer()) as worker:  # type: ignore[arg-type]
        worker.submit(np.full((2, 2), 99, np.uint8), got.append)
        assert worker.idle(5)
        worker.submit(np.full((2, 2), 1, np.uint8), lambda r: 1 / 0)
        assert worker.idle(5)
        worker.submit(np.full((2, 2), 2, np.uint8), got.append)
        assert worker.idle(5)
    assert got[0].unknown and "bad frame" in (got[0].reason or "")
    assert got[1].best is not None and got[1].best.sku == "2"
