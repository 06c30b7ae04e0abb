"""The combined decoder on generated symbols and with scripted fake backends."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import zxingcpp
from PIL import Image

from vision.decode import DEFAULT_CHAIN, DecodeOptions, Decoder, Stage, decode
from vision.decoders import NoBackendError, RawRead, ZbarBackend, ZxingBackend, usable_backends
from vision.images import ImageFormatError
from vision.symbols import Format, Symbol

ZX = zxingcpp.BarcodeFormat


def render(text: str, fmt: zxingcpp.BarcodeFormat, scale: int = 3, margin: int = 40) -> np.ndarray:
    """A clean generated symbol on a white page."""
    img = np.array(zxingcpp.create_barcode(text, fmt).to_image(scale=scale))
    return cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def rotate(img: np.ndarray, angle: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    side = int(np.hypot(h, w)) + 4
    m[0, 2] += side / 2 - w / 2
    m[1, 2] += side / 2 - h / 2
    return cv2.warpAffine(img, m, (side, side), flags=cv2.INTER_CUBIC, borderValue=255)


@pytest.mark.parametrize(
    "text,fmt,expected_format,expected_text,gtin",
    [
        ("4006381333931", ZX.EAN13, Format.EAN_13, "4006381333931", "04006381333931"),
        ("96385074", ZX.EAN8, Format.EAN_8, "96385074", "00000096385074"),
        ("036000291452", ZX.UPCA, Format.UPC_A, "036000291452", "00036000291452"),
        ("01234565", ZX.UPCE, Format.UPC_E, "01234565", "00012345000065"),
        ("AISLE-128/x.y", ZX.Code128, Format.CODE_128, "AISLE-128/x.y", None),
        ("https://aisle.example/s/sthlm-city/p/DAI-MILK-1L", ZX.QRCode, Format.QR_CODE,
         "https://aisle.example/s/sthlm-city/p/DAI-MILK-1L", None),
    ],
)
def test_each_format_decodes_with_normalised_gtin(text, fmt, expected_format, expected_text, gtin) -> None:
    symbols = decode(render(text, fmt))
    assert [(s.format, s.text, s.gtin) for s in symbols] == [(expected_format, expected_text, gtin)]
    assert symbols[0].backend in ("zxing-cpp+pyzbar", "pyzbar+zxing-cpp", "zxing-cpp")


def test_upc_a_and_its_ean13_form_are_the_same_product() -> None:
    upca = decode(render("036000291452", ZX.UPCA))[0]
    ean = decode(render("0036000291452", ZX.EAN13))[0]
    assert upca.gtin == ean.gtin == "00036000291452"
    assert upca.key == ean.key


@pytest.mark.parametrize("angle", [0, 30, 45, 60, 90, 135, 180, 200, 270, 315])
def test_any_rotation_retail(angle: int) -> None:
    img = rotate(render("4006381333931", ZX.EAN13, scale=4), angle)
    assert [s.gtin for s in decode(img)] == ["04006381333931"]


@pytest.mark.parametrize("angle", [0, 33, 90, 145, 180, 250])
def test_any_rotation_qr(angle: int) -> None:
    url = "https://aisle.example/s/sthlm-city/cart/AAAAAAAAAAAAAAAAAAAAAA"
    img = rotate(render(url, ZX.QRCode, scale=5), angle)
    assert [s.text for s in decode(img)] == [url]


def test_polygon_is_in_original_coordinates_after_upscaling_variant() -> None:
    img = render("4006381333931", ZX.EAN13, scale=2, margin=100)
    sym = decode(img)[0]
    x, y, w, h = sym.rect
    assert 60 <= x <= 140 and 60 <= y <= 140
    assert x + w <= img.shape[1] and y + h <= img.shape[0]


def test_several_codes_in_one_image_sorted_top_to_bottom() -> None:
    top = render("https://aisle.example/s/ab/p/X1", ZX.QRCode, scale=4)
    bottom = render("4006381333931", ZX.EAN13, scale=3)
    width = max(top.shape[1], bottom.shape[1])
    pad = lambda a: cv2.copyMakeBorder(a, 0, 0, 0, width - a.shape[1], cv2.BORDER_CONSTANT, value=255)  # noqa: E731
    page = np.vstack([pad(top), pad(bottom)])
    assert [s.format for s in decode(page)] == [Format.QR_CODE, Format.EAN_13]


@pytest.mark.parametrize(
    "image",
    [
        np.full((480, 640), 255, np.uint8),
        np.zeros((480, 640, 3), np.uint8),
        np.random.default_rng(7).integers(0, 256, (240, 320), dtype=np.uint8),
        np.full((1, 1), 128, np.uint8),
        np.zeros((0, 0), np.uint8),
        np.full((1, 100, 3), 200, np.uint8),
    ],
    ids=["white", "black", "noise", "1x1", "empty", "1x100"],
)
def test_images_without_code_return_nothing(image: np.ndarray) -> None:
    assert decode(image) == []


def test_accepts_pil_bgra_and_bool_images() -> None:
    gray = render("96385074", ZX.EAN8)
    assert decode(Image.fromarray(gray))[0].text == "96385074"
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    assert decode(bgra)[0].text == "96385074"
    assert decode(gray > 127)[0].text == "96385074"


def test_rejects_unusable_pixel_types() -> None:
    with pytest.raises(ImageFormatError):
        decode(np.zeros((10, 10), np.float32))
    with pytest.raises(ImageFormatError):
        decode("not an image")


def test_symbol_is_frozen() -> None:
    sym = decode(render("96385074", ZX.EAN8))[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sym.text = "x"  # type: ignore[misc]


def test_formats_filter() -> None:
    img = render("4006381333931", ZX.EAN13)
    assert decode(img, frozenset({Format.QR_CODE})) == []
    assert decode(img, frozenset({Format.UPC_A})) == []
    assert len(decode(img, frozenset({Format.EAN_13}))) == 1
    upc = render("036000291452", ZX.UPCA)
    assert [s.format for s in decode(upc, frozenset({Format.UPC_A}))] == [Format.UPC_A]
    assert [(s.format, s.text) for s in decode(upc, frozenset({Format.EAN_13}))] == [
        (Format.EAN_13, "0036000291452")
    ]
    upce = render("01234565", ZX.UPCE)
    assert [s.text for s in decode(upce, frozenset({Format.UPC_E}))] == ["01234565"]


def test_real_backends_report_available() -> None:
    assert ZxingBackend().available() and ZbarBackend().available()
    assert ZbarBackend().unavailable_reason() is None


# Scripted backends for the voting rules.


class FakeBackend:
    """Returns script[n] on its n-th call (script["*"] otherwise)."""

    def __init__(self, name: str, family: str, script: dict[int | str, list[RawRead]], ok: bool = True) -> None:
        self.name, self.family, self.script, self.ok = name, family, script, ok
        self.calls: list[tuple[int, ...]] = []

    def available(self) -> bool:
        return self.ok

    def unavailable_reason(self) -> str | None:
        return None if self.ok else f"{self.name} is switched off"

    def read(self, gray: np.ndarray, formats: frozenset[Format]) -> list[RawRead]:
        n = len(self.calls)
        self.calls.append(gray.shape)
        return list(self.script.get(n, self.script.get("*", [])))


BOX = ((10, 10), (90, 10), (90, 40), (10, 40))
GOOD = RawRead(Format.EAN_13, "4006381333931", BOX)
OTHER = RawRead(Format.EAN_13, "4000539017100", BOX)  # valid check digit, different product
BAD_CHECK = RawRead(Format.EAN_13, "4006381333932", BOX)
QR = RawRead(Format.QR_CODE, "hello", BOX)
IMG = np.full((100, 200), 255, np.uint8)
CHAIN = (
    Stage("original", "a"), Stage("original", "b"), Stage("clahe", "a"), Stage("sharpen", "a"), Stage("otsu", "a")
)


def decoder(a_script, b_script, confirmations: int = 3) -> tuple[Decoder, FakeBackend, FakeBackend]:
    a, b = FakeBackend("a", "A", a_script), FakeBackend("b", "B", b_script)
    return Decoder([a, b], DecodeOptions(chain=CHAIN, confirmations=confirmations)), a, b


def test_two_families_agreeing_accept_in_first_pass() -> None:
    d, a, b = decoder({"*": [GOOD]}, {"*": [GOOD]})
    symbols, trace = d.decode_with_trace(IMG)
    assert [s.gtin for s in symbols] == ["04006381333931"]
    assert symbols[0].backend == "A+B"
    assert trace.stages_run == 2


def test_single_read_of_retail_code_is_not_trusted() -> None:
    d, _, _ = decoder({0: [GOOD]}, {})  # only the original variant reads it
    assert d.decode(IMG) == []


def test_one_family_in_enough_variants_is_accepted() -> None:
    d, _, _ = decoder({"*": [GOOD]}, {})
    assert [s.text for s in d.decode(IMG)] == ["4006381333931"]


def test_conflicting_reads_at_same_place_are_both_dropped() -> None:
    d, _, _ = decoder({"*": [GOOD, OTHER]}, {})
    assert d.decode(IMG) == []


def test_cross_confirmed_read_wins_over_single_family_misread() -> None:
    d, _, _ = decoder({"*": [OTHER]}, {"*": [GOOD]}, confirmations=2)
    d2, _, _ = decoder({"*": [OTHER, GOOD]}, {"*": [GOOD]})
    assert [s.text for s in d2.decode(IMG)] == ["4006381333931"]
    assert d.decode(IMG) == []


def test_bad_check_digit_is_dropped() -> None:
    d, _, _ = decoder({"*": [BAD_CHECK]}, {"*": [BAD_CHECK]})
    symbols, trace = d.decode_with_trace(IMG)
    assert symbols == []
    assert trace.dropped


def test_qr_is_accepted_from_one_read_and_stops_the_chain() -> None:
    d, a, b = decoder({"*": [QR]}, {})
    symbols, trace = d.decode_with_trace(IMG)
    assert [s.text for s in symbols] == ["hello"]
    assert trace.stages_run == 1 and not b.calls


def test_confirmation_pass_reads_only_around_the_candidate() -> None:
    d, a, b = decoder({"*": [GOOD]}, {"*": [GOOD]})
    big = np.full((1000, 1200), 255, np.uint8)
    d.decode(big)
    assert b.calls[0][0] < 1000 and b.calls[0][1] < 1200


def test_deadline_skips_fallbacks_but_not_first_pass() -> None:
    a, b = FakeBackend("a", "A", {}), FakeBackend("b", "B", {})
    d = Decoder([a, b], DecodeOptions(chain=CHAIN, deadline_ms=0.0))
    d.decode(IMG)
    assert len(a.calls) == 1 and len(b.calls) == 1


def test_no_usable_backend_is_a_clear_error() -> None:
    off = [FakeBackend("zxing-cpp", "zx", {}, ok=False), FakeBackend("pyzbar", "zb", {}, ok=False)]
    with pytest.raises(NoBackendError, match="zxing-cpp is switched off.*pyzbar is switched off"):
        usable_backends(off)
    with pytest.raises(NoBackendError):
        Decoder(off)


def test_works_with_only_one_backend() -> None:
    d = Decoder([ZxingBackend()], DecodeOptions(chain=DEFAULT_CHAIN))
    assert [s.text for s in d.decode(render("4006381333931", ZX.EAN13))] == ["4006381333931"]


def test_unknown_variant_in_chain_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown preprocessing"):
        Decoder(options=DecodeOptions(chain=(Stage("sepia", "zxing-cpp"),)))


def test_symbol_to_dict_is_json_ready() -> None:
    sym = Symbol(Format.EAN_8, "96385074", "00000096385074", ((1, 2), (3, 4)), "zxing-cpp")
    assert sym.to_dict()["polygon"] == [[1, 2], [3, 4]]
    assert sym.rect == (1, 2, 2, 2)


def test_upc_e_needs_both_libraries() -> None:
    upce = RawRead(Format.UPC_E, "01234565", BOX)
    d, _, _ = decoder({"*": [upce]}, {})
    assert d.decode(IMG) == []
    d2, _, _ = decoder({"*": [upce]}, {"*": [upce]})
    assert [s.text for s in d2.decode(IMG)] == ["01234565"]
