"""GS1 DataMatrix, DataBar, GS1-128 and ITF: the shared GS1 photo sets, generated symbols, acceptance rules, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from codes.scanned import ProductCode, Unknown
from tests.vision.conftest import SHARED_DATA
from tests.vision.test_scan_decoder import BOX, CHAIN, IMG, FakeBackend
from vision.decode import DecodeOptions, Decoder, decode
from vision.decoders import RawRead, ZbarBackend, ZxingBackend
from vision.evaluation import SetScore, combined_reads, load_samples, raw_pyzbar_reads, raw_zxing_reads, score_set
from vision.intents import intent_for_symbol
from vision.symbols import ALL_FORMATS, Format, Symbol
from vision.synthetic import DISTORTIONS, SET_NAME, SYMBOLS, generated_set

GS1_BARCODES = SHARED_DATA / "barcodes-gs1"
REPO = Path(__file__).resolve().parents[2]

# Measured here on the shared GS1 sets: set: (images, combined >=, raw zxing-cpp, raw pyzbar). EDIFACT.png and
# X12.png (DataMatrix) are read by neither library; pyzbar has no DataMatrix and no DataBar Limited at all.
MEASURED = {
    "code128-1": (7, 7, 7, 6),
    "datamatrix-1": (23, 21, 21, 0),
    "itf-1": (14, 14, 14, 14),
    "rss14-1": (6, 6, 6, 4),
    "rssexpanded-1": (35, 35, 35, 34),
    "upce-1": (3, 3, 3, 3),
}


@dataclass(frozen=True)
class Scores:
    """One decoder's score per set."""

    combined: dict[str, SetScore]
    zxing: dict[str, SetScore]
    pyzbar: dict[str, SetScore]


def _score(samples: dict, images: dict) -> Scores:
    readers = {"combined": combined_reads(decode), "zxing": raw_zxing_reads, "pyzbar": raw_pyzbar_reads}
    out: dict[str, dict[str, SetScore]] = {k: {} for k in readers}
    for name, set_samples in samples.items():
        for label, reader in readers.items():
            out[label][name] = score_set(name, set_samples, reader, images)
    return Scores(**out)


@pytest.fixture(scope="module")
def gs1_scores() -> Scores:
    """The shared GS1 sets decoded once by each decoder."""
    if not GS1_BARCODES.is_dir():
        pytest.skip(f"shared GS1 barcode images not found at {GS1_BARCODES} (they are never copied into the repo)")
    return _score(load_samples(GS1_BARCODES), {})


@pytest.fixture(scope="module")
def generated_scores() -> Scores:
    samples, pixels = generated_set()
    return _score({SET_NAME: samples}, dict(pixels))


@pytest.mark.parametrize("set_name", sorted(MEASURED))
def test_shared_gs1_sets_read_at_least_as_well_as_each_library(gs1_scores: Scores, set_name: str) -> None:
    images, floor, _, _ = MEASURED[set_name]
    combined = gs1_scores.combined[set_name]
    assert combined.images == images
    assert combined.correct >= floor, combined.failures
    assert combined.correct >= gs1_scores.zxing[set_name].correct
    assert combined.correct >= gs1_scores.pyzbar[set_name].correct
    assert combined.misread == 0 and combined.false_positive == 0, combined.failures


def test_pyzbar_alone_misreads_extended_code128(gs1_scores: Scores) -> None:
    """Why one library's read of a non-weak code is still checked against the other where it can be."""
    assert gs1_scores.pyzbar["code128-1"].misread >= 1
    assert gs1_scores.combined["code128-1"].misread == 0


def test_generated_symbols_survive_photo_distortions(generated_scores: Scores) -> None:
    combined = generated_scores.combined[SET_NAME]
    assert combined.images == len(SYMBOLS) * len(DISTORTIONS)
    assert combined.correct == combined.images, combined.failures
    assert combined.misread == 0
    assert combined.correct >= generated_scores.zxing[SET_NAME].correct
    assert combined.correct >= generated_scores.pyzbar[SET_NAME].correct


def _generated(name: str, distortion: str) -> np.ndarray:
    samples, pixels = generated_set()
    return pixels[Path(SET_NAME) / f"{name}-{distortion}.png"]


@pytest.mark.parametrize("distortion", ["photo", "perspective", "jpeg"])
def test_gs1_datamatrix_fields(distortion: str) -> None:
    [symbol] = decode(_generated("dm-gs1", distortion))
    assert (symbol.format, symbol.gs1, symbol.gtin) == (Format.DATA_MATRIX, True, "09506000134352")
    intent = intent_for_symbol(symbol)
    assert isinstance(intent, ProductCode) and intent.gs1 is not None
    assert (intent.gtin, intent.gs1.expiry, intent.gs1.batch) == ("09506000134352", date(2027, 1, 1), "ABC123")


