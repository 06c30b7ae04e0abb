"""Shopper phones in the app: a provisioned kiosk shows the store's rotating enrolment code, a phone scans it and
connects under a login of its own (the generated production broker, the real backend, real app processes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from backend import roles
from backend.broker_config import ADMIN_USER
from backend.db import Database
from backend.demo import load_demo
from backend.service import BackendService
from edge.enrolment import register_phone
from kiosk.services.phones import PhoneCodes
from kiosk.services.tasks import Tasks
from mqtt.badges import demo_public_key
from mqtt.brokers import MosquittoBroker
from mqtt.client import ConnectError
from mqtt.credentials import Provisioning, hash_pin
from mqtt.enrolment import EnrolmentCode, PhoneCredentials, parse_enrolment_qr
from mqtt.payloads import utcnow
from mqtt.rpc import RemoteError
from tests.kiosk.conftest import STORE, DemoBackend, KioskApp
from tests.security.conftest import SecuredBroker

KIOSK = f"{STORE}-kiosk-1"
CAPTION = "Use Aisle on your phone: scan to connect"
STORE_NAME = "Aisle Stockholm City"


@pytest.fixture(scope="module")
def store_broker() -> Iterator[SecuredBroker]:
    """What ``broker-config`` writes for the demo's store: TLS, logins, ACLs, dynamic security."""
    broker = SecuredBroker(kiosks=1, staff=0, store=STORE).start()
    yield broker
    broker.close()


@pytest.fixture(scope="module")
def store_backend(store_broker: SecuredBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendService]:
    """The demo's data behind the production broker, with the phone registry (the backend's admin login)."""
    db = Database(tmp_path_factory.mktemp("phone-ui-backend") / "backend.db")
    load_demo(db)
    roles.register(db, KIOSK, STORE, "kiosk")
    service = BackendService(db, store_broker.url("backend-main"), backend_id="backend-main", watch_interval=0.2,
                             state_url=store_broker.url("backend-main-state"), admin_url=store_broker.url(ADMIN_USER))
    service.start()
    yield service
    service.stop()
    db.close()


def provisioning(folder: Path, broker: str, password: str) -> Path:
    """The kiosk's provisioning file, as ``backend devices provision`` writes it."""
    path = folder / "provisioning-in.json"
    path.write_text(Provisioning(store=STORE, device=KIOSK, broker=broker, username=KIOSK, password=password,
                                 staff_pin_hash=hash_pin("4711"), badge_public_key=demo_public_key()).to_json())
    return path


def read_qrs(path: Path) -> list[str]:
    """The texts of the QR codes in a screenshot, read the way a phone's camera would."""
    import numpy as np
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(np.array(Image.open(path).convert("L")), formats=zxingcpp.BarcodeFormat.QRCode)
    return [code.text for code in found]


def start(app: KioskApp, what: str = "store data") -> KioskApp:
    app.wait(lambda s: s["connected"] and s["synced"] and s["store_name"], 30, what)
    return app


