"""The generated production broker set-up, run in a real Mosquitto: TLS, logins, ACLs and backend roles."""

import csv
import subprocess
import time

import pytest

from backend.db import Database
from backend.service import BackendService
from mqtt import topics
from mqtt.client import ConnectError, ConnectRefused, MqttClient
from mqtt.payloads import ErrorCode
from mqtt.rpc import RemoteError, RpcClient
from tests.conftest import Collector, load_fixture_catalog
from tests.security.conftest import SecuredBroker


def test_generated_files_keep_secrets_private(secured: SecuredBroker) -> None:
    out = secured.out
    assert (out / "ca.key").stat().st_mode & 0o077 == 0
    assert (out / "devices.csv").stat().st_mode & 0o077 == 0
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    # Pinning client ids to logins is a listener option: above the listener line Mosquitto silently ignores it.
    assert conf.index("use_username_as_clientid true") > conf.index("listener ")
    hashed = (out / "passwd").read_text()
    assert all(password not in hashed for password in secured.passwords.values())
    with (out / "devices.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["device", "store", "role", "password"]  # store IT scripts rely on these columns
    roles = {row["device"]: row["role"] for row in rows}
    assert roles == {"backend-main": "backend", "backend-main-state": "backend", "backend-main-admin": "backend",
                     **{f"test-a-kiosk-{i}": "kiosk" for i in range(1, 5)},
                     "test-a-staff-1": "staff", "test-a-staff-2": "staff", "test-a-admin-1": "admin"}
    device_grants = (out / "acl").read_text().split("user test-a-kiosk-1", 1)[1].split("\nuser ", 1)[0]
    assert "aisle/v1/#" not in device_grants and "test-b" not in device_grants


@pytest.mark.parametrize("credentials", [None, ("test-a-kiosk-1", "wrong-password"), ("nobody", "x")])
def test_anonymous_and_wrong_logins_are_refused_at_once(secured: SecuredBroker, credentials) -> None:
    from dataclasses import replace

    url = secured.base if credentials is None else replace(secured.base, username=credentials[0],
                                                           password=credentials[1])
    started = time.monotonic()
    with pytest.raises(ConnectRefused, match="refused: Not authorized"):
        MqttClient(url, "intruder").connect(10)
    assert time.monotonic() - started < 5  # the refusal is final: no waiting out the timeout


def test_tls_hostname_is_checked(secured: SecuredBroker) -> None:
    # The certificate names localhost and 127.0.0.1; ::1 is the same broker under a name it does not carry.
    client = MqttClient(secured.url("test-a-kiosk-1", host="::1"), "test-a-kiosk-1")
    with pytest.raises(ConnectError, match="tls"):
        client.connect(5)


def test_device_reads_only_its_store_and_cannot_forge_state(secured: SecuredBroker) -> None:
    backend = secured.connect("backend-main")
    for topic, payload in ((topics.stock("test-a", "A1"), b'{"v":"a"}'), (topics.stock("test-b", "B1"), b'{"v":"b"}')):
        backend.publish(topic, payload, retain=True).wait_for_publish(5)
    # The watcher (the backend's own login: it reads everything) subscribes before anything is forged.
    watcher = Collector()
    backend.subscribe("aisle/v1/#", watcher)
    assert backend.wait_subscribed("aisle/v1/#")
    stored = {topics.stock("test-a", "A1"), topics.stock("test-b", "B1")}
    assert watcher.wait_for(lambda m: stored <= {x.topic for x in m})
    own, other, everything = Collector(), Collector(), Collector()
    # One connection (and login: the broker pins client ids to logins) per filter.
    kiosk, probe_b, probe_all = (secured.connect(f"test-a-kiosk-{i}") for i in (1, 2, 3))
    kiosk.subscribe(topics.stock_filter("test-a"), own)
    probe_b.subscribe(topics.stock_filter("test-b"), other)
    probe_all.subscribe("#", everything)
    # Mosquitto 2.0 acknowledges a denied subscription but delivers nothing through it.
    assert kiosk.wait_subscribed(topics.stock_filter("test-a"), 5)
    assert probe_b.wait_subscribed(topics.stock_filter("test-b"), 5) and probe_all.wait_subscribed("#", 5)
    assert own.wait_for(lambda m: any(x.payload == b'{"v":"a"}' for x in m))
    # A message sent after these subscriptions comes after their retained messages: once it is in, they are too.
    backend.publish(topics.stock("test-a", "A2"), b'{"v":"a2"}', retain=True).wait_for_publish(5)
    assert everything.wait_for(lambda m: any(x.topic == topics.stock("test-a", "A2") for x in m))
    assert not other.messages
    # Through '#' the broker still delivers only what the ACL lets this device read: nothing of store B.
    assert everything.topics() <= {topics.stock("test-a", "A1"), topics.stock("test-a", "A2")}
    # Forged state and a request in another device's name: the broker drops both.
    kiosk.publish(topics.stock("test-a", "A1"), b'{"v":"forged"}', retain=True).wait_for_publish(5)
    kiosk.publish(topics.request("test-a", "test-a-kiosk-2"), b"{}").wait_for_publish(5)
    kiosk.publish(topics.request("test-a", "test-a-kiosk-1"), b'{"v":"own"}').wait_for_publish(5)
    # The kiosk's own request was let through, after the forgeries on the same connection: they had their chance.
    assert watcher.wait_for(lambda m: any(x.topic == topics.request("test-a", "test-a-kiosk-1") for x in m))
    forged = [x for x in watcher.messages if x.payload in (b'{"v":"forged"}', b"{}")]
    assert forged == []
    for client in (kiosk, probe_b, probe_all):
        client.close()


def test_staff_operations_are_refused_to_shopper_devices(secured: SecuredBroker, tmp_path) -> None:
    db = Database(tmp_path / "backend.db")
    load_fixture_catalog(db)
    from backend import roles

    for device, role in (("test-a-kiosk-4", "kiosk"), ("test-a-staff-1", "staff")):
        roles.register(db, device, "test-a", role)
    service = BackendService(db, secured.url("backend-main"), backend_id="backend-main",
                             state_url=secured.url("backend-main-state"))
    service.start()
    try:
        kiosk = secured.connect("test-a-kiosk-4")
        staff = secured.connect("test-a-staff-1")
        shopper_rpc = RpcClient(kiosk, "test-a", "test-a-kiosk-4")
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
    db = Database(tmp_path / "b.db")
    from backend import roles

    assert roles.role_of(db, "sthlm-city-staff-2", "sthlm-city") == "staff"
    assert roles.role_of(db, "sthlm-city-staff-2", "cph-vesterbro") == "phone"  # not staff in another store
    db.close()
