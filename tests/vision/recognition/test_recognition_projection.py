"""The WCCN projection: fitting, file checks, and how the recogniser, gallery and training pipeline use it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.recognition.catalog import CatalogProduct
from vision.recognition.dataset import ClassInfo
from vision.recognition.errors import GalleryError, GalleryModelMismatch, ModelLoadError, ModelShapeError
from vision.recognition.gallery import Gallery
from vision.recognition.projection import (
    fit_wccn,
    inverse,
    load_projection,
    network_space,
    project,
    save_projection,
)
from vision.recognition.recognizer import (
    DEFAULT_GALLERY,
    GALLERY_FILE,
    InferenceSettings,
    Recognizer,
    model_fingerprint,
    rank,
    try_open,
)
from vision.recognition.training.pipeline import Embedded, PipelineConfig, _merit, gallery_and_metrics


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _clusters(centres: np.ndarray, per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings around class centres whose noise is strong along a few shared directions, weak elsewhere."""
    labels = np.repeat(np.arange(len(centres)), per_class)
    noise = rng.normal(size=(len(labels), centres.shape[1])) * 0.05
    noise[:, :3] *= 80  # the directions in which photos of any product vary (light, angle...)
    return _unit(centres[labels] + noise).astype(np.float32), labels


def _top1(train: np.ndarray, labels: np.ndarray, query: np.ndarray, truth: np.ndarray, w: np.ndarray | None) -> float:
    protos = _unit(np.stack([project(train[labels == c], w).sum(0) for c in np.unique(labels)]))
    return float(np.mean(np.argmax(project(query, w) @ protos.T, axis=1) == truth))


def test_wccn_ranks_better_where_classes_vary_along_shared_directions() -> None:
    centres = np.random.default_rng(3).normal(size=(20, 16))
    train, labels = _clusters(centres, 30, np.random.default_rng(4))
    query, truth = _clusters(centres, 10, np.random.default_rng(5))
    w = fit_wccn(train, labels, 0.1)
    assert w.shape == (16, 16) and w.dtype == np.float32 and np.allclose(w, w.T, atol=1e-5)
    plain, whitened = _top1(train, labels, query, truth, None), _top1(train, labels, query, truth, w)
    assert whitened > plain + 0.1, (plain, whitened)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 10.0), st.integers(2, 6), st.integers(2, 8))
def test_wccn_is_finite_and_projects_to_unit_vectors(seed: int, shrinkage: float, classes: int, per: int) -> None:
    rng = np.random.default_rng(seed)
    x = _unit(rng.normal(size=(classes * per, 8))).astype(np.float32)
    w = fit_wccn(x, np.repeat(np.arange(classes), per), shrinkage)
    assert np.all(np.isfinite(w))
    y = project(x, w)
    assert y.shape == x.shape and np.allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-4)


def test_wccn_refuses_what_it_cannot_fit() -> None:
    x = _unit(np.random.default_rng(0).normal(size=(4, 8)))
    with pytest.raises(ValueError, match="one embedding"):
        fit_wccn(x, np.arange(4), 0.1)
    with pytest.raises(ValueError, match="positive"):
        fit_wccn(x, np.array([0, 0, 1, 1]), 0.0)
    with pytest.raises(ValueError, match="labels"):
        fit_wccn(x, np.array([0, 1]), 0.1)


def test_projection_files_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "p.npy"
    save_projection(good, np.eye(4))
    assert np.array_equal(load_projection(good, 4), np.eye(4, dtype=np.float32))
    with pytest.raises(ModelShapeError, match="shape"):
        load_projection(good, 8)
    with pytest.raises(ModelLoadError, match="not found"):
        load_projection(tmp_path / "missing.npy", 4)
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ModelLoadError, match="unreadable"):
        load_projection(tmp_path / "junk.npy", 4)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelLoadError):  # pickles are never loaded
        load_projection(tmp_path / "obj.npy", 1)
    for name, bad in {"nan": np.full((4, 4), np.nan), "zeros": np.zeros((4, 4)), "huge": np.eye(4) * 1e9,
                      "ints": np.eye(4, dtype=np.int64)}.items():
        np.save(tmp_path / f"{name}.npy", bad)
        with pytest.raises(ModelShapeError):
            load_projection(tmp_path / f"{name}.npy", 4)


def _model_dir(committed_model: Path, tmp_path: Path) -> Path:
    """A copy of the committed model, its settings and projection (if any) to edit."""
    for f in committed_model.parent.glob(committed_model.stem + ".*"):
        shutil.copyfile(f, tmp_path / f.name)
    return tmp_path / committed_model.name


def test_committed_model_uses_its_projection(committed_model: Path) -> None:
    rec = Recognizer.open(committed_model, DEFAULT_GALLERY)
    name = rec.settings.projection
    assert name is not None, "the committed settings name a projection"
    assert rec.projection is not None and rec.projection.shape == (rec.model.embed_dim,) * 2
    assert rec.gallery.model_id == model_fingerprint(committed_model, rec.projection) != model_fingerprint(
        committed_model)


