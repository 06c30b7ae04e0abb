"""GTIN validation and normalisation (EAN-8/13, UPC-A/E, GTIN-14)."""

from __future__ import annotations

from stdnum import ean

GTIN_LENGTHS = (8, 12, 13, 14)
_GS1_SEPARATOR = "\x1d"


class GtinError(ValueError):
    """A string is not a valid GTIN or UPC-E code."""


def is_valid_gtin(code: str) -> bool:
    """True when code is 8, 12, 13 or 14 ASCII digits with a correct check digit."""
    # stdnum strips spaces and dashes itself; a scanned code with those is not a GTIN.
    if not (code.isascii() and code.isdigit() and len(code) in GTIN_LENGTHS):
        return False
    return ean.is_valid(code)


def to_gtin14(code: str) -> str:
    """Zero-pad a valid GTIN-8/12/13/14 to GTIN-14; raises GtinError otherwise."""
    if not is_valid_gtin(code):
        raise GtinError(f"not a valid GTIN: {code!r}")
    return code.zfill(14)


def normalize_gtin(code: str) -> str | None:
    """GTIN-14 for a valid GTIN, None for anything else."""
    return code.zfill(14) if is_valid_gtin(code) else None


def expand_upce(code: str) -> str:
    """Expand an 8-digit UPC-E (number system, 6 digits, check) to its 12-digit UPC-A."""
    if len(code) == 7 and code.isascii() and code.isdigit():
        code = "0" + code
    if not (len(code) == 8 and code.isascii() and code.isdigit()) or code[0] not in "01":
        raise GtinError(f"not a UPC-E code: {code!r}")
    ns, d, check = code[0], code[1:7], code[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    upca = ns + body + check
    if not ean.is_valid(upca):
        raise GtinError(f"UPC-E check digit mismatch: {code!r}")
    return upca


def compress_upca(code: str) -> str | None:
    """The 8-digit UPC-E form of a 12-digit UPC-A, or None when it has none."""
    if not (len(code) == 12 and code.isascii() and code.isdigit()) or code[0] not in "01":
        return None
    ns, m, p, check = code[0], code[1:6], code[6:11], code[11]
    if m[2] in "012" and m[3:5] == "00" and p[0:2] == "00":
        d = m[0:2] + p[2:5] + m[2]
    elif m[3:5] == "00" and p[0:3] == "000":
        d = m[0:3] + p[3:5] + "3"
    elif m[4] == "0" and p[0:4] == "0000":
        d = m[0:4] + p[4] + "4"
    elif p[0:4] == "0000" and p[4] in "56789":
        d = m[0:5] + p[4]
    else:
        return None
    return ns + d + check


def gtin_from_element_string(text: str) -> str | None:
    """GTIN-14 from a GS1 element string that starts with AI (01), e.g. GS1-128 or GS1 QR."""
    body = text[1:] if text.startswith(_GS1_SEPARATOR) else text
    if len(body) < 16 or not body.startswith("01"):
        return None
    candidate = body[2:16]
    return candidate if is_valid_gtin(candidate) else None


def retail_text(gtin14: str, fmt_name: str) -> str:
    """Digits as printed under a retail symbol of the given format (EAN_13, UPC_A, EAN_8, UPC_E)."""
    if fmt_name == "EAN_8":
        return gtin14[6:]
    if fmt_name == "UPC_A":
        return gtin14[2:]
    if fmt_name == "UPC_E":
        return compress_upca(gtin14[2:]) or gtin14[2:]
    return gtin14[1:]
