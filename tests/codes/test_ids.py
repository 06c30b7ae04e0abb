"""Identifier formats: GTIN-14 normalisation and the GS1 check digit against an independent implementation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import ean

from codes import gtin, ids


def test_gtin_forms_of_one_item_normalise_alike() -> None:
    assert ids.gtin14("036000291452") == ids.gtin14("0036000291452") == ids.gtin14("00036000291452")
    assert ids.gtin_display("00036000291452") == "036000291452"
    assert ids.gtin14("20123451") == "00000020123451"
    with pytest.raises(ids.InvalidIdentifier):
        ids.gtin14("036000291453")


# python-stdnum stays a test-only oracle: the one check digit of the project is codes.gtin.check_digit.
@given(st.text(alphabet="0123456789", min_size=7, max_size=13))
def test_check_digit_agrees_with_python_stdnum(body: str) -> None:
    assert gtin.check_digit(body) == ean.calc_check_digit(body)
    if len(body) + 1 in gtin.GTIN_LENGTHS:
        assert ids.gtin14(body + gtin.check_digit(body)) == (body + ean.calc_check_digit(body)).zfill(14)