def test_a_kiosk_shows_a_code_a_phone_connects_with(display: str, store_broker: SecuredBroker,
                                                     store_backend: BackendService, tmp_path: Path) -> None:
    work = tmp_path / "kiosk"
    work.mkdir()
    kiosk = KioskApp("kiosk", store_broker.address, work, demo=False,
                     extra=("--language", "en", "--provision",
                            str(provisioning(tmp_path, store_broker.address, store_broker.passwords[KIOSK]))))
    phone = None
    try:
        start(kiosk)
        kiosk.wait(lambda _s: CAPTION in kiosk.call("texts"), 15, "the enrolment code on the start screen")
        shot = kiosk.shot("kiosk", "en", "attract-phone-code")
        [text] = read_qrs(shot)
        code = parse_enrolment_qr(text)
        assert code.store == STORE and code.login.startswith("enrol-")
        assert store_backend.phones is not None and store_backend.phones.live_codes(STORE) >= 1
        kiosk.call("language", code="ar")
        assert read_qrs(kiosk.shot("kiosk", "ar", "attract-phone-code")) == [text]  # the same code, mirrored page
        kiosk.call("language", code="en")
        kiosk.call("keys", text=text)  # held up to the kiosk's own scanner: a phone code, not a product
        kiosk.wait(lambda s: s["notice"].startswith("This code connects a phone"), 5, "the kiosk saying so")

        # A shopper's phone: not provisioned, no login of its own yet, so the broker refuses it until it enrols.
        phone_work = tmp_path / "phone"
        phone_work.mkdir()
        phone = KioskApp("phone", store_broker.address, phone_work, demo=False, extra=("--language", "en"))
        phone.wait(lambda s: "refused" in s["link_status"], 20, "the broker refusing the anonymous phone")
        assert "Scan the code on a kiosk in the store to connect this phone." in phone.call("texts")
        phone.shot("phone", "en", "before-enrolment")
        phone.call("language", code="fa")
        phone.shot("phone", "fa", "before-enrolment")
        phone.call("language", code="en")
        phone.call("keys", text=text)  # scanned (the keyboard wedge and the camera take the same path)
        status = phone.wait(lambda s: s["notice"] == f"Connected to {STORE_NAME}", 30, "the phone connected")
        assert status["notice_kind"] == "ok" and status["screen"] == "attract"
        start(phone, "the phone's store data under its own login")
        phone.wait(lambda s: s["link"] == "ready", 10, "the banner gone")
        phone.shot("phone", "en", "enrolled")
        # The kiosk is told its code was used and shows a fresh one now, not at its next rotation a minute later:
        # read off its screen, as the next shopper's phone would.
        deadline, fresh = time.monotonic() + 15, []
        while time.monotonic() < deadline and not (fresh and fresh != [text]):
            time.sleep(0.3)
            fresh = read_qrs(kiosk.shot("kiosk", "en", "attract-fresh-code"))
        assert fresh and fresh != [text], "the kiosk kept showing the spent code"
        assert parse_enrolment_qr(fresh[0]).login != code.login

        saved = phone_work / "data" / "phone-login.json"
        assert saved.stat().st_mode & 0o777 == 0o600
        credentials = PhoneCredentials.model_validate_json(saved.read_bytes())
        assert credentials.store == STORE and credentials.device.startswith("phone-")
        assert credentials.password not in phone.log_path.read_text(errors="replace")  # never logged
        with pytest.raises((RemoteError, ConnectError)):  # one phone per code: the code the kiosk showed is spent
            register_phone(text, store_broker.base, timeout=5)

        # Restarted, the phone connects under the login it kept, without scanning again.
        phone.stop()
        phone = start(KioskApp("phone", store_broker.address, phone_work, demo=False, extra=("--language", "en")),
                      "the phone after a restart")
        # The spent code scanned again says what to do, and the phone keeps the login it has.
        phone.call("keys", text=text)
        status = phone.wait(lambda s: s["notice_kind"] == "error", 20, "the phone explaining the spent code")
        assert status["notice"] == "This code was used or has expired. Scan the new code on the kiosk."
        assert PhoneCredentials.model_validate_json(saved.read_bytes()) == credentials and status["connected"]
    finally:
        if phone is not None:
            phone.stop()
        kiosk.stop()


def test_a_kiosk_shows_nothing_when_the_broker_has_no_phone_registry(display: str, mosquitto: MosquittoBroker,
                                                                     tmp_path: Path) -> None:
    demo = DemoBackend(mosquitto, tmp_path / "demo.db")  # the demo: plain Mosquitto, no dynamic security plugin
    roles.register(demo.db, KIOSK, STORE, "kiosk")
    address = str(demo.url)
    kiosk = KioskApp("kiosk", address, tmp_path, demo=False,
                     extra=("--language", "en", "--provision", str(provisioning(tmp_path, address, "any"))))
    try:
        start(kiosk)
        kiosk.wait(lambda _s: "no phone enrolment code to show" in kiosk.log(), 15, "the kiosk asking for a code")
        assert not kiosk.status()["notice"]  # no error either: the demo simply has no phone enrolment
        assert CAPTION not in kiosk.call("texts")
        assert read_qrs(kiosk.shot("kiosk", "en", "attract-no-phone-registry")) == []
    finally:
        kiosk.stop()
        demo.close()


def test_codes_rotate_every_minute_and_before_they_expire() -> None:
    clock = [1000.0]
    now = [utcnow()]
    issued: list[EnrolmentCode] = []
    shown: list[str] = []

    def fetch() -> EnrolmentCode:
        n = len(issued)
        issued.append(EnrolmentCode(store=STORE, login=f"enrol-{n:020x}", password=f"{n:032d}",
                                    expires_at=now[0] + timedelta(minutes=2)))
        return issued[-1]

    tasks = Tasks(lambda fn: fn(), workers=1)
    codes = PhoneCodes(fetch, tasks, shown.append, clock=lambda: clock[0], now=lambda: now[0])

    def tick(active: bool = True) -> None:
        codes.tick(active)
        tasks._pool.submit(lambda: None).result(5)  # the fetch (and its answer) ran before the next tick

    tick(False)
    assert issued == [] and shown == []  # not connected, or not on the start screen: nothing asked
    tick()
    assert shown == [issued[0].qr_text()]
    clock[0] += 59
    tick()
    assert len(issued) == 1
    clock[0] += 1
    tick()
    assert shown[-1] == issued[1].qr_text()
    now[0] += timedelta(seconds=101)  # 19 s left on the code on screen: too little for a phone, gone at once
    tick(False)
    assert shown[-1] == ""
    tick()
    assert shown[-1] == issued[2].qr_text()
    codes.used(issued[0].login)  # an older code was used: the one on screen stays
    tick()
    assert shown[-1] == issued[2].qr_text() and len(issued) == 3
    codes.used(issued[2].login)  # the code on screen was used: gone at once, a new one at the next tick
    assert shown[-1] == ""
    tick()
    assert shown[-1] == issued[3].qr_text()
    tasks.close()
