"""Where requests and replies travel: devices to their store's backend, or sites of a chain to each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mqtt import topics


@dataclass(frozen=True)
class Route:
    """Where requests and replies travel: a device's branch of its store, or between two sites of a chain."""

    request: Callable[[str, str], str]  # (store or target site, device or source site) -> request topic
    reply: Callable[[str, str, str], str]  # (..., nonce) -> reply topic
    request_filter: Callable[[], str]  # what a server subscribes to (all requests it may answer)
    parse: Callable[[str], topics.ParsedTopic]  # request topic -> store/site and device/source

    def reply_branch(self, store: str, device: str) -> str:
        """The prefix every reply to this requester must start with."""
        return self.reply(store, device, "x").removesuffix("x")


DEVICE_ROUTE = Route(topics.request, topics.reply, topics.request_filter, topics.parse)


def device_route(store: str | None = None) -> Route:
    """Devices' requests to their store's backend: of one store, or (None) of every store on the broker."""
    return DEVICE_ROUTE if store is None else replace(DEVICE_ROUTE, request_filter=lambda: topics.request_filter(store))


def chain_route(site: str) -> Route:
    """Requests between chain sites, as served by ``site`` (store backends and HQ over the central broker)."""
    return Route(topics.chain_request, topics.chain_reply, lambda: topics.chain_request_filter(site),
                 topics.parse_chain)
