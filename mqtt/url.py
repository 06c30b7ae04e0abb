"""Broker addresses: ``mqtt://host:port``, ``mqtts://host:port`` or ``embedded``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

EMBEDDED = "embedded"


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


def parse_broker_url(text: str) -> BrokerUrl:
    """Parse a broker address; credentials may come from AISLE_MQTT_USERNAME/PASSWORD."""
    if text == EMBEDDED:
        raise BrokerUrlError("'embedded' names a broker to start, not an address; start it first")
    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerUrlError(f"broker URL must start with mqtt:// or mqtts://, got {text!r}")
    if not parts.hostname:
        raise BrokerUrlError(f"broker URL has no host: {text!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerUrlError(f"broker URL has a bad port: {text!r}") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    protocol = {"3.1.1": 4, "4": 4, "5": 5}.get(query.get("protocol", "4"))
    if protocol is None:
        raise BrokerUrlError(f"protocol must be 3.1.1 or 5 in {text!r}")
    return BrokerUrl(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else os.environ.get("AISLE_MQTT_USERNAME"),
        password=unquote(parts.password) if parts.password else os.environ.get("AISLE_MQTT_PASSWORD"),
        protocol=protocol,
        ca_file=query.get("ca"),
        cert_file=query.get("cert"),
        key_file=query.get("key"),
    )
