"""Client-id takeover, tried as an attacker would against the generated production configuration."""

import time

import pytest

from backend.db import Database
from backend.service import BackendService
from mqtt import topics
from mqtt.client import ConnectError, MqttClient
from mqtt.payloads import DeviceStatus, decode
from mqtt.rpc import RpcClient
from tests.conftest import Collector, load_fixture_catalog
from tests.security.conftest import SecuredBroker


@pytest.fixture
def serving(secured: SecuredBroker, tmp_path):
    """The backend on the secured broker, each of its connections under its own login."""
    db = Database(tmp_path / "backend.db")
    load_fixture_catalog(db)
    service = BackendService(db, secured.url("backend-main"), backend_id="backend-main",
                             state_url=secured.url("backend-main-state"))
    service.start()
    yield service
    service.stop()
    db.close()


def _status_watcher(secured: SecuredBroker) -> Collector:
    statuses = Collector()
    watcher = secured.connect("test-a-admin-1")
    topic = topics.backend_status("backend-main")
    watcher.subscribe(topic, statuses)
    assert watcher.wait_subscribed(topic)
    return statuses


@pytest.mark.parametrize("stolen_id", ["backend-main", "backend-main-state", "test-a-kiosk-2"])
def test_a_device_asking_for_another_client_id_cannot_take_over_its_connection(secured: SecuredBroker, serving,
                                                                                stolen_id) -> None:
    victim = secured.connect("test-a-kiosk-2")
    lost: list[bool] = []
    for client in (serving.client, serving.publisher, victim):
        client.add_connection_listener(lambda up: None if up else lost.append(True))
    statuses = _status_watcher(secured)
    kiosk = RpcClient(secured.connect("test-a-kiosk-3"), "test-a", "test-a-kiosk-3")
    # The attacker: a kiosk login asking for the backend's (or another kiosk's) client id, again and again.
    attackers = []
    for _ in range(5):
        attacker = MqttClient(secured.url("test-a-kiosk-1"), stolen_id)
        attacker.connect(10)  # accepted, but under its own login's id: the broker pins ids to logins
        attackers.append(attacker)
    # The store keeps answering, and the backend and the victim were never knocked off.
    for i in range(20):
        assert kiosk.call("stock.get", {"sku": "DAI-MILK-1L"}, timeout=5)["stock"]["sku"] == "DAI-MILK-1L", i
    assert serving.client.connected and serving.publisher.connected and victim.connected
    assert lost == []
    assert statuses.wait_for(lambda m: bool(m))
    assert decode(DeviceStatus, statuses.messages[-1].payload).state == "online"
    for attacker in attackers:
        attacker.close()


def test_the_backend_says_online_again_after_every_reconnect(secured: SecuredBroker, serving) -> None:
    statuses = _status_watcher(secured)
    assert statuses.wait_for(lambda m: bool(m))
    # Knock the backend's request connection off: whoever holds its login takes the session over (its Last Will
    # then says offline) ...
    intruder = MqttClient(secured.url("backend-main"), "backend-main")
    intruder.connect(10)
    assert statuses.wait_for(lambda m: any(decode(DeviceStatus, x.payload).state == "offline" for x in m), 30)
    intruder.close()
    # ... and once it is back, the retained status is online again.
    assert statuses.wait_for(lambda m: decode(DeviceStatus, m[-1].payload).state == "online", 30)
    kiosk = RpcClient(secured.connect("test-a-kiosk-4"), "test-a", "test-a-kiosk-4")
    assert kiosk.call("stock.get", {"sku": "DAI-MILK-1L"}, timeout=10)["stock"]["sku"] == "DAI-MILK-1L"


def test_a_login_cannot_connect_twice_to_knock_itself_off_unnoticed(secured: SecuredBroker) -> None:
    # One login, one session: a second connection under the same login replaces the first (Mosquitto's rule for a
    # client id), which is why every backend connection and every CLI has a login of its own.
    first = secured.connect("test-a-staff-2")
    dropped: list[bool] = []
    first.add_connection_listener(lambda up: None if up else dropped.append(True))
    second = MqttClient(secured.url("test-a-staff-2"), "any-id-at-all")
    second.connect(10)
    deadline = time.monotonic() + 10
    while not dropped and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dropped, "the second connection under the same login should have replaced the first"
    second.close()
    first.close()
    with pytest.raises(ConnectError):
        MqttClient(secured.url("test-a-staff-2", password="guess"), "x").connect(5)


def test_the_commands_take_their_logins_from_the_credentials_file(secured: SecuredBroker, tmp_path) -> None:
    import os
    import subprocess
    import sys

    from backend import roles
    from tests.conftest import ROOT

    db = Database(tmp_path / "cli.db")
    load_fixture_catalog(db)
    roles.register(db, "test-a-admin-1", "test-a", "admin")
    db.close()
    broker = f"mqtts://127.0.0.1:{secured.port}?ca={secured.out / 'ca.crt'}"
    credentials = str(secured.out / "devices.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISLE_MQTT")}
    serve = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--broker", broker, "--db",
                              str(tmp_path / "cli.db"), "--credentials", credentials],
                             cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        ready = ""
        while "backend ready" not in ready:
            line = serve.stderr.readline()
            assert line, f"backend serve ended: {ready}"
            ready += line
        # Nothing secret on the command line (ps shows it) or in the log.
        cmdline = (ROOT / f"/proc/{serve.pid}/cmdline").read_bytes().decode()
        assert not any(password in cmdline or password in ready for password in secured.passwords.values())
        shown = subprocess.run([sys.executable, "-m", "backend", "stock", "show", "--broker", broker, "--store",
                                "test-a", "--sku", "DAI-MILK-1L", "--credentials", credentials, "--timeout", "10"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert '"sku": "DAI-MILK-1L"' in shown.stdout
        assert not any(password in shown.stderr for password in secured.passwords.values())
    finally:
        serve.terminate()
        serve.wait(10)
