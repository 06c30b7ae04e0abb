"""The committed model: loads, recognises real shop photos, learns a new product from photos, fails safely."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from recognition_helpers import HERE, val_photos

from vision.recognition.catalog import read_vision_products
from vision.recognition.errors import GalleryError, ModelLoadError, ModelShapeError
from vision.recognition.gallery import Gallery
from vision.recognition.images import read_image_bgr
from vision.recognition.recognizer import DEFAULT_GALLERY, GALLERY_FILE, Recognizer, try_open

# Classes from across the catalogue: fruit, vegetables and look-alike packages.
SAMPLE_CLASSES = ("Banana", "Granny-Smith", "Lemon", "Red-Bell-Pepper", "Oatly-Oat-Milk", "Bravo-Orange-Juice",
                  "Arla-Standard-Milk", "Cucumber", "Watermelon", "Yellow-Onion")


def test_recognises_real_photos(recognizer: Recognizer, grocery: Path) -> None:
    products = read_vision_products()
    hits = top5 = total = 0
    for name in SAMPLE_CLASSES:
        for photo in val_photos(grocery, name)[:3]:
            result = recognizer.recognize(read_image_bgr(photo))
            skus = [m.sku for m in result.matches]
            total += 1
            hits += skus[0] == products[name].sku
            top5 += products[name].sku in skus
            assert len(result.matches) == 5 and result.ms > 0
            assert all(a.similarity >= b.similarity for a, b in zip(result.matches, result.matches[1:], strict=False))
            assert 0.0 <= result.matches[0].score <= 1.0
    assert hits / total >= 0.6, f"top-1 {hits}/{total}"
    assert top5 / total >= 0.85, f"top-5 {top5}/{total}"


def test_enrol_new_product_from_photos(committed_model: Path, grocery: Path, tmp_path: Path) -> None:
    sku = read_vision_products()["Granny-Smith"].sku
    rec = Recognizer.open(committed_model, DEFAULT_GALLERY, data_dir=tmp_path)
    assert rec.remove(sku)  # as if the store had never taught it this product
    queries = [read_image_bgr(p) for p in val_photos(grocery, "Granny-Smith")]
    assert all(rec.recognize(q).matches[0].sku != sku for q in queries)

    views = 1 if rec.settings.flip_average else 2  # each photo, plus its mirror image unless already averaged
    used = rec.enrol(sku, val_photos(grocery, "Granny-Smith", "train")[:5], label="Granny Smith")
    assert used == 5 * views
    hits = sum(rec.recognize(q).matches[0].sku == sku for q in queries)
    assert hits >= len(queries) * 2 / 3, f"{hits}/{len(queries)} recognised right after enrolment"

    reopened = Recognizer.open(committed_model, DEFAULT_GALLERY, data_dir=tmp_path)  # persisted in the data dir
    assert sku in reopened.gallery and reopened.gallery.count(sku) == 5 * views
    assert reopened.gallery.snapshot().labels[reopened.gallery.skus().index(sku)] == "Granny Smith"
    reopened.enrol(sku, val_photos(grocery, "Granny-Smith", "train")[5:7], replace=True)
    assert reopened.gallery.count(sku) == 2 * views
    assert reopened.remove(sku) and not reopened.remove(sku)
    assert sku not in Gallery.load(tmp_path / GALLERY_FILE)


def test_out_of_catalogue_comes_back_unknown(recognizer: Recognizer, grocery: Path) -> None:
    rng = np.random.default_rng(7)
    synthetic = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(4)]
    yy, xx = np.mgrid[0:240, 0:320]
    synthetic.append(np.dstack([(xx * 255 // 320), (yy * 255 // 240), np.full_like(xx, 128)]).astype(np.uint8))
    synthetic.append(((((xx // 20) + (yy // 20)) % 2) * 255).astype(np.uint8))  # checkerboard, grey
    unknown = sum(recognizer.recognize(im).unknown for im in synthetic)
    assert unknown > len(synthetic) / 2, f"only {unknown}/{len(synthetic)} synthetic non-products were unknown"

    # A real product the store never enrolled: leave a few classes out of the gallery.
    left_out = ("Banana", "Watermelon", "Oatly-Oat-Milk", "Red-Bell-Pepper", "Cucumber")
    products = read_vision_products()
    for name in left_out:
        recognizer.gallery.remove(products[name].sku)
    photos = [p for name in left_out for p in val_photos(grocery, name)]
    unknown = sum(recognizer.recognize(read_image_bgr(p)).unknown for p in photos)
    assert unknown > len(photos) / 2, f"only {unknown}/{len(photos)} never-enrolled products were unknown"


def test_bad_frames_are_unknown_not_errors(recognizer: Recognizer) -> None:
    for frame, why in [(np.zeros((480, 640, 3), np.uint8), "blank"), (np.full((8, 8, 3), 90, np.uint8), "small"),
                       (np.zeros((10, 10), np.float64), "uint8"), ("not an image", "numpy")]:
        result = recognizer.recognize(frame)
        assert result.unknown and result.best is None and why in (result.reason or "")


def test_empty_gallery_is_unknown(committed_model: Path, tmp_path: Path) -> None:
    rec = Recognizer.open(committed_model, None, data_dir=tmp_path)
    result = rec.recognize(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8))
    assert result.unknown and result.matches == () and "no products" in (result.reason or "")


def test_broken_model_files_fail_clearly(committed_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        Recognizer.open(tmp_path / "missing.tflite")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(committed_model.read_bytes()[:5000])
    with pytest.raises(ModelLoadError):
        Recognizer.open(corrupt)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError):
        Recognizer.open(garbage)
    with pytest.raises(ModelShapeError, match="input shape"):
        Recognizer.open(HERE / "data" / "wrong_shape.tflite")
    recognizer, reason = try_open(model_path=corrupt)
    assert recognizer is None and reason


def test_gallery_of_another_model_is_refused(committed_model: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.tflite"
    shutil.copyfile(committed_model, other)
    with other.open("ab") as fh:  # same network, different bytes: a different model id
        fh.write(b"\0")
    with pytest.raises(GalleryError, match="re-enrol"):
        Recognizer.open(other, DEFAULT_GALLERY)
