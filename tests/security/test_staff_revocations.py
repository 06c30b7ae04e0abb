"""Against the generated production broker: a provisioned kiosk gets the revocations; no device rewrites them."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from backend import badges as backend_badges
from backend.cli import main as backend_main
from backend.db import Database
from codes.scanned import StaffBadge, parse_intent
from kiosk.config import KioskConfig, broker_url, install_provisioning, load_provisioning
from kiosk.services.staff import StaffAuth
from mqtt import topics
from mqtt.badges import new_private_key, revocation_list
from mqtt.client import Message, MqttClient
from tests.helpers import wait_until
from tests.security.conftest import STORE, SecuredBroker


def test_a_provisioned_kiosk_refuses_a_badge_the_backend_revoked_and_cannot_unrevoke_it(
        secured: SecuredBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_path = tmp_path / "backend.db"
    kiosk = next(login.device for login in secured.logins if login.role == "kiosk")
    backend = next(login.device for login in secured.logins if login.role == "backend")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("4711\n"))
    assert backend_main(["devices", "pin", "--db", str(db_path), "--store", STORE]) == 0
    provisioning = tmp_path / "kiosk.json"
    assert backend_main(["devices", "provision", "--db", str(db_path), "--store", STORE, "--device", kiosk,
                         "--broker", f"mqtts://127.0.0.1:{secured.port}?ca={secured.out / 'ca.crt'}",
                         "--credentials", str(secured.out / "devices.csv"), "--out", str(provisioning)]) == 0
    bare = KioskConfig(data_dir=tmp_path / "device")
    install_provisioning(bare, provisioning)
    config = load_provisioning(bare)
    db = Database(db_path)
    try:
        badge = parse_intent(backend_badges.issue_badge(db, STORE, "anna.k", days=30))
        assert isinstance(badge, StaffBadge)
        backend_badges.revoke(db, STORE, staff_id="anna.k")
        # The backend's login publishes the store's list, retained, as the running service does.
        publisher = secured.connect(backend)
        assert backend_badges.publish_revocations(db, publisher, {}) == 1
    finally:
        db.close()

    auth = StaffAuth(config)
    device = MqttClient(broker_url(config), config.device_id)  # the provisioned login, nothing typed in
    got = threading.Event()
    device.subscribe(topics.staff_revoked(STORE), lambda m: (auth.on_revocation_message(m), got.set()))
    device.connect(10)
    try:
        assert got.wait(10), "the provisioned kiosk did not receive the revocation list"
        assert auth.badge(badge.token).reason == "revoked"

        # The kiosk's own login publishing an empty, newer list: the ACL drops it, the retained list stays.
        seen: list[Message] = []
        watcher_ready = threading.Event()
        watcher = secured.connect(next(login.device for login in secured.logins if login.role == "staff"))
        watcher.subscribe(topics.staff_revoked(STORE), lambda m: (seen.append(m), watcher_ready.set()))
        assert watcher.wait_subscribed(topics.staff_revoked(STORE), 10) and watcher_ready.wait(10)
        forged = json.dumps(revocation_list(STORE, set(), 10**6, new_private_key())).encode()
        device.publish(topics.staff_revoked(STORE), forged, qos=1, retain=True).wait_for_publish(5)
        assert not wait_until(lambda: len(seen) > 1, timeout=2), "a kiosk rewrote the store's revocation list"
        assert auth.badge(badge.token).reason == "revoked"
    finally:
        device.close()
