"""GS1 element strings (codes.gs1) and variable-measure codes (codes.measure): documented forms, hostile input, fuzz."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codes.gs1 import GS, Gs1Data, Gs1Error, parse_digital_link, parse_element_string
from codes.measure import MeasureConfig, MeasureError, MeasureKind, MeasureRule, variable_measure
from codes.scanned import ProductCode, Unknown, intent_to_dict, parse_intent
from tests.codes.strategies import with_check_digit

GTIN = "09506000134352"


@pytest.mark.parametrize("text", [
    f"]d201{GTIN}17261231" "1012A" f"{GS}3103001750",  # GS1 DataMatrix as a wedge scanner sends it
    f"{GS}01{GTIN}17261231" "1012A" f"{GS}3103001750",  # FNC1 in first position read as GS
    f"01{GTIN}17261231" "1012A" f"{GS}3103001750",
    f"(01){GTIN}(17)261231(10)12A(3103)001750",  # human-readable form, as printed and as the test labels give it
])
def test_element_string_forms(text: str) -> None:
    data = parse_element_string(text)
    assert data.as_dict() == {"01": GTIN, "17": "261231", "10": "12A", "3103": "001750"}
    assert (data.gtin, data.batch, data.expiry) == (GTIN, "12A", date(2026, 12, 31))
    assert data.net_weight_kg == Decimal("1.750")
    assert data.hri() == f"(01){GTIN}(17)261231(10)12A(3103)001750"


def test_amounts_counts_and_dates() -> None:
    data = parse_element_string(f"01{GTIN}3922795{GS}11250101" "13250102" "15250103" "30" "12")
    assert data.amount == Decimal("7.95") and data.amount_currency is None and data.count == 12
    assert (data.produced, data.packed, data.best_before) == (date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3))
    priced = parse_element_string(f"01{GTIN}393275212345")
    assert priced.amount == Decimal("123.45") and priced.amount_currency == "752"
    assert parse_element_string(f"01{GTIN}8200https://brand.example/x").as_dict()["8200"] == "https://brand.example/x"


@pytest.mark.parametrize("text,reason", [
    ("010950600013435317261231", "bad GTIN check digit in (01)"),
    (f"01{GTIN}17991399", "(17)"),  # month 13, day 99
    (f"01{GTIN}4999", "Application Identifier"),  # no such AI
    ("0109506000134", "(01)"),  # too short
    (f"(01){GTIN}(17)", "bracketed"),
    (f"(01){GTIN}((10)A", "bracketed"),
    (f"01{GTIN}10" + "A" * 21, "Application Identifier"),  # a batch is at most 20 characters: the rest is no AI
    (f"01{GTIN}10A{GS}10B", "twice"),
    (f"01{GTIN}10\u00e9", "character set"),
    ("", "empty"),
    ("]d2", "empty"),
    ("1" * 600, "too long"),
])
def test_bad_element_strings_say_why(text: str, reason: str) -> None:
    with pytest.raises(Gs1Error, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_element_string(text)


def test_missing_fnc1_after_a_variable_field_is_read_into_it() -> None:
    # Without the separator (10) runs on to the end; nothing can detect it except length, so the batch shows it.
    assert parse_element_string(f"01{GTIN}10AB17261231").batch == "AB17261231"


def test_digital_link() -> None:
    data = parse_digital_link(f"https://example.com/01/{GTIN}/10/AB%2F1?17=261231&3103=000750")
    assert data.as_dict() == {"01": GTIN, "10": "AB/1", "17": "261231", "3103": "000750"}
    with pytest.raises(Gs1Error):
        parse_digital_link(f"https://example.com/01/{GTIN}?17=991399")


def test_intents_of_gs1_text() -> None:
    intent = parse_intent(f"]d201{GTIN}17261231" "1012A")
    assert isinstance(intent, ProductCode) and intent.gtin == GTIN and intent.gs1 is not None
    assert intent_to_dict(intent)["gs1"] == {"01": GTIN, "17": "261231", "10": "12A"}
    assert parse_intent(f"01{GTIN}17261231" "1012A") == intent  # a reader that dropped the FNC1
    assert parse_intent(f"]C101{GTIN}") == ProductCode(GTIN)  # a bare GTIN stays a plain product code
    assert parse_intent("(10)ABC") == Unknown("GS1 data without a GTIN")
    assert isinstance(parse_intent(f"(01){GTIN}(17)991399"), Unknown)
    assert isinstance(parse_intent(f"01{GTIN[:-1]}317261231"), Unknown)  # bad check digit: never a wrong product


# Round trips: valid strings built from the AIs a shop meets, in any order, with GS after variable-length fields.
_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./"
_gtins = st.text("0123456789", min_size=13, max_size=13).map(with_check_digit)
_dates = st.dates(date(2000, 1, 1), date(2049, 12, 31)).map(lambda d: d.strftime("%y%m%d"))
_FIXED = {"01": _gtins, "11": _dates, "13": _dates, "15": _dates, "17": _dates,
          "3103": st.text("0123456789", min_size=6, max_size=6)}
_VARIABLE = {"10": st.text(_CHARS, min_size=1, max_size=20), "21": st.text(_CHARS, min_size=1, max_size=20),
             "30": st.text("0123456789", min_size=1, max_size=8),
             "3922": st.text("0123456789", min_size=1, max_size=15)}


@st.composite
def element_strings(draw: st.DrawFn) -> list[tuple[str, str]]:
    names = draw(st.lists(st.sampled_from(sorted(_FIXED.keys() - {"01"}) + sorted(_VARIABLE)), unique=True, max_size=5))
    return [("01", draw(_gtins)), *((ai, draw(_FIXED[ai] if ai in _FIXED else _VARIABLE[ai])) for ai in names)]


def _raw(fields: list[tuple[str, str]]) -> str:
    parts = []
    for i, (ai, value) in enumerate(fields):
        last = i == len(fields) - 1
        parts.append(ai + value + ("" if last or ai in _FIXED else GS))
    return "".join(parts)


@given(element_strings(), st.sampled_from(["", "]d2", "]C1", "]e0", "]Q3", GS, "hri"]))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip(fields: list[tuple[str, str]], form: str) -> None:
    text = "".join(f"({ai}){v}" for ai, v in fields) if form == "hri" else form + _raw(fields)
    data = parse_element_string(text)
    assert data.fields == tuple(fields)
    assert parse_intent(text) == ProductCode(fields[0][1], gs1=data if len(fields) > 1 else None)


_gs1ish = st.text(st.sampled_from(list("0123456789()]dCQe" + GS + "AZ/%")), max_size=80)


@given(st.one_of(_gs1ish, st.text(max_size=80), element_strings().map(_raw).map(lambda s: s[:-1] + "X")))
@example("30")
@example("37")
@example(f"01{GTIN}30")
@example("3932752")
@example(f"01{GTIN}10{GS}21")
@settings(max_examples=500)
def test_junk_gets_a_reason_never_a_crash(text: str) -> None:
    try:
        data = parse_element_string(text)
    except Gs1Error as exc:
        assert str(exc)
    else:
        assert isinstance(data, Gs1Data) and data.fields
    intent = parse_intent(text)
    assert not isinstance(intent, ProductCode) or (intent.gtin.isdigit() and len(intent.gtin) == 14)


@given(st.text(max_size=120))
def test_digital_link_junk(tail: str) -> None:
    try:
        parse_digital_link(f"https://example.com/01/{GTIN}{tail}")
    except Gs1Error:
        pass


# Variable-measure codes.

SE = MeasureConfig.from_text("se")


def test_swedish_weight_and_danish_price() -> None:
    weighed = variable_measure("02301234012349", SE)
    assert weighed is not None
    assert (weighed.kind, weighed.value, weighed.item) == (MeasureKind.WEIGHT, Decimal("1.234"), "012340")
    assert weighed.base_gtin == "02301234000001"
    priced = variable_measure("02301234012349", MeasureConfig.from_text("dk"))
    assert priced is not None and (priced.kind, priced.value) == (MeasureKind.PRICE, Decimal("4012.34"))
    assert variable_measure("04006381333931", SE) is None  # an ordinary GTIN
    assert variable_measure("02301234012349", MeasureConfig()) is None  # no rules: a plain number


def test_explicit_rules_win_and_check_their_check_digit() -> None:
    config = MeasureConfig.from_text("se;23:PPPPPPCVVVVV:price:2")
    assert config.to_text() == "se;23:PPPPPPCVVVVV:price:2"
    assert MeasureConfig.from_text(config.to_text()) == config
    good = variable_measure("0" + _code("230123", "01234", check=True), config)
    assert good is not None and (good.kind, good.value, good.item) == (MeasureKind.PRICE, Decimal("12.34"), "0123")
    bad = _code("230123", "01234", check=True)
    bad = bad[:6] + str((int(bad[6]) + 1) % 10) + bad[7:12]
    with pytest.raises(MeasureError, match="check digit"):
        variable_measure("0" + bad + with_check_digit(bad)[-1], config)


def _code(head: str, value: str, check: bool = False) -> str:
    """An EAN-13 with a price/weight check digit (computed by biip's function) between head and value if asked."""
    from biip.checksums import gs1_price_weight_check_digit

    body = head + (str(gs1_price_weight_check_digit(value)) if check else "") + value
    return with_check_digit(body)


@pytest.mark.parametrize("text", ["xx", "se;23:PPPPVVVV:weight:3", "se;19:PPPPPPPPVVVV:weight:3",
                                  "se;23:PPPPPPPPVVVV:kg:3", "se;23:PPPPPPPPVVVV:weight:3;23:PPPPPPPPVVVV:price:2",
                                  "x" * 500])
def test_bad_configuration_says_why(text: str) -> None:
    with pytest.raises(MeasureError):
        MeasureConfig.from_text(text)


@given(st.text("0123456789", min_size=6, max_size=6), st.text("0123456789", min_size=4, max_size=4),
       st.sampled_from(["20", "21", "22", "23", "24", "25"]))
def test_explicit_swedish_rules_agree_with_biip(item: str, value: str, prefix: str) -> None:
    code = "0" + with_check_digit(prefix + item + value)
    kind = "weight" if prefix >= "23" else "price"
    decimals = {"20": 2, "21": 1, "22": 0, "23": 3, "24": 2, "25": 1}[prefix]
    explicit = MeasureConfig(rules=(MeasureRule(prefix, "PPPPPPPPVVVV", MeasureKind(kind), decimals),))
    assert variable_measure(code, explicit) == variable_measure(code, SE)
    found = variable_measure(code, SE)
    assert found is not None and found.value == Decimal(value).scaleb(-decimals)
    assert variable_measure(found.base_gtin, SE) is not None and variable_measure(found.base_gtin, SE).value == 0


@given(st.text("0123456789", min_size=14, max_size=14), st.sampled_from(["se", "dk", "de", "gb", "no", "fi"]))
def test_any_code_gives_a_measure_none_or_a_reason(code: str, region: str) -> None:
    try:
        variable_measure(code, MeasureConfig.from_text(region))
    except MeasureError as exc:
        assert str(exc)


def test_a_north_american_upc_a_price_code_by_rule() -> None:
    from biip.checksums import gs1_price_weight_check_digit

    config = MeasureConfig.from_text("02:PPPPPPPCVVVV:price:2")  # UPC-A 2 IIIII C PPPP K, read as EAN-13 02...
    body = "212345" + str(gs1_price_weight_check_digit("0150")) + "0150"
    found = variable_measure(with_check_digit(body).zfill(14), config)
    assert found is not None and (found.item, found.kind, found.value) == ("12345", MeasureKind.PRICE, Decimal("1.50"))
    assert found.base_gtin == with_check_digit("212345" + str(gs1_price_weight_check_digit("0000")) + "0000").zfill(14)
    assert variable_measure(with_check_digit(body).zfill(14), SE) is None  # Swedish rules know no 02 prefix
