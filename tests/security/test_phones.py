"""Shopper phones against the generated production broker set-up: enrol with a kiosk's code, shopper rights only,
single-use codes, per-store limits, revocation that cuts a phone off, identities that survive restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backend import roles, stock
from backend.broker_config import ADMIN_USER, BrokerConfigError, write_config
from backend.db import Database
from backend.phones import PhoneRegistry, PhoneRegistryError
from backend.service import BackendService
from edge.enrolment import register_phone
from mqtt import topics
from mqtt.client import ConnectError, MqttClient
from mqtt.enrolment import EnrolmentCode, PhoneCredentials, parse_enrolment_qr
from mqtt.payloads import ErrorCode, Request, decode, encode
from mqtt.rpc import RemoteError, RpcClient
from tests.conftest import ROOT, Collector, load_fixture_catalog
from tests.helpers import OpenClients, wait_until
from tests.security.conftest import SecuredBroker

STORE = "test-a"
KIOSK, KIOSK_2, STAFF = "test-a-kiosk-1", "test-a-kiosk-2", "test-a-staff-1"


@pytest.fixture
def broker() -> Iterator[SecuredBroker]:
    """A fresh generated set-up per test: phones enrolled by one test must not count against another's limits."""
    b = SecuredBroker(kiosks=2, staff=1).start()
    yield b
    b.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """The backend database: fixture catalogue (test-a, test-b, test-wh), kiosks and staff of test-a."""
    db = Database(tmp_path / "backend.db")
    load_fixture_catalog(db)
    for device, role in ((KIOSK, "kiosk"), (KIOSK_2, "kiosk"), (STAFF, "staff")):
        roles.register(db, device, STORE, role)
    yield db
    db.close()


def start_backend(broker: SecuredBroker, db: Database, **options: Any) -> BackendService:
    """The backend with its three logins: requests, state, and the dynamic-security admin."""
    service = BackendService(db, broker.url("backend-main"), backend_id="backend-main", watch_interval=0.1,
                             state_url=broker.url("backend-main-state"), admin_url=broker.url(ADMIN_USER), **options)
    service.start()
    assert service.phones is not None
    service.phones.used_code_grace = 0.2
    return service


@pytest.fixture
def backend(broker: SecuredBroker, db: Database) -> Iterator[BackendService]:
    """The backend service, serving phones."""
    service = start_backend(broker, db)
    yield service
    service.stop()


@pytest.fixture
def connect(broker: SecuredBroker) -> Iterator[Callable[..., MqttClient]]:
    """Connect under a login (a phone's, a code's or a static one); closed after the test."""
    clients = OpenClients()

    def make(login: str, password: str | None = None, client_id: str | None = None) -> MqttClient:
        # Reconnects come quickly: a device let back in (after a penalty, say) is seen back soon.
        return clients.connect(broker.url(login, password), client_id or login, max_reconnect_delay=0.5)

    yield make
    clients.close()


def rpc(client: MqttClient, device: str, store: str = STORE) -> RpcClient:
    r = RpcClient(client, store, device)
    assert r.wait_ready(5)
    return r


def call_as(connect: Callable[..., MqttClient], device: str, op: str, args: dict[str, object] | None = None,
            password: str | None = None) -> dict[str, object]:
    """One request from a device, on a connection closed right after (a login has one connection at a time)."""
    client = connect(device, password)
    try:
        return rpc(client, device).call(op, args or {})
    finally:
        client.close()


def enrolment_code(connect: Callable[..., MqttClient], kiosk: str = KIOSK) -> EnrolmentCode:
    """What a kiosk screen shows, read back the way a phone reads it: off the QR text."""
    code = decode(EnrolmentCode, json.dumps(call_as(connect, kiosk, "phone.enrolment")).encode())
    qr = parse_enrolment_qr(code.qr_text())
    assert (qr.store, qr.login, qr.password) == (code.store, code.login, code.password)
    return code


def register(broker: SecuredBroker, code: EnrolmentCode) -> PhoneCredentials:
    """What the phone app does with the QR text it scanned: trade it for a login of its own."""
    return register_phone(code.qr_text(), broker.base)


