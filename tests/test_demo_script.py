"""`make demo` with its port taken: it reuses a free anonymous broker there or starts its own, and never crashes."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqtt import topics
from mqtt.brokers import MosquittoBroker, find_mosquitto
from mqtt.client import MqttClient
from mqtt.payloads import DeviceRole, DeviceStatus, encode

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run_demo(port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The demo's backend and its scripted walkthrough (no app) with ``--port``, run once."""
    cmd = [sys.executable, "scripts/demo.py", "--no-app", "--walkthrough-only", "--port", str(port),
           "--db", str(tmp_path / "demo.db"), "--out", str(tmp_path / "out")]
    return subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def broker_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line saying which broker the demo uses, after checking the run ended well."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("broker: ")]
    assert len(lines) == 1, result.stdout
    return lines[0]


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """An anonymous Mosquitto of this test's own, as a desktop's system broker would be."""
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed")
    broker = MosquittoBroker(workdir=tmp_path / "mosquitto").start()
    yield broker
    broker.close()


def test_a_port_held_by_something_else_gets_a_broker_of_its_own(tmp_path: Path) -> None:
    with socket.socket() as squatter:  # accepts TCP connections but never speaks MQTT
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(16)
        port = squatter.getsockname()[1]
        line = broker_line(run_demo(port, tmp_path))
    assert line.startswith(f"broker: mqtt://127.0.0.1:{port} does not take anonymous MQTT connections")
    assert "started the embedded broker on mqtt://127.0.0.1:" in line and line.endswith("instead")
    assert "kiosk mirror of sthlm-city: 126 products" in (tmp_path / "out" / "walkthrough.txt").read_text()


def test_an_anonymous_local_broker_on_the_port_is_used(own_mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    result = run_demo(own_mosquitto.port, tmp_path)
    assert broker_line(result) == (f"broker: using the MQTT broker already listening on "
                                   f"mqtt://127.0.0.1:{own_mosquitto.port} (anonymous, local)")
    assert "kiosk mirror of sthlm-city: 126 products" in (tmp_path / "out" / "walkthrough.txt").read_text()


def test_a_running_demo_on_the_port_is_left_alone(own_mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    previous = MqttClient(own_mosquitto.url, "previous-demo")
    previous.connect()
    online = DeviceStatus(device="backend-main", role=DeviceRole.BACKEND, state="online")
    previous.publish(topics.backend_status("backend-main"), encode(online), retain=True).wait_for_publish(5)
    previous.close()
    line = broker_line(run_demo(own_mosquitto.port, tmp_path))
    assert f"mqtt://127.0.0.1:{own_mosquitto.port} already serves a running Aisle backend (backend-main" in line
    assert "started the embedded broker on" in line
    assert f"127.0.0.1:{own_mosquitto.port} " not in line.split("started", 1)[1]
