"""A real Mosquitto running exactly what `python -m backend broker-config` writes: TLS, logins, ACLs."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from backend.bridge_config import Bridge
from backend.broker_config import DeviceLogin, write_config
from mqtt.brokers import find_mosquitto, free_port, wait_for_port
from mqtt.client import MqttClient
from mqtt.url import BrokerUrl
from tests.helpers import OpenClients

STORE = "test-a"


class SecuredBroker:
    """The generated production set-up for one store (test-a unless told), run by a real Mosquitto process."""

    def __init__(self, kiosks: int = 4, staff: int = 2, store: str = STORE, bridge: Bridge | None = None) -> None:
        # pytest's temporary folders are private to root; the broker drops to the mosquitto user and must reach in.
        self.out = Path(tempfile.mkdtemp(prefix="aisle-broker-config-"))
        self.out.chmod(0o755)
        self.port = free_port()
        self.logins: list[DeviceLogin] = write_config(self.out, store, kiosks, staff,
                                                      hosts=["localhost", "127.0.0.1"], port=self.port,
                                                      bridge=bridge)
        self.passwords = {login.device: login.password for login in self.logins}
        self.base = BrokerUrl("127.0.0.1", self.port, tls=True, ca_file=str(self.out / "ca.crt"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.clients = OpenClients()

    @property
    def address(self) -> str:
        """The broker URL a device is given: no login in it, the CA beside it."""
        return f"mqtts://127.0.0.1:{self.port}?ca={self.out / 'ca.crt'}"

    def start(self) -> SecuredBroker:
        """Start Mosquitto on the generated mosquitto.conf and wait until it listens."""
        log = self.out / "mosquitto.log"
        with log.open("ab") as sink:
            self.proc = subprocess.Popen([find_mosquitto() or "mosquitto", "-c", str(self.out / "mosquitto.conf")],
                                         stdout=sink, stderr=subprocess.STDOUT)
        started = wait_for_port("127.0.0.1", self.port, 20) and self.proc.poll() is None
        assert started, f"secured mosquitto did not start: {log.read_text(errors='replace')[-800:]}"
        return self

    def stop(self) -> None:
        """A clean stop (Mosquitto saves its state); ``start`` runs it again on the same files."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def kill(self) -> None:
        """``kill -9``: no clean shutdown, no final save of retained messages."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def url(self, device: str, password: str | None = None, **changes: object) -> BrokerUrl:
        """The broker address with a login: a generated one's password unless ``password`` is given."""
        fields = {"username": device, "password": password or self.passwords[device], **changes}
        return replace(self.base, **fields)  # type: ignore[arg-type]

    def connect(self, device: str, client_id: str | None = None, **kwargs: object) -> MqttClient:
        """A connected client under ``device``'s login (closed with the broker)."""
        return self.clients.connect(self.url(device), client_id or device, **kwargs)

    def close(self) -> None:
        """Close the clients, stop the broker and delete its files."""
        self.clients.close()
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.out, ignore_errors=True)


@pytest.fixture(scope="module")
def secured() -> Iterator[SecuredBroker]:
    """The generated production broker for store test-a, shared by a module's tests."""
    broker = SecuredBroker().start()
    yield broker
    broker.close()
