"""Enrolment QR codes: what a kiosk shows reads back exactly, anything else is refused with a reason."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt.enrolment import EnrolmentCode, EnrolmentError, is_reserved, parse_enrolment_qr

CODE = EnrolmentCode(store="sthlm-city", login="enrol-3f9c0a7be21d4c5e8a61",
                     password="q1Jf0cXvD2m9b7ZpR4tYwE8sLh3uKa6n", expires_at=datetime(2026, 12, 2, tzinfo=UTC))


def test_a_shown_code_reads_back_and_hides_its_secret() -> None:
    qr = parse_enrolment_qr(CODE.qr_text())
    assert (qr.store, qr.login, qr.password) == (CODE.store, CODE.login, CODE.password)
    assert CODE.password not in repr(CODE) and CODE.password not in repr(qr)


@pytest.mark.parametrize("text", [
    "", "AISLE-ENROL:2:sthlm-city:enrol-3f9c0a7be21d4c5e8a61:q1Jf0cXvD2m9b7ZpR4tYwE8sLh3uKa6n",
    "AISLE-ENROL:1:sthlm-city:phone-3f9c0a7be21d4c5e8a61:q1Jf0cXvD2m9b7ZpR4tYwE8sLh3uKa6n",  # not an enrolment login
    "AISLE-ENROL:1:sthlm-city:backend-main:q1Jf0cXvD2m9b7ZpR4tYwE8sLh3uKa6n",
    "AISLE-ENROL:1:Sthlm:enrol-3f9c0a7be21d4c5e8a61:q1Jf0cXvD2m9b7ZpR4tYwE8sLh3uKa6n",
    "AISLE-ENROL:1:sthlm-city:enrol-3f9c0a7be21d4c5e8a61:short",
    "AISLE-ENROL:1:sthlm-city:enrol-3f9c0a7be21d4c5e8a61:q1Jf0cXvD2m9b7ZpR4tYwE8sLh3uKa6n:extra",
    "AISLE-ENROL:1:sthlm-city:enrol-3f9c0a7be21d4c5e8a61:" + "a" * 300,
])
def test_malformed_codes_are_refused(text: str) -> None:
    with pytest.raises(EnrolmentError):
        parse_enrolment_qr(text)


@given(st.text(max_size=400))
def test_any_text_is_a_code_or_an_enrolment_error(text: str) -> None:
    try:
        qr = parse_enrolment_qr(text)
    except EnrolmentError:
        return
    assert qr.login.startswith("enrol-") and text == f"AISLE-ENROL:1:{qr.store}:{qr.login}:{qr.password}"


def test_reserved_names() -> None:
    assert is_reserved("phone-0123456789abcdef0123") and is_reserved("enrol-x")
    assert not is_reserved("sthlm-city-kiosk-1") and not is_reserved("backend-main-admin")
