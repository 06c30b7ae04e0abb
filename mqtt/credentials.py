"""Staff PIN hashes and device provisioning files: one format, written by the backend, read by devices."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from codes import ids
from mqtt.badges import BadgeError, load_public_key
from mqtt.url import BrokerUrlError, parse_broker_url

PIN_ITERATIONS = 50_000
PIN_RE = re.compile(r"[0-9]{4,8}")
PIN_HASH_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\$[0-9a-f]{64}")
PROVISION_PREFIX = "AISLE-PROVISION:1:"
PROVISION_VERSION = 1
MAX_PROVISION_BYTES = 16_384  # a CA certificate (an RSA-4096 one is ~2 kB of PEM) and the JSON around it
MAX_CA_BYTES = 8192
CA_FILE = "ca.crt"


class ProvisioningError(ValueError):
    """A provisioning file or code is malformed."""


def hash_pin(pin: str, salt: str | None = None) -> str:
    """``salt$pbkdf2-sha256`` of a staff PIN, so no file ever holds the PIN itself."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), PIN_ITERATIONS).hex()
    return f"{salt}${digest}"


def pin_matches(pin: str, stored: str) -> bool:
    """Constant-time check of a PIN against ``hash_pin`` output; an empty hash matches nothing."""
    salt, _, _digest = stored.partition("$")
    return bool(salt) and bool(pin) and hmac.compare_digest(hash_pin(pin, salt), stored)


def check_pin(pin: str) -> str:
    """A staff PIN as the PIN pad can enter it (4 to 8 digits); raises ProvisioningError."""
    if not PIN_RE.fullmatch(pin):
        raise ProvisioningError("a staff PIN is 4 to 8 digits")
    return pin


@dataclass(frozen=True)
class Provisioning:
    """What a production device gets from the backend: where to connect, as whom, and the store's staff keys."""

    store: str
    device: str
    broker: str  # mqtt(s)://host:port[?...] without user or password
    username: str
    password: str = field(repr=False)
    staff_pin_hash: str = field(repr=False)
    badge_public_key: str  # the store's Ed25519 public key, base64url
    broker_ca: str = ""  # PEM of the CA the broker's certificate is checked with; "" = the URL's ca= or the system's
    version: int = PROVISION_VERSION

    def _fields(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.broker_ca:
            del data["broker_ca"]  # files from before the CA was carried look the same as they did
        return data

    def to_json(self) -> str:
        """The provisioning file's text."""
        return json.dumps(self._fields(), indent=2, sort_keys=True) + "\n"

    def qr_text(self) -> str:
        """The text of a provisioning QR code (the same fields, compact)."""
        raw = json.dumps(self._fields(), separators=(",", ":"), sort_keys=True).encode()
        return PROVISION_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check_ca_pem(text: str | bytes) -> str:
    """One PEM X.509 certificate, re-encoded (nothing but the certificate); raises ProvisioningError."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_CA_BYTES:
        raise ProvisioningError("the CA certificate is too long")
    if raw.count(b"-----BEGIN CERTIFICATE-----") != 1:
        raise ProvisioningError("the CA certificate must be exactly one PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(raw)
    except ValueError:
        raise ProvisioningError("the CA certificate is not a PEM X.509 certificate") from None
    return cert.public_bytes(Encoding.PEM).decode("ascii")


def broker_with_ca(broker: str, ca_file: Path) -> str:
    """``broker`` with its ``ca=`` pointing at ``ca_file`` (other query parameters kept)."""
    parts = urlsplit(broker)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "ca"] + [("ca", str(ca_file))]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def validate_provisioning(data: Any) -> Provisioning:
    """A Provisioning from decoded JSON; raises ProvisioningError naming the first bad field."""
    if not isinstance(data, dict):
        raise ProvisioningError("provisioning must be a JSON object")
    if data.get("version") != PROVISION_VERSION:
        raise ProvisioningError(f"unsupported provisioning version {str(data.get('version'))[:8]!r}")
    names = ("store", "device", "broker", "username", "password", "staff_pin_hash", "badge_public_key")
    missing = [n for n in names if not isinstance(data.get(n), str)]
    if missing:
        raise ProvisioningError(f"provisioning lacks {', '.join(missing)}")
    unknown = set(data) - set(names) - {"version", "broker_ca"}
    if unknown:
        raise ProvisioningError(f"unknown provisioning fields {sorted(unknown)[:5]}")
    try:
        ids.store_id(data["store"])
        ids.device_id(data["device"])
        parse_broker_url(data["broker"])
    except (ids.InvalidIdentifier, BrokerUrlError) as exc:
        raise ProvisioningError(str(exc)) from None
    if "@" in data["broker"]:
        raise ProvisioningError("the provisioned broker URL must not carry a user or password")
    if not data["username"] or not data["password"] or len(data["password"]) > 256:
        raise ProvisioningError("provisioning needs the broker login and password")
    if not PIN_HASH_RE.fullmatch(data["staff_pin_hash"]):
        raise ProvisioningError("bad staff PIN hash")
    try:
        load_public_key(data["badge_public_key"])
    except BadgeError as exc:
        raise ProvisioningError(f"bad badge public key: {exc}") from None
    broker_ca = data.get("broker_ca", "")
    if not isinstance(broker_ca, str):
        raise ProvisioningError("bad broker CA certificate")
    if broker_ca:
        broker_ca = check_ca_pem(broker_ca)
        if not data["broker"].startswith("mqtts://"):
            raise ProvisioningError("a broker CA certificate needs an mqtts:// broker")
    return Provisioning(**{n: data[n] for n in names}, broker_ca=broker_ca)


def parse_provisioning(text: str | bytes) -> Provisioning:
    """A provisioning file's JSON or a provisioning QR's text; raises ProvisioningError."""
    if len(text) > MAX_PROVISION_BYTES:
        raise ProvisioningError("provisioning is too long")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProvisioningError("provisioning is not UTF-8 text") from None
    text = text.strip()
    if text.startswith(PROVISION_PREFIX):
        body = text[len(PROVISION_PREFIX):]
        try:
            text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ProvisioningError("provisioning code is not base64url JSON") from None
    try:
        data = json.loads(text)
    except ValueError:  # json.JSONDecodeError, and ValueError for oversized integers
        raise ProvisioningError("provisioning is not valid JSON") from None
    return validate_provisioning(data)


def write_public(path: Path, text: str) -> None:
    """Write ``text`` readable by everyone (0644: a CA certificate is public), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)
    os.replace(tmp, path)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (0600 from the start, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older tmp file keeps its mode through O_CREAT
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
