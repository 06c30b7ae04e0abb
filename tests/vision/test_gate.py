"""The no-code gate: cheap on photos without a code, and never costs a read the full chain makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zxingcpp

from vision import gate
from vision.decode import DecodeOptions, Decoder
from vision.evaluation import load_samples
from vision.images import load_image
from vision.variants import VariantCache

from .conftest import SHARED_DATA

SHARED_SETS = [SHARED_DATA / "barcodes", SHARED_DATA / "barcodes-gs1"]


def _symbols(decoder: Decoder, pixels: np.ndarray) -> list[tuple[str, str]]:
    return [(s.format.value, s.text) for s in decoder.decode(pixels)]


def _damaged_datamatrix() -> np.ndarray:
    """A GS1 DataMatrix with a quarter wiped out: located by zxing-cpp, not decodable."""
    code = zxingcpp.create_barcode("(01)09501101530003(17)261231(10)ABC", zxingcpp.BarcodeFormat.DataMatrix)
    img = np.pad(np.asarray(code.to_image(scale=8)), 40, constant_values=255)
    h, w = img.shape
    img[40 : h // 2, 40 : w // 2] = 255
    return img


@pytest.mark.parametrize(
    "image",
    [
        np.full((480, 640), 255, np.uint8),
        np.zeros((480, 640), np.uint8),
        np.random.default_rng(7).integers(0, 256, (480, 640), dtype=np.uint8),
        (128 + np.random.default_rng(8).normal(0, 20, (480, 640))).clip(0, 255).astype(np.uint8),
    ],
    ids=["white", "black", "noise", "gray-noise"],
)
def test_gate_sees_nothing_in_blank_or_noise(image: np.ndarray) -> None:
    assert gate.may_hold_code(VariantCache(image)) is False
    symbols, trace = Decoder().decode_with_trace(image)
    assert symbols == [] and trace.gated and trace.stages_run == 2


def test_gate_off_runs_the_whole_chain() -> None:
    symbols, trace = Decoder(options=DecodeOptions(gate=False)).decode_with_trace(np.full((200, 200), 255, np.uint8))
    assert symbols == [] and not trace.gated and trace.stages_run > 10


def test_located_but_undecodable_symbol_counts_as_something() -> None:
    img = _damaged_datamatrix()
    assert gate.zxing_sees_symbol(img) is True
    assert gate.may_hold_code(VariantCache(img)) is True
    assert not Decoder().decode_with_trace(img)[1].gated


@pytest.mark.parametrize(
    ("photo", "locator"),
    [
        ("barcodes/ean13-1/34.webp", "opencv_sees_barcode"),  # small blurred EAN-13, read by the 6th stage
        ("barcodes/upca-2/41.webp", "opencv_sees_barcode"),
        ("barcodes/qrcode-2/12.webp", "zxing_sees_symbol"),  # QR drawn over a photo, read after a blur
    ],
)
def test_each_locator_keeps_a_late_read(photo: str, locator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = SHARED_DATA / photo
    if not path.is_file():
        pytest.skip(f"shared photo not found at {path}")
    pixels = load_image(path)
    symbols, trace = Decoder().decode_with_trace(pixels)
    assert len(symbols) == 1 and trace.stages_run > 2 and not trace.gated
    # Without this locator's vote the gate would stop the chain and lose the read: that is what it is for.
    monkeypatch.setattr(gate, locator, lambda image: False)
    symbols, trace = Decoder().decode_with_trace(pixels)
    assert symbols == [] and trace.gated


def test_missing_detectors_never_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "zxing_sees_symbol", lambda image: None)
    monkeypatch.setattr(gate, "opencv_sees_barcode", lambda image: None)
    assert gate.may_hold_code(VariantCache(np.full((100, 100), 255, np.uint8))) is True


@pytest.mark.parametrize("root", SHARED_SETS, ids=lambda p: p.name)
def test_gate_on_reads_exactly_what_gate_off_reads(root: Path) -> None:
    """Every shared photo: the gate only ever stops the chain where the whole chain reads nothing.

    Where the gate lets the chain go on, both decoders run the same stages on the same pixels, so
    only the photos it stopped need the slow gate-off decode (that keeps this test short).
    """
    if not root.is_dir():
        pytest.skip(f"shared photos not found at {root}")
    on, off = Decoder(), Decoder(options=DecodeOptions(gate=False))
    gated, lost = [], []
    for set_name, samples in load_samples(root).items():
        for sample in samples:
            pixels = load_image(sample.path)
            _, trace = on.decode_with_trace(pixels)
            if trace.gated:
                gated.append(f"{set_name}/{sample.path.name}")
                if full := _symbols(off, pixels):
                    lost.append((set_name, sample.path.name, full))
    assert not lost
    if root.name == "barcodes":
        # All 21 no-code photos stop at the gate (the cost it exists to save).
        assert sum(g.startswith("falsepositives-1/") for g in gated) == 21
