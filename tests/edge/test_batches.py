"""A device's reading of a scan: weighed items under the store's rules, recalls it keeps, expired batches it reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.cli import main as backend_main
from backend.db import Database
from backend.importer import import_file
from backend.service import BackendService
from codes import scanned
from codes.gtin import check_digit
from codes.measure import MeasureError, MeasureKind
from edge.settings import DeviceSettings
from edge.store_client import StoreClient
from mqtt.brokers import free_port
from mqtt.recalls import RecallList
from mqtt.url import BrokerUrl, parse_broker_url
from tests.conftest import unique
from tests.helpers import wait_until

SKU = "FRU-APL-GOLDEN"
PLAIN = "2000000000015"  # the fixture's code of it: a 20-prefix, which Swedish rules would read as a price label
BASE = "2310010100002"  # its scale labels' base code under Swedish rules: 23, item 100101, weight zeroed


def run_now(fn: Callable[[], None]) -> None:
    """A dispatcher that runs listeners on the calling thread."""
    fn()


def label(item: str, grams: str) -> str:
    """A Swedish weight label: 23, the 6-digit item, the weight in grams, the check digit."""
    body = "23" + item + grams
    return body + check_digit(body)


@pytest.fixture
def swedish_store(service: BackendService, db: Database, tmp_path: Path) -> BackendService:
    """test-a with Swedish variable-measure rules and the apples' scale-label base code in the catalogue."""
    products = tmp_path / "products.csv"
    products.write_text(f"sku,gtins,unit,name_en\n{SKU},{PLAIN}|{BASE},kg,Golden Delicious apple\n",
                        encoding="utf-8")
    assert not import_file(db, products, progress=False).errors
    db.conn.execute("UPDATE stores SET variable_measure = 'se' WHERE id = 'test-a'")
    service.publish_changes()  # written on the service's own connection: its watcher would not see it
    return service


def start(data: Path, url: BrokerUrl, device: str,
          on_recalls: Callable[[RecallList], None] | None = None) -> StoreClient:
    client = StoreClient(DeviceSettings(url, "test-a", device, data), run_now)
    if on_recalls is not None:
        client.on_recalls(on_recalls)  # before start: the retained list may come at once
    client.start()
    return client


def test_a_weighed_label_finds_its_product_and_an_exact_code_wins(swedish_store, tmp_path: Path,
                                                                  broker_url: BrokerUrl) -> None:
    client = start(tmp_path / "device", broker_url, unique("kiosk"))
    try:
        assert wait_until(lambda: (d := client.store_details()) is not None and d.variable_measure == "se", 10)
        assert client.edge.wait_synced(10)
        exact = client.resolve_scan(scanned.parse_intent(PLAIN))
        assert exact is not None and exact.product.sku == SKU and exact.measure is None  # not a 0.01 SEK label
        weighed = client.resolve_scan(scanned.parse_intent(label("100101", "1234")))
        assert weighed is not None and weighed.product.sku == SKU and weighed.measure is not None
        assert (weighed.measure.kind, weighed.measure.value) == (MeasureKind.WEIGHT, Decimal("1.234"))
        assert weighed.measure.base_gtin == "0" + BASE and not weighed.expired and weighed.recall is None
        assert client.resolve_scan(scanned.parse_intent(label("100199", "1234"))) is None  # an item not sold here
        assert client.resolve_scan(scanned.parse_intent("not a code")) is None
        by_sku = client.resolve_scan(scanned.SkuCode(SKU))
        assert by_sku is not None and by_sku.measure is None and by_sku.gs1 is None
    finally:
        client.close()


def test_a_price_label_with_a_bad_price_check_digit_is_refused_with_the_reason(swedish_store, tmp_path: Path,
                                                                               broker_url: BrokerUrl) -> None:
    swedish_store.db.conn.execute("UPDATE stores SET variable_measure = 'se;23:PPPPPPPCVVVV:price:2'"
                                  " WHERE id = 'test-a'")
    swedish_store.publish_changes()
    client = start(tmp_path / "device", broker_url, unique("kiosk"))
    try:
        assert wait_until(lambda: (d := client.store_details()) is not None and "price" in d.variable_measure, 10)
        body = "2310010" + "8" + "1234"  # the price check digit of 1234 is 9, not 8
        with pytest.raises(MeasureError, match="check digit"):
            client.resolve_scan(scanned.parse_intent(body + check_digit(body)))
    finally:
        client.close()


def test_recalls_reach_a_device_after_it_reconnects_and_stay_known_offline(swedish_store, db_path: Path,
                                                                           tmp_path: Path, broker_url: BrokerUrl,
                                                                           capsys) -> None:
    data, device = tmp_path / "device", unique("kiosk")
    client = start(data, broker_url, device)
    try:
        assert wait_until(lambda: client.recalls.current() is not None, 10)  # the empty list, at start
        assert client.recall_for(SKU, batch="L1") is None
    finally:
        client.close()
    # While the kiosk is away, the store recalls one batch of the apples.
    assert backend_main(["recalls", "add", "--db", str(db_path), "--sku", SKU, "--batch", "L1",
                         "--reason", "Listeria"]) == 0
    capsys.readouterr()
    lists: list[RecallList] = []
    client = start(data, broker_url, device, lists.append)
    try:
        assert wait_until(lambda: client.recall_for(SKU, batch="L1") is not None, 10)
        assert lists and lists[-1].entries[0].batch == "L1"
        assert client.recall_for(SKU, batch="L2") is None
        assert client.recall_for(None, gtin=PLAIN, batch="L1") is None  # the recall names the SKU, not this GTIN
        expired = (date.today() - timedelta(days=2)).strftime("%y%m%d")
        scan = scanned.parse_intent(f"(01)0{PLAIN}(17){expired}(10)L1")
        found = client.resolve_scan(scan)
        assert found is not None and found.product.sku == SKU and found.batch == "L1"
        assert found.expired and found.recall is not None and found.recall.reason == "Listeria"
        assert found.to_json()["recall"]["batch"] == "L1"
        later = (date.today() + timedelta(days=200)).strftime("%y%m%d")
        fresh = client.resolve_scan(scanned.parse_intent(f"(01)0{PLAIN}(17){later}(10)L2"))
        assert fresh is not None and not fresh.expired and fresh.recall is None
    finally:
        client.close()
    # Offline (no broker at all): the last list is still in the device's cache.
    offline = StoreClient(DeviceSettings(parse_broker_url(f"mqtt://127.0.0.1:{free_port()}"), "test-a", device,
                                         data), run_now)
    offline.start()
    try:
        recall = offline.recall_for(SKU.lower(), batch="L1")
        assert recall is not None and recall.reason == "Listeria"
    finally:
        offline.close()


def test_an_expired_batch_is_reported_once_per_session(swedish_store, tmp_path: Path, broker_url: BrokerUrl) -> None:
    client = start(tmp_path / "device", broker_url, unique("kiosk"))
    try:
        assert client.edge.wait_synced(10)
        expiry = date.today() - timedelta(days=1)
        assert client.report_expired(SKU, "B-1", expiry) is True
        assert client.report_expired(SKU, "B-1", expiry) is False  # this session reported it already
        assert client.report_expired(SKU, "B-2", expiry) is True
        with swedish_store.db.lock:
            rows = swedish_store.db.conn.execute("SELECT batch, kind FROM alerts WHERE sku = ? AND batch IS NOT NULL"
                                                 " ORDER BY batch", [SKU]).fetchall()
        assert rows == [("B-1", "remove_batch"), ("B-2", "remove_batch")]
    finally:
        client.close()