@pytest.mark.parametrize("distortion", ["photo", "blur", "noise"])
def test_databar_expanded_weight_and_price(distortion: str) -> None:
    [symbol] = decode(_generated("databar-exp", distortion))
    assert symbol.format is Format.DATABAR_EXPANDED and symbol.gs1
    intent = intent_for_symbol(symbol)
    assert isinstance(intent, ProductCode) and intent.gs1 is not None
    assert intent.gtin == "90012345678908"
    assert (intent.gs1.net_weight_kg, intent.gs1.amount) == (Decimal("1.750"), Decimal("7.95"))


def test_databar_expanded_stacked_and_gs1_128_and_omni_and_limited() -> None:
    [stacked] = decode(_generated("databar-exp-stk", "photo"))
    data = intent_for_symbol(stacked).gs1  # type: ignore[union-attr]
    assert data is not None and (data.best_before, data.batch, data.net_weight_kg) == (
        date(2027, 3, 15), "B42", Decimal("12.340"))
    [gs1_128] = decode(_generated("gs1-128", "photo"))
    assert gs1_128.format is Format.CODE_128 and gs1_128.gs1
    data = intent_for_symbol(gs1_128).gs1  # type: ignore[union-attr]
    assert data is not None and (data.batch, data.expiry) == ("AB12", date(2026, 12, 31))
    for name, fmt, gtin in (("databar-omni", Format.DATABAR, "04412345678909"),
                            ("databar-ltd", Format.DATABAR_LIMITED, "00012345678905")):
        [symbol] = decode(_generated(name, "photo"))
        assert (symbol.format, symbol.gtin) == (fmt, gtin)
        assert intent_for_symbol(symbol) == ProductCode(gtin)  # just a GTIN: the same intent as its EAN-13


def test_itf14_is_a_gtin_once_both_libraries_agree() -> None:
    [symbol] = decode(_generated("itf-14", "photo"))
    assert (symbol.format, symbol.text, symbol.gtin) == (Format.ITF, "15400141288763", "15400141288763")
    assert intent_for_symbol(symbol) == ProductCode("15400141288763")


def test_backends_map_the_new_formats() -> None:
    omni = _generated("databar-omni", "clean")
    for backend in (ZxingBackend(), ZbarBackend()):
        reads = backend.read(omni, ALL_FORMATS)
        assert [(r.format, r.text, r.symbology_id) for r in reads] == [(Format.DATABAR, "0104412345678909", "]e0")]
    gs1_128 = _generated("gs1-128", "clean")
    # ZBar gives no symbology identifier; its GS1 modifier (FNC1 first) becomes the one zxing-cpp reports.
    assert {r.symbology_id for b in (ZxingBackend(), ZbarBackend()) for r in b.read(gs1_128, ALL_FORMATS)} == {"]C1"}
    dm = _generated("dm-gs1", "clean")
    assert ZbarBackend().read(dm, ALL_FORMATS) == []  # no DataMatrix in ZBar
    assert [r.format for r in ZxingBackend().read(dm, frozenset({Format.DATA_MATRIX}))] == [Format.DATA_MATRIX]
    assert ZxingBackend().read(dm, frozenset({Format.QR_CODE, Format.ITF})) == []


def test_plain_itf_decodes_and_is_not_a_product() -> None:
    img = np.array(zxingcpp.create_barcode("0829220875", zxingcpp.BarcodeFormat.ITF).to_image(scale=3))
    img = cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    [symbol] = decode(img)
    assert (symbol.format, symbol.text, symbol.gtin) == (Format.ITF, "0829220875", None)
    assert isinstance(intent_for_symbol(symbol), Unknown)


# Acceptance rules with scripted backends (see DecodeOptions).

ITF = RawRead(Format.ITF, "15400141288763", BOX)
ITF_SHORT = RawRead(Format.ITF, "154001412887", BOX)  # a short read of the same bars
DM = RawRead(Format.DATA_MATRIX, "01095060001343521727010110ABC123", BOX, "]d2")


def _decoder(a_script: dict, b_script: dict) -> tuple[Decoder, FakeBackend, FakeBackend]:
    a, b = FakeBackend("a", "A", a_script), FakeBackend("b", "B", b_script)
    return Decoder([a, b], DecodeOptions(chain=CHAIN)), a, b


def test_single_itf_read_is_not_trusted_but_two_families_are() -> None:
    assert _decoder({0: [ITF]}, {})[0].decode(IMG) == []
    [symbol] = _decoder({"*": [ITF]}, {"*": [ITF]})[0].decode(IMG)
    assert (symbol.text, symbol.gtin, symbol.backend) == ("15400141288763", "15400141288763", "A+B")


