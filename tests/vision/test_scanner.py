"""Scanner: worker thread, newest-frame-wins skipping, de-duplication window, dispatch."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from codes.scanned import ProductCode, ProductLink
from vision.scanner import Detection, Scanner
from vision.sources import Frame, ImageFolderSource
from vision.symbols import Format, Symbol

MILK = Symbol(Format.EAN_13, "4006381333931", "04006381333931", ((0, 0), (9, 9)), "test")
LINK = Symbol(Format.QR_CODE, "https://aisle.example/s/ab/p/X", None, ((0, 0), (9, 9)), "test")


def frame(index: int, value: int = 0) -> Frame:
    """A tiny frame whose first pixel tells the scripted decoder what it 'shows'."""
    return Frame(np.full((4, 4), value, np.uint8), index, 0.0, f"f{index}")


def scripted(by_value: dict[int, list[Symbol]]) -> Callable[[np.ndarray], list[Symbol]]:
    return lambda image: by_value.get(int(image[0, 0]), [])


class Collect:
    def __init__(self) -> None:
        self.items: list[Detection] = []
        self.threads: set[str] = set()

    def __call__(self, d: Detection) -> None:
        self.items.append(d)
        self.threads.add(threading.current_thread().name)

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.items]


def run_frames(scanner: Scanner, frames: list[tuple[Frame, float]], clock) -> None:
    """Submit frames one at a time, advancing the clock before each, waiting for each decode."""
    for f, advance in frames:
        clock.advance(advance)
        scanner.submit(f)
        assert scanner.wait_idle(5)


def test_same_code_is_reported_once_within_window(clock) -> None:
    out = Collect()
    with Scanner(out, decoder=scripted({1: [MILK], 2: [MILK, LINK]}), dedup_window=2.0, clock=clock) as s:
        run_frames(s, [(frame(0, 1), 0), (frame(1, 1), 0.5), (frame(2, 2), 0.5), (frame(3, 0), 0.5)], clock)
    assert out.texts == [MILK.text, LINK.text]
    assert s.stats.duplicates == 2
    assert isinstance(out.items[0].intent, ProductCode) and isinstance(out.items[1].intent, ProductLink)
    assert out.items[1].frame_index == 2 and out.items[1].source == "f2"
    assert out.threads == {"scanner"}


def test_code_is_reported_again_after_it_was_away_for_the_window(clock) -> None:
    out = Collect()
    with Scanner(out, decoder=scripted({1: [MILK]}), dedup_window=2.0, clock=clock) as s:
        run_frames(s, [(frame(0, 1), 0), (frame(1, 0), 1.0), (frame(2, 1), 2.5)], clock)
    assert out.texts == [MILK.text, MILK.text]


def test_code_held_in_view_is_not_repeated(clock) -> None:
    out = Collect()
    with Scanner(out, decoder=scripted({1: [MILK]}), dedup_window=2.0, clock=clock) as s:
        run_frames(s, [(frame(i, 1), 1.0) for i in range(6)], clock)
    assert out.texts == [MILK.text]


def test_busy_worker_keeps_only_the_newest_frame(clock) -> None:
    release = threading.Event()
    started = threading.Event()
    decoded: list[int] = []

    def slow(image: np.ndarray) -> list[Symbol]:
        decoded.append(int(image[0, 0]))
        started.set()
        release.wait(5)
        return []

    with Scanner(Collect(), decoder=slow, clock=clock) as s:
        s.submit(frame(0, 10))
        assert started.wait(5)
        for i, value in enumerate((11, 12, 13), start=1):
            s.submit(frame(i, value))
        release.set()
        assert s.wait_idle(5)
    assert decoded == [10, 13]
    assert s.stats.skipped == 2 and s.stats.decoded == 2 and s.stats.submitted == 4


def test_dispatch_decides_the_callback_thread(clock) -> None:
    out = Collect()
    queued: list[Callable[[], None]] = []
    with Scanner(out, decoder=scripted({1: [MILK]}), clock=clock, dispatch=queued.append) as s:
        run_frames(s, [(frame(0, 1), 0)], clock)
    assert out.items == [] and len(queued) == 1
    queued[0]()
    assert out.texts == [MILK.text]
    assert out.threads == {threading.current_thread().name}


def test_failing_decoder_or_callback_does_not_stop_the_worker(clock) -> None:
    def flaky(image: np.ndarray) -> list[Symbol]:
        if image[0, 0] == 9:
            raise RuntimeError("camera glitch")
        return [MILK] if image[0, 0] == 1 else [LINK]

    calls: list[str] = []

    def callback(d: Detection) -> None:
        calls.append(d.text)
        raise ValueError("UI bug")

    with Scanner(callback, decoder=flaky, clock=clock) as s:
        run_frames(s, [(frame(0, 9), 0), (frame(1, 1), 0), (frame(2, 2), 0)], clock)
    assert s.stats.errors == 1
    assert calls == [MILK.text, LINK.text]


def test_wedge_codes_go_through_the_same_callback(clock) -> None:
    out = Collect()
    s = Scanner(out, decoder=scripted({}), clock=clock)
    detection = s.submit_text("4006381333931\r\n")
    assert detection is not None and detection.intent == ProductCode("04006381333931")
    s.submit_text("4006381333931")
    assert out.texts == ["4006381333931", "4006381333931"]  # a wedge scan is deliberate: no dedup
    deduped = Scanner(out, decoder=scripted({}), clock=clock, dedup_wedge=True)
    assert deduped.submit_text("96385074") is not None
    assert deduped.submit_text("96385074") is None


def test_attach_folder_source_with_real_decoder(barcode_dir: Path, clock) -> None:
    out = Collect()
    with Scanner(out, clock=clock, dedup_window=60) as s:
        reader = s.attach(ImageFolderSource(barcode_dir / "upca-1"))
        reader.join(30)
        assert s.wait_idle(30)
    # Frames may be skipped while the worker is busy, but nothing read is wrong or repeated.
    expected = {"456314319671", "036602301467", "070097025088", "045496442736"}
    assert out.texts and set(out.texts) <= expected
    assert len(out.texts) == len(set(out.texts))


def test_stop_is_idempotent_and_rejects_new_frames(clock) -> None:
    s = Scanner(Collect(), decoder=scripted({}), clock=clock).start()
    s.stop()
    s.stop()
    s.submit(frame(0))
    assert s.stats.submitted == 0
    with pytest.raises(ValueError):
        Scanner(Collect(), dedup_window=-1)


def test_stop_closes_an_endless_attached_source(tmp_path: Path, clock) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.full((8, 8), 1, np.uint8))
    seen = threading.Event()
    scanner = Scanner(lambda d: seen.set(), decoder=scripted({1: [MILK]}), clock=clock).start()
    source = ImageFolderSource(tmp_path, loop=True)
    reader = scanner.attach(source)
    assert seen.wait(5)
    scanner.stop(timeout=5)
    assert not reader.is_alive() and not source.available()
    assert scanner.stats.detections == 1
