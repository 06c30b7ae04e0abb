"""GTIN validation and normalisation (EAN-8/13, UPC-A/E, GTIN-14)."""

from __future__ import annotations

GTIN_LENGTHS = (8, 12, 13, 14)
_GS1_SEPARATOR = "\x1d"


class GtinError(ValueError):
    """A string is not a valid GTIN or UPC-E code."""


def check_digit(body: str) -> str:
    """GS1 mod-10 check digit of a GTIN body (all digits but the last, ASCII digits only)."""
    # Hand-written rather than python-stdnum's ean: it runs for every GTIN of a catalogue sync; tests check it
    # against stdnum. Summing the ASCII codes is 3x faster than int() per digit: each code is the digit plus 48,
    # and the 48s cancel modulo 10 once counted (48 * 4 = 192 per odd-even pair, hence the correction).
    odd, even = body[-1::-2].encode(), body[-2::-2].encode()
    return str(-(3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even)) % 10)


def is_valid_gtin(code: str) -> bool:
    """True when code is 8, 12, 13 or 14 ASCII digits with a correct check digit."""
    if not (code.isascii() and code.isdigit() and len(code) in GTIN_LENGTHS):
        return False
    return check_digit(code[:-1]) == code[-1]


def to_gtin14(code: str) -> str:
    """Zero-pad a valid GTIN-8/12/13/14 to GTIN-14; raises GtinError otherwise."""
    if not is_valid_gtin(code):
        raise GtinError(f"not a valid GTIN: {code!r}")
    return code.zfill(14)


def normalize_gtin(code: str) -> str | None:
    """GTIN-14 for a valid GTIN, None for anything else."""
    return code.zfill(14) if is_valid_gtin(code) else None


def expand_upce(code: str) -> str | None:
    """The 12-digit UPC-A of a UPC-E (number system 0 or 1, 6 digits, check; 7 digits mean system 0), else None."""
    if len(code) == 7 and code.isascii() and code.isdigit():
        code = "0" + code
    if not (len(code) == 8 and code.isascii() and code.isdigit()) or code[0] not in "01":
        return None
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
    return upca if is_valid_gtin(upca) else None


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
