"""``python -m edge`` as a user runs it: against the demo backend, and in-process against the fixture backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.cli import main
from mqtt import topics
from mqtt.brokers import free_port, wait_for_port
from mqtt.client import MqttClient
from mqtt.rpc import RpcClient
from mqtt.url import BrokerUrl
from tests.conftest import ROOT, Collector, unique

GOLDEN_EAN13 = "2035497040510"  # demo GTINs start with 2 (in-store numbers): they have no UPC-A form
SHELF_QR = "https://aisle.example/s/sthlm-city/p/FRU-APL-GOLDEN"


def edge_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """`python -m backend serve --demo` on its embedded broker, as a new user starts it."""
    tmp = tmp_path_factory.mktemp("demo")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--broker", "embedded", "--embedded-port",
                             str(port), "--demo", "--db", str(tmp / "demo.db")], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    assert wait_for_port("127.0.0.1", port, 20), "embedded broker did not come up"
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    for line in proc.stderr:
        if "backend ready" in line or time.monotonic() > deadline:
            break
    yield f"mqtt://127.0.0.1:{port}", tmp
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(15)


def test_lookup_by_ean_sku_and_shelf_qr_show_the_same_live_stock(demo) -> None:
    broker, tmp = demo
    cache = str(tmp / "lookup.db")
    outputs = []
    for code in (GOLDEN_EAN13, "fru-apl-golden", SHELF_QR):
        result = edge_cli("lookup", "--broker", broker, "--store", "sthlm-city", "--cache", cache, code)
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    assert {o["product"]["sku"] for o in outputs} == {"FRU-APL-GOLDEN"}
    assert {o["product"]["price"]["amount"] for o in outputs} == {"29.95"}
    assert all(o["stock"]["live"] and o["stock"]["as_of"] for o in outputs)
    before = outputs[-1]["stock"]
    assert {o["stock"]["available"] for o in outputs} == {before["available"]}

    adjust = subprocess.run([sys.executable, "-m", "backend", "stock", "adjust", "--broker", broker, "--store",
                             "sthlm-city", "--sku", "FRU-APL-GOLDEN", "--delta", "-2", "--reason", "sold"],
                            capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert adjust.returncode == 0, adjust.stderr
    fresh = tmp / "fresh-cache"  # a device that has never seen the store waits for its data as well
    fresh.mkdir()
    for cache_arg in (cache, str(fresh)):
        result = edge_cli("lookup", "--broker", broker, "--store", "sthlm-city", "--cache", cache_arg, "--nearby",
                          GOLDEN_EAN13)
        assert result.returncode == 0, result.stderr
        after = json.loads(result.stdout)
        assert after["stock"]["available"] == before["available"] - 2 and after["stock"]["seq"] > before["seq"]
        nearby = after["nearby"]
        assert [s["store"] for s in nearby["stores"]] == ["sthlm-sodermalm", "cph-vesterbro"]
        assert nearby["stores"][1]["price"]["currency"] == "DKK"
        assert [w["store"] for w in nearby["warehouses"]] == ["wh-arlanda"]


def test_watch_prints_changes_and_the_broker_marks_a_crashed_device_offline(demo) -> None:
    broker, tmp = demo
    device = unique("watcher")
    proc = subprocess.Popen([sys.executable, "-m", "edge", "watch", "--broker", broker, "--store", "sthlm-city",
                             "--device", device, "--cache", str(tmp / "watch.db")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = BrokerUrl("127.0.0.1", int(broker.rsplit(":", 1)[1]))
    client = MqttClient(url, unique("staff"))
    client.connect(10)
    status = Collector()
    try:
        assert proc.stderr is not None and proc.stdout is not None
        # Log lines may come first (the demo's embedded broker can drop a connection under load; it reconnects).
        lines = [proc.stderr.readline()]
        while "watching stock of sthlm-city" not in lines[-1] and len(lines) < 5 and lines[-1]:
            lines.append(proc.stderr.readline())
        assert "watching stock of sthlm-city" in lines[-1], lines
        client.subscribe(topics.device_status("sthlm-city", device), status)
        assert status.wait_for(lambda m: any(json.loads(x.payload)["state"] == "online" for x in m))
        rpc = RpcClient(client, "sthlm-city", "sthlm-city-staff-1")  # a demo staff phone
        done = rpc.call("stock.adjust", {"sku": "DAI-MILK-ARLA-3", "delta": 5, "reason": "delivery"}, timeout=10)
        line = json.loads(proc.stdout.readline())
        assert line["sku"] == "DAI-MILK-ARLA-3" and line["live"]
        assert (line["available"], line["seq"]) == (done["stock"]["available"], done["stock"]["seq"])
        proc.kill()  # no goodbye: the broker publishes the Last Will
        assert status.wait_for(lambda m: json.loads(m[-1].payload)["state"] == "offline", 10)
    finally:
        proc.kill()
        proc.wait(10)
        client.close()


# In-process against the fixture backend (quicker, and the UPC-A form exists there).

@pytest.mark.parametrize("code", ["036000291452", "0036000291452", "00036000291452", "DRY-PASTA-500",
                                  "https://aisle.example/s/test-a/p/DRY-PASTA-500"])
def test_upc_a_and_ean13_forms_print_the_same_product(service, broker_url, tmp_path: Path, capsys, code) -> None:
    assert main(["lookup", "--broker", f"mqtt://{broker_url.host}:{broker_url.port}", "--store", "test-a",
                 "--cache", str(tmp_path / "c.db"), code]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["product"]["sku"] == "DRY-PASTA-500" and out["product"]["gtins"] == ["00036000291452"]
    assert out["stock"]["live"] and out["stock"]["available"] == 10


@pytest.mark.parametrize("code,message", [
    ("0036000291453", "bad GTIN check digit"),
    ("4006381333931", "GTIN 04006381333931 is not in the catalogue"),
    ("NO-SUCH", "SKU NO-SUCH is not in the catalogue"),
    ("javascript:alert(1)", "not a product code"),
])
def test_unknown_codes_exit_1_with_a_reason(service, broker_url, tmp_path: Path, capsys, code, message) -> None:
    started = time.monotonic()
    assert main(["lookup", "--broker", f"mqtt://{broker_url.host}:{broker_url.port}", "--store", "test-a",
                 "--cache", str(tmp_path / "c.db"), code]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err
    assert time.monotonic() - started < 5  # it waits for the catalogue to settle, not for the timeout


def test_unreachable_broker_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["lookup", "--broker", f"mqtt://127.0.0.1:{free_port()}", "--store", "test-a", "--timeout", "1",
                 "--cache", str(tmp_path / "c.db"), "X"]) == 2
    assert "cannot connect" in capsys.readouterr().err
    assert main(["lookup", "--broker", "http://x", "--store", "test-a", "X"]) == 2
