"""Staff badges: signed by the backend with the store's Ed25519 key, checked offline by devices (docs/protocol.md).

A badge QR holds ``AISLE-STAFF:2:<payload>.<signature>``: the payload is base64url compact JSON
``{"v": 2, "store", "staff", "bid", "iat", "exp"}``, the signature is Ed25519 over ``AISLE-STAFF:2:<payload>``.
Version 1 badges (a store, a staff id and an unchecked key) sign nobody in any more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from codes import ids, qr

PREFIX = qr.BADGE_TEXT_PREFIX
VERSION = 2
STAFF_RE = ids.STAFF_ID_RE
BADGE_ID_RE = re.compile(r"b_[A-Za-z0-9_-]{16}")
TOKEN_RE = qr.BADGE_TOKEN_RE
REVOKED_PREFIX = "AISLE-REVOKED:1:"
REVOKED_FIELDS = frozenset({"store", "seq", "revoked", "sig"})
SIGNATURE_RE = qr.SIGNATURE_RE
MAX_REVOKED = 2_000  # ~45 kB of ids: under the broker's max_packet_size
# Demo only (``--demo``): a key anyone can derive, so demo badges are worthless outside the demo.
DEMO_SEED = hashlib.sha256(b"aisle demo staff badge key").digest()


class BadgeError(ValueError):
    """A badge does not sign anyone in; ``reason`` says why for the UI."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason  # malformed | bad_signature | other_store | expired | revoked


@dataclass(frozen=True)
class BadgeClaims:
    """What a verified badge says."""

    store: str
    staff_id: str
    badge_id: str
    issued_at: datetime
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key() -> bytes:
    """32 random bytes: a store's badge signing key (kept by the backend only)."""
    return secrets.token_bytes(32)


def public_key_of(private: bytes) -> str:
    """The base64url public key devices verify badges with."""
    return _b64(Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw())


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64url form; raises BadgeError."""
    try:
        raw = _unb64(text)
        if len(raw) != 32 or _b64(raw) != text:
            raise ValueError("not 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise BadgeError("malformed", f"bad public key: {exc}") from None


def demo_public_key() -> str:
    """The public key of the demo badge key (``python -m kiosk --demo``)."""
    return public_key_of(DEMO_SEED)


def new_badge_id() -> str:
    """A fresh badge id (96 random bits)."""
    return "b_" + secrets.token_urlsafe(12)


def issue(private: bytes, claims: BadgeClaims) -> str:
    """The QR text of a badge for ``claims``, signed with the store's key."""
    ids.store_id(claims.store)
    if not STAFF_RE.fullmatch(claims.staff_id) or not BADGE_ID_RE.fullmatch(claims.badge_id):
        raise ValueError("bad staff or badge id")
    if claims.expires_at <= claims.issued_at:
        raise ValueError("a badge must expire after it is issued")
    body = {"v": VERSION, "store": claims.store, "staff": claims.staff_id, "bid": claims.badge_id,
            "iat": int(claims.issued_at.timestamp()), "exp": int(claims.expires_at.timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    signature = Ed25519PrivateKey.from_private_bytes(private).sign((PREFIX + payload).encode())
    return f"{PREFIX}{payload}.{_b64(signature)}"


def verify(token: str, public_key: str, store: str, now: datetime,
           revoked: Collection[str] = ()) -> BadgeClaims:
    """Check a badge token (the text after ``AISLE-STAFF:2:``) offline; raises BadgeError with the reason."""
    if not public_key:
        raise BadgeError("not_provisioned", "this device has no badge key")
    key = load_public_key(public_key)
    match = TOKEN_RE.fullmatch(token)
    if match is None:
        raise BadgeError("malformed", "not a version 2 badge")
    payload = match.group("payload")
    try:
        key.verify(_unb64(match.group("signature")), (PREFIX + payload).encode())
    except (InvalidSignature, ValueError, binascii.Error):
        raise BadgeError("bad_signature", "the badge's signature does not match this store's key") from None
    claims = _claims(payload)
    # Signed but still refused: a badge of another store, past its expiry, or on the revocation list.
    if claims.store != store:
        raise BadgeError("other_store")
    if now >= claims.expires_at:
        raise BadgeError("expired")
    if claims.badge_id in revoked:
        raise BadgeError("revoked")
    return claims


def _claims(payload: str) -> BadgeClaims:
    try:
        body: Any = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        raise BadgeError("malformed", "badge payload is not JSON") from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise BadgeError("malformed", "not a version 2 badge")
    store, staff, bid = body.get("store"), body.get("staff"), body.get("bid")
    iat, exp = body.get("iat"), body.get("exp")
    if not (isinstance(store, str) and ids.STORE_ID_RE.fullmatch(store) and isinstance(staff, str)
            and STAFF_RE.fullmatch(staff) and isinstance(bid, str) and BADGE_ID_RE.fullmatch(bid)
            and type(iat) is int and type(exp) is int and 0 < iat < exp < 2**40):
        raise BadgeError("malformed", "badge fields are missing or malformed")
    return BadgeClaims(store, staff, bid, datetime.fromtimestamp(iat, UTC), datetime.fromtimestamp(exp, UTC))


def _revocation_message(store: str, seq: int, revoked: list[str]) -> bytes:
    """The bytes a revocation list's signature covers: a context string, then its fields as canonical JSON."""
    body = json.dumps({"revoked": revoked, "seq": seq, "store": store}, separators=(",", ":"), sort_keys=True)
    return (REVOKED_PREFIX + body).encode()


def revocation_list(store: str, revoked: Collection[str], seq: int, private: bytes) -> dict[str, Any]:
    """The retained payload of ``topics.staff_revoked(store)``: every revoked, unexpired badge id, signed."""
    listed = sorted(revoked)
    signature = Ed25519PrivateKey.from_private_bytes(private).sign(_revocation_message(ids.store_id(store), seq,
                                                                                       listed))
    return {"store": store, "seq": seq, "revoked": listed, "sig": _b64(signature)}


def parse_revocation_list(data: Any, store: str, public_key: str) -> tuple[int, frozenset[str]]:
    """(seq, badge ids) of a revocation list for ``store`` signed by its key; raises BadgeError when it is not one."""
    if not isinstance(data, dict) or data.get("store") != store or set(data) != REVOKED_FIELDS:
        raise BadgeError("malformed", "not this store's revocation list")
    seq, revoked, signature = data.get("seq"), data.get("revoked"), data.get("sig")
    if type(seq) is not int or not 0 <= seq < 2**53 or not isinstance(revoked, list) or len(revoked) > MAX_REVOKED:
        raise BadgeError("malformed", "bad revocation list")
    if not all(isinstance(b, str) and BADGE_ID_RE.fullmatch(b) for b in revoked):
        raise BadgeError("malformed", "bad badge id in revocation list")
    if not isinstance(signature, str) or not SIGNATURE_RE.fullmatch(signature):
        raise BadgeError("bad_signature", "the revocation list is not signed")
    try:
        load_public_key(public_key).verify(_unb64(signature), _revocation_message(store, seq, revoked))
    except (InvalidSignature, ValueError, binascii.Error):
        raise BadgeError("bad_signature", "the revocation list's signature does not match this store's key") from None
    return seq, frozenset(revoked)
