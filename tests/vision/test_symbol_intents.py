"""The intent of a decoded symbol: retail symbols by their GTIN, anything else by the grammar of codes.scanned."""

from __future__ import annotations

from codes.scanned import ProductCode, ProductLink
from vision.intents import intent_for_symbol
from vision.symbols import Format, Symbol


def test_symbol_intents_use_the_gtin() -> None:
    upc = Symbol(Format.UPC_A, "036000291452", "00036000291452", (), "zxing-cpp")
    qr = Symbol(Format.QR_CODE, "https://aisle.example/s/ab/p/X", None, (), "zxing-cpp")
    assert intent_for_symbol(upc) == ProductCode("00036000291452")
    assert intent_for_symbol(qr) == ProductLink("ab", "X")
