"""Staff badges sign in only when the store's key signed them; provisioning and URLs never leak a password."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import segno

from codes.scanned import StaffBadge, Unknown, parse_intent
from mqtt import badges, topics, url
from mqtt.credentials import (
    Provisioning,
    ProvisioningError,
    broker_with_ca,
    check_ca_pem,
    hash_pin,
    parse_provisioning,
    pin_matches,
    write_private,
)
from mqtt.url import BrokerUrlError, mask_url, parse_broker_url

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
STORE = "sthlm-city"


def badge_text(key: bytes, *, store: str = STORE, staff: str = "anna.k", days: int = 30,
               issued: datetime = NOW, badge_id: str | None = None) -> str:
    claims = badges.BadgeClaims(store, staff, badge_id or badges.new_badge_id(), issued, issued + timedelta(days=days))
    return badges.issue(key, claims)


def refusal(token: str, public: str, when: datetime = NOW, revoked: frozenset[str] = frozenset()) -> str:
    """Why ``verify`` refuses a badge (fails the test when it accepts it)."""
    with pytest.raises(badges.BadgeError) as err:
        badges.verify(token, public, STORE, when, revoked)
    return err.value.reason


def token_of(text: str) -> str:
    intent = parse_intent(text)
    assert isinstance(intent, StaffBadge), intent
    return intent.token


@pytest.fixture(scope="module")
def key() -> bytes:
    return badges.new_private_key()


def test_a_badge_the_store_signed_signs_in_and_says_who(key: bytes) -> None:
    text = badge_text(key, badge_id="b_" + "A" * 16)
    intent = parse_intent(text)
    assert intent == StaffBadge(STORE, "anna.k", text.split(":", 2)[2])
    claims = badges.verify(intent.token, badges.public_key_of(key), STORE, NOW + timedelta(days=1))
    assert (claims.staff_id, claims.badge_id) == ("anna.k", "b_" + "A" * 16)


def test_a_version_1_badge_is_not_a_badge_any_more() -> None:
    # The old format: store, any staff id, any key. It signed in as staff when no keys were configured.
    assert isinstance(parse_intent("AISLE-STAFF:1:sthlm-city:mallory:" + "k" * 22), Unknown)


def test_a_badge_signed_with_another_key_is_refused(key: bytes) -> None:
    forged = token_of(badge_text(badges.new_private_key()))
    assert refusal(forged, badges.public_key_of(key)) == "bad_signature"


def test_a_badge_whose_payload_was_changed_is_refused(key: bytes) -> None:
    payload, signature = token_of(badge_text(key, staff="anna.k")).split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["staff"], body["exp"] = "mallory", body["exp"] + 10**7
    tampered = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert refusal(f"{tampered}.{signature}", badges.public_key_of(key)) == "bad_signature"


def test_expired_other_store_and_revoked_badges_are_refused(key: bytes) -> None:
    public = badges.public_key_of(key)
    expired = token_of(badge_text(key, days=1))
    assert refusal(expired, public, NOW + timedelta(days=1)) == "expired"
    badges.verify(expired, public, STORE, NOW + timedelta(hours=23))  # the same badge a day earlier
    other = token_of(badge_text(key, store="sthlm-sofo"))
    assert refusal(other, public) == "other_store"
    revoked_id = "b_" + "R" * 16
    revoked = token_of(badge_text(key, badge_id=revoked_id))
    assert refusal(revoked, public, revoked=frozenset({revoked_id})) == "revoked"


def test_a_device_without_a_key_signs_nobody_in(key: bytes) -> None:
    assert refusal(token_of(badge_text(key)), "") == "not_provisioned"


def test_revocation_lists_are_checked(key: bytes) -> None:
    public = badges.public_key_of(key)
    good = badges.revocation_list(STORE, {"b_" + "x" * 16}, 3, key)
    assert badges.parse_revocation_list(good, STORE, public) == (3, frozenset({"b_" + "x" * 16}))
    for bad in ({**good, "store": "sthlm-sofo"}, {**good, "seq": -1}, {**good, "seq": True},
                {**good, "revoked": ["../x"]}, {**good, "revoked": "b_" + "x" * 16}, [good], {**good, "x": 1}):
        with pytest.raises(badges.BadgeError):
            badges.parse_revocation_list(bad, STORE, public)


def test_a_revocation_list_not_signed_by_the_store_is_refused(key: bytes) -> None:
    public = badges.public_key_of(key)
    good = badges.revocation_list(STORE, {"b_" + "x" * 16, "b_" + "y" * 16}, 3, key)
    unsigned = {k: v for k, v in good.items() if k != "sig"}
    forged = badges.revocation_list(STORE, set(), 4, badges.new_private_key())
    # Each field changed under the store's signature: a shorter list, a higher seq, another store's list.
    other_store = {**badges.revocation_list("sthlm-sofo", set(good["revoked"]), 3, key), "store": STORE}
    tampered = [{**good, "revoked": good["revoked"][:1]}, {**good, "seq": 4}, other_store,
                {**good, "revoked": good["revoked"][::-1]}]
    for bad, reason in ([(unsigned, "malformed"), ({**good, "sig": ""}, "bad_signature"),
                         ({**good, "sig": "A" * 86}, "bad_signature"), (forged, "bad_signature")]
                        + [(t, "bad_signature") for t in tampered]):
        with pytest.raises(badges.BadgeError) as err:
            badges.parse_revocation_list(bad, STORE, public)
        assert err.value.reason == reason, bad


def test_the_revocation_topic_is_one_per_store_and_parses_back() -> None:
    topic = topics.staff_revoked(STORE)
    assert topic == "aisle/v1/sthlm-city/staff/revoked"
    assert topics.parse(topic) == topics.ParsedTopic("revoked", STORE, STORE)
    for bad in ("aisle/v1/sthlm-city/staff/other", "aisle/v1/sthlm-city/staff/revoked/x"):
        with pytest.raises(topics.TopicError):
            topics.parse(bad)


def test_pin_hash_is_salted_and_an_empty_hash_matches_nothing() -> None:
    stored = hash_pin("4711")
    assert pin_matches("4711", stored) and not pin_matches("4712", stored)
    assert hash_pin("4711") != stored and "4711" not in stored
    assert not pin_matches("", "") and not pin_matches("4711", "")


def provisioning(**changes: str) -> Provisioning:
    values = {"store": STORE, "device": "sthlm-city-kiosk-1", "broker": "mqtts://broker.local:8883",
              "username": "sthlm-city-kiosk-1", "password": "s3cret-Passw0rd", "staff_pin_hash": hash_pin("4711"),
              "badge_public_key": badges.public_key_of(badges.new_private_key())}
    return Provisioning(**(values | changes))


def test_provisioning_round_trips_as_file_and_qr_and_hides_its_password_from_repr() -> None:
    data = provisioning()
    assert parse_provisioning(data.to_json()) == data
    assert parse_provisioning(data.qr_text()) == data
    assert "s3cret" not in repr(data)


@pytest.fixture(scope="module")
def ca_pem() -> str:
    """A CA certificate as ``broker-config`` makes it (EC P-256, self-signed)."""
    import tempfile

    from backend.broker_config import write_config

    with tempfile.TemporaryDirectory() as out:
        write_config(Path(out), "test-a", 1, 1, hosts=["localhost"], port=8883)
        return (Path(out) / "ca.crt").read_text()


def test_provisioning_carries_the_brokers_ca_through_file_and_qr(ca_pem: str) -> None:
    data = provisioning(broker="mqtts://broker.local:8883?ca=/etc/aisle/ca.crt", broker_ca=ca_pem)
    assert parse_provisioning(data.to_json()) == data and parse_provisioning(data.qr_text()) == data
    # Measured: the PEM of broker-config's CA grows the QR text from ~500 to ~1,300 characters, QR version 29 of 40.
    assert segno.make(data.qr_text(), error="m").version <= 32
    without = provisioning()
    assert "broker_ca" not in without.to_json() and parse_provisioning(without.to_json()).broker_ca == ""


@pytest.mark.parametrize("bad", ["not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                 "TWO", "-----BEGIN CERTIFICATE-----\n" + "A" * 9000])
def test_a_bad_broker_ca_is_refused(bad: str, ca_pem: str) -> None:
    text = ca_pem + ca_pem if bad == "TWO" else bad
    with pytest.raises(ProvisioningError):
        check_ca_pem(text)
    with pytest.raises(ProvisioningError):
        parse_provisioning(provisioning(broker_ca=text).to_json())
    with pytest.raises(ProvisioningError, match="mqtts"):  # a CA on a plain-text connection checks nothing
        parse_provisioning(provisioning(broker="mqtt://broker.local:1883", broker_ca=ca_pem).to_json())


def test_the_broker_url_points_at_the_devices_own_ca_file() -> None:
    url = broker_with_ca("mqtts://broker.local:8883?ca=/etc/aisle/ca.crt&protocol=5", Path("/data/k 1/ca.crt"))
    parsed = parse_broker_url(url)
    assert (parsed.ca_file, parsed.protocol, parsed.host) == ("/data/k 1/ca.crt", 5, "broker.local")
    assert parse_broker_url(broker_with_ca("mqtts://b:8883", Path("/d/ca.crt"))).ca_file == "/d/ca.crt"


@pytest.mark.parametrize("change", [{"broker": "mqtts://u:pw@broker.local:8883"}, {"store": "Bad Store"},
                                    {"staff_pin_hash": "4711"}, {"badge_public_key": "short"}, {"password": ""}])
def test_bad_provisioning_is_refused(change: dict[str, str]) -> None:
    with pytest.raises(ProvisioningError):
        parse_provisioning(provisioning(**change).to_json())


def test_bad_provisioning_text_is_refused() -> None:
    for text in ("", "{", "[]", "AISLE-PROVISION:1:!!!", '{"version": 1' + "0" * 5000 + "}", b"\xff\xfe"):
        with pytest.raises(ProvisioningError):
            parse_provisioning(text)


def test_private_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "secret")
    assert path.read_text() == "secret" and path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("text", ["mqtt://kiosk-1:s3cret@h:1883", "mqtts://kiosk-1:s3c%40ret@h?protocol=5",
                                  "see mqtt://a:s3cret@h and mqtts://b:s3cret@i:8883/x"])
def test_mask_url_hides_every_password(text: str) -> None:
    masked = mask_url(text)
    assert "s3c" not in masked and "***" in masked
    assert mask_url("mqtt://h:1883") == "mqtt://h:1883" and mask_url("mqtt://u@h") == "mqtt://u@h"


def test_errors_about_a_broker_url_never_repeat_its_password() -> None:
    for text in ("mqtt://u:s3cret@h:notaport", "http://u:s3cret@h", "mqtt://u:s3cret@h?protocol=9"):
        with pytest.raises(BrokerUrlError) as err:
            parse_broker_url(text)
        assert "s3cret" not in str(err.value)


def test_the_password_comes_from_the_environment_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("AISLE_MQTT_PASSWORD", raising=False)
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("AISLE_MQTT_PASSWORD_FILE", str(secret))
    assert parse_broker_url("mqtt://kiosk-1@h").password == "from-a-file"
    monkeypatch.setenv("AISLE_MQTT_PASSWORD", "from-env")
    assert parse_broker_url("mqtt://kiosk-1@h").password == "from-env"
    monkeypatch.delenv("AISLE_MQTT_PASSWORD")
    monkeypatch.setenv("AISLE_MQTT_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(BrokerUrlError):
        parse_broker_url("mqtt://kiosk-1@h")
    # A password in the URL still works, with one warning that does not repeat it.
    monkeypatch.setattr(url, "_warned_inline_password", False)
    with caplog.at_level(logging.WARNING, logger="mqtt.url"):
        assert parse_broker_url("mqtt://kiosk-1:inline-s3cret@h").password == "inline-s3cret"
        parse_broker_url("mqtt://kiosk-1:inline-s3cret@h")
    warnings = [r for r in caplog.records if "carries a password" in r.getMessage()]
    assert len(warnings) == 1 and "inline-s3cret" not in caplog.text
