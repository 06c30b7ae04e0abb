"""Shopper phone enrolment: the short-lived code a kiosk shows, and the identity a phone gets for it.

A kiosk asks the backend for an enrolment code (``phone.enrolment``) and shows it as a QR code
``AISLE-ENROL:1:<store>:<login>:<secret>``. A phone in the store scans it, connects to the broker with that one-use
login, asks ``phone.register`` and gets a broker identity of its own (``PhoneCredentials``). See docs/protocol.md,
"Shopper phones".
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from codes import qr, scanned
from mqtt.payloads import DeviceId, Payload, StoreId, Timestamp

# Reserved login prefixes: the broker's dynamic clients have these names, and broker-config refuses store ids that
# would make a static login start with one (a dynamic client named like a static login shadows it). The one
# exception is deliberate: a disabled shadow the backend creates to cut a flooding device off (backend/cutoffs.py).
ENROL_PREFIX = "enrol-"
PHONE_PREFIX = "phone-"
RESERVED_PREFIXES = (ENROL_PREFIX, PHONE_PREFIX)

ENROL_LOGIN_RE = re.compile(rf"^{qr.ENROL_LOGIN_RE.pattern}$")  # anchored: pydantic searches
PHONE_LOGIN_RE = re.compile(r"^phone-[0-9a-f]{20}$")
SECRET_RE = re.compile(rf"^{qr.ENROL_SECRET_RE.pattern}$")
QR_PREFIX = qr.ENROL_TEXT_PREFIX
MAX_QR_CHARS = 300

EnrolLogin = Annotated[str, Field(pattern=ENROL_LOGIN_RE.pattern)]
PhoneLogin = Annotated[str, Field(pattern=PHONE_LOGIN_RE.pattern)]
Secret = Annotated[str, Field(pattern=SECRET_RE.pattern, repr=False)]


class EnrolmentError(ValueError):
    """An enrolment QR code is malformed."""


class EnrolmentCode(Payload):
    """Result of ``phone.enrolment``: a one-use broker login a kiosk shows as a QR code until it expires."""

    store: StoreId
    login: EnrolLogin
    password: Secret
    expires_at: Timestamp

    def qr_text(self) -> str:
        """The text of the QR code the kiosk shows."""
        return qr.enrolment_text(self.store, self.login, self.password)


class EnrolmentQr(Payload):
    """What a phone reads off the kiosk's QR code."""

    store: StoreId
    login: EnrolLogin
    password: Secret


class PhoneCredentials(Payload):
    """Result of ``phone.register``: the phone's own broker login (device id = login), shopper rights only."""

    store: StoreId
    device: PhoneLogin
    password: Secret


class PhoneRevokeArgs(Payload):
    """Arguments of ``phone.revoke``: the phone to cut off."""

    device: PhoneLogin


class PhoneRevoked(Payload):
    """Result of ``phone.revoke``."""

    device: DeviceId
    store: StoreId
    revoked_at: Timestamp


def parse_enrolment_qr(text: str) -> EnrolmentQr:
    """The login in an enrolment QR code (the grammar is ``codes.scanned``'s); raises EnrolmentError otherwise."""
    if not isinstance(text, str) or len(text) > MAX_QR_CHARS or not text.startswith(QR_PREFIX):
        raise EnrolmentError("not an Aisle enrolment code")
    intent = scanned.parse_intent(text)
    # Exactly the text a kiosk shows: a scanner's tolerance for surrounding whitespace has no place here.
    if not isinstance(intent, scanned.PhoneEnrolment) or intent.text != text:
        reason = intent.reason if isinstance(intent, scanned.Unknown) else "not exactly as shown"
        raise EnrolmentError(f"malformed enrolment code: {reason}")
    return EnrolmentQr(store=intent.store, login=intent.login, password=intent.secret)


def is_reserved(login: str) -> bool:
    """Whether a login name belongs to the broker's dynamic clients (phones and enrolment codes)."""
    return login.startswith(RESERVED_PREFIXES)