def test_broken_or_missing_projection_turns_recognition_off(committed_model: Path, tmp_path: Path) -> None:
    model = _model_dir(committed_model, tmp_path)
    meta = json.loads(model.with_suffix(".json").read_text())
    projection = tmp_path / meta["inference"]["projection"]
    projection.write_bytes(b"not a matrix")
    rec, reason = try_open(model_path=model, gallery_path=DEFAULT_GALLERY)
    assert rec is None and "unreadable projection" in (reason or "")
    projection.unlink()
    rec, reason = try_open(model_path=model, gallery_path=DEFAULT_GALLERY)
    assert rec is None and "not found" in (reason or "")
    # A path instead of a file name beside the model is not followed: settings fall back to defaults, and the
    # committed gallery (made through the projection) no longer fits the model.
    meta["inference"]["projection"] = "../../etc/passwd"
    model.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(GalleryError, match="re-enrol"):
        Recognizer.open(model, DEFAULT_GALLERY)


def test_a_gallery_from_before_the_projection_is_refused(committed_model: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    rec = Recognizer.open(committed_model, DEFAULT_GALLERY)
    old = Gallery(rec.model.embed_dim, model_fingerprint(committed_model))
    old.add("LOCAL-1", np.eye(rec.model.embed_dim, dtype=np.float32)[:1], label="enrolled by staff")
    old.save(tmp_path / "old.npz")
    with pytest.raises(GalleryModelMismatch, match="re-enrol"):
        Recognizer.open(committed_model, tmp_path / "old.npz")
    # A device updated to the new model: its own gallery is kept aside and it starts again from the shipped one.
    device = tmp_path / "device"
    device.mkdir()
    old.save(device / GALLERY_FILE)
    updated = Recognizer.open(committed_model, DEFAULT_GALLERY, data_dir=device)
    assert "LOCAL-1" not in updated.gallery and len(updated.gallery) == len(rec.gallery)
    aside = device / f"recognition_gallery.{old.model_id}.npz"
    assert "LOCAL-1" in Gallery.load(aside)
    assert "re-enrol" in caplog.text and aside.name in caplog.text
    updated.enrol("LOCAL-2", [np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)])
    assert "LOCAL-2" in Recognizer.open(committed_model, DEFAULT_GALLERY, data_dir=device).gallery


def _embedded(rng: np.random.Generator, classes: int, per: int, val_per: int) -> Embedded:
    train, labels = _clusters(rng.normal(size=(classes, 16)), per + val_per, rng)
    is_val = np.tile(np.arange(per + val_per) >= per, classes)
    by_class = {c: train[~is_val & (labels == c)] for c in range(classes)}
    return Embedded(96, False, by_class, {}, train[is_val], labels[is_val], [1.0] * int(is_val.sum()))


def test_pipeline_scores_through_the_projection_as_the_runtime_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    embedded = _embedded(rng, 12, 20, 6)
    classes = [ClassInfo(c, f"class-{c}", c // 2, f"kind-{c // 2}", None) for c in range(12)]
    products = {c.name: CatalogProduct(f"SKU-{c.fine_id}", c.name, f"Product {c.fine_id}") for c in classes}
    cfg = PipelineConfig(data=tmp_path, out=tmp_path)
    labels = np.repeat(np.arange(12), 20)
    w = fit_wccn(np.concatenate([embedded.train[c] for c in range(12)]), labels, 0.1)
    plain, _ = gallery_and_metrics(embedded, classes, products, [], cfg, None, "id")
    projected, gallery = gallery_and_metrics(embedded, classes, products, [], cfg, w, "id-w")
    assert _merit(projected, []) > _merit(plain, [])
    # The runtime's ranking: project the query, compare with the gallery's prototypes.
    snap = gallery.snapshot()
    query = project(embedded.val, w)
    top1 = np.mean([snap.skus[int(np.argmax(snap.prototypes @ q))] == f"SKU-{t}"
                    for q, t in zip(query, embedded.val_fine, strict=True)])
    assert projected["val_top1"] == pytest.approx(top1)
    # And the runtime's unknown decision, in the network's own space, at the calibrated threshold.
    inference = projected["inference"]
    assert isinstance(inference, dict)
    settings_ = InferenceSettings(inference["temperature"], inference["unknown_below"])
    gate_protos = network_space(snap.prototypes, inverse(w))
    unknown = [rank(q, snap, settings_, 5, gate_protos @ raw).unknown
               for q, raw in zip(query, embedded.val, strict=True)]
    assert projected["val_unknown_rate"] == pytest.approx(np.mean(unknown))
    held, _ = gallery_and_metrics(embedded, classes, products, [3, 4], cfg, w, "id-w")
    assert held["fewshot_val_images"] == 12 and "trained_classes_val_top5" in held


def test_prototypes_map_back_to_the_network_space() -> None:
    centres = np.random.default_rng(8).normal(size=(10, 16))
    train, labels = _clusters(centres, 25, np.random.default_rng(9))
    w = fit_wccn(train, labels, 0.1)
    projected = _unit(np.stack([project(train[labels == c], w).sum(0) for c in range(10)]))
    plain = _unit(np.stack([train[labels == c].sum(0) for c in range(10)]))
    back = network_space(projected, inverse(w))
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(back * plain, axis=1))) > 0.99
    assert np.allclose(inverse(w) @ w, np.eye(16), atol=1e-3)

