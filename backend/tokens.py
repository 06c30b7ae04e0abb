"""Cart handoff tokens: 128 random bits, an expiry and an HMAC bound to one store, as base64url."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from backend.db import Database

NONCE_BYTES = 16  # 128 bits: unguessable, and the database key of the handoff
MAC_BYTES = 16
TOKEN_BYTES = NONCE_BYTES + 4 + MAC_BYTES


class TokenError(ValueError):
    """A token is malformed or its signature does not match."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    nonce: str
    expires_at: datetime


def signing_key(db: Database) -> bytes:
    """The backend's secret key, created on first use and kept in the database."""
    with db.lock:
        row = db.conn.execute("SELECT value FROM secrets WHERE name = 'handoff'").fetchone()
        if row is None:
            key = secrets.token_bytes(32)
            db.conn.execute("INSERT OR IGNORE INTO secrets VALUES ('handoff', ?)", [key])
            row = db.conn.execute("SELECT value FROM secrets WHERE name = 'handoff'").fetchone()
    return bytes(row[0])


def issue(key: bytes, store_id: str, expires_at: datetime) -> tuple[str, str]:
    """A new token for ``store_id``; returns (token, nonce)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = nonce + struct.pack(">I", int(expires_at.timestamp()))
    mac = _mac(key, store_id, body)
    token = base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()
    return token, nonce.hex()


def verify(key: bytes, store_id: str, token: str) -> TokenClaims:
    """Check structure and signature (not expiry or use, which the caller decides with the database)."""
    if not 22 <= len(token) <= 128 or not token.replace("-", "").replace("_", "").isalnum() or not token.isascii():
        raise TokenError("not a cart code")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise TokenError("not a cart code") from None
    if len(raw) != TOKEN_BYTES:
        raise TokenError("not a cart code")
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, store_id, body)):
        raise TokenError("this cart code was not issued for this store")
    (expires,) = struct.unpack(">I", body[NONCE_BYTES:])
    return TokenClaims(body[:NONCE_BYTES].hex(), datetime.fromtimestamp(expires, UTC))


def _mac(key: bytes, store_id: str, body: bytes) -> bytes:
    return hmac.new(key, store_id.encode() + b"\0" + body, hashlib.sha256).digest()[:MAC_BYTES]
