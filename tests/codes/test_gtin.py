"""GTIN validation, normalisation and UPC-E expansion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codes.gtin import (
    GtinError,
    compress_upca,
    expand_upce,
    gtin_from_element_string,
    is_valid_gtin,
    normalize_gtin,
    retail_text,
    to_gtin14,
)
from tests.codes.strategies import expand_upce_unchecked
from tests.codes.strategies import with_check_digit as with_check


@pytest.mark.parametrize(
    "code,gtin14",
    [
        ("4006381333931", "04006381333931"),
        ("036000291452", "00036000291452"),
        ("96385074", "00000096385074"),
        ("10614141000415", "10614141000415"),
    ],
)
def test_valid_codes_normalise_to_gtin14(code: str, gtin14: str) -> None:
    assert is_valid_gtin(code)
    assert to_gtin14(code) == normalize_gtin(code) == gtin14


@pytest.mark.parametrize(
    "code", ["4006381333932", "400638133393", "4006-381333931", " 4006381333931", "40063813339３1", "", "1234567"]
)
def test_invalid_codes_are_rejected(code: str) -> None:
    assert not is_valid_gtin(code)
    assert normalize_gtin(code) is None
    with pytest.raises(GtinError):
        to_gtin14(code)


@pytest.mark.parametrize("upce,upca", [("01234565", "012345000065"), ("04252614", "042100005264")])
def test_upce_expansion_known_values(upce: str, upca: str) -> None:
    assert expand_upce(upce) == upca
    assert compress_upca(upca) == upce


@given(ns=st.sampled_from("01"), digits=st.text("0123456789", min_size=6, max_size=6))
def test_upce_expansion_matches_spec_table_and_compression_inverts_it(ns: str, digits: str) -> None:
    upca = with_check(expand_upce_unchecked(ns + digits))
    upce = ns + digits + upca[-1]
    assert expand_upce(upce) == upca
    # Several UPC-E spellings can expand to one UPC-A; compression picks the canonical one.
    canonical = compress_upca(upca)
    assert canonical is not None and expand_upce(canonical) == upca


def test_upce_rejects_bad_input() -> None:
    for bad in ("21234565", "0123456", "01234566", "abcdefgh"):
        assert expand_upce(bad if bad != "0123456" else "9123456") is None, bad
    assert compress_upca("412345000065") is None
    assert compress_upca("012345678905") is None


def test_gs1_element_string() -> None:
    assert gtin_from_element_string("0109504000059101\x1d10ABC") == "09504000059101"
    assert gtin_from_element_string("\x1d0109504000059101") == "09504000059101"
    assert gtin_from_element_string("0109504000059102") is None
    assert gtin_from_element_string("10ABC") is None


def test_retail_text_per_format() -> None:
    assert retail_text("00036000291452", "UPC_A") == "036000291452"
    assert retail_text("00036000291452", "EAN_13") == "0036000291452"
    assert retail_text("00000096385074", "EAN_8") == "96385074"
    assert retail_text("00012345000065", "UPC_E") == "01234565"
