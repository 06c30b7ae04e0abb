"""Shared fixtures: a real Mosquitto per test session, backend databases, message collectors."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from backend.db import Database
from backend.importer import import_file
from backend.service import BackendService
from mqtt import topics
from mqtt.brokers import MosquittoBroker
from mqtt.client import Message, MqttClient
from mqtt.url import BrokerUrl
from tests.helpers import OpenClients

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A real Mosquitto broker on a free loopback port for the whole test session."""
    broker = MosquittoBroker(workdir=tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.close()


@pytest.fixture
def broker_url(mosquitto: MosquittoBroker) -> BrokerUrl:
    """Address of the session's Mosquitto."""
    return mosquitto.url


def unique(prefix: str) -> str:
    """A device or store-safe id no other test uses."""
    return f"{prefix}-{next(_ids)}-{int(time.time() * 1000) % 100000}"


@pytest.fixture
def make_client(broker_url: BrokerUrl) -> Iterator[Callable[..., MqttClient]]:
    """Factory of connected clients, closed after the test."""
    clients = OpenClients()

    def make(client_id: str | None = None, url: BrokerUrl | None = None, **kwargs: object) -> MqttClient:
        return clients.connect(url or broker_url, client_id or unique("test"), **kwargs)

    yield make
    clients.close()


class Clock:
    """A service's time, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        from mqtt.payloads import utcnow

        self.now = utcnow()

    def __call__(self):  # noqa: ANN204 - returns the datetime held in now
        return self.now


class Collector:
    """Collects messages from a subscription and waits for conditions on them."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._cond = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout: float = 5.0) -> bool:
        """Wait until predicate(messages) holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def topics(self) -> set[str]:
        """Distinct topics seen so far."""
        with self._cond:
            return {m.topic for m in self.messages}


@pytest.fixture
def collector() -> Callable[[], Collector]:
    """Factory of message collectors."""
    return Collector


@pytest.fixture
def watch_events(make_client: Callable[..., MqttClient]) -> Callable[[str, str], Collector]:
    """Factory: a Collector of one device's event topic, subscribed before it is returned."""

    def watch(store_id: str, device: str) -> Collector:
        events = Collector()
        client = make_client()
        client.subscribe(topics.event(store_id, device), events)
        assert client.wait_subscribed(topics.event(store_id, device))
        return events

    return watch


def clear_retained(url: BrokerUrl, topic_filter: str = "aisle/v1/#", settle: float = 0.3) -> int:
    """Delete every retained message under ``topic_filter`` so tests do not see each other's state."""
    client = MqttClient(url, unique("cleaner"))
    client.connect()
    found: set[str] = set()
    lock = threading.Lock()

    def note(message: Message) -> None:
        if message.retain and message.payload:
            with lock:  # the client's dispatcher thread adds while this one reads
                found.add(message.topic)

    client.subscribe(topic_filter, note)
    client.wait_subscribed(topic_filter)
    time.sleep(settle)
    with lock:
        topics_found = sorted(found)
    for topic in topics_found:
        client.publish(topic, b"", retain=True).wait_for_publish(5)
    client.close()
    return len(found)


def load_fixture_catalog(db: Database) -> None:
    """Import the three fixture CSVs (stores test-a SEK, test-b DKK, test-wh); fails on any rejected row."""
    for name in ("stores.csv", "products.csv", "inventory.csv"):
        report = import_file(db, FIXTURES / name, progress=False)
        assert not report.errors, report.errors
    register_test_devices(db)


def register_test_devices(db: Database) -> None:
    """Tests name their devices by role: tool-N and till-N are admins, staff-N are staff of test-a."""
    from backend import roles

    for i in range(10):
        roles.register(db, f"tool-{i}", "-", "admin")
        roles.register(db, f"till-{i}", "-", "admin")
        roles.register(db, f"staff-{i}", "test-a", "staff")
    roles.register(db, "admin-cli", "-", "admin")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where this test's backend database lives."""
    return tmp_path / "backend.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    """A backend database holding the small fixture catalogue."""
    s = Database(db_path)
    load_fixture_catalog(s)
    yield s
    s.close()


@pytest.fixture
def service(db: Database, broker_url: BrokerUrl) -> Iterator[BackendService]:
    """The backend service on the fixture catalogue, on the session Mosquitto, with no retained leftovers."""
    register_test_devices(db)
    with running_service(db, broker_url, watch_interval=0.1) as svc:
        yield svc


@contextmanager
def running_service(db: Database, broker_url: BrokerUrl, **options: Any) -> Iterator[BackendService]:
    """A started backend service (a fresh id) on a broker cleared of retained leftovers; stopped on leaving."""
    clear_retained(broker_url)
    svc = BackendService(db, broker_url, backend_id=unique("backend"), **options)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()
