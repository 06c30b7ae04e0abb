"""Provisioning instead of defaults: staff sign in only with what the backend issued (real SQLite, Mosquitto, app)."""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend import badges as backend_badges
from backend.cli import main as backend_main
from backend.db import Database
from backend.service import BackendService
from codes.scanned import StaffBadge, parse_intent
from kiosk.config import (
    ConfigError,
    KioskConfig,
    Mode,
    as_dict,
    broker_url,
    demo_config,
    install_provisioning,
    load_provisioning,
    save_settings,
)
from kiosk.services.staff import StaffAuth
from mqtt import topics
from mqtt.badges import DEMO_SEED, BadgeClaims, new_badge_id, public_key_of, revocation_list
from mqtt.badges import issue as sign_badge
from mqtt.client import ConnectError, Message, MqttClient
from mqtt.credentials import parse_provisioning
from mqtt.payloads import utcnow
from mqtt.url import BrokerUrl
from tests.conftest import unique
from tests.kiosk.conftest import ARTIFACTS, STORE, DemoBackend, KioskApp, write_qr
from tests.security.conftest import STORE as SECURED_STORE
from tests.security.conftest import SecuredBroker
from vision.decode import decode

PIN = "4711"
SECRET = "Xq9-broker-s3cret"


def forged_badge(key: bytes, staff: str = "mallory") -> str:
    """A well-formed version 2 badge signed with ``key`` instead of the store's key."""
    now = utcnow().replace(microsecond=0)
    return sign_badge(key, BadgeClaims(STORE, staff, new_badge_id(), now, now + timedelta(hours=1)))


@pytest.fixture
def backend_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A backend database with the store's staff PIN set the way store IT sets it (PIN on stdin, not in argv)."""
    db = tmp_path / "backend.db"
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
    assert backend_main(["devices", "pin", "--db", str(db), "--store", STORE]) == 0
    return db


def credentials(tmp_path: Path, device: str = "sthlm-city-kiosk-1", role: str = "kiosk") -> Path:
    """A devices.csv as ``broker-config`` writes it."""
    path = tmp_path / "devices.csv"
    path.write_text(f"device,store,role,password\nbackend-main,{STORE},backend,x\n{device},{STORE},{role},{SECRET}\n")
    return path


def provision(tmp_path: Path, db: Path, *extra: str, device: str = "sthlm-city-kiosk-1",
              broker: str = "mqtts://broker.local:8883") -> Path:
    out = tmp_path / "kiosk-1.json"
    assert backend_main(["devices", "provision", "--db", str(db), "--store", STORE, "--device", device,
                         "--broker", broker, "--credentials", str(credentials(tmp_path, device)),
                         *(extra or ("--out", str(out))), ]) == 0
    return out


def issue(db: Path, capsys: pytest.CaptureFixture[str], staff: str = "anna.k") -> StaffBadge:
    capsys.readouterr()
    assert backend_main(["devices", "badge", "issue", "--db", str(db), "--store", STORE, "--staff", staff]) == 0
    badge = parse_intent(capsys.readouterr().out.strip())
    assert isinstance(badge, StaffBadge)
    return badge


def test_provisioning_file_holds_the_login_pin_hash_and_key_and_only_its_owner_reads_it(tmp_path: Path,
                                                                                        backend_db: Path) -> None:
    path = provision(tmp_path, backend_db)
    assert path.stat().st_mode & 0o777 == 0o600
    data = parse_provisioning(path.read_text())
    assert (data.broker, data.username, data.password) == ("mqtts://broker.local:8883", "sthlm-city-kiosk-1", SECRET)
    assert PIN not in path.read_text()
    db = Database(backend_db)
    try:
        assert data.badge_public_key == backend_badges.public_key(db, STORE)
    finally:
        db.close()
    # A URL with the password in it is refused: the file is the one place the device's secret travels in.
    assert backend_main(["devices", "provision", "--db", str(backend_db), "--store", STORE, "--device",
                         "sthlm-city-kiosk-1", "--broker", f"mqtts://sthlm-city-kiosk-1:{SECRET}@broker.local",
                         "--credentials", str(credentials(tmp_path)), "--out", str(tmp_path / "x.json")]) == 1


def test_provisioning_qr_is_owner_only_and_decodes_to_the_same_provisioning(tmp_path: Path, backend_db: Path) -> None:
    png = tmp_path / "kiosk-1.png"
    provision(tmp_path, backend_db, "--qr", str(png))
    assert png.stat().st_mode & 0o777 == 0o600
    symbols = decode(np.asarray(Image.open(png).convert("RGB")))
    assert symbols, "the provisioning QR does not decode"
    assert parse_provisioning(symbols[0].text).password == SECRET


