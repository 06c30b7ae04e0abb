"""A device that floods after being refused is cut off at the generated production broker for its penalty, and
let back in afterwards; the store's other devices are served throughout; nobody stays locked out by a restart."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator

import pytest

from backend import roles
from backend.cutoffs import CUTOFF_TAG, BrokerTime
from backend.db import Database
from backend.dynsec import DynsecAdmin, DynsecError
from backend.limits import RequestLimits
from backend.service import BackendService
from mqtt import topics
from mqtt.admission import Budget
from mqtt.client import ConnectRefused, MqttClient
from mqtt.payloads import ErrorCode
from mqtt.rpc import RemoteError, RpcClient
from tests.helpers import wait_until
from tests.security import test_phones
from tests.security.conftest import SecuredBroker
from tests.security.test_phones import enrolment_code, register

STORE = "test-a"
FLOODER, OTHER = test_phones.KIOSK, test_phones.KIOSK_2
PENALTY = 3.0


# The same generated set-up and database as the phone tests: two kiosks and a staff phone of test-a.
broker = test_phones.broker
db = test_phones.db


connect = test_phones.connect


def start_backend(broker: SecuredBroker, db: Database) -> BackendService:
    # The default budgets, with a short penalty so that the test sees it end.
    return test_phones.start_backend(broker, db, request_limits=RequestLimits(penalty=PENALTY))


@pytest.fixture
def backend(broker: SecuredBroker, db: Database) -> Iterator[BackendService]:
    service = start_backend(broker, db)
    yield service
    service.stop()


def flood(client: MqttClient, device: str, count: int = 600) -> None:
    """Requests as fast as the client can publish them, never waiting for an answer."""
    reply_to = f"{topics.device_base(STORE, device)}/reply/flood"
    for i in range(count):
        body = {"v": 1, "id": f"flood-{i:06d}", "op": "stock.get", "reply_to": reply_to, "args": {"sku": "X"}}
        client.publish(topics.request(STORE, device), json.dumps(body).encode(), qos=0)


def stock_get(client: MqttClient, device: str) -> dict[str, object]:
    rpc = RpcClient(client, STORE, device)
    try:
        return rpc.call("stock.get", {"sku": "DAI-MILK-1L"}, timeout=10)
    finally:
        rpc.close()


def admin(connect: Callable[..., MqttClient]) -> DynsecAdmin:
    """A second connection with the plugin's rights, to look at what the backend did there."""
    dynsec = DynsecAdmin(connect("backend-main-admin"))
    assert dynsec.wait_ready(10)
    return dynsec


def test_a_flooding_kiosk_is_cut_off_at_the_broker_and_let_back_after_its_penalty(
        broker: SecuredBroker, backend: BackendService, connect: Callable[..., MqttClient]) -> None:
    assert backend.cutoffs is not None
    other = connect(OTHER)
    flooder = connect(FLOODER)
    downs: list[bool] = []
    flooder.add_connection_listener(downs.append)  # subscribed before the flood: it sees the disconnect
    flood(flooder, FLOODER)
    assert wait_until(lambda: False in downs), "the flooding kiosk was never disconnected"
    assert wait_until(lambda: backend.cutoffs is not None and backend.cutoffs.active() == [FLOODER])  # once answered
    # Its reconnects are refused by the broker while the penalty lasts, not merely ignored by the backend.
    assert wait_until(lambda: "not authorised" in (flooder.problem or "").lower().replace("authorized", "authorised"))
    assert not flooder.connected
    # The store keeps answering its other kiosks meanwhile.
    assert stock_get(other, OTHER)["stock"]["sku"] == "DAI-MILK-1L"
    # The penalty ends: the login is the password file's again, the kiosk reconnects and is served.
    assert wait_until(lambda: flooder.connected, timeout=PENALTY + 15)
    assert wait_until(lambda: backend.cutoffs is not None and backend.cutoffs.restored == 1)
    assert backend.cutoffs.active() == []
    assert stock_get(flooder, FLOODER)["stock"]["sku"] == "DAI-MILK-1L"
    assert FLOODER not in admin(connect).list_clients()  # the shadow login is gone


def test_a_device_that_honours_its_refusals_is_never_cut_off(broker: SecuredBroker, backend: BackendService,
                                                             connect: Callable[..., MqttClient]) -> None:
    kiosk = connect(OTHER)
    rpc = RpcClient(kiosk, STORE, OTHER)
    answered, refused = 0, 0
    while answered < 160:  # past the read burst, one call after another, waiting as long as it is told to
        try:
            rpc.call("stock.get", {"sku": "DAI-MILK-1L"}, timeout=10)
            answered += 1
        except RemoteError as exc:
            assert exc.code == ErrorCode.RATE_LIMITED and exc.retry_after is not None
            refused += 1
            time.sleep(exc.retry_after)
    rpc.close()
    assert refused > 0  # it did meet its budget
    assert backend.cutoffs is not None and backend.cutoffs.cut == 0 and kiosk.connected
    assert backend.rpc.admission is not None and backend.rpc.admission.penalties == 0


