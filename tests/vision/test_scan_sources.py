"""Frame sources (folder replay, OpenCV capture) and the keyboard-wedge scanner."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from vision.decode import decode
from vision.sources import ImageFolderSource, OpenCVCapture, SourceError
from vision.wedge import KeyboardWedge


def test_folder_source_replays_real_photos_in_name_order(barcode_dir: Path) -> None:
    folder = barcode_dir / "upca-1"
    source = ImageFolderSource(folder)
    assert source.available()
    frames = list(source)
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".webp")
    assert [f.label for f in frames] == names
    assert [f.index for f in frames] == list(range(len(names)))
    texts = {f.label: [s.text for s in decode(f.image)] for f in frames}
    assert texts["2.webp"] == ["036602301467"]


def test_folder_source_skips_unreadable_files_and_paces_with_injected_sleep(tmp_path: Path, clock) -> None:
    good = np.array(zxingcpp.create_barcode("96385074", zxingcpp.BarcodeFormat.EAN8).to_image(scale=3))
    cv2.imwrite(str(tmp_path / "a.png"), good)
    (tmp_path / "b.png").write_bytes(b"not really a png")
    cv2.imwrite(str(tmp_path / "c.jpg"), good)
    (tmp_path / "notes.txt").write_text("ignored")
    sleeps: list[float] = []
    source = ImageFolderSource(tmp_path, fps=4, clock=clock, sleep=sleeps.append)
    frames = list(source)
    assert [f.label for f in frames] == ["a.png", "c.jpg"]
    assert sleeps == [0.25]
    assert frames[0].timestamp == clock()


def test_folder_source_loop_and_close(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((20, 20), 255, np.uint8))
    source = ImageFolderSource(tmp_path, loop=True)
    seen = []
    for frame in source:
        seen.append(frame.index)
        if len(seen) == 5:
            source.close()
    assert seen == [0, 1, 2, 3, 4]
    assert not source.available()


def test_looping_folder_sees_pictures_swapped_between_passes(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((20, 20), 255, np.uint8))
    source = ImageFolderSource(tmp_path, loop=True, sleep=lambda _s: None)
    labels = []
    for frame in source:
        labels.append(frame.label)
        if labels == ["a.png"]:  # someone holds up a different product
            (tmp_path / "a.png").unlink()
            cv2.imwrite(str(tmp_path / "b.png"), np.zeros((20, 20), np.uint8))
        if len(labels) == 3:
            source.close()
    assert labels == ["a.png", "b.png", "b.png"]


def test_empty_or_missing_folder_is_unavailable(tmp_path: Path) -> None:
    assert not ImageFolderSource(tmp_path).available()
    assert not ImageFolderSource(tmp_path / "missing").available()
    with pytest.raises(SourceError):
        list(ImageFolderSource(tmp_path))


def test_opencv_capture_reads_a_video_file(tmp_path: Path, clock) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(4):
        writer.write(np.full((120, 160, 3), 60 * i, np.uint8))
    writer.release()
    with OpenCVCapture(str(path), clock=clock) as cap:
        assert cap.available()
        frames = list(cap)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[0].image.shape == (120, 160, 3)


def test_opencv_capture_unavailable_device_and_file(tmp_path: Path) -> None:
    assert not OpenCVCapture(str(tmp_path / "missing.avi")).available()

    class Closed:
        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return False

    cap = OpenCVCapture(7, capture_factory=lambda _: Closed())
    assert not cap.available()
    with pytest.raises(SourceError):
        list(cap)


def test_opencv_capture_tolerates_dropped_stream_frames_then_gives_up() -> None:
    script = [True, False, True, False, False, False]

    class Flaky:
        released = False

        def isOpened(self) -> bool:  # noqa: N802
            return True

        def read(self) -> tuple[bool, np.ndarray | None]:
            ok = script.pop(0) if script else False
            return ok, (np.zeros((4, 4, 3), np.uint8) if ok else None)

        def set(self, prop: int, value: float) -> bool:
            return True

        def release(self) -> None:
            Flaky.released = True

    cap = OpenCVCapture("rtsp://camera.local/stream", max_failures=3, capture_factory=lambda _: Flaky())
    assert len(list(cap)) == 2
    cap.close()
    assert Flaky.released


# Keyboard wedge.


def typed(wedge: KeyboardWedge, clock, text: str, gap: float = 0.01) -> list[str]:
    done = []
    for char in text:
        clock.advance(gap)
        code = wedge.feed_char(char)
        if code:
            done.append(code)
    return done


def test_wedge_yields_code_on_enter(clock) -> None:
    wedge = KeyboardWedge(clock=clock)
    assert typed(wedge, clock, "4006381333931\r") == ["4006381333931"]
    assert typed(wedge, clock, "https://aisle.example/s/ab/p/X") == []
    clock.advance(0.01)
    assert wedge.feed_key("Enter") == "https://aisle.example/s/ab/p/X"
    assert wedge.pop_codes() == ["4006381333931", "https://aisle.example/s/ab/p/X"]
    assert wedge.pop_codes() == []


def test_wedge_ignores_slow_human_typing(clock) -> None:
    wedge = KeyboardWedge(clock=clock, max_gap=0.05)
    assert typed(wedge, clock, "milk\r", gap=0.2) == []
    typed(wedge, clock, "abc", gap=0.3)
    clock.advance(0.5)  # the person stops typing, then scans
    assert typed(wedge, clock, "96385074\n", gap=0.005) == ["96385074"]


def test_wedge_enter_after_a_pause_does_not_complete_human_text(clock) -> None:
    wedge = KeyboardWedge(clock=clock, max_gap=0.05)
    typed(wedge, clock, "96385074")
    clock.advance(1.0)
    assert wedge.feed_key("enter") is None


def test_wedge_keys_lengths_and_controls(clock) -> None:
    wedge = KeyboardWedge(clock=clock, min_length=3, max_length=10, max_gap=None)
    assert wedge.feed_text("ab\r") == []
    assert wedge.feed_text("12345678901\r") == []  # overflow is dropped, not truncated
    for key in ("shift", "1", "2", "3", "backspace", "4", "5", "6", "7"):
        wedge.feed_key(key)
    assert wedge.feed_key("Return") == "4567"
    assert wedge.feed_text("01\x1d10AB\x07C\t") == ["01\x1d10ABC"]
    wedge.feed_text("999")
    wedge.feed_key("escape")
    assert wedge.feed_text("\n") == []
    wedge.close()
    assert not wedge.available()
    assert wedge.feed_text("12345\n") == []