def test_generated_config_loads_the_plugin_with_every_default_denied(broker: SecuredBroker) -> None:
    conf = (broker.out / "mosquitto.conf").read_text()
    assert "mosquitto_dynamic_security.so" in conf and "plugin_opt_config_file" in conf
    state = json.loads((broker.out / "dynsec" / "dynamic-security.json").read_text())
    assert state["clients"] == [] and not any(state["defaultACLAccess"].values())
    admin_grants = (broker.out / "acl").read_text().split(f"user {ADMIN_USER}\n", 1)[1].split("\n\n", 1)[0]
    assert admin_grants.splitlines() == ["topic write $CONTROL/dynamic-security/v1",
                                         "topic read $CONTROL/dynamic-security/v1/response"]


def test_a_phone_registers_and_gets_shopper_rights_only(broker: SecuredBroker, backend: BackendService, db: Database,
                                                        connect: Callable[..., MqttClient]) -> None:
    code = enrolment_code(connect)
    # The code's own login may register a phone and nothing else a shopper may do.
    enrol = connect(code.login, code.password)
    with pytest.raises(RemoteError) as err:
        rpc(enrol, code.login).call("stock.get", {"sku": "DAI-MILK-1L"})
    assert err.value.code == ErrorCode.FORBIDDEN
    enrol.close()
    phone = register(broker, code)
    assert phone.device.startswith("phone-") and phone.store == STORE
    assert roles.role_of(db, phone.device, STORE) == "phone"

    # Everything a phone is allowed to see arrives through '#'; the watcher is subscribed before anything is sent.
    seen = Collector()
    watcher = connect(phone.device, phone.password, client_id="the-broker-overrides-this")
    watcher.subscribe("#", seen)
    assert watcher.wait_subscribed("#", 5)
    own_stock = topics.stock(STORE, "DAI-MILK-1L")
    assert seen.wait_for(lambda m: own_stock in {x.topic for x in m}), "the phone cannot read its store's stock"

    # Another store's stock changes first, then the phone's own store's: the second arriving proves the first
    # would have arrived by now, had the broker let it through.
    stock.adjust(db, "test-b", "DAI-MILK-1L", "shelf", 1, "delivery")
    backend.publish_changes()
    stock.adjust(db, STORE, "DAI-MILK-1L", "shelf", 1, "delivery")
    backend.publish_changes()
    assert seen.wait_for(lambda m: sum(x.topic == own_stock for x in m) >= 2)

    # A kiosk's reply, then the phone's own: the phone sees only its own.
    assert call_as(connect, KIOSK, "stock.get", {"sku": "DRY-PASTA-500"})["stock"]["store"] == STORE  # type: ignore
    phone_rpc = rpc(watcher, phone.device)
    assert phone_rpc.call("stock.get", {"sku": "DRY-PASTA-500"})["stock"]["store"] == STORE
    assert seen.wait_for(lambda m: any(x.topic == phone_rpc.reply_topic for x in m))
    foreign = sorted(t for t in seen.topics() if not t.startswith((f"aisle/v1/{STORE}/", "aisle/v1/_backend/")))
    assert foreign == [], f"a phone received {foreign}"
    others = sorted(t for t in seen.topics() if "/device/" in t and f"/device/{phone.device}/" not in t)
    assert others == [], f"a phone received other devices' messages: {others}"

    # Shopper operations only: no staff work, no codes of its own.
    for op, args in (("stock.adjust", {"sku": "DAI-MILK-1L", "delta": -5, "reason": "sold"}),
                     ("phone.enrolment", {}), ("phone.revoke", {"device": phone.device})):
        with pytest.raises(RemoteError) as err:
            phone_rpc.call(op, args)
        assert err.value.code == ErrorCode.FORBIDDEN, op


