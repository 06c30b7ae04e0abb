"""The intent of a decoded symbol; the grammar of scanned text itself is ``codes.scanned``."""

from __future__ import annotations

from codes.scanned import DEFAULT_CONFIG, Intent, IntentConfig, ProductCode, Unknown, parse_intent
from vision.symbols import Symbol


def intent_for_symbol(symbol: Symbol, config: IntentConfig = DEFAULT_CONFIG) -> Intent:
    """Intent of a decoded symbol; retail symbols and GS1 element strings map to their GTIN."""
    if symbol.gtin is not None:
        return ProductCode(symbol.gtin)
    if symbol.format.is_retail:
        return Unknown("retail symbol without valid GTIN")
    return parse_intent(symbol.text, config)
