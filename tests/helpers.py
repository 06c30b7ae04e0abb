"""Helpers shared by test modules: polling for a condition, racing threads, MQTT clients closed together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mqtt.client import MqttClient
from mqtt.url import BrokerUrl


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds; False when it still does not after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def race(contenders: int, attempt: Callable[[int], str]) -> list[str]:
    """Run ``attempt(0)`` .. ``attempt(contenders - 1)`` on threads released together; their answers, sorted."""
    results: list[str] = []
    barrier = threading.Barrier(contenders)

    def run(i: int) -> None:
        barrier.wait()
        results.append(attempt(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


class OpenClients:
    """MQTT clients a test connected, closed together when it ends."""

    def __init__(self) -> None:
        self._clients: list[MqttClient] = []

    def connect(self, url: BrokerUrl, client_id: str, **kwargs: Any) -> MqttClient:
        """A client connected within 10 s, kept to be closed by ``close``."""
        client = MqttClient(url, client_id, **kwargs)
        client.connect(10)
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every client connected so far."""
        for client in self._clients:
            client.close()