def test_a_phone_cannot_forge_state_requests_or_logins(broker: SecuredBroker, backend: BackendService,
                                                       connect: Callable[..., MqttClient]) -> None:
    phone = register(broker, enrolment_code(connect))
    kiosk = connect(KIOSK)
    kiosk_rpc = rpc(kiosk, KIOSK)
    kiosk_replies, kiosk_stock = Collector(), Collector()
    kiosk.subscribe(kiosk_rpc.reply_topic, kiosk_replies)
    kiosk.subscribe(topics.stock_filter(STORE), kiosk_stock)
    assert kiosk.wait_subscribed(topics.stock_filter(STORE), 5)
    assert kiosk_stock.wait_for(lambda m: len(m) >= 3)  # the retained levels; anything after them is live
    live_from = len(kiosk_stock.messages)

    attacker = connect(phone.device, phone.password)
    forged_request = Request(id="forged-request-0001", op="stock.get", reply_to=kiosk_rpc.reply_topic,
                             args={"sku": "DAI-MILK-1L"})
    create = {"commands": [{"command": "createClient", "username": "phone-0123456789abcdef0123",
                            "password": "x" * 32}]}
    for topic, payload, retain in ((topics.stock(STORE, "DAI-MILK-1L"), b'{"forged": true}', True),
                                   (topics.request(STORE, KIOSK), encode(forged_request), False),
                                   ("$CONTROL/dynamic-security/v1", json.dumps(create).encode(), False)):
        # QoS 1: the broker has routed (or dropped) a message by the time it acknowledges it.
        assert attacker.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5) is None

    # Messages the backend sends afterwards arrive after anything the forgeries would have caused.
    assert kiosk_rpc.call("stock.get", {"sku": "DAI-MILK-1L"})
    assert not any(b"forged-request-0001" in m.payload for m in kiosk_replies.messages)
    stock.adjust(backend.db, STORE, "DAI-MILK-1L", "shelf", 1, "delivery")
    backend.publish_changes()
    assert kiosk_stock.wait_for(lambda m: len(m) > live_from)
    assert all(b"forged" not in m.payload for m in kiosk_stock.messages)
    retained = Collector()
    fresh = connect(KIOSK_2)
    fresh.subscribe(topics.stock(STORE, "DAI-MILK-1L"), retained)
    assert retained.wait_for(lambda m: len(m) >= 1) and b"forged" not in retained.messages[0].payload
    assert backend.phones is not None
    assert "phone-0123456789abcdef0123" not in backend.phones.admin.list_clients()


def test_a_code_registers_one_phone_only(broker: SecuredBroker, backend: BackendService,
                                         connect: Callable[..., MqttClient]) -> None:
    # The kiosk that showed the code listens for its events (subscribed before anything is registered).
    kiosk_events = Collector()
    kiosk = connect(KIOSK)
    kiosk.subscribe(topics.event(STORE, KIOSK), kiosk_events)
    assert kiosk.wait_subscribed(topics.event(STORE, KIOSK), 5)
    # Asked on that same connection: a login has one connection at a time.
    code = decode(EnrolmentCode, json.dumps(rpc(kiosk, KIOSK).call("phone.enrolment")).encode())
    first = connect(code.login, code.password)
    first_rpc = rpc(first, code.login)
    phone = decode(PhoneCredentials, json.dumps(first_rpc.call("phone.register")).encode())
    # Used at once, even while its login still lives for the reply: the second try is refused by the backend ...
    with pytest.raises(RemoteError) as err:
        first_rpc.call("phone.register")
    assert err.value.code == ErrorCode.USED
    # ... and the login is gone from the broker right after.
    assert wait_until(lambda: not first.connected), "the used code's connection was not cut off"
    with pytest.raises(ConnectError):
        connect(code.login, code.password, client_id="second-phone")
    connect(phone.device, phone.password)  # the phone it made is unaffected
    # The kiosk was told, so it can put up a fresh code for the next shopper at once.
    assert kiosk_events.wait_for(lambda ms: any(json.loads(m.payload).get("type") == "enrolment.used" for m in ms))
    used = [json.loads(m.payload) for m in kiosk_events.messages if b"enrolment.used" in m.payload]
    assert [event["data"] for event in used] == [{"login": code.login}]  # once, naming the code, nothing else


def test_codes_rotate_expire_and_registrations_are_limited_per_store(broker: SecuredBroker, backend: BackendService,
                                                                     connect: Callable[..., MqttClient]) -> None:
    registry = backend.phones
    assert registry is not None
    oldest, middle, newest = (enrolment_code(connect) for _ in range(3))
    # A kiosk shows at most two codes: its third retires the oldest.
    assert wait_until(lambda: not can_connect(connect, oldest))
    assert registry.live_codes(STORE) == 2

    registry.registrations_per_minute = 1
    register(broker, middle)
    second = rpc(connect(newest.login, newest.password), newest.login)
    with pytest.raises(RemoteError) as err:
        second.call("phone.register")
    assert err.value.code == ErrorCode.UNAVAILABLE and "minute" in err.value.message
    start = registry.clock()
    registry.clock = lambda: start + timedelta(seconds=61)  # the limit refused it without spending the code
    assert second.call("phone.register")["device"].startswith("phone-")

    late = enrolment_code(connect, KIOSK_2)
    registry.clock = lambda: start + timedelta(seconds=61) + registry.code_ttl + timedelta(seconds=1)
    assert wait_until(lambda: not can_connect(connect, late)), "an expired code still logs in"


