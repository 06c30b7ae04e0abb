"""A kiosk that cannot reach its store says so: "not ready" for shoppers, the reason for staff, "last known at"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.link_health import LinkHealth
from kiosk import presenters
from kiosk.formatting import Formatter
from kiosk.i18n import catalogs
from mqtt.brokers import MosquittoBroker, free_port
from tests.kiosk.conftest import DemoBackend, KioskApp
from tests.security.conftest import SecuredBroker

NOT_READY = "Not ready yet: prices and stock appear once this device reaches the store."


def kiosk(workdir: Path, broker: str) -> KioskApp:
    """A fresh kiosk process of the demo store (its data and log in ``workdir``)."""
    return KioskApp("kiosk", broker, workdir, extra=("--language", "en"))


def whole_log(app: KioskApp) -> str:
    """Everything the app logged so far (``KioskApp.log`` keeps only the end, mostly Kivy's start-up)."""
    app.log()  # flushes
    return app.log_path.read_text(errors="replace")


@pytest.fixture
def apps() -> Iterator[list[KioskApp]]:
    """Kiosk processes started by a test; all stopped at its end, also when it fails."""
    started: list[KioskApp] = []
    yield started
    for app in started:
        if app.proc.poll() is None:
            app.stop()


@pytest.mark.slow
def test_a_kiosk_that_never_synced_says_it_is_not_ready_and_why(display: str, tmp_path: Path,
                                                                apps: list[KioskApp]) -> None:
    app = kiosk(tmp_path, f"mqtt://127.0.0.1:{free_port()}")  # nothing listens there
    apps.append(app)
    status = app.wait(lambda s: s["link"] == "not_ready" and "unreachable" in s["link_status"], 5,
                      "the kiosk to say it is not ready")
    assert status["screen"] == "attract" and not status["store_name"]
    texts = app.call("texts")
    assert NOT_READY in texts
    assert "The store's server cannot be reached. Check the network and the broker address." in texts
    app.shot("kiosk", "en", "not-ready")
    for lang in ("sv", "fa", "ar", "vi"):
        app.call("language", code=lang)
        app.wait(lambda s, lang=lang: s["lang"] == lang)
        assert NOT_READY not in app.call("texts", frames=2), lang  # translated
        app.shot("kiosk", lang, "not-ready")
    log = whole_log(app)
    assert "cannot connect to MQTT broker" in log and "unreachable" in log  # the client: once, then at backoff
    assert log.count("sthlm-city not ready: no data yet and no connection") == 1, log  # the kiosk: once


@pytest.mark.slow
def test_staff_see_a_refused_login_and_an_untrusted_certificate(display: str, tmp_path: Path,
                                                                apps: list[KioskApp]) -> None:
    broker = SecuredBroker(kiosks=1, staff=0).start()
    try:
        login = next(x for x in broker.logins if x.role == "kiosk")
        ca = broker.out / "ca.crt"
        wrong = kiosk(tmp_path / "refused", f"mqtts://{login.device}:not-the-password@127.0.0.1:{broker.port}?ca={ca}")
        apps.append(wrong)
        status = wrong.wait(lambda s: s["link"] == "not_ready" and "refused" in s["link_status"], 10,
                            "the refusal to show")
        assert "refused this device's login" in status["link_status"]
        assert "refused this device's login" in " ".join(wrong.call("texts"))
        wrong.shot("kiosk", "en", "not-ready-refused")
        wrong.call("go", screen="staff_login")  # staff read the details on Settings
        wrong.open_settings_as_staff()
        texts = wrong.call("texts", scrolled=True)
        assert any("refused this device's login" in t and "\nrefused: " in t for t in texts), texts
        wrong.call("window", width=1280, height=1080)  # tall enough to show the connection part
        wrong.shot("kiosk", "en", "settings-refused")
        assert "refused" in whole_log(wrong) and "not-the-password" not in whole_log(wrong)
        wrong.stop()

        untrusted = kiosk(tmp_path / "tls", f"mqtts://{login.device}:{login.password}@127.0.0.1:{broker.port}")
        apps.append(untrusted)  # no CA given: the broker's self-made certificate must not be trusted
        status = untrusted.wait(lambda s: s["link"] == "not_ready" and "tls" in s["link_status"], 10,
                                "the certificate failure to show")
        assert "certificate was not accepted" in status["link_status"]
        assert "tls: " in whole_log(untrusted)
        untrusted.shot("kiosk", "en", "not-ready-tls")
    finally:
        broker.close()


@pytest.mark.slow
def test_a_kiosk_that_synced_shows_its_data_as_last_known(display: str, tmp_path: Path,
                                                          apps: list[KioskApp]) -> None:
    broker = MosquittoBroker(workdir=tmp_path / "broker").start()
    backend = DemoBackend(broker, tmp_path / "demo.db")
    try:
        app = kiosk(tmp_path / "kiosk", str(broker.url))
        apps.append(app)
        app.wait(lambda s: s["link"] == "ready" and s["store_name"] == "Aisle Stockholm City", 30, "the store data")
        assert NOT_READY not in app.call("texts")
        backend.close()
        broker.kill()
        status = app.wait(lambda s: s["link"] == "offline", 10, "the kiosk to notice the broker is gone")
        assert status["store_name"] == "Aisle Stockholm City"  # what it had, still shown
        banner = next(t for t in app.call("texts") if t.startswith("Offline: prices and stock as last known at "))
        app.shot("kiosk", "en", "offline-last-known")
        app.wait(lambda _s: "offline: showing data last known at" in whole_log(app), 10, "the log to say so")
        app.stop()

        # Started again while the broker is still down: the data of the last run, with its time, not "not ready".
        again = kiosk(tmp_path / "kiosk", str(broker.url))
        apps.append(again)
        again.wait(lambda s: s["link"] == "offline" and s["store_name"] == "Aisle Stockholm City", 10, "old data")
        assert banner in again.call("texts")
        broker.start()
        again.wait(lambda s: s["link"] == "ready", 30, "the kiosk to be back")
        assert not any(t.startswith("Offline:") for t in again.call("texts"))
    finally:
        broker.close()


def test_link_texts_name_the_reason() -> None:
    tr = catalogs.load("en")
    fmt = Formatter("en", "sv_SE")
    moment = datetime(2026, 11, 23, 17, 5, tzinfo=UTC)

    def text(connected: bool, ever: bool, problem: str | None) -> presenters.LinkText:
        health = LinkHealth(connected, connected, ever, problem, moment if ever else None)
        return presenters.link_text(health, fmt, tr.gettext, now=moment)

    assert text(True, True, None) == presenters.LinkText("ready", "", "", "Connected to the store.")
    assert text(True, False, None).state == "syncing"
    refused = text(False, False, "refused: Not authorized")
    assert refused.state == "not_ready" and refused.banner == NOT_READY
    assert "refused this device's login" in refused.reason and refused.status.endswith("\nrefused: Not authorized")
    assert "certificate" in text(False, False, "tls: CERTIFICATE_VERIFY_FAILED").reason
    assert "cannot be reached" in text(False, True, "unreachable: timed out").reason
    assert text(False, False, None).reason == "Connecting to the store's server…"
    offline = text(False, True, "unreachable")
    assert offline.state == "offline" and offline.banner == f"Offline: prices and stock as last known at " \
                                                            f"{fmt.time(moment)}."
    older = presenters.link_text(LinkHealth(False, False, True, None, moment), fmt, tr.gettext,
                                 now=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert older.banner.endswith(f"{fmt.datetime(moment)}.")  # another day: the date too
