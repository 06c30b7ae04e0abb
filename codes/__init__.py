"""Identifiers, GTIN/GS1 rules, scanned-code grammar, QR text formats and catalogue CSV formats (stdlib only)."""
