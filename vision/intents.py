"""The intent of a decoded symbol; the grammar of scanned text itself is ``codes.scanned``."""

from __future__ import annotations

from codes.scanned import (
    DEFAULT_CONFIG,
    Intent,
    IntentConfig,
    ProductCode,
    Unknown,
    element_string_intent,
    parse_intent,
)
from vision.symbols import Format, Symbol


def intent_for_symbol(symbol: Symbol, config: IntentConfig = DEFAULT_CONFIG) -> Intent:
    """Intent of a decoded symbol; retail symbols and GS1 element strings map to their GTIN."""
    if symbol.gs1:
        # The element string's other fields (batch, expiry, weight) travel with the GTIN; a malformed one says why.
        return element_string_intent(symbol.text)
    if symbol.gtin is not None:
        return ProductCode(symbol.gtin)
    if symbol.format.is_retail:
        return Unknown("retail symbol without valid GTIN")
    if symbol.format is Format.ITF:
        return Unknown("ITF without a GTIN-14")  # plain ITF numbers cartons and shipments, not products
    return parse_intent(symbol.text, config)
