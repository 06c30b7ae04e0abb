"""The generated production broker set-up, run in a real Mosquitto: TLS, logins, ACLs and backend roles."""

import csv
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from backend.broker_config import write_config
from backend.db import Store
from backend.service import BackendService
from mqtt import topics
from mqtt.brokers import find_mosquitto, free_port, wait_for_port
from mqtt.client import ConnectError, MqttClient
from mqtt.payloads import ErrorCode
from mqtt.rpc import RemoteError, RpcClient
from mqtt.url import BrokerUrl
from tests.conftest import Collector, load_fixture_catalog


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """Mosquitto running the configuration `python -m backend broker-config` writes for store test-a."""
    # pytest's temporary folders are private to root; the broker drops to the mosquitto user and must reach in.
    out = Path(tempfile.mkdtemp(prefix="aisle-broker-config-"))
    out.chmod(0o755)
    port = free_port()
    logins = write_config(out, "test-a", 2, 1, hosts=["localhost", "127.0.0.1"], port=port)
    proc = subprocess.Popen([find_mosquitto(), "-c", str(out / "mosquitto.conf")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert wait_for_port("127.0.0.1", port, 10), "secured mosquitto did not start"
    passwords = {login.device: login.password for login in logins}
    base = BrokerUrl("127.0.0.1", port, tls=True, ca_file=str(out / "ca.crt"))
    yield base, passwords, out, proc
    proc.terminate()
    proc.wait(5)
    shutil.rmtree(out, ignore_errors=True)


def login(base: BrokerUrl, passwords: dict[str, str], device: str) -> BrokerUrl:
    return replace(base, username=device, password=passwords[device])


def connect(url: BrokerUrl, client_id: str) -> MqttClient:
    client = MqttClient(url, client_id)
    client.connect(5)
    return client


def test_generated_files_keep_secrets_private(secured) -> None:
    _, passwords, out, _ = secured
    assert (out / "ca.key").stat().st_mode & 0o077 == 0
    assert (out / "devices.csv").stat().st_mode & 0o077 == 0
    assert "allow_anonymous false" in (out / "mosquitto.conf").read_text()
    hashed = (out / "passwd").read_text()
    assert all(password not in hashed for password in passwords.values())
    with (out / "devices.csv").open() as f:
        roles = {row["device"]: row["role"] for row in csv.DictReader(f)}
    assert roles == {"backend-main": "backend", "test-a-kiosk-1": "kiosk", "test-a-kiosk-2": "kiosk",
                     "test-a-staff-1": "staff"}
    device_grants = (out / "acl").read_text().split("user test-a-kiosk-1", 1)[1]
    assert "aisle/v1/#" not in device_grants and "test-b" not in device_grants


@pytest.mark.parametrize("credentials", [None, ("test-a-kiosk-1", "wrong-password"), ("nobody", "x")])
def test_anonymous_and_wrong_logins_are_refused(secured, credentials) -> None:
    base, _, _, _ = secured
    url = base if credentials is None else replace(base, username=credentials[0], password=credentials[1])
    with pytest.raises(ConnectError):
        connect(url, "intruder")


def test_tls_hostname_is_checked(secured) -> None:
    base, passwords, out, _ = secured
    # The certificate names localhost and 127.0.0.1; ::1 is the same broker under a name it does not carry.
    url = replace(login(base, passwords, "test-a-kiosk-1"), host="::1")
    with pytest.raises(ConnectError):
        connect(url, "test-a-kiosk-1")


def test_device_reads_only_its_store_and_cannot_forge_state(secured) -> None:
    base, passwords, _, _ = secured
    backend = connect(login(base, passwords, "backend-main"), "backend-main")
    kiosk = connect(login(base, passwords, "test-a-kiosk-1"), "test-a-kiosk-1")
    for topic, payload in ((topics.stock("test-a", "A1"), b'{"v":"a"}'), (topics.stock("test-b", "B1"), b'{"v":"b"}')):
        backend.publish(topic, payload, retain=True).wait_for_publish(5)
    own, other, everything = Collector(), Collector(), Collector()
    # One connection per filter: the client fans a message out to every local filter that matches it.
    probes = [connect(login(base, passwords, "test-a-kiosk-1"), f"test-a-kiosk-1-probe{i}") for i in range(2)]
    kiosk.subscribe(topics.stock_filter("test-a"), own)
    probes[0].subscribe(topics.stock_filter("test-b"), other)
    probes[1].subscribe("#", everything)
    # Mosquitto 2.0 acknowledges a denied subscription but delivers nothing through it.
    assert kiosk.wait_subscribed(topics.stock_filter("test-a"), 5)
    assert probes[0].wait_subscribed(topics.stock_filter("test-b"), 5) and probes[1].wait_subscribed("#", 5)
    assert own.wait_for(lambda m: any(x.payload == b'{"v":"a"}' for x in m))
    time.sleep(0.5)  # retained messages arrive right after the SUBACK; give the denied ones every chance
    assert not other.messages
    # Through '#' the broker still delivers only what the ACL lets this device read: nothing of store B.
    assert everything.topics() <= {topics.stock("test-a", "A1")}
    # a forged stock message is dropped by the broker: the retained truth stays the backend's
    kiosk.publish(topics.stock("test-a", "A1"), b'{"v":"forged"}', retain=True).wait_for_publish(5)
    kiosk.publish(topics.request("test-a", "test-a-kiosk-2"), b"{}").wait_for_publish(5)  # someone else's branch
    watcher = Collector()
    check = connect(login(base, passwords, "backend-main"), "backend-check")
    check.subscribe("aisle/v1/#", watcher)
    time.sleep(0.5)
    payloads = {m.topic: m.payload for m in watcher.messages}
    assert payloads[topics.stock("test-a", "A1")] == b'{"v":"a"}'
    assert topics.request("test-a", "test-a-kiosk-2") not in payloads
    for c in (backend, kiosk, check, *probes):
        c.close()


def test_staff_operations_are_refused_to_shopper_devices(secured, tmp_path) -> None:
    base, passwords, _, _ = secured
    db = Store(tmp_path / "backend.db")
    load_fixture_catalog(db)
    from backend import roles

    for device, role in (("test-a-kiosk-1", "kiosk"), ("test-a-staff-1", "staff")):
        roles.register(db, device, "test-a", role)
    service = BackendService(db, login(base, passwords, "backend-main"), backend_id="backend-main")
    service.start()
    try:
        kiosk = connect(login(base, passwords, "test-a-kiosk-1"), "test-a-kiosk-1")
        staff = connect(login(base, passwords, "test-a-staff-1"), "test-a-staff-1")
        shopper_rpc = RpcClient(kiosk, "test-a", "test-a-kiosk-1")
        adjust = {"sku": "DAI-MILK-1L", "delta": -1, "reason": "sold"}
        with pytest.raises(RemoteError) as err:
            shopper_rpc.call("stock.adjust", adjust)
        assert err.value.code == ErrorCode.FORBIDDEN and "kiosk" in err.value.message
        assert shopper_rpc.call("stock.get", {"sku": "DAI-MILK-1L"})["stock"]["shelf"] == 12
        assert RpcClient(staff, "test-a", "test-a-staff-1").call("stock.adjust", adjust)["stock"]["shelf"] == 11
        kiosk.close()
        staff.close()
    finally:
        service.stop()
        db.close()


def test_broker_config_cli_writes_a_working_setup(tmp_path) -> None:
    import sys

    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "backend", "broker-config", "--out", str(tmp_path / "cfg"),
                             "--store", "sthlm-city", "--devices", "3", "--db", str(tmp_path / "b.db")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    acl = (tmp_path / "cfg" / "acl").read_text()
    assert "user sthlm-city-kiosk-3" in acl and "topic write aisle/v1/sthlm-city/device/sthlm-city-kiosk-3/req" in acl
    db = Store(tmp_path / "b.db")
    from backend import roles

    assert roles.role_of(db, "sthlm-city-staff-2", "sthlm-city") == "staff"
    assert roles.role_of(db, "sthlm-city-staff-2", "cph-vesterbro") == "phone"  # not staff in another store
    db.close()
