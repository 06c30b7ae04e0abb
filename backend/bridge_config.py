"""The bridge of a store's Mosquitto to the chain's central broker: its topic map and its mosquitto.conf section.

What a store sends up and takes down is defined here once; ``central-config`` grants each store's bridge exactly
these topics on the central broker (backend/central_config.py), so the two sides cannot drift apart.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from backend.chain_logins import ChainLoginsError, bridge_login, find_login, read_logins
from codes import ids
from mqtt import topics

log = logging.getLogger(__name__)

CENTRAL_CA_FILE = "central-ca.crt"  # the central broker's CA, copied beside the store's own ca.crt
QOS = 1
# A DNS name or an IPv4 address: the host goes verbatim onto the `address` line.
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


class BridgeConfigError(ValueError):
    """The bridge cannot be configured from what was given."""


def uplink(store: str) -> list[str]:
    """Topic patterns store ``store`` publishes to the centre (and all its bridge may write there)."""
    return [topics.store_info(store), topics.stock_filter(store), topics.chain_live(store),
            topics.chain_request_pattern("+", store), topics.chain_reply_pattern(store, "+")]


def downlink(store: str, nearby: list[str] | None) -> list[str]:
    """Topic patterns store ``store`` takes from the centre: ``nearby`` stores' state (``None``: every store's)."""
    patterns: list[str] = []
    if nearby is None:  # the central ACL's view: any store's state may be read, never written
        patterns += [topics.store_info_filter(), topics.stock_filter("+"), topics.chain_live_filter()]
    else:
        for other in nearby:
            patterns += [topics.store_info(other), topics.stock_filter(other), topics.chain_live(other)]
        patterns.append(topics.chain_live(ids.HQ_SITE))
    return patterns + [topics.hq_head(store), topics.chain_request_pattern(store, "+"),
                       topics.chain_reply_pattern("+", store)]


def check_nearby(store: str, nearby: list[str]) -> list[str]:
    """The nearby stores, checked: valid, not HQ, not the store itself, no repeats."""
    for other in nearby:
        try:
            ids.chain_store_id(other)
        except ids.InvalidIdentifier as exc:
            raise BridgeConfigError(f"--nearby: {exc}") from None
    if store in nearby:
        # Its own state would come back down on every reconnect and overwrite newer local values.
        raise BridgeConfigError(f"--nearby must not name the store itself ({store})")
    if len(set(nearby)) != len(nearby):
        raise BridgeConfigError("--nearby names a store twice")
    return list(nearby)


@dataclass(frozen=True)
class Bridge:
    """Everything the bridge section needs, read and checked before anything is written."""

    store: str
    host: str
    port: int
    login: str
    password: str = field(repr=False)
    central_ca: bytes = field(repr=False)
    nearby: tuple[str, ...] = ()

    def write(self, out: Path) -> str:
        """Copy the central CA into ``out`` and return the mosquitto.conf section."""
        ca = out / CENTRAL_CA_FILE
        ca.write_bytes(self.central_ca)
        ca.chmod(0o644)
        log.info("bridge aisle-%s-central to %s:%d as %s (password from the central logins)", self.store,
                 self.host, self.port, self.login)
        return section_text(self, ca)


def load_bridge(store: str, url: str, logins_csv: Path, central_ca: Path, nearby: list[str]) -> Bridge:
    """Read the central broker's address, logins and CA for ``store``'s bridge; raises BridgeConfigError."""
    try:
        ids.chain_store_id(store)
    except ids.InvalidIdentifier as exc:
        raise BridgeConfigError(str(exc)) from None
    parts = urlsplit(url)
    if parts.scheme != "mqtts":
        raise BridgeConfigError(f"--bridge must be an mqtts:// address (TLS), got {parts.scheme or url!r:.40}")
    if parts.username or parts.password:
        raise BridgeConfigError("--bridge carries no login: the bridge's comes from --bridge-logins")
    try:
        port = parts.port or 8883
    except ValueError:
        raise BridgeConfigError("--bridge has a bad port") from None
    host = parts.hostname or ""
    if not _HOST_RE.fullmatch(host) or parts.path not in ("", "/") or parts.query:
        raise BridgeConfigError("--bridge must be mqtts://HOST[:PORT] with a DNS name or IPv4 address as HOST")
    try:
        login = find_login(read_logins(logins_csv), bridge_login(store))
        ca = central_ca.read_bytes()
    except ChainLoginsError as exc:
        raise BridgeConfigError(str(exc)) from None
    except OSError as exc:
        raise BridgeConfigError(f"cannot read the central CA {central_ca}: {exc.strerror or exc}") from None
    if b"-----BEGIN CERTIFICATE-----" not in ca:
        raise BridgeConfigError(f"{central_ca} holds no PEM certificate (central-config writes ca.crt)")
    return Bridge(store, host, port, login.login, login.password, ca, tuple(check_nearby(store, nearby)))


def section_text(bridge: Bridge, central_ca: Path) -> str:
    """The ``connection`` section of the store's mosquitto.conf (it holds the bridge's password)."""
    lines = [
        "",
        "# The bridge to the chain's central broker (python -m backend broker-config --bridge).",
        f"connection aisle-{bridge.store}-central",
        f"address {bridge.host}:{bridge.port}",
        f"bridge_cafile {central_ca}",
        "bridge_insecure false",  # the central certificate must name the host dialled
        f"remote_clientid {bridge.login}",
        f"remote_username {bridge.login}",
        f"remote_password {bridge.password}",
        # A persistent session on both sides: what is published while the link is cut waits in a queue.
        "cleansession false",
        "bridge_protocol_version mqttv311",
        "try_private true",  # the centre then never echoes a store's own messages back to it
        "restart_timeout 2 30",
        "keepalive_interval 30",
        "notifications true",
        "notifications_local_only true",  # the centre learns of a site from its heartbeat, not from this
        f"notification_topic {topics.chain_link(bridge.store)}",
    ]
    lines += [f"topic {pattern} out {QOS}" for pattern in uplink(bridge.store)]
    lines += [f"topic {pattern} in {QOS}" for pattern in downlink(bridge.store, list(bridge.nearby))]
    return "\n".join(lines) + "\n"


def masked(text: str) -> str:
    """A configuration text with the bridge password hidden, for logs and screens."""
    return re.sub(r"(?m)^(remote_password) .*$", r"\1 ***", text)