def test_the_store_tools_are_refused_but_never_cut_off(broker: SecuredBroker, backend: BackendService,
                                                       connect: Callable[..., MqttClient], db: Database) -> None:
    admin_login = "test-a-admin-1"
    broker_logins = {login.device: login for login in broker.logins}
    assert admin_login in broker_logins and broker_logins[admin_login].role == "admin"
    roles.register(db, admin_login, STORE, "admin")
    tool = connect(admin_login)
    assert backend.rpc.admission is not None
    backend.rpc.admission.policy = RequestLimits(penalty=PENALTY, budgets={
        kind: Budget(1.0, 2) for kind in ("read", "write", "expensive", "sync")}, role_factors={})
    flood(tool, admin_login, count=200)
    assert wait_until(lambda: backend.rpc.admission is not None and backend.rpc.admission.penalties >= 1)
    time.sleep(1.0)  # long enough for a cut-off to have been applied, were it going to be
    assert backend.cutoffs is not None and backend.cutoffs.cut == 0 and tool.connected


def test_a_backend_that_died_during_a_penalty_lets_the_device_back_at_its_next_start(
        broker: SecuredBroker, db: Database, connect: Callable[..., MqttClient]) -> None:
    # What a backend killed mid-penalty leaves in the plugin: a disabled shadow of the kiosk's static login.
    dynsec = admin(connect)
    dynsec.run({"command": "createClient", "username": FLOODER, "password": secrets.token_urlsafe(24),
                "textname": CUTOFF_TAG}, {"command": "disableClient", "username": FLOODER})
    locked = MqttClient(broker.url(FLOODER), FLOODER, max_reconnect_delay=0.5)
    with pytest.raises(ConnectRefused):
        locked.connect(5)
    locked.close(1)
    service = start_backend(broker, db)
    try:
        assert FLOODER not in dynsec.list_clients()
        assert stock_get(connect(FLOODER), FLOODER)["stock"]["sku"] == "DAI-MILK-1L"
    finally:
        service.stop()


def test_a_phone_revoked_while_cut_off_stays_out_when_its_penalty_ends(
        broker: SecuredBroker, backend: BackendService, connect: Callable[..., MqttClient]) -> None:
    assert backend.cutoffs is not None and backend.phones is not None
    phone = register(broker, enrolment_code(connect, OTHER))
    kept = register(broker, enrolment_code(connect, OTHER))
    backend.cutoffs.request(STORE, phone.device, 1.0)
    backend.cutoffs.request(STORE, kept.device, 1.0)
    assert wait_until(lambda: backend.cutoffs.cut == 2)
    backend.phones.revoke(phone.device, "test")
    assert wait_until(lambda: backend.cutoffs.restored == 2, timeout=10)
    gone = MqttClient(broker.url(phone.device, phone.password), phone.device)
    with pytest.raises(ConnectRefused):
        gone.connect(5)
    gone.close(1)
    back = connect(kept.device, kept.password)  # the other phone's penalty ended: it is a shopper again
    assert stock_get(back, kept.device)["stock"]["sku"] == "DAI-MILK-1L"


def test_a_command_list_too_big_for_the_broker_is_refused_before_it_costs_the_connection(
        broker: SecuredBroker, connect: Callable[..., MqttClient]) -> None:
    dynsec = admin(connect)
    roles = [{"command": "createRole", "rolename": f"bench-{i}",
              "acls": [{"acltype": "subscribePattern", "topic": f"aisle/v1/x/{'y' * 200}/{n}", "allow": True}
                       for n in range(20)]} for i in range(20)]  # about 90 KB: over the broker's max_packet_size
    with pytest.raises(DynsecError, match="send fewer at a time"):
        dynsec.run(*roles)
    # Sent anyway, the broker would have closed the connection, and the QoS 1 resend would close it again.
    assert dynsec.client.connected and isinstance(dynsec.list_clients(), list)


def test_a_flooder_is_left_to_the_backend_when_the_broker_has_no_time_for_cut_offs(
        broker: SecuredBroker, backend: BackendService, connect: Callable[..., MqttClient]) -> None:
    assert backend.cutoffs is not None and backend.rpc.admission is not None
    backend.cutoffs.broker_time.left = -5.0  # as after cut-offs that each held a plugin with thousands of phones
    flooder = connect(FLOODER)
    flood(flooder, FLOODER)
    assert wait_until(lambda: backend.cutoffs is not None and backend.cutoffs.skipped >= 1)
    assert backend.rpc.admission.penalised(STORE, FLOODER)  # still refused everything by the backend...
    assert flooder.connected and backend.cutoffs.cut == 0  # ...but the broker was not made to pause for it


def test_the_broker_time_budget_refills_at_its_share_and_goes_into_debt() -> None:
    now = [0.0]
    budget = BrokerTime(share=0.02, burst=1.0, clock=lambda: now[0])
    assert budget.allows()
    budget.spend(1.5)  # one slow change: half a second of debt
    assert not budget.allows()
    now[0] += 24.0  # 0.48 s earned: still in debt
    assert not budget.allows()
    now[0] += 2.0  # 0.52 s: out of it
    assert budget.allows()
    now[0] += 1000.0
    assert budget.allows() and budget.left == pytest.approx(1.0)  # saved up to the burst only
