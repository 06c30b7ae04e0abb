"""Phones enrolled before a topic joined ``phone_acls`` get exactly today's grants when the backend starts, against
the generated production broker (the recall list is such a topic: phones enrolled before it cannot read it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from backend import phones, recalls
from backend.broker_config import ADMIN_USER
from backend.db import Database
from backend.dynsec import DynsecAdmin
from mqtt import topics
from mqtt.client import MqttClient
from mqtt.payloads import decode, utcnow
from mqtt.recalls import RecallList
from tests.conftest import Collector
from tests.security.conftest import SecuredBroker
from tests.security.test_phones import (  # noqa: F401 - the broker, db and connect fixtures
    STORE,
    broker,
    connect,
    db,
    enrolment_code,
    register,
    start_backend,
)

STRAY = f"{topics.PREFIX}/test-b/info"  # a grant no phone of test-a has today: as if dropped since enrolment
TODAYS_GRANTS = phones.phone_acls


def grants_before_recalls(store: str, device: str) -> list[dict[str, Any]]:
    """``phone_acls`` as released before the recall list: what phones enrolled then were given."""
    return [acl for acl in TODAYS_GRANTS(store, device) if acl["topic"] != topics.recalls(store)]


def reads_recalls(client: MqttClient) -> bool:
    """Whether the retained recall list reaches ``client``; the store info subscribed after it marks "by now"."""
    seen = Collector()
    client.subscribe(topics.recalls(STORE), seen)
    client.subscribe(topics.store_info(STORE), seen)
    assert seen.wait_for(lambda m: topics.store_info(STORE) in {x.topic for x in m}, 10), "no store info at all"
    # Retained messages come in the order of the subscriptions: the list would have been first.
    return seen.wait_for(lambda m: topics.recalls(STORE) in {x.topic for x in m}, 0.5)


def role_grants(secured_broker: SecuredBroker, role: str) -> set[tuple[str, str, bool]]:
    admin = DynsecAdmin(secured_broker.connect(ADMIN_USER, client_id="grants-check"))
    try:
        assert admin.wait_ready(5)
        acls = admin.run({"command": "getRole", "rolename": role})[0]["data"]["role"]["acls"]
    finally:
        admin.close()
        admin.client.close()
    return {(a["acltype"], a["topic"], a["allow"]) for a in acls}


def test_a_phone_enrolled_with_the_old_grants_reads_the_recall_list_after_the_backend_restarts(
        broker: SecuredBroker, db: Database, connect: Callable[..., MqttClient],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    recalls.add(db, recalls.RecallTarget(sku="DAI-MILK-1L", batch="L24-117"), "Listeria", [STORE], utcnow())
    monkeypatch.setattr(phones, "phone_acls", grants_before_recalls)
    service = start_backend(broker, db)
    try:
        old = register(broker, enrolment_code(connect))
        client = connect(old.device, old.password)
        assert not reads_recalls(client), "the old grants already let a phone read the recall list"
        client.close()
    finally:
        service.stop()
    monkeypatch.undo()
    admin = DynsecAdmin(broker.connect(ADMIN_USER, client_id="stray-grant"))
    assert admin.wait_ready(5)
    admin.run(*[{"command": "addRoleACL", "rolename": old.device, "acltype": t, "topic": STRAY, "allow": True}
                for t in ("subscribePattern", "publishClientReceive")])
    admin.close()
    admin.client.close()

    service = start_backend(broker, db)  # the broker kept running: only the backend brings grants up to date
    try:
        client = connect(old.device, old.password, client_id="after-restart")
        assert reads_recalls(client), "a phone enrolled before the recall list still cannot read it"
        assert role_grants(broker, old.device) == {(a["acltype"], a["topic"], a["allow"])
                                                   for a in phones.phone_acls(STORE, old.device)}
        # A phone enrolled now already has them: nothing to change at the next start.
        assert service.phones is not None and service.phones.update_grants() == 0
    finally:
        service.stop()


def test_the_recall_list_a_phone_reads_is_its_own_stores(broker: SecuredBroker, db: Database,  # noqa: F811
                                                        connect: Callable[..., MqttClient]) -> None:  # noqa: F811
    recalls.add(db, recalls.RecallTarget(sku="DAI-MILK-1L"), "Glass splinters", [], utcnow())
    service = start_backend(broker, db)
    try:
        phone = register(broker, enrolment_code(connect))
        seen = Collector()
        client = connect(phone.device, phone.password)
        client.subscribe(f"{topics.PREFIX}/+/recalls", seen)
        assert seen.wait_for(lambda m: bool(m), 10), "a phone cannot read its store's recall list"
        assert not seen.wait_for(lambda m: len(m) > 1, 1.0), f"a phone read another store's list: {seen.topics()}"
        assert decode(RecallList, seen.messages[0].payload).store == STORE
    finally:
        service.stop()
