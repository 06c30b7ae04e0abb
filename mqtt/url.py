"""Broker addresses: ``mqtt://host:port``, ``mqtts://host:port`` or ``embedded``."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
PASSWORD_ENV = "AISLE_MQTT_PASSWORD"
PASSWORD_FILE_ENV = "AISLE_MQTT_PASSWORD_FILE"
MASK = "***"
# scheme://user:password@ -- the password is whatever sits between the first ':' and the last '@' of the authority.
_USERINFO_RE = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):(?P<password>[^\s/]*)@")
_warned_inline_password = False


class BrokerUrlError(ValueError):
    """A broker address cannot be understood."""


@dataclass(frozen=True)
class BrokerUrl:
    """Where and how to reach a broker."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    protocol: int = 4  # 4 = MQTT 3.1.1, 5 = MQTT 5
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        query = "?protocol=5" if self.protocol == 5 else ""
        return f"{scheme}://{user}{self.host}:{self.port}{query}"


def mask_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced by ``***``."""
    return _USERINFO_RE.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


def strip_password(text: str) -> str:
    """A URL without the password of its userinfo (the user name stays)."""
    return _USERINFO_RE.sub(lambda m: f"{m.group('head')}@", text)


def password_from_environment() -> str | None:
    """The broker password from AISLE_MQTT_PASSWORD, else from the file AISLE_MQTT_PASSWORD_FILE names."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    path = os.environ.get(PASSWORD_FILE_ENV)
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerUrlError(f"{PASSWORD_FILE_ENV} names a file that cannot be read: {exc}") from None
    # Only the line ending is trimmed: a password may begin or end with a space.
    password = text.rstrip("\r\n")
    if not password or "\n" in password:
        raise BrokerUrlError(f"{PASSWORD_FILE_ENV} must name a file holding the password on one line")
    return password


def _warn_inline_password() -> None:
    global _warned_inline_password
    if not _warned_inline_password:
        _warned_inline_password = True
        log.warning("the broker URL carries a password (visible in ps and shell history); set %s or %s instead",
                    PASSWORD_ENV, PASSWORD_FILE_ENV)


def parse_broker_url(text: str) -> BrokerUrl:
    """Parse a broker address; without credentials in it they come from AISLE_MQTT_USERNAME/PASSWORD(_FILE)."""
    if text == EMBEDDED:
        raise BrokerUrlError("'embedded' names a broker to start, not an address; start it first")
    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerUrlError(f"broker URL must start with mqtt:// or mqtts://, got {mask_url(text)!r}")
    if not parts.hostname:
        raise BrokerUrlError(f"broker URL has no host: {mask_url(text)!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerUrlError(f"broker URL has a bad port: {mask_url(text)!r}") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    protocol = {"3.1.1": 4, "4": 4, "5": 5}.get(query.get("protocol", "4"))
    if protocol is None:
        raise BrokerUrlError(f"protocol must be 3.1.1 or 5 in {mask_url(text)!r}")
    if parts.password:
        _warn_inline_password()
    return BrokerUrl(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else os.environ.get("AISLE_MQTT_USERNAME"),
        password=unquote(parts.password) if parts.password else password_from_environment(),
        protocol=protocol,
        ca_file=query.get("ca"),
        cert_file=query.get("cert"),
        key_file=query.get("key"),
    )
