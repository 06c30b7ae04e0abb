"""Every MQTT topic of the store protocol, built and parsed in one place.

Layout (``aisle/v1`` is the protocol version prefix)::

    aisle/v1/{store}/info                               retained store details (currency, location)
    aisle/v1/{store}/catalog/{sku}                      retained product
    aisle/v1/{store}/stock/{sku}                        retained stock level
    aisle/v1/{store}/alerts/{alert}                     retained restock alert
    aisle/v1/{store}/staff/revoked                      retained list of revoked staff badge ids
    aisle/v1/{store}/recalls                            retained list of recalled products and batches
    aisle/v1/{store}/device/{device}/req                device -> backend requests
    aisle/v1/{store}/device/{device}/reply/{nonce}      backend -> device replies
    aisle/v1/{store}/device/{device}/event              backend -> device pushes
    aisle/v1/{store}/device/{device}/status             retained presence (Last Will)
    aisle/v1/_backend/{backend}/status                  retained backend presence
    aisle/v1/_backend/{backend}/marker                  retained: what the broker holds of the backend's state
    aisle/v1/_backend/{backend}/probe                   the backend's message to itself after a reconnect
    aisle/v1/_chain/{site}/live                         retained heartbeat of a chain site (a store, or hq)
    aisle/v1/_chain/{store}/link                        local only: the store broker's bridge up ("1") or cut ("0")
    aisle/v1/_chain/hq/head/{store}                     retained: HQ's newest catalogue version for a store
    aisle/v1/_chain/{target}/{source}/req               a request from one site of a chain to another
    aisle/v1/_chain/{target}/{source}/reply/{nonce}     its reply

Everything a device may write lives under its own ``device/{device}/`` branch, so a broker
ACL pattern such as ``aisle/v1/+/device/%u/#`` can pin a device's identity to its login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codes import ids

PREFIX = "aisle/v1"
ALERT_ID_RE = re.compile(r"^a_[A-Za-z0-9_-]{8,40}$")
BACKEND_BRANCH = "_backend"


class TopicError(ValueError):
    """A topic does not belong to the protocol or is malformed."""


def store_info(store: str) -> str:
    """Retained details of one store: name, currency, languages, location."""
    return f"{PREFIX}/{ids.store_id(store)}/info"


def alert(store: str, alert_id: str) -> str:
    """Retained state of one restock alert."""
    if not ALERT_ID_RE.fullmatch(alert_id):
        raise TopicError(f"invalid alert id {alert_id!r:.60}")
    return f"{PREFIX}/{ids.store_id(store)}/alerts/{alert_id}"


def alerts_filter(store: str = "+") -> str:
    """Subscription filter for a store's alerts."""
    return f"{PREFIX}/{_store_or_wildcard(store)}/alerts/+"


def store_info_filter() -> str:
    """Subscription filter for every store's details."""
    return f"{PREFIX}/+/info"


def catalog(store: str, sku: str) -> str:
    """Retained catalogue entry of one product in one store."""
    return f"{PREFIX}/{ids.store_id(store)}/catalog/{ids.sku(sku)}"


def stock(store: str, sku: str) -> str:
    """Retained stock level of one product in one store."""
    return f"{PREFIX}/{ids.store_id(store)}/stock/{ids.sku(sku)}"


def catalog_filter(store: str = "+") -> str:
    """Subscription filter for a store's catalogue (``+`` for every store)."""
    return f"{PREFIX}/{_store_or_wildcard(store)}/catalog/+"


def stock_filter(store: str = "+") -> str:
    """Subscription filter for a store's stock (``+`` for every store)."""
    return f"{PREFIX}/{_store_or_wildcard(store)}/stock/+"


def device_base(store: str, device: str) -> str:
    """Branch a device owns: everything it may publish lives below it."""
    return f"{PREFIX}/{ids.store_id(store)}/device/{ids.device_id(device)}"


def request(store: str, device: str) -> str:
    """Topic a device publishes its requests on."""
    return f"{device_base(store, device)}/req"


def request_filter(store: str = "+") -> str:
    """Subscription filter a backend uses for the requests of every device (of one store, or ``+`` of every store)."""
    return f"{PREFIX}/{_store_or_wildcard(store)}/device/+/req"


def reply(store: str, device: str, nonce: str) -> str:
    """Topic a device receives replies on; the nonce separates concurrent clients of one device."""
    if not nonce or not nonce.isalnum() or len(nonce) > 32:
        raise TopicError(f"invalid reply nonce {nonce!r:.40}")
    return f"{device_base(store, device)}/reply/{nonce}"


def reply_filter(store: str, device: str, nonce: str) -> str:
    """Subscription filter for one client's replies."""
    return reply(store, device, nonce)


def event(store: str, device: str) -> str:
    """Topic the backend pushes events to one device on."""
    return f"{device_base(store, device)}/event"


def device_status(store: str, device: str) -> str:
    """Retained presence of a device, cleared to offline by its Last Will."""
    return f"{device_base(store, device)}/status"


def staff_revoked(store: str) -> str:
    """Retained list of the store's revoked staff badges (mqtt.badges.revocation_list)."""
    return f"{PREFIX}/{ids.store_id(store)}/staff/revoked"


def recalls(store: str) -> str:
    """Retained list of the store's recalled products and batches (mqtt.recalls.RecallList); the backend's alone."""
    return f"{PREFIX}/{ids.store_id(store)}/recalls"


def backend_status(backend: str) -> str:
    """Retained presence of a backend instance."""
    return f"{PREFIX}/{BACKEND_BRANCH}/{ids.device_id(backend)}/status"


