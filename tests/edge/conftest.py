"""Edge fixtures: the backend's fixture catalogue served on the session Mosquitto, and Edge factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.device import Edge
from mqtt.url import BrokerUrl
from tests.backend.conftest import db, db_path, service  # noqa: F401
from tests.conftest import unique


@pytest.fixture
def make_edge(broker_url: BrokerUrl, tmp_path: Path) -> Iterator[Callable[..., Edge]]:
    """Factory of started Edge devices with their own cache files, closed after the test."""
    edges: list[Edge] = []

    def make(store_id: str = "test-a", url: object = None, cache: Path | None = None, **kwargs: object) -> Edge:
        device = kwargs.pop("device_id", None) or unique("kiosk")
        edge = Edge(url or broker_url, store_id, str(device), cache or tmp_path / f"{device}.db",  # type: ignore[arg-type]
                    **kwargs)  # type: ignore[arg-type]
        edges.append(edge)
        edge.start()
        return edge

    yield make
    for edge in edges:
        edge.close()
