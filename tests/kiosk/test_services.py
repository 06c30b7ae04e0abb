"""The app's non-drawing parts: camera feed from an image folder, staff sign-in, settings, device id, QR buffers."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import segno

from codes.scanned import ProductLink
from kiosk.config import KioskConfig, Mode, hash_pin, load_settings, save_settings, stable_device_id
from kiosk.services.camera import CameraFeed, make_source
from kiosk.services.qr import qr_pixels
from kiosk.services.staff import StaffAuth
from tests.kiosk.conftest import GROCERY_PHOTO
from vision.scanner import Detection


def test_folder_camera_decodes_off_the_caller_thread_and_keeps_previews(tmp_path: Path) -> None:
    segno.make("https://aisle.example/s/sthlm-city/p/DAI-MILK-1L", error="m").save(str(tmp_path / "a.png"), scale=6)
    seen: list[Detection] = []
    done = threading.Event()
    threads: set[str] = set()

    def dispatch(fn):  # noqa: ANN001, ANN202 - stands in for Kivy's clock
        threads.add(threading.current_thread().name)
        fn()
        done.set()

    feed = CameraFeed(lambda: make_source(tmp_path, None))
    feed.start(seen.append, dispatch)
    try:
        assert done.wait(10)
    finally:
        feed.stop()
    assert seen and seen[0].intent == ProductLink("sthlm-city", "DAI-MILK-1L")
    assert threading.current_thread().name not in threads  # decoded on a worker, handed over by dispatch
    preview = feed.preview()
    assert preview is not None and len(preview.pixels) == preview.width * preview.height * 3


def test_staff_pin_locks_out_after_repeated_guesses(tmp_path: Path) -> None:
    now = [0.0]
    auth = StaffAuth(KioskConfig(staff_pin_hash=hash_pin("9753"), data_dir=tmp_path), clock=lambda: now[0])
    assert auth.pin("9753").ok
    for _ in range(4):
        assert auth.pin("0000").reason == "wrong_pin"
    assert auth.pin("0000").reason == "locked"
    assert auth.pin("9753").reason == "locked"  # even the right PIN waits
    now[0] += 61
    assert auth.pin("9753").ok


def test_settings_persist_without_the_pin_itself(tmp_path: Path) -> None:
    config = KioskConfig(mode=Mode.KIOSK, data_dir=tmp_path)
    changed = replace(config, language="fa", text_scale=1.3, high_contrast=True, idle_timeout=60.0,
                      staff_pin_hash=hash_pin("1357"))
    save_settings(changed)
    text = changed.settings_path.read_text()
    assert "1357" not in text
    loaded = load_settings(config)
    assert (loaded.language, loaded.text_scale, loaded.high_contrast, loaded.idle_timeout) == ("fa", 1.3, True, 60.0)
    changed.settings_path.write_text("{not json")
    assert load_settings(config) == config  # a broken file never stops the kiosk


def test_device_id_is_made_once_and_kept(tmp_path: Path) -> None:
    config = KioskConfig(mode=Mode.PHONE, data_dir=tmp_path)
    first = stable_device_id(config)
    assert first.startswith("phone-") and stable_device_id(config) == first


def test_qr_pixels_have_a_quiet_zone() -> None:
    code = qr_pixels("https://aisle.example/s/x/cart/abc")
    assert len(code.pixels) == code.size * code.size
    assert set(code.pixels[: code.size * 4]) == {255}  # four white rows of quiet zone


def test_recognition_says_why_it_is_off(tmp_path: Path) -> None:
    from kiosk.services.recognition import RecognitionService, RecognitionUnavailable

    service = RecognitionService(tmp_path, model=tmp_path / "missing_embedder.tflite")
    assert not service.load() and "missing_embedder" in service.reason
    with pytest.raises(RecognitionUnavailable):
        service.suggest(np.zeros((240, 320, 3), np.uint8))


def test_recognition_names_a_real_photo_and_never_offers_unsure_guesses(tmp_path: Path) -> None:
    from kiosk.services.recognition import MIN_SCORE, RecognitionService
    from vision.recognition.images import read_image_bgr

    if not GROCERY_PHOTO.is_file():
        pytest.skip(f"shared photo not found: {GROCERY_PHOTO}")
    service = RecognitionService(tmp_path)  # the committed model and gallery
    assert service.load(), service.reason
    guess = service.suggest(read_image_bgr(GROCERY_PHOTO))
    assert not guess.unknown and guess.matches[0].sku == "FRU-APL-GOLDEN"
    scores = [s.score for s in guess.matches]
    assert all(score >= MIN_SCORE for score in scores) and scores == sorted(scores, reverse=True)
    blank = service.suggest(np.full((480, 640, 3), 128, np.uint8))  # a covered lens
    assert blank.unknown and not blank.matches and blank.reason
