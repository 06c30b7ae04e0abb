"""Backend fixtures: a database with the small test catalogue, and a running service."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.db import Store
from backend.importer import import_file
from backend.service import BackendService
from mqtt.url import BrokerUrl
from tests.conftest import FIXTURES, clear_retained, unique


def load_fixture_catalog(store: Store) -> None:
    """Import the three fixture CSVs; fails the test on any rejected row."""
    for name in ("stores.csv", "products.csv", "inventory.csv"):
        report = import_file(store, FIXTURES / name, progress=False)
        assert not report.errors, report.errors


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "backend.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    load_fixture_catalog(s)
    yield s
    s.close()


@pytest.fixture
def service(store: Store, broker_url: BrokerUrl) -> Iterator[BackendService]:
    clear_retained(broker_url)
    svc = BackendService(store, broker_url, backend_id=unique("backend"), watch_interval=0.1)
    svc.start()
    yield svc
    svc.stop()
