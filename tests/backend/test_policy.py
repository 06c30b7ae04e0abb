"""A store's policy file: every part the backend uses is set from it, defaults stay where nothing is said, and a bad
file is refused with the key and the reason, before the service starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.db import Database
from backend.limits import DEFAULT_LIMITS, READ, SYNC
from backend.policy import PolicyError, StorePolicy, format_duration, load_policy, parse_duration, show
from backend.service import BackendService
from mqtt.admission import Budget
from mqtt.brokers import free_port, wait_for_port
from mqtt.client import MqttClient
from mqtt.payloads import ErrorCode
from mqtt.rpc import RemoteError, RpcClient
from mqtt.url import BrokerUrl
from tests.conftest import ROOT

EXAMPLE = """
[requests]
penalty = "5m"
strikes = { rate = 0.5, burst = 10 }
refusal_answers = false
budgets.read = { rate = 40, burst = 200 }

[requests.role_factors]
staff = 8

[holds]
payment_deadline = "45m"
kiosk = { unpaid_orders = 4 }

[retention]
personal_data = "14d"
every = "30m"

[reports]
reports_per_device = 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "store-policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_part_is_set_from_the_file_and_the_rest_keeps_its_default(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, EXAMPLE))
    assert policy.requests.penalty == 300.0 and policy.requests.strikes == Budget(0.5, 10)
    assert policy.requests.refusal_answers is None
    assert policy.requests.budget("kiosk", READ) == Budget(40.0, 200)
    assert policy.requests.budget("kiosk", SYNC) == DEFAULT_LIMITS.budget("kiosk", SYNC)  # not named: default
    assert policy.requests.budget("staff", READ) == Budget(320.0, 1600)  # the new factor on the new budget
    assert policy.requests.queue_size == DEFAULT_LIMITS.queue_size
    assert policy.holds.payment_deadline == timedelta(minutes=45)
    assert policy.holds.kiosk.unpaid_orders == 4
    assert policy.holds.kiosk.unpaid_units == StorePolicy().holds.kiosk.unpaid_units
    assert policy.retention.personal_data == timedelta(days=14) and policy.retention.every == timedelta(minutes=30)
    assert policy.retention.cart_idle == StorePolicy().retention.cart_idle
    assert policy.reports.reports_per_device == 10


def test_an_empty_file_is_the_defaults_and_show_round_trips(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "")) == StorePolicy()
    shown = show(load_policy(write(tmp_path, EXAMPLE)))
    assert load_policy(write(tmp_path, shown)) == load_policy(write(tmp_path, EXAMPLE))
    assert load_policy(write(tmp_path, show(StorePolicy()))) == StorePolicy()


@pytest.mark.parametrize(("text", "names"), [
    ("[requests]\npenalty = 60", "requests.penalty"),  # a number is not a duration: say which unit
    ('[requests]\npenalty = "2 weeks"', "requests.penalty"),
    ('[requests]\npenalty = "2h"', "at most an hour"),
    ("[requests.budgets]\nwrite = { rate = 0, burst = 5 }", "requests.budgets.write.rate"),
    ("[requests.budgets]\nfast = { rate = 1, burst = 5 }", "unknown budget class fast"),
    ("[requests]\nqueue_size = 10\nper_device_queued = 20", "share cannot exceed"),
    ("[holds]\nkiosk = { unpaid_orders = -1 }", "holds.kiosk.unpaid_orders"),
    ('[holds]\npayment_deadline = "0s"', "must be positive"),
    ("[retention]\ncart_idle = true", "retention.cart_idle"),
    ("[retention]\nkeep_everything = true", "retention.keep_everything"),
    ("[shop]\nopen = true", "shop"),
    ("[requests\n", "not valid TOML"),
])
def test_a_bad_file_names_the_key_and_the_reason(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(PolicyError, match=names.replace(".", r"\.")):
        load_policy(write(tmp_path, text))


def test_a_missing_or_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "nowhere.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policy(tmp_path / "bin.toml")


@given(st.text(max_size=200))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_is_a_policy_or_a_policy_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates make it invalid UTF-8: also tried
    try:
        assert isinstance(load_policy(path), StorePolicy)
    except PolicyError:
        pass


def test_durations_read_and_write_the_same() -> None:
    for text, value in (("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
                        ("90d", timedelta(days=90)), ("1.5h", timedelta(minutes=90))):
        assert parse_duration(text) == value
        assert parse_duration(format_duration(value)) == value
    for bad in ("", "5", "5 y", "-5m", "m5", "5mm"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_cli_shows_the_policy_in_force_and_refuses_a_bad_one(tmp_path: Path) -> None:
    good = write(tmp_path, EXAMPLE)
    shown = subprocess.run([sys.executable, "-m", "backend", "policy", "show", "--policy", str(good)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert 'payment_deadline = "45m"' in shown.stdout and "refusal_answers = false" in shown.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[holds]\npayment_deadline = "soon"\n')
    served = subprocess.run([sys.executable, "-m", "backend", "serve", "--policy", str(bad), "--db",
                             str(tmp_path / "b.db"), "--broker", "mqtt://127.0.0.1:9"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 2 and "holds.payment_deadline" in served.stderr and "Traceback" not in served.stderr


def test_serve_applies_the_policy_file_to_the_running_service(tmp_path: Path) -> None:
    # One expensive request, then a long wait: the second order.options must be refused by the file's budget.
    policy = write(tmp_path, "[requests.budgets]\nexpensive = { rate = 0.01, burst = 1 }\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--broker", "embedded", "--embedded-port",
                             str(port), "--demo", "--db", str(tmp_path / "demo.db"), "--policy", str(policy)],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    client = MqttClient(BrokerUrl("127.0.0.1", port), "policy-test")
    try:
        assert wait_for_port("127.0.0.1", port, 20)
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        for line in proc.stderr:
            if "backend ready" in line or time.monotonic() > deadline:
                break
        client.connect(10)
        rpc = RpcClient(client, "sthlm-city", "kiosk-policy")
        lines = {"lines": [{"sku": "FRU-APL-GOLDEN", "quantity": 1}]}
        assert rpc.call("order.options", lines, timeout=10)["options"]
        with pytest.raises(RemoteError) as err:
            rpc.call("order.options", lines, timeout=10)
        assert err.value.code == ErrorCode.RATE_LIMITED and err.value.retry_after is not None
        assert err.value.retry_after > 10  # a token every 100 s: the default budget would have served it
        assert rpc.call("stock.get", {"sku": "FRU-APL-GOLDEN"}, timeout=10)  # other classes keep their default
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_the_service_hands_each_part_of_the_policy_to_what_applies_it(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, EXAMPLE))
    db = Database(tmp_path / "b.db")
    try:
        service = BackendService(db, BrokerUrl("127.0.0.1", 9), limits=policy.holds, retention=policy.retention,
                                 request_limits=policy.requests, reports=policy.reports)  # constructed: no I/O yet
        assert service.rpc.admission is not None and service.rpc.admission.policy is policy.requests
        assert service.shop_handlers.limits is policy.holds
        assert service.housekeeping.policy is policy.retention
        assert service.alert_handlers.policy is policy.reports
    finally:
        db.close()
