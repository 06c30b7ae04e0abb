"""Text for every language without a display: prices and digits, shaping and order, complete catalogues."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po

from edge.device import StockView
from edge.nearby import NearbyStock, StoreStock
from kiosk import presenters
from kiosk.formatting import Formatter
from kiosk.i18n import catalogs
from kiosk.i18n.extract import messages
from kiosk.i18n.languages import LANGUAGES, offered, supported
from kiosk.text import bidi
from tests.conftest import ROOT

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def width(text: str) -> float:
    return 10.0 * len(text)


def test_prices_follow_language_and_store() -> None:
    assert Formatter("sv", "sv_SE").money(Decimal("16.90"), "SEK") == "16,90\u00a0kr"
    assert Formatter("en", "sv_SE").money(Decimal("16.90"), "SEK") == "16,90\u00a0kr"  # English in Sweden
    assert Formatter("en").money(Decimal("16.90"), "SEK") == "SEK\u00a016.90"
    assert Formatter("da", "da_DK").money(Decimal("16.9"), "DKK") == "16,90\u00a0kr."


def test_persian_uses_persian_digits_and_arabic_latin_ones() -> None:
    fa = Formatter("fa", "sv_SE")
    assert fa.money(Decimal("16.90"), "SEK") == "SEK\u00a0۱۶٫۹۰"
    assert fa.number(1234) == "۱٬۲۳۴" and fa.digits("12:05") == "۱۲:۰۵"
    assert Formatter("ar", "sv_SE").money(Decimal("16.90"), "SEK") == "16.90\u00a0SEK"
    assert "\u200e" not in fa.money(Decimal(1), "SEK")  # bidi marks are ours to place, not Babel's


def test_times_and_distances() -> None:
    moment = datetime(2026, 11, 23, 18, 5, tzinfo=UTC)
    assert re.fullmatch(r"\d\d:\d\d", Formatter("sv").time(moment))
    assert Formatter("en", "sv_SE").distance(0.849) == "850 m"
    assert Formatter("sv", "sv_SE").distance(4.234) == "4,2 km"


def test_arabic_script_is_shaped_reordered_and_wrapped_before_reordering() -> None:
    text = "شیر کامل می‌شود"
    lines = bidi.layout(text, True, 80, width, "AR").split("\n")
    assert len(lines) == 2  # wrapped in logical order: the first words stay on the first line
    first = re.sub(r"\[/?font[^\]]*\]", "", lines[0])
    assert not re.search("[\u0621-\u064a\u067e\u06a9\u06cc]", first)  # every letter in its contextual form
    assert first.endswith(bidi.shape("شیر")[::-1])  # read from the right: the first word comes first
    assert lines[0].startswith("[font=AR]")


def test_mixed_runs_get_their_fonts_and_brackets_mirror() -> None:
    line = bidi.font_runs(bidi.visual(bidi.shape("(شیر) Arla 16.90"), True), "AR")
    assert "[font=AR]" in line and "Arla" in line and "&bl;" not in line
    assert bidi.visual("(شیر)", True) == "(ریش)"  # brackets mirror in right-to-left runs


def test_escaping_keeps_markup_out_of_product_names() -> None:
    assert bidi.escape("[b]x[/b] & y") == "&bl;b&br;x&bl;/b&br; &amp; y"


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    wanted = messages()
    assert len(wanted) > 150
    for code in LANGUAGES:
        if code == "en":
            continue
        with catalogs.po_path(code).open("rb") as handle:
            catalog = read_po(handle, locale=code)
        for message in wanted:
            key = message.msgid
            entry = catalog.get(key)
            assert entry is not None, f"{code}: missing {key!r}"
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            assert all(strings), f"{code}: untranslated {key!r}"
            allowed = set(PLACEHOLDER.findall(key)) | set(PLACEHOLDER.findall(message.plural or ""))
            for text in strings:
                assert set(PLACEHOLDER.findall(text)) <= allowed, f"{code}: unknown placeholder in {text!r}"
                if not message.plural:
                    assert set(PLACEHOLDER.findall(text)) == allowed, f"{code}: placeholder lost in {text!r}"


def test_compiled_catalogues_are_current(tmp_path) -> None:  # noqa: ANN001
    written = catalogs.compile_catalogs(out=tmp_path, force=True)
    assert len(written) == len(LANGUAGES) - 1
    for mo in written:
        committed = catalogs.LOCALE_DIR / mo.relative_to(tmp_path)
        assert committed.read_bytes() == mo.read_bytes(), f"{committed} is stale: run compile_catalogs()"
    assert catalogs.load("fa").gettext("Scan a product") == "اسکن کالا"


def test_languages_offered_follow_the_store() -> None:
    assert offered(["sv", "en", "fa", "ar", "vi"]) == ["sv", "en", "fa", "ar", "vi"]
    assert offered(["da_DK", "xx"]) == ["da", "en"]
    assert supported("sv_SE") == "sv" and supported("de") is None


def test_stock_line_says_last_known_when_offline() -> None:
    tr = catalogs.load("en")
    moment = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    live = StockView("s", "X", known=True, live=True, as_of=moment, available=12)
    stale = StockView("s", "X", known=True, live=False, as_of=moment, available=2)
    fmt = Formatter("en", "sv_SE")
    assert presenters.stock_text(live, fmt, tr.gettext, tr.ngettext).text == "12 in stock here"
    offline = presenters.stock_text(stale, fmt, tr.gettext, tr.ngettext)
    assert offline.state == "stale" and offline.text == "Only 2 left here"
    assert offline.detail.startswith("Offline: last known at ")
    assert presenters.error_text("used", tr.gettext).startswith("This code has already been used")


def test_kivy_free_parts_stay_kivy_free() -> None:
    code = ("import sys, edge.store_client, kiosk.services.camera, kiosk.presenters, kiosk.text.bidi, "
            "kiosk.i18n.catalogs, driver.client, driver.launch, kiosk.config; print('kivy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_language_table_matches_catalogues(code: str) -> None:
    assert code == "en" or catalogs.po_path(code).is_file()


def test_middle_dot_beside_arabic_indic_digits_becomes_a_comma() -> None:
    fmt = Formatter("fa", "sv_SE")
    line = f"قفسه {fmt.digits('0')} · انبار {fmt.digits('16')}"
    assert bidi.separators(line) == f"قفسه {fmt.digits('0')}، انبار {fmt.digits('16')}"  # ۰ · would read ۰۰
    assert bidi.separators("Shelf 0 · backroom 16") == "Shelf 0 · backroom 16"
    assert bidi.separators("سیب · تازه") == "سیب · تازه"  # no digits: nothing to confuse


def test_labels_take_the_whole_palette_when_high_contrast_is_switched_back(tmp_path) -> None:  # noqa: ANN001
    # Kivy in a child process: this one must not start Kivy's logging or window machinery.
    script = (
        "from kiosk.text.fonts import register_fonts\n"
        "from kiosk.widgets.text import AText\n"
        "from kiosk.theme import ui\n"
        "register_fonts()\n"
        "label = AText(raw='12 alerts', tone='muted')\n"
        "ui.high_contrast = True\n"
        "assert list(label.color) == list(ui.muted), (label.color, ui.muted)\n"
        "ui.high_contrast = False\n"
        "assert list(label.color) == list(ui.muted), (label.color, ui.muted)\n"
    )
    env = {"KIVY_NO_ARGS": "1", "KIVY_LOG_MODE": "PYTHON", "KIVY_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_tone_keys_put_vietnamese_tones_on_the_letter_before() -> None:
    from kiosk.text.compose import TONES, key_label, with_tone

    grave, acute, hook, tilde, dot = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
    assert [key_label(t) for t in (grave, acute, hook, tilde, dot)] == ["à", "á", "ả", "ã", "ạ"]
    assert with_tone("ê", tilde) == "ễ" and with_tone("ư", hook) == "ử" and with_tone("Ă", acute) == "Ắ"
    assert with_tone("o", dot) == "ọ" and with_tone("đ", hook) is None  # no such letter: the key does nothing
    assert len(TONES) == 5


def _store(store: str, available: int | None, live: bool, received_at: datetime | None = None,
           kind: str = "store") -> StoreStock:
    return StoreStock(store, store.title(), kind, 2.4, available, None, Decimal("16.90"), "SEK", 3, None,
                      received_at, live)


def test_nearby_rows_say_last_known_in_words_not_by_colour_alone() -> None:
    moment = datetime(2026, 11, 23, 17, 32, tzinfo=UTC)
    nearby = NearbyStock("X", "home", (
        _store("live-store", 12, True, moment), _store("cut-store", 12, False, moment),
        _store("quiet-store", 0, False, None), _store("blank-store", None, False, moment),
    ), (_store("the-wh", 40, False, moment, kind="warehouse"),), ("blank-store", "cut-store", "quiet-store"))
    tr = catalogs.load("en")
    fmt = Formatter("en", "sv_SE")
    live, cut, quiet, blank, warehouse = presenters.nearby_rows(nearby, fmt, tr.gettext, tr.ngettext, now=moment)
    assert (live.stock, live.state, live.note) == ("12 in stock", "ok", "")
    assert (cut.stock, cut.state, cut.note) == ("12 in stock", "stale", f"last known at {fmt.time(moment)}")
    assert (quiet.stock, quiet.note) == ("out of stock", "last known")  # no time known: still says so
    assert (blank.stock, blank.note) == ("not known", "")  # nothing known, nothing to qualify
    assert warehouse.distance == "for home delivery" and warehouse.price == ""
    assert warehouse.note == f"last known at {fmt.time(moment)}"
    later = presenters.nearby_rows(nearby, fmt, tr.gettext, tr.ngettext, now=datetime(2026, 11, 25, 9, tzinfo=UTC))
    assert later[1].note == f"last known at {fmt.datetime(moment)}"  # another day: the date too
    fa = catalogs.load("fa")
    persian = presenters.nearby_rows(nearby, Formatter("fa", "sv_SE"), fa.gettext, fa.ngettext, now=moment)
    assert persian[1].note == f"آخرین اطلاع ساعت {Formatter('fa', 'sv_SE').time(moment)}"
    assert re.search("[۰-۹]", persian[1].note) and not re.search("[0-9]", persian[1].note)  # Persian digits
