"""Against the generated production broker: devices read their store's recall list; none of them can write it."""

from __future__ import annotations

import threading

from backend.phones import phone_acls
from mqtt import topics
from mqtt.client import Message
from mqtt.payloads import encode, utcnow
from mqtt.recalls import Recall, RecallList
from tests.helpers import wait_until
from tests.security.conftest import STORE, SecuredBroker


def _recalls(seq: int, *entries: Recall) -> bytes:
    return encode(RecallList(store=STORE, entries=list(entries), seq=seq, updated_at=utcnow()))


def test_a_kiosk_reads_the_recall_list_and_cannot_replace_it(secured: SecuredBroker) -> None:
    backend = next(login.device for login in secured.logins if login.role == "backend" and login.device.endswith(
        "-state"))
    kiosk = next(login.device for login in secured.logins if login.role == "kiosk")
    staff = next(login.device for login in secured.logins if login.role == "staff")
    recall = Recall(sku="FRU-APL-GOLDEN", batch="L24-117", reason="Listeria", since=utcnow())
    secured.connect(backend).publish(topics.recalls(STORE), _recalls(5, recall), qos=1,
                                     retain=True).wait_for_publish(5)

    seen: list[Message] = []
    lock = threading.Lock()

    def note(message: Message) -> None:
        with lock:
            seen.append(message)

    device = secured.connect(kiosk)
    device.subscribe(topics.recalls(STORE), note)
    assert wait_until(lambda: len(seen) == 1, 10), "the kiosk did not get the retained recall list"
    # The kiosk's own login publishing an empty, newer list: the broker drops it, the recall stays in force.
    device.publish(topics.recalls(STORE), _recalls(6), qos=1, retain=True).wait_for_publish(5)
    watcher_seen: list[Message] = []
    watcher = secured.connect(staff)
    watcher.subscribe(topics.recalls(STORE), watcher_seen.append)
    assert wait_until(lambda: len(watcher_seen) == 1, 10)
    assert not wait_until(lambda: len(seen) > 1, timeout=1.5), "a kiosk rewrote the store's recall list"
    assert RecallList.model_validate_json(watcher_seen[0].payload).entries == [recall]


def test_a_shopper_phone_may_read_the_recall_list_and_never_send_on_it() -> None:
    grants = phone_acls(STORE, "phone-0123456789abcdef0123")
    topic = topics.recalls(STORE)
    assert {g["acltype"] for g in grants if g["topic"] == topic} == {"subscribePattern", "publishClientReceive"}
    assert not [g for g in grants if g["acltype"] == "publishClientSend" and "recalls" in g["topic"]]
