"""``python -m backend`` as a new user runs it: serve, stock adjust, import-catalog."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mqtt.brokers import free_port, wait_for_port
from tests.conftest import FIXTURES, ROOT

PY = [sys.executable, "-m", "backend"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def retained(port: int, topic_filter: str, seconds: float = 1.5) -> dict[str, dict]:
    """What `mosquitto_sub -t FILTER -v` shows a new user: topic -> latest JSON."""
    out = subprocess.run(["mosquitto_sub", "-p", str(port), "-t", topic_filter, "-v", "-W", str(int(seconds) or 1)],
                         capture_output=True, text=True)
    result = {}
    for line in out.stdout.splitlines():
        topic, _, payload = line.partition(" ")
        result[topic] = json.loads(payload)
    return result


@pytest.fixture
def demo_server(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen([*PY, "serve", "--broker", "embedded", "--embedded-port", str(port), "--demo",
                             "--db", str(tmp_path / "demo.db")], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert wait_for_port("127.0.0.1", port, 20), "embedded broker did not come up"
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    for line in proc.stderr:
        if "backend ready" in line or time.monotonic() > deadline:
            break
    yield port, proc
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(15)


def test_demo_backend_shows_retained_stock_and_live_adjustments(demo_server) -> None:
    port, proc = demo_server
    products = sum(1 for _ in (ROOT / "assets" / "demo" / "products.csv").open()) - 1
    stock = retained(port, "aisle/v1/+/stock/#")
    shops = {topic.split("/")[2] for topic in stock}
    assert {"sthlm-city", "sthlm-sodermalm", "cph-vesterbro"} <= shops
    assert sum(1 for t in stock if t.startswith("aisle/v1/sthlm-city/")) == products
    before = stock["aisle/v1/sthlm-city/stock/FRU-APL-GOLDEN"]

    started = time.monotonic()
    result = run("stock", "adjust", "--broker", f"mqtt://127.0.0.1:{port}", "--store", "sthlm-city",
                 "--sku", "FRU-APL-GOLDEN", "--delta", "5", "--reason", "delivery")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["shelf"] == before["shelf"] + 5 and printed["seq"] > before["seq"]
    after = retained(port, "aisle/v1/sthlm-city/stock/FRU-APL-GOLDEN", 1)
    assert after["aisle/v1/sthlm-city/stock/FRU-APL-GOLDEN"]["seq"] == printed["seq"]
    assert time.monotonic() - started < 10
    assert proc.poll() is None


def test_stock_adjust_explains_refusals_and_unreachable_backends(demo_server) -> None:
    port, _ = demo_server
    broker = f"mqtt://127.0.0.1:{port}"
    too_many = run("stock", "adjust", "--broker", broker, "--store", "sthlm-city", "--sku", "FRU-APL-GOLDEN",
                   "--delta", "-100000", "--reason", "x")
    assert too_many.returncode == 1 and "conflict" in too_many.stderr
    unknown = run("stock", "adjust", "--broker", broker, "--store", "sthlm-city", "--sku", "NO-SUCH",
                  "--delta", "1", "--reason", "x")
    assert unknown.returncode == 1 and "not_found" in unknown.stderr
    nobody = run("stock", "adjust", "--broker", broker, "--store", "nowhere-else", "--sku", "NO-SUCH",
                 "--delta", "1", "--reason", "x", "--timeout", "1")
    assert nobody.returncode == 1 and "not_found" in nobody.stderr  # the backend answers for unknown stores too
    no_broker = run("stock", "show", "--broker", f"mqtt://127.0.0.1:{free_port()}", "--store", "sthlm-city",
                    "--sku", "X1", "--timeout", "1")
    assert no_broker.returncode == 2 and "cannot connect" in no_broker.stderr


def test_import_catalog_reports_bad_rows_and_exit_code(tmp_path: Path) -> None:
    db = str(tmp_path / "b.db")
    ok = run("import-catalog", "--db", db, *(str(FIXTURES / n) for n in ("stores.csv", "products.csv",
                                                                         "inventory.csv")))
    assert ok.returncode == 0, ok.stderr
    assert "3 changed" in ok.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,gtins,name_en\nGOOD-9,,Fine\nbad sku,,Nope\n")
    result = run("import-catalog", "--db", db, str(bad))
    assert result.returncode == 1
    assert f"{bad}:3:" in result.stderr and "1 changed" in result.stdout
