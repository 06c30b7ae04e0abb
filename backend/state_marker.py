"""Noticing that the broker lost (or rolled back) the retained state the backend published.

A broker killed with ``kill -9`` comes back with nothing, or with whatever it last saved: devices that connect then
see no catalogue, or a stale one. Saving more often is no remedy (Mosquitto rewrites its whole database on every
save), so the backend checks instead: after each batch of retained messages it publishes a retained marker naming
its instance and a generation number, and after every reconnect it reads the marker back. The broker sends a
subscription's retained message before anything published after the subscription, so when the backend's probe
(published after subscribing) comes back, the marker has either arrived or is missing. A missing or older marker
means the broker lost state: the backend republishes everything.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable

from mqtt import topics
from mqtt.client import Message, MqttClient

log = logging.getLogger(__name__)


class StateMarker:
    """Tracks what the broker holds of one backend's retained state through one connection."""

    def __init__(self, client: MqttClient, backend_id: str, on_lost: Callable[[], None]) -> None:
        self._client = client
        self._on_lost = on_lost
        self.topic = topics.backend_marker(backend_id)
        self.probe_topic = topics.backend_probe(backend_id)
        self._token = secrets.token_hex(8)  # this process: a marker left by an earlier run is not ours
        self._lock = threading.Lock()
        self._sent = -1  # the client's count of retained messages the last marker covers
        self._after = -1  # that count just after the marker itself went out
        self._seen: tuple[str, int] | None = None  # the marker as the broker last delivered it
        self._probe: str | None = None  # nonce of the probe in flight after a reconnect
        self._cleanup: list[Callable[[], None]] = []

    def start(self) -> None:
        """Subscribe to the marker and the probe and check after every reconnect (call once connected)."""
        self._cleanup = [self._client.subscribe(self.topic, self._on_marker),
                         self._client.subscribe(self.probe_topic, self._on_probe),
                         self._client.add_connection_listener(self._on_connection)]

    def stop(self) -> None:
        """Stop checking."""
        for undo in self._cleanup:
            undo()
        self._cleanup = []

    def flush(self) -> None:
        """Publish the marker if retained messages went out since the last one (after them, on the same connection)."""
        generation = self._client.retained_sent
        with self._lock:
            if generation == self._after or not self._client.connected:
                return
        data = json.dumps({"token": self._token, "generation": generation}).encode()
        self._client.publish(self.topic, data, qos=1, retain=True)
        with self._lock:
            self._sent = max(self._sent, generation)
            self._after = max(self._after, generation + 1)

    # -- handlers (the client's dispatcher thread) ---------------------------

    def _on_connection(self, up: bool) -> None:
        if not up:
            return
        nonce = secrets.token_hex(8)
        with self._lock:
            self._seen = None
            self._probe = nonce
        # Sent after the client re-subscribed on this connection, so it comes back after the retained marker.
        self._client.publish(self.probe_topic, nonce.encode(), qos=1)

    def _on_marker(self, message: Message) -> None:
        try:
            data = json.loads(message.payload)
            seen = (str(data["token"]), int(data["generation"]))
        except (ValueError, TypeError, KeyError):
            seen = None  # an empty (deleted) or foreign marker: treat as missing
        with self._lock:
            self._seen = seen

    def _on_probe(self, message: Message) -> None:
        with self._lock:
            if self._probe is None or message.payload.decode("ascii", "replace") != self._probe:
                return
            self._probe = None
            seen, sent = self._seen, self._sent
            intact = seen is not None and seen[0] == self._token and seen[1] >= sent
        if intact:
            log.info("broker still holds every retained message after the reconnect")
            return
        log.warning("the broker lost retained state (marker %s, expected generation %d): republishing everything",
                    "missing" if seen is None else f"at generation {seen[1]}", sent)
        self._on_lost()