def backend_marker(backend: str) -> str:
    """Retained marker of how much of a backend's state the broker holds (backend/state_marker.py)."""
    return f"{PREFIX}/{BACKEND_BRANCH}/{ids.device_id(backend)}/marker"


def backend_probe(backend: str) -> str:
    """Where a backend sends itself a message to learn that the broker has delivered everything before it."""
    return f"{PREFIX}/{BACKEND_BRANCH}/{ids.device_id(backend)}/probe"


CHAIN_BRANCH = "_chain"


def chain_live(site: str) -> str:
    """Retained heartbeat of a chain site (store or HQ)."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{ids.site_id(site)}/live"


def chain_live_filter() -> str:
    """Subscription filter for every site's heartbeat."""
    return f"{PREFIX}/{CHAIN_BRANCH}/+/live"


def chain_link(store: str) -> str:
    """Local only: the store broker's bridge notification, retained "1" while the link to the centre is up."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{ids.store_id(store)}/link"


def hq_head(store: str) -> str:
    """Retained: HQ's newest catalogue and price version for one store."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{ids.HQ_SITE}/head/{ids.chain_store_id(store)}"


def chain_request(target: str, source: str) -> str:
    """Where site ``source`` sends its requests to site ``target``."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{ids.site_id(target)}/{ids.site_id(source)}/req"


def chain_request_filter(target: str) -> str:
    """Subscription filter for every request to site ``target``."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{ids.site_id(target)}/+/req"


def chain_reply(target: str, source: str, nonce: str) -> str:
    """Where site ``target`` answers a request of site ``source``."""
    if not nonce or not nonce.isalnum() or len(nonce) > 32:
        raise TopicError(f"invalid reply nonce {nonce!r:.40}")
    return f"{PREFIX}/{CHAIN_BRANCH}/{ids.site_id(target)}/{ids.site_id(source)}/reply/{nonce}"


def hq_head_filter() -> str:
    """Subscription filter (and ACL pattern) for HQ's head of every store."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{ids.HQ_SITE}/head/+"


def chain_request_pattern(target: str = "+", source: str = "+") -> str:
    """Filter or ACL pattern of requests from ``source`` to ``target`` (either may be ``+``)."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{_site_or_wildcard(target)}/{_site_or_wildcard(source)}/req"


def chain_reply_pattern(target: str = "+", source: str = "+") -> str:
    """Filter or ACL pattern of ``target``'s replies to ``source`` (either may be ``+``), any nonce."""
    return f"{PREFIX}/{CHAIN_BRANCH}/{_site_or_wildcard(target)}/{_site_or_wildcard(source)}/reply/+"


def _site_or_wildcard(site: str) -> str:
    return site if site == "+" else ids.site_id(site)


def parse_chain(topic: str) -> ParsedTopic:
    """Split a chain topic (``kind`` live, link, head, req or reply; ``store`` the target site, ``key`` the source)."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:3]) != f"{PREFIX}/{CHAIN_BRANCH}":
        raise TopicError(f"not an Aisle chain topic: {topic!r:.120}")
    try:
        site = ids.site_id(parts[3])
        if len(parts) == 5 and parts[4] in ("live", "link"):
            return ParsedTopic(parts[4], site, site)
        if len(parts) == 6 and site == ids.HQ_SITE and parts[4] == "head":
            return ParsedTopic("head", site, ids.chain_store_id(parts[5]))
        if len(parts) == 6 and parts[5] == "req":
            return ParsedTopic("req", site, ids.site_id(parts[4]))
        if len(parts) == 7 and parts[5] == "reply":
            return ParsedTopic("reply", site, ids.site_id(parts[4]), parts[6])
    except ids.InvalidIdentifier as exc:
        raise TopicError(f"{exc} in topic {topic!r:.120}") from None
    raise TopicError(f"unknown Aisle chain topic: {topic!r:.120}")


def _store_or_wildcard(store: str) -> str:
    return store if store == "+" else ids.store_id(store)


@dataclass(frozen=True)
class ParsedTopic:
    """A protocol topic split into its parts."""

    kind: str  # info | recalls | catalog | stock | alert | revoked | req | reply | event | status
    store: str
    key: str  # sku for catalog/stock, device id otherwise
    nonce: str | None = None


def parse(topic: str) -> ParsedTopic:
    """Split a protocol topic, raising TopicError for anything outside the protocol."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != PREFIX:
        raise TopicError(f"not an Aisle v1 topic: {topic!r:.120}")
    store, branch = parts[2], parts[3]
    try:
        ids.store_id(store)
        if branch in ("info", "recalls") and len(parts) == 4:
            return ParsedTopic(branch, store, store)
        if branch in ("catalog", "stock") and len(parts) == 5:
            return ParsedTopic(branch, store, ids.sku(parts[4]))
        if branch == "alerts" and len(parts) == 5 and ALERT_ID_RE.fullmatch(parts[4]):
            return ParsedTopic("alert", store, parts[4])
        if branch == "staff" and len(parts) == 5 and parts[4] == "revoked":
            return ParsedTopic("revoked", store, store)
        if branch == "device" and len(parts) >= 6:
            device = ids.device_id(parts[4])
            leaf = parts[5]
            if leaf in ("req", "event", "status") and len(parts) == 6:
                return ParsedTopic(leaf, store, device)
            if leaf == "reply" and len(parts) == 7:
                return ParsedTopic("reply", store, device, parts[6])
    except ids.InvalidIdentifier as exc:
        raise TopicError(f"{exc} in topic {topic!r:.120}") from None
    raise TopicError(f"unknown Aisle topic: {topic!r:.120}")