def test_itf_short_read_at_the_same_place_blocks_one_family_confirmation() -> None:
    assert [s.text for s in _decoder({"*": [ITF]}, {})[0].decode(IMG)] == ["15400141288763"]
    assert _decoder({"*": [ITF, ITF_SHORT]}, {})[0].decode(IMG) == []


def test_itf_with_odd_length_or_letters_is_dropped() -> None:
    for text in ("1540014128876", "15400141A88763", "1234"):
        symbols, trace = _decoder({"*": [RawRead(Format.ITF, text, BOX)]}, {"*": [RawRead(Format.ITF, text, BOX)]})[
            0].decode_with_trace(IMG)
        assert symbols == [] and "even number of digits" in trace.dropped[0]


def test_datamatrix_is_accepted_from_one_read() -> None:
    d, _, b = _decoder({"*": [DM]}, {})
    symbols, trace = d.decode_with_trace(IMG)
    assert [(s.format, s.gtin, s.gs1) for s in symbols] == [(Format.DATA_MATRIX, "09506000134352", True)]
    assert trace.stages_run == 1 and not b.calls


def test_databar_with_bad_gtin_check_digit_is_dropped_with_reason() -> None:
    bad = RawRead(Format.DATABAR, "0104412345678908", BOX, "]e0")
    symbols, trace = _decoder({"*": [bad]}, {"*": [bad]})[0].decode_with_trace(IMG)
    assert symbols == []
    assert "check digit" in trace.dropped[0]


def test_gs1_symbol_with_bad_gtin_is_dropped_as_a_misread() -> None:
    bad = RawRead(Format.DATA_MATRIX, "0109506000134353" "10ABC", BOX, "]d2")
    symbols, trace = _decoder({"*": [bad]}, {"*": [bad]})[0].decode_with_trace(IMG)
    assert symbols == [] and "check digit" in trace.dropped[0]


def test_malformed_gs1_string_needs_confirmation_and_never_gives_a_product() -> None:
    # (16) needs six digits: a Code 128 with FNC1 whose data breaks GS1's rules (as in the shared code128-1 set).
    odd = RawRead(Format.CODE_128, "168901", BOX, "]C1")
    assert _decoder({0: [odd]}, {})[0].decode(IMG) == []
    [symbol] = _decoder({"*": [odd]}, {"*": [odd]})[0].decode(IMG)
    assert (symbol.text, symbol.gtin, symbol.gs1) == ("168901", None, True)
    intent = intent_for_symbol(symbol)
    assert isinstance(intent, Unknown) and "(16)" in intent.reason


def test_gs1_without_gtin_is_unknown_but_keeps_its_fields() -> None:
    batch = Symbol(Format.DATABAR_EXPANDED, "10567\x1d11010101", None, (), "zxing-cpp", gs1=True)
    assert intent_for_symbol(batch) == Unknown("GS1 data without a GTIN")
    assert batch.to_dict()["gs1"] is True
    assert Symbol(Format.EAN_8, "96385074", "00000096385074", (), "x").to_dict()["gs1"] is False


def test_weighed_packs_of_one_product_are_different_scans() -> None:
    heavy = Symbol(Format.DATABAR_EXPANDED, "01900123456789083103001750", "90012345678908", (), "x", gs1=True)
    light = Symbol(Format.DATABAR_EXPANDED, "01900123456789083103000500", "90012345678908", (), "x", gs1=True)
    assert heavy.key != light.key
    omni = Symbol(Format.DATABAR, "0104412345678909", "04412345678909", (), "x", gs1=True)
    ean = Symbol(Format.EAN_13, "4412345678909", "04412345678909", (), "x")
    assert omni.key == ean.key == "gtin:04412345678909"  # one product, whichever symbol was read


# python -m vision scan


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vision", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, encoding="utf-8")


def test_scan_prints_gs1_fields_and_variable_measure(tmp_path: Path) -> None:
    dm = tmp_path / "dm.png"
    cv2.imwrite(str(dm), _generated("dm-gs1", "photo"))
    weighed = tmp_path / "weighed.png"
    ean = np.array(zxingcpp.create_barcode("2301234012349", zxingcpp.BarcodeFormat.EAN13).to_image(scale=3))
    cv2.imwrite(str(weighed), cv2.copyMakeBorder(ean, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255))
    result = _run("scan", "--measure", "se", str(dm), str(weighed))
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["symbols"][0]["gs1"] == {"01": "09506000134352", "17": "270101", "10": "ABC123"}
    assert first["intents"][0]["gs1"]["17"] == "270101"
    measure = second["symbols"][0]["measure"]
    assert (measure["kind"], measure["value"]) == ("weight", "1.234")
    assert "measure" not in json.loads(_run("scan", str(weighed)).stdout)["symbols"][0]  # no rules, no measure
    bad = _run("scan", "--measure", "atlantis", str(weighed))
    assert bad.returncode == 2 and "variable-measure" in bad.stderr
