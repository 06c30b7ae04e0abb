"""Gallery: enrol, update, remove, persist, and refuse files from another model or broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vision.recognition.errors import GalleryError
from vision.recognition.gallery import Gallery


def unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_add_update_remove_and_roundtrip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = Gallery(8, "model-a")
    g.add("A", unit(rng, 3), label="Apple")
    g.add("B", unit(rng, 2))
    g.add("A", unit(rng, 2))  # update adds photos
    assert g.count("A") == 5 and g.count("B") == 2 and len(g) == 2
    snap = g.snapshot()
    assert snap.skus == ("A", "B") and snap.labels == ("Apple", "B")
    assert np.allclose(np.linalg.norm(snap.prototypes, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        snap.prototypes[0, 0] = 1.0  # snapshots are immutable
    g.add("A", unit(rng, 1), replace=True)
    assert g.count("A") == 1
    path = tmp_path / "g.npz"
    g.save(path)
    loaded = Gallery.load(path, "model-a")
    assert loaded.skus() == ["A", "B"] and loaded.count("A") == 1
    assert np.allclose(loaded.snapshot().prototypes, g.snapshot().prototypes, atol=1e-6)
    assert loaded.remove("B") and not loaded.remove("B")
    assert loaded.skus() == ["A"]
    assert not list(tmp_path.glob(".gallery-*")), "temporary files left behind"


def test_refuses_other_model_and_broken_files(tmp_path: Path) -> None:
    g = Gallery(8, "model-a")
    g.add("A", unit(np.random.default_rng(1), 1))
    path = tmp_path / "g.npz"
    g.save(path)
    with pytest.raises(GalleryError, match="re-enrol"):
        Gallery.load(path, "model-b")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(GalleryError, match="unreadable"):
        Gallery.load(broken)
    with pytest.raises(GalleryError, match="not found"):
        Gallery.load(tmp_path / "missing.npz")


def test_rejects_bad_embeddings() -> None:
    g = Gallery(8)
    with pytest.raises(GalleryError):
        g.add("A", np.zeros((2, 5), np.float32))
    with pytest.raises(GalleryError):
        g.add("A", np.full((1, 8), np.nan, np.float32))
    with pytest.raises(GalleryError):
        g.add("", np.ones((1, 8), np.float32))
    assert len(g) == 0 and g.snapshot().prototypes.shape == (0, 8)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=6), st.integers(0, 2**16))
def test_prototype_is_direction_of_mean(counts: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = Gallery(8)
    batches = {f"P{i}": unit(rng, n) for i, n in enumerate(counts)}
    for sku, emb in batches.items():
        for row in emb:  # photo by photo gives the same prototype as all at once
            g.add(sku, row)
    snap = g.snapshot()
    for sku, emb in batches.items():
        mean = emb.mean(axis=0)
        if np.linalg.norm(mean) > 1e-3:
            assert np.allclose(snap.prototypes[snap.skus.index(sku)], mean / np.linalg.norm(mean), atol=1e-4)