def can_connect(connect: Callable[..., MqttClient], code: EnrolmentCode) -> bool:
    try:
        connect(code.login, code.password, client_id="probe").close()
    except ConnectError:
        return False
    return True


def test_staff_revoke_a_phone_which_is_cut_off_and_cannot_come_back(broker: SecuredBroker, backend: BackendService,
                                                                   connect: Callable[..., MqttClient]) -> None:
    phone = register(broker, enrolment_code(connect))
    other = register(broker, enrolment_code(connect))
    client = connect(phone.device, phone.password)
    bystander = connect(other.device, other.password)
    with pytest.raises(RemoteError) as err:  # a kiosk is a shopper device: it may not revoke anyone
        call_as(connect, KIOSK, "phone.revoke", {"device": phone.device})
    assert err.value.code == ErrorCode.FORBIDDEN
    result = call_as(connect, STAFF, "phone.revoke", {"device": phone.device})
    assert result["device"] == phone.device and result["store"] == STORE
    assert wait_until(lambda: not client.connected, 5), "the revoked phone is still connected"
    with pytest.raises(ConnectError):
        connect(phone.device, phone.password, client_id="again")
    assert bystander.connected
    rpc(bystander, other.device).call("stock.get", {"sku": "DAI-MILK-1L"})


def test_the_cli_revokes_through_the_database_and_the_backend_applies_it(
        broker: SecuredBroker, backend: BackendService, connect: Callable[..., MqttClient]) -> None:
    phone = register(broker, enrolment_code(connect))
    client = connect(phone.device, phone.password)
    result = subprocess.run([sys.executable, "-m", "backend", "devices", "revoke-phone", "--db",
                             str(backend.db.path), "--device", phone.device, "--store", STORE],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: not client.connected, 10), "the backend did not apply the CLI's revocation"
    with pytest.raises(ConnectError):
        connect(phone.device, phone.password, client_id="again")


def test_phones_survive_a_restart_of_broker_and_backend(broker: SecuredBroker, db: Database,
                                                        connect: Callable[..., MqttClient]) -> None:
    service = start_backend(broker, db)
    try:
        phone = register(broker, enrolment_code(connect))
        unused = enrolment_code(connect)
    finally:
        service.stop()
    broker.stop()
    broker.start()
    service = start_backend(broker, db)
    try:
        client = connect(phone.device, phone.password)
        assert rpc(client, phone.device).call("stock.get", {"sku": "DAI-MILK-1L"})["stock"]["store"] == STORE
        # A code the old backend issued cannot be honoured any more: its login was deleted at start.
        assert not can_connect(connect, unused)
        call_as(connect, STAFF, "phone.revoke", {"device": phone.device})
        assert wait_until(lambda: not client.connected, 5)
    finally:
        service.stop()


def test_a_broker_without_the_plugin_refuses_to_serve_phones(broker: SecuredBroker, db: Database) -> None:
    broker.stop()
    conf = broker.out / "mosquitto.conf"
    conf.write_text("".join(line for line in conf.read_text().splitlines(keepends=True)
                            if not line.startswith("plugin")))
    broker.start()
    registry = PhoneRegistry(db, MqttClient(broker.url(ADMIN_USER), ADMIN_USER))
    registry.admin.timeout = 1.0
    with pytest.raises(PhoneRegistryError, match="did not answer"):
        registry.start(5)


def test_reserved_phone_names_cannot_be_static_logins_or_more_than_shoppers(tmp_path: Path, db: Database) -> None:
    # A plugin login shadows a static login of the same name: no static login may start like a phone's.
    with pytest.raises(BrokerConfigError, match="reserved"):
        write_config(tmp_path / "cfg", "phone-x", 1, 0, hosts=["localhost"])
    with pytest.raises(ValueError, match="reserved"):
        roles.register(db, "phone-0123456789abcdef0123", STORE, "staff")
    with pytest.raises(ValueError, match="reserved"):
        roles.register(db, "enrol-0123456789abcdef0123", STORE, "phone")
