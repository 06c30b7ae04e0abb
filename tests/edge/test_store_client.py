"""StoreClient: built without I/O, started, and closed through one cleanup list; its link health and errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.cleanup import Cleanup
from edge.client_types import ClientError, StoreNotReady
from edge.device import Edge
from edge.settings import DeviceSettings
from edge.store_client import StoreClient
from mqtt.brokers import free_port
from mqtt.client import ConnectError
from mqtt.url import BrokerUrl, parse_broker_url
from tests.conftest import unique
from tests.helpers import wait_until


def run_now(fn: Callable[[], None]) -> None:
    """A dispatcher that runs listeners on the calling thread."""
    fn()


def settings(data_dir: Path, url: BrokerUrl, device: str | None = None) -> DeviceSettings:
    """A kiosk of the fixture store test-a."""
    return DeviceSettings(url, "test-a", device or unique("kiosk"), data_dir)


def nowhere() -> BrokerUrl:
    """A broker address nothing listens on."""
    return parse_broker_url(f"mqtt://127.0.0.1:{free_port()}")


def test_constructing_does_no_io_and_close_before_start_is_harmless(tmp_path: Path, broker_url: BrokerUrl) -> None:
    threads = set(threading.enumerate())
    client = StoreClient(settings(tmp_path / "device", broker_url), run_now)
    assert not (tmp_path / "device").exists()
    assert set(threading.enumerate()) == threads
    assert not client.connected
    client.close()
    assert not (tmp_path / "device").exists()


def test_start_syncs_and_close_releases_every_thread(service, tmp_path: Path, broker_url: BrokerUrl) -> None:
    threads = set(threading.enumerate())
    data = tmp_path / "device"
    client = StoreClient(settings(data, broker_url), run_now)
    connections: list[bool] = []
    client.on_connection(connections.append)  # listeners go on before start: nothing early is missed
    client.start()
    try:
        assert client.edge.wait_synced(10)
        assert client.product("DRY-PASTA-500") is not None
        health = client.health()
        assert health.connected and health.synced and health.ever_synced and health.last_known is not None
        assert (data / "orders.db").exists() and (data / "staff_actions.db").exists()
        assert connections and connections[-1]
        with pytest.raises(RuntimeError):
            client.start()
    finally:
        client.close()
    assert wait_until(lambda: set(threading.enumerate()) <= threads), set(threading.enumerate()) - threads
    client.close()  # a second close has nothing left to do


def test_backend_refusals_become_client_errors(service, tmp_path: Path, broker_url: BrokerUrl) -> None:
    client = StoreClient(settings(tmp_path / "device", broker_url), run_now)
    client.start()
    try:
        assert client.edge.wait_synced(10)
        with pytest.raises(ClientError) as refused:
            client.adjust_stock("DRY-PASTA-500", -1, "shelf", "sold")  # only staff may adjust stock
        assert refused.value.code == "forbidden"
    finally:
        client.close()


def test_without_the_store_the_cart_is_not_ready_and_calls_are_offline(tmp_path: Path) -> None:
    client = StoreClient(settings(tmp_path / "device", nowhere()), run_now, rpc_timeout=0.5)
    client.start()
    try:
        assert client.cart_snapshot() is None
        with pytest.raises(StoreNotReady):
            client.cart.add("DRY-PASTA-500")
        with pytest.raises(ClientError) as offline:
            client.options([])
        assert offline.value.code == "offline"
    finally:
        client.close()


def test_an_offline_restart_shows_the_data_as_last_known_and_logs_it_once(
        service, tmp_path: Path, broker_url: BrokerUrl, caplog: pytest.LogCaptureFixture) -> None:
    data, device = tmp_path / "device", unique("kiosk")
    first = StoreClient(settings(data, broker_url, device), run_now)
    first.start()
    try:
        assert first.edge.wait_synced(10)
        known = first.health().last_known
    finally:
        first.close()
    again = StoreClient(settings(data, nowhere(), device), run_now)
    again.start()
    try:
        with caplog.at_level(logging.WARNING, logger="edge.link_health"):
            assert wait_until(lambda: again.health().problem is not None)
            for _ in range(3):
                health = again.health()
        assert not health.connected and health.ever_synced and health.last_known is not None
        assert known is not None and health.last_known <= known
        assert caplog.text.count("test-a offline: showing data last known at") == 1, caplog.text
    finally:
        again.close()


def test_a_failed_start_releases_what_it_took(tmp_path: Path) -> None:
    threads = set(threading.enumerate())
    edge = Edge.for_device(settings(tmp_path, nowhere()), connect_timeout=0.5)
    with pytest.raises(ConnectError):
        edge.start()
    assert wait_until(lambda: set(threading.enumerate()) <= threads), set(threading.enumerate()) - threads
    edge.close()


def test_cleanup_runs_newest_first_and_past_a_failing_step(caplog: pytest.LogCaptureFixture) -> None:
    done: list[int] = []
    cleanup = Cleanup("test")

    def fail() -> None:
        raise OSError("disk gone")

    cleanup.add(lambda: done.append(1))
    cleanup.add(fail)
    cleanup.add(lambda: done.append(3))
    with caplog.at_level(logging.ERROR, logger="edge.cleanup"):
        cleanup.run()
    assert done == [3, 1] and "disk gone" in caplog.text and len(cleanup) == 0
    cleanup.run()
    assert done == [3, 1]
