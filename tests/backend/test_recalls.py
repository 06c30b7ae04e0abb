"""Recalls, expired-batch alerts and stores' variable-measure rules, against a real Mosquitto and SQLite files."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from backend import alerts, catalog
from backend.cli import main as backend_main
from backend.db import Database
from backend.migrations import MIGRATIONS
from mqtt import topics
from mqtt.alerts import Alert, AlertKind, AlertReason, AlertReportArgs
from mqtt.client import Message
from mqtt.payloads import ErrorCode, PayloadError, StoreDetails, decode, encode, utcnow
from mqtt.recalls import RecallList
from mqtt.rpc import RemoteError, RpcClient
from storage import Durability, connect, migrate
from tests.conftest import unique
from tests.helpers import wait_until

SKU = "FRU-APL-GOLDEN"
STAMP = "2026-01-01T00:00:00+00:00"


class Retained:
    """The newest message on one topic, and whether the broker marked it retained."""

    def __init__(self, client, topic: str) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        client.subscribe(topic, self._on)
        assert client.wait_subscribed(topic)

    def _on(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    def latest(self) -> RecallList | None:
        with self._lock:
            return decode(RecallList, self.messages[-1].payload) if self.messages else None


def test_the_cli_recalls_a_batch_and_the_backend_publishes_the_list_retained(service, db_path: Path,
                                                                              make_client, capsys) -> None:
    before = Retained(make_client(), topics.recalls("test-a"))
    assert wait_until(lambda: before.latest() is not None, 5), "no recall list published at start"
    assert before.latest().entries == [] and before.latest().seq == 1
    assert backend_main(["recalls", "add", "--db", str(db_path), "--sku", SKU.lower(), "--batch", "L24-117",
                         "--reason", "Listeria found in batch L24-117"]) == 0
    assert "recalled in test-a, test-b" in capsys.readouterr().out
    assert wait_until(lambda: before.latest().seq == 2, 5)
    # A device connecting later gets it from the broker, retained, without asking the backend.
    late = Retained(make_client(), topics.recalls("test-a"))
    assert wait_until(lambda: late.latest() is not None, 5)
    assert late.messages[0].retain
    (entry,) = late.latest().entries
    assert (entry.sku, entry.batch, entry.reason) == (SKU, "L24-117", "Listeria found in batch L24-117")
    assert late.latest().recall_for(SKU, None, "L24-117") == entry
    assert late.latest().recall_for(SKU, None, "L24-118") is None  # another batch of it is fine
    assert late.latest().recall_for(SKU, None, None) is None  # the batch unknown: not claimed recalled

    assert backend_main(["recalls", "add", "--db", str(db_path), "--sku", SKU, "--batch", "L24-117",
                         "--reason", "again", "--store", "test-a"]) == 0
    assert "nothing changed (already recalled)" in capsys.readouterr().out
    assert backend_main(["recalls", "remove", "--db", str(db_path), "--sku", SKU, "--batch", "L24-117",
                         "--store", "test-a"]) == 0
    assert wait_until(lambda: before.latest().seq == 3 and before.latest().entries == [], 5)
    assert "no longer recalled in test-a" in capsys.readouterr().out
    assert backend_main(["recalls", "list", "--db", str(db_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 and '"store": "test-b"' in listed[0]  # test-b still has it


@pytest.mark.parametrize("args, reason", [
    (["--sku", SKU, "--batch", "L 24", "--reason", "x"], "invalid batch: 'L 24'"),
    (["--sku", SKU, "--batch", "L#24", "--reason", "x"], "no spaces"),
    (["--sku", SKU, "--batch", "x" * 21, "--reason", "x"], "1 to 20"),
    (["--sku", SKU, "--reason", "x" * 201], "the reason must be 1 to 200 characters, not 201"),
    (["--sku", SKU, "--reason", "   "], "the reason must be 1 to 200 characters, not 0"),
    (["--sku", "NO-SUCH-SKU", "--reason", "x"], "unknown product NO-SUCH-SKU"),
    (["--gtin", "2000000000016", "--reason", "x"], "check digit"),
    (["--reason", "x"], "name the product: --sku or --gtin"),
    (["--sku", SKU, "--reason", "x", "--store", "test-wh"], "not a store here: test-wh"),
])
def test_bad_recalls_are_refused_with_the_reason_and_change_nothing(db: Database, db_path: Path, capsys,
                                                                    args: list[str], reason: str) -> None:
    assert backend_main(["recalls", "add", "--db", str(db_path), *args]) == 1
    assert reason in capsys.readouterr().err
    assert db.conn.execute("SELECT count(*) FROM recalls").fetchone()[0] == 0


def test_recall_payloads_refuse_bad_batches_and_reasons() -> None:
    good = {"store": "test-a", "seq": 2, "updated_at": "2026-01-01T00:00:00Z",
            "entries": [{"sku": SKU, "batch": "L1", "reason": "r", "since": "2026-01-01T00:00:00Z"}]}
    assert decode(RecallList, encode(decode(RecallList, good))) == decode(RecallList, good)
    for change, text in (({"batch": "L 1"}, "invalid batch"), ({"reason": "x" * 201}, "at most 200"),
                         ({"sku": None}, "names a gtin or a sku"), ({"gtin": "123"}, "at least 8")):
        entry = {**good["entries"][0], **change}
        with pytest.raises(PayloadError, match=text):
            decode(RecallList, {**good, "entries": [entry]})


def _report(rpc: RpcClient, batch: str = "B-7", expiry: date | None = None, sku: str = SKU) -> dict:
    expiry = expiry or date.today() - timedelta(days=3)
    return rpc.call("alert.report", {"sku": sku, "reason": "scan_expired_batch", "batch": batch,
                                     "expiry": expiry.isoformat()})


def test_an_expired_batch_opens_one_remove_batch_alert_however_often_it_is_scanned(service, make_client) -> None:
    watched: list[Alert] = []
    make_client().subscribe(topics.alerts_filter("test-a"),
                            lambda m: m.payload and watched.append(decode(Alert, m.payload)))
    kiosk, other = (RpcClient(make_client(), "test-a", unique("kiosk")) for _ in range(2))
    first = _report(kiosk)
    assert first["created"] is True
    assert _report(kiosk) == {"alert_id": first["alert_id"], "created": False}
    assert _report(other) == {"alert_id": first["alert_id"], "created": False}  # another shopper, same batch
    second = _report(kiosk, batch="B-8")
    assert second["created"] is True and second["alert_id"] != first["alert_id"]
    assert wait_until(lambda: {first["alert_id"], second["alert_id"]} <= {a.alert_id for a in watched}, 5)
    alert = next(a for a in watched if a.alert_id == first["alert_id"])
    assert (alert.kind, alert.reason, alert.batch, alert.sku) == (AlertKind.REMOVE_BATCH,
                                                                  AlertReason.SCAN_EXPIRED_BATCH, "B-7", SKU)
    assert alert.expiry == date.today() - timedelta(days=3) and alert.priority >= 60
    # A shelf report of the same product is a task of its own, beside the batch alerts.
    staff = RpcClient(make_client(), "test-a", "staff-1")
    restock = staff.call("alert.report", {"sku": SKU, "reason": "staff_report"})
    assert restock["created"] is True and restock["alert_id"] not in (first["alert_id"], second["alert_id"])
    # Staff take the batch away: no units move; once it is closed, a new scan of the batch opens a new alert.
    with pytest.raises(RemoteError, match="resolved with quantity 0"):
        staff.call("alert.resolve", {"alert_id": first["alert_id"], "quantity": 2})
    done = staff.call("alert.resolve", {"alert_id": first["alert_id"], "quantity": 0})["alert"]
    assert done["state"] == "resolved" and done["batch"] == "B-7"
    again = _report(other)
    assert again["created"] is True and again["alert_id"] != first["alert_id"]


def test_expired_reports_are_checked_and_rate_limited_like_shelf_reports(service, make_client) -> None:
    kiosk = RpcClient(make_client(), "test-a", unique("kiosk"))
    with pytest.raises(RemoteError) as refused:
        _report(kiosk, expiry=date.today() + timedelta(days=5))
    assert refused.value.code == ErrorCode.BAD_REQUEST and "not expired" in refused.value.message
    with pytest.raises(RemoteError) as missing:
        kiosk.call("alert.report", {"sku": SKU, "reason": "scan_expired_batch"})
    assert "names the batch and its expiry date" in missing.value.message
    with pytest.raises(RemoteError) as charset:
        _report(kiosk, batch="B 7")
    assert charset.value.code == ErrorCode.BAD_REQUEST and "invalid batch" in charset.value.message
    service.alert_handlers.policy = alerts.ReportPolicy(reports_per_device=3)
    for i in range(3):
        _report(kiosk, batch=f"R-{i}")
    with pytest.raises(RemoteError) as limited:
        _report(kiosk, batch="R-9")
    assert limited.value.code == ErrorCode.RATE_LIMITED


def test_a_store_publishes_its_variable_measure_rules_and_bad_rules_are_refused(service, db: Database,
                                                                                db_path: Path, tmp_path: Path,
                                                                                make_client, capsys) -> None:
    stores = tmp_path / "stores.csv"
    stores.write_text("id,name,kind,currency,locale,variable_measure\n"
                      "test-a,Test Store A,store,SEK,sv_SE,SE\n"
                      "test-b,Test Store B,store,DKK,da_DK,dk;23:PPPPPPPPVVV:weight:3\n", encoding="utf-8")
    # From the command line, as a store would: the running service notices the change and publishes it.
    assert backend_main(["import-catalog", "--db", str(db_path), str(stores)]) == 1
    refused = "stores.csv:3: variable_measure: bad variable-measure rule '23:PPPPPPPPVVV:weight:3'"
    assert refused in capsys.readouterr().err
    assert catalog.get_store(db, "test-a").variable_measure == "se"  # one spelling
    assert catalog.get_store(db, "test-b").variable_measure == ""  # the bad row changed nothing
    got: list[StoreDetails] = []
    make_client().subscribe(topics.store_info("test-a"), lambda m: got.append(decode(StoreDetails, m.payload)))
    assert wait_until(lambda: got and got[-1].variable_measure == "se", 5)
    assert decode(StoreDetails, encode(got[-1])) == got[-1]
    with pytest.raises(PayloadError, match="unknown variable-measure region 'xx'"):
        decode(StoreDetails, {**got[-1].model_dump(mode="json"), "variable_measure": "xx"})


def test_alert_report_args_need_batch_and_expiry_only_for_expired_batches() -> None:
    assert decode(AlertReportArgs, {"sku": SKU}).batch is None
    with pytest.raises(PayloadError, match="names the batch"):
        decode(AlertReportArgs, {"sku": SKU, "reason": "scan_expired_batch", "batch": "B1"})


def test_the_migration_keeps_every_alert_of_an_older_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = connect(path, durability=Durability.CRASH)
    migrate(conn, MIGRATIONS[:10], what="backend database")
    conn.execute("INSERT INTO stores (id, name, currency, locale) VALUES ('s1', 'S', 'SEK', 'sv_SE')")
    conn.execute("INSERT INTO products (sku, updated_at) VALUES ('P1', 'x')")
    conn.execute("INSERT INTO alerts (alert_id, store, sku, state, reason, kind, opened_at, updated_at)"
                 " VALUES ('a_123456789', 's1', 'P1', 'open', 'threshold', 'check_shelf', ?, ?)", [STAMP, STAMP])
    conn.close()
    db = Database(path)
    try:
        row = db.conn.execute("SELECT alert_id, kind, batch FROM alerts").fetchone()
        assert row == ("a_123456789", "check_shelf", None)
        assert db.conn.execute("SELECT variable_measure FROM stores").fetchone() == ("",)
        with pytest.raises(sqlite3.IntegrityError):  # a batch alert always names its batch
            db.conn.execute("INSERT INTO alerts (alert_id, store, sku, state, reason, kind, opened_at, updated_at)"
                            " VALUES ('a_223456789', 's1', 'P1', 'open', 'scan_expired_batch', 'remove_batch',"
                            " 't', 't')")
        assert alerts.payload(db, "a_123456789", utcnow()).batch is None
    finally:
        db.close()