def test_device_signs_in_only_with_what_the_backend_issued(tmp_path: Path, backend_db: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bare = KioskConfig(mode=Mode.KIOSK, data_dir=tmp_path / "device")
    unprovisioned = StaffAuth(bare)
    badge = issue(backend_db, capsys)
    assert not bare.staff_enabled and unprovisioned.pin("2468").reason == "not_provisioned"
    assert unprovisioned.badge(badge.token).reason == "not_provisioned"

    install_provisioning(bare, provision(tmp_path, backend_db))
    config = load_provisioning(bare)
    assert config.provisioning_path.stat().st_mode & 0o777 == 0o600
    assert (config.store, config.device_id, config.provisioned) == (STORE, "sthlm-city-kiosk-1", True)
    url = broker_url(config)
    assert (url.username, url.password) == ("sthlm-city-kiosk-1", SECRET)
    device = config.device_settings("sthlm-city-kiosk-1")  # what the device core gets: the provisioned login
    assert (device.broker, device.store, device.data_dir, device.role) == (url, STORE, config.data_dir, "kiosk")
    auth = StaffAuth(config)
    assert auth.pin(PIN).ok and auth.pin("2468").reason == "wrong_pin"
    assert auth.badge(badge.token).staff_id == "anna.k"
    # A v2 badge signed with another key (the demo key anyone can derive, a random one) is refused.
    for key in (DEMO_SEED, bytes(range(32))):
        assert auth.badge(parse_intent(forged_badge(key)).token).reason == "unknown_badge"


def test_expired_badge_is_refused(tmp_path: Path, backend_db: Path) -> None:
    bare = KioskConfig(data_dir=tmp_path / "device")
    install_provisioning(bare, provision(tmp_path, backend_db))
    config = load_provisioning(bare)
    db = Database(backend_db)
    try:
        text = backend_badges.issue_badge(db, STORE, "anna.k", days=1)
    finally:
        db.close()
    token = parse_intent(text).token
    later: list[datetime] = [utcnow()]
    auth = StaffAuth(config, now=lambda: later[0])
    assert auth.badge(token).ok
    later[0] += timedelta(days=1, seconds=1)
    assert auth.badge(token).reason == "expired"


def test_revoked_badge_is_refused_online_and_after_a_restart_offline(tmp_path: Path, backend_db: Path,
                                                                    broker_url: BrokerUrl,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "device"
    install_provisioning(KioskConfig(data_dir=data_dir), provision(tmp_path, backend_db))
    config = load_provisioning(KioskConfig(data_dir=data_dir))
    keep, gone = issue(backend_db, capsys, "anna.k"), issue(backend_db, capsys, "bo.l")
    auth = StaffAuth(config)
    assert auth.badge(keep.token).ok and auth.badge(gone.token).ok

    db = Database(backend_db)
    service = BackendService(db, broker_url, backend_id=unique("backend"), watch_interval=0.1)
    device = MqttClient(broker_url, unique("kiosk"))
    try:
        service.start()
        device.subscribe(topics.staff_revoked(STORE), auth.on_revocation_message)
        device.connect()
        assert backend_main(["devices", "badge", "revoke", "--db", str(backend_db), "--store", STORE,
                             "--staff", "bo.l"]) == 0
        deadline = time.monotonic() + 10
        while not auth.revoked and time.monotonic() < deadline:
            time.sleep(0.05)
        assert auth.badge(gone.token).reason == "revoked"
        assert auth.badge(keep.token).ok
    finally:
        device.close()
        service.stop()
        db.close()
    restarted = StaffAuth(config)  # no broker now: the kept list still refuses the badge
    assert restarted.badge(gone.token).reason == "revoked" and restarted.badge(keep.token).ok


def test_staff_mode_does_not_start_without_provisioning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.cli import main as kiosk_main

    assert kiosk_main(["--mode", "staff", "--data-dir", str(tmp_path), "--virtual-display", "no"]) == 2
    assert "staff mode needs provisioning" in capsys.readouterr().err


def test_demo_values_exist_only_under_demo(tmp_path: Path) -> None:
    from kiosk.cli import build_parser, config_from

    plain = config_from(build_parser().parse_args(["--mode", "kiosk", "--data-dir", str(tmp_path)]))
    assert not plain.staff_enabled and not plain.staff_pin_hash and not plain.badge_public_key
    demo = config_from(build_parser().parse_args(["--mode", "kiosk", "--data-dir", str(tmp_path), "--demo"]))
    assert StaffAuth(demo).pin("2468").ok
    assert demo_config(plain).staff_enabled
    with pytest.raises(ConfigError, match="staff mode needs provisioning"):
        config_from(build_parser().parse_args(["--mode", "staff", "--data-dir", str(tmp_path / "s")]))


def test_settings_file_and_harness_view_never_hold_the_password(tmp_path: Path) -> None:
    config = KioskConfig(data_dir=tmp_path, broker=f"mqtt://kiosk-1:{SECRET}@127.0.0.1:1883",
                         broker_password=SECRET)
    save_settings(config)
    assert SECRET not in config.settings_path.read_text()
    assert SECRET not in json.dumps(as_dict(config)) and SECRET not in repr(config)


# -- the real app on Xvfb ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_unprovisioned_kiosk_has_no_staff_sign_in_and_its_log_no_password(
        display: str, demo_backend: DemoBackend, tmp_path: Path) -> None:
    app = KioskApp("kiosk", password_url(demo_backend.url), tmp_path, demo=False, extra=("--language", "en"))
    try:
        app.wait(lambda s: s["connected"] and s["store_name"], 30, "the store's data")
        assert app.status()["screen"] == "attract"
        texts = app.call("texts", frames=3)
        assert "Staff" not in texts, texts
        app.shot("kiosk", "en", "attract-unprovisioned")
        # A v1 badge, and v2 badges signed with the demo key or any other, shown to the camera: nobody signs in.
        for text, notice in ((f"AISLE-STAFF:1:{STORE}:mallory:" + "k" * 22, "cannot use this code"),
                             (forged_badge(DEMO_SEED), "shoppers only"),
                             (forged_badge(bytes(range(32)), "eve"), "shoppers only")):
            app.call("go", screen="attract")
            write_qr(app.images, text)
            app.call("go", screen="scan")
            status = app.wait(lambda s, n=notice: n in s["notice"], 15, f"the refusal ({notice})")
            assert status["staff"] == "" and status["screen"] != "staff", status
        app.call("go", screen="staff_login")
        app.wait(lambda s: s["screen"] == "attract", 5, "back to the attract screen")
        assert "shoppers only" in app.status()["notice"]
    finally:
        app.stop()
    log = app.log_path.read_text(errors="replace")
    assert "not provisioned: shopper mode only" in log
    assert SECRET not in log, "the app logged its broker password"
    assert (ARTIFACTS / "kiosk" / "en" / "attract-unprovisioned.png").is_file()


@pytest.mark.slow
def test_settings_and_log_never_show_the_broker_password(display: str, demo_backend: DemoBackend,
                                                         tmp_path: Path) -> None:
    app = KioskApp("kiosk", password_url(demo_backend.url), tmp_path, demo=True, extra=("--language", "en"))
    try:
        app.wait(lambda s: s["connected"] and s["store_name"], 30, "the store's data")
        assert "Staff" in app.call("texts", frames=3)  # --demo: the demo's staff sign-in is there
        app.tap("staff_button")
        app.on("staff_login")
        app.open_settings_as_staff()
        shown = app.call("get_text", target="broker_input")
        assert SECRET not in shown and shown.startswith("mqtt://kiosk-1:***@"), shown
        assert not any(SECRET in t for t in app.call("texts", frames=3, scrolled=True))
        app.shot("kiosk", "en", "settings-masked")
        app.tap("save_button")  # saving the masked address unchanged keeps the connection and its password
        app.wait(lambda s: "Saved" in s["notice"], 5, "the saved notice")
        app.wait(lambda s: s["connected"], 15, "the connection after saving")
    finally:
        app.stop()
    assert SECRET not in app.log_path.read_text(errors="replace"), "the app logged its broker password"
    assert SECRET not in (tmp_path / "data" / "settings.json").read_text()


def password_url(url: BrokerUrl) -> str:
    """The session broker's address with a login in it (the test broker takes anonymous clients and ignores it)."""
    return f"mqtt://kiosk-1:{SECRET}@{url.host}:{url.port}"


REVOKED_KEY = bytes(range(1, 33))  # the store's key in the revocation-list tests


def revocation_auth(tmp_path: Path) -> StaffAuth:
    """StaffAuth of a device provisioned with REVOKED_KEY's public key (a fresh one reads the kept list)."""
    return StaffAuth(KioskConfig(data_dir=tmp_path, store=STORE, badge_public_key=public_key_of(REVOKED_KEY)))


def deliver(auth: StaffAuth, payload: object) -> None:
    """A retained revocation list as the broker delivers it."""
    auth.on_revocation_message(Message(topics.staff_revoked(STORE), json.dumps(payload).encode(), 1, True))


def test_an_older_or_foreign_revocation_list_never_unrevokes(tmp_path: Path) -> None:
    auth = revocation_auth(tmp_path)
    gone = "b_" + "g" * 16
    deliver(auth, revocation_list(STORE, {gone}, 2, REVOKED_KEY))
    deliver(auth, revocation_list(STORE, set(), 1, REVOKED_KEY))  # a stale copy, from a broker restored from a backup
    deliver(auth, revocation_list("sthlm-sofo", set(), 9, REVOKED_KEY))
    assert auth.revoked == {gone} and revocation_auth(tmp_path).revoked == {gone}


def test_a_forged_unsigned_or_tampered_revocation_list_is_refused_once_in_the_log_and_the_old_one_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    auth = revocation_auth(tmp_path)
    gone = "b_" + "g" * 16
    good = revocation_list(STORE, {gone}, 2, REVOKED_KEY)
    deliver(auth, good)
    unsigned = {k: v for k, v in revocation_list(STORE, set(), 3, REVOKED_KEY).items() if k != "sig"}
    forged = revocation_list(STORE, set(), 3, DEMO_SEED)  # signed, with the key anyone can derive
    tampered = {**good, "revoked": [], "seq": 3}  # the store's signature over another list
    with caplog.at_level(logging.WARNING, logger="kiosk.services.staff"):
        for bad in (unsigned, forged, tampered, forged):
            deliver(auth, bad)
    assert auth.revoked == {gone}
    refusals = [r for r in caplog.records if "refusing a staff revocation list" in r.getMessage()]
    assert len(refusals) == 1, caplog.text
    # What the device keeps is checked again when it starts: a list edited on disk is not trusted either.
    assert revocation_auth(tmp_path).revoked == {gone}
    kept = tmp_path / "staff-revoked.json"
    kept.write_text(json.dumps({**json.loads(kept.read_text()), "revoked": [], "seq": 10**6}))
    restarted = revocation_auth(tmp_path)  # trusted, the edit would block every later list: seq 3 < 10**6
    deliver(restarted, revocation_list(STORE, {gone}, 3, REVOKED_KEY))
    assert restarted.revoked == {gone}


# -- the broker's CA certificate travels with the provisioning ----------------------------------------------------


def test_the_brokers_ca_travels_in_the_file_and_the_qr_and_lands_as_ca_crt(tmp_path: Path, backend_db: Path) -> None:
    broker = SecuredBroker(kiosks=1, staff=1)  # only for its generated ca.crt: not started
    try:
        ca = (broker.out / "ca.crt").read_text()
        backend_ca = tmp_path / "backend-side" / "ca.crt"  # a path that exists on the backend's machine only
        backend_ca.parent.mkdir()
        backend_ca.write_text("some words before it\n" + ca)
        path = provision(tmp_path, backend_db, broker=f"mqtts://broker.local:8883?ca={backend_ca}&protocol=5")
        png = tmp_path / "kiosk-1.png"
        provision(tmp_path, backend_db, "--ca", str(broker.out / "ca.crt"), "--qr", str(png))
    finally:
        broker.close()
    from_file = parse_provisioning(path.read_text())
    assert from_file.broker_ca == ca  # the certificate alone, as PEM
    symbols = decode(np.asarray(Image.open(png).convert("RGB")))
    assert symbols, "the provisioning QR with a CA does not decode"
    assert parse_provisioning(symbols[0].text).broker_ca == ca

    device = tmp_path / "device"
    install_provisioning(KioskConfig(data_dir=device), path)
    backend_ca.unlink()
    config = load_provisioning(KioskConfig(data_dir=device))
    installed = device / "ca.crt"
    assert installed.read_text() == ca and installed.stat().st_mode & 0o777 == 0o644
    url = broker_url(config)
    assert (url.ca_file, url.tls, url.protocol) == (str(installed.resolve()), True, 5)
    installed.unlink()  # deleted by hand: the next start writes it again from the provisioning
    assert broker_url(load_provisioning(KioskConfig(data_dir=device))).ca_file == str(installed.resolve())
    assert installed.read_text() == ca


def test_a_provisioning_without_a_ca_keeps_working_and_a_bad_ca_is_refused(tmp_path: Path, backend_db: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    old = json.loads(provision(tmp_path, backend_db).read_text())
    assert "broker_ca" not in old  # the format of files written before the CA was carried
    device = tmp_path / "device"
    (tmp_path / "old.json").write_text(json.dumps(old))
    install_provisioning(KioskConfig(data_dir=device), tmp_path / "old.json")
    config = load_provisioning(KioskConfig(data_dir=device))
    assert config.broker == "mqtts://broker.local:8883" and not (device / "ca.crt").exists()

    not_a_cert = tmp_path / "key.pem"
    not_a_cert.write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n")
    garbled = tmp_path / "garbled.crt"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for extra in (("--ca", str(not_a_cert)), ("--ca", str(garbled)), ("--ca", str(tmp_path / "missing.crt"))):
        capsys.readouterr()
        assert backend_main(["devices", "provision", "--db", str(backend_db), "--store", STORE, "--device",
                             "sthlm-city-kiosk-1", "--broker", "mqtts://broker.local:8883", "--credentials",
                             str(credentials(tmp_path)), "--out", str(tmp_path / "x.json"), *extra]) == 1
        assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_a_device_reaches_the_production_broker_over_tls_with_only_the_provisioned_ca(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = SecuredBroker(kiosks=1, staff=1).start()
    try:
        db = tmp_path / "backend.db"
        monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
        assert backend_main(["devices", "pin", "--db", str(db), "--store", SECURED_STORE]) == 0
        kiosk = next(login.device for login in broker.logins if login.role == "kiosk")
        out = tmp_path / "kiosk.json"
        assert backend_main(["devices", "provision", "--db", str(db), "--store", SECURED_STORE, "--device", kiosk,
                             "--broker", f"mqtts://127.0.0.1:{broker.port}", "--ca", str(broker.out / "ca.crt"),
                             "--credentials", str(broker.out / "devices.csv"), "--out", str(out)]) == 0
        device = tmp_path / "device"
        install_provisioning(KioskConfig(data_dir=device), out)
        url = broker_url(load_provisioning(KioskConfig(data_dir=device)))
        assert url.ca_file == str((device / "ca.crt").resolve())
        client = MqttClient(url, kiosk)
        try:
            client.connect(10)
            assert client.connected
        finally:
            client.close()
        # The same login without that CA (the system's CAs only) fails the broker's certificate: the CA is needed.
        bare = MqttClient(replace(url, ca_file=None), kiosk)
        try:
            with pytest.raises(ConnectError):
                bare.connect(5)
        finally:
            bare.close()
    finally:
        broker.close()


def test_a_ca_too_big_for_a_qr_code_is_left_out_of_it_and_the_command_says_so(
        tmp_path: Path, backend_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Aisle test RSA-4096 CA")])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    ca = tmp_path / "rsa-ca.crt"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    broker = f"mqtts://broker.local:8883?ca={ca}"
    assert parse_provisioning(provision(tmp_path, backend_db, broker=broker).read_text()).broker_ca  # the file has it
    png = tmp_path / "kiosk-1.png"
    capsys.readouterr()
    provision(tmp_path, backend_db, "--qr", str(png), broker=broker)
    assert "does not fit in a QR code" in capsys.readouterr().err
    symbols = decode(np.asarray(Image.open(png).convert("RGB")))
    assert symbols, "the provisioning QR does not decode"
    data = parse_provisioning(symbols[0].text)
    assert data.broker_ca == "" and data.broker == broker  # the device then needs the CA at the URL's path


def test_device_settings_carry_the_mode_s_session_rules(tmp_path: Path) -> None:
    kiosk = KioskConfig(data_dir=tmp_path, idle_timeout=60.0, idle_warning=10.0)
    assert (kiosk.device_settings("k-1").idle_timeout, kiosk.device_settings("k-1").idle_warning) == (60.0, 10.0)
    assert replace(kiosk, idle_timeout=0.0).device_settings("k-1").idle_timeout is None  # turned off
    phone = replace(kiosk, mode=Mode.PHONE).device_settings("p-1")
    assert phone.idle_timeout is None and phone.role == "phone" and phone.device_id == "p-1"
    assert replace(kiosk, mode=Mode.STAFF).device_settings("s-1").role == "staff"
    assert kiosk.device_settings("k-1").cache_path == tmp_path / "cache-sthlm-city.db"


def test_the_device_core_reads_links_of_the_store_s_own_base_url(tmp_path: Path) -> None:
    from codes.scanned import ProductLink, product_intent

    own = KioskConfig(data_dir=tmp_path, base_url="https://shop.example.se")
    settings = own.device_settings("k-1")
    assert settings.code_config == own.code_config()  # the router and the cache look-ups agree on what is ours
    assert isinstance(product_intent("https://shop.example.se/s/sthlm-city/p/DAI-MILK-1L", settings.code_config),
                      ProductLink)
