"""StoreClient.redeem: a store's own cart code as before, a web-shop code (issuer "hq") through the store's backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backend.service import BackendService
from edge.client_types import ClientError
from edge.settings import DeviceSettings
from edge.store_client import StoreClient
from mqtt.client import MqttClient
from mqtt.rpc import RpcClient
from mqtt.url import BrokerUrl
from tests.backend.test_chain import chain, open_web_shop  # noqa: F401 - the chain fixture (HQ and two stores)
from tests.conftest import unique
from tests.helpers import wait_until


def run_now(fn: Callable[[], None]) -> None:
    """A dispatcher that runs listeners on the calling thread."""
    fn()


@pytest.fixture
def kiosk(tmp_path: Path, broker_url: BrokerUrl) -> Iterator[Callable[[], StoreClient]]:
    """Started StoreClients of store test-a (synced), closed after the test."""
    clients: list[StoreClient] = []

    def make() -> StoreClient:
        client = StoreClient(DeviceSettings(broker_url, "test-a", unique("kiosk"), tmp_path / unique("device")),
                             run_now)
        clients.append(client)
        client.start()
        assert client.edge.wait_synced(15)
        return client

    yield make
    for client in clients:
        client.close()


def handoff_token(client: MqttClient, site: str, device: str, lines: list[dict]) -> str:
    """A cart made by ``device`` at ``site`` and the token of its hand-off code."""
    rpc = RpcClient(client, site, device)
    try:
        cart = rpc.call("cart.create", {"lines": lines}, timeout=5)["cart"]
        return rpc.call("cart.handoff", {"cart_id": cart["cart_id"]}, timeout=5)["handoff"]["token"]
    finally:
        rpc.close()


def test_a_stores_own_code_opens_as_before(service: BackendService, kiosk: Callable[[], StoreClient],
                                           make_client: Callable[..., MqttClient]) -> None:
    token = handoff_token(make_client(), "test-a", unique("phone"), [{"sku": "DRY-PASTA-500", "quantity": 2}])
    snapshot, left_out = kiosk().redeem(token)
    assert [(line.sku, line.quantity) for line in snapshot.lines] == [("DRY-PASTA-500", 2)] and left_out == ()


def test_a_web_shop_code_without_the_chain_says_online_carts_are_unavailable(
        service: BackendService, kiosk: Callable[[], StoreClient]) -> None:
    client = kiosk()  # a store backend with no chain link: as if its WAN link were cut
    before = client.cart_snapshot()
    with pytest.raises(ClientError) as cut:
        client.redeem("w" * 43, issuer="hq")
    assert cut.value.code == "chain_unavailable" and "online carts are unavailable" in str(cut.value)
    assert client.cart_snapshot() == before  # nothing opened, nothing lost
    client.cart.add("DRY-PASTA-500")  # and everything local keeps working
    assert client.cart_snapshot().lines[0].sku == "DRY-PASTA-500"


def test_a_web_cart_opens_here_without_what_this_store_does_not_sell(
        chain: dict, kiosk: Callable[[], StoreClient], make_client: Callable[..., MqttClient]) -> None:  # noqa: F811
    hq, a = chain["hq"], chain["test-a"]
    assert wait_until(lambda: a.chain.applied > 0, timeout=15)  # test-a sells what HQ gave it
    sku = open_web_shop(hq)
    with a.db.lock:
        others = [row[0] for row in a.db.conn.execute(
            "SELECT sku FROM store_products WHERE store = 'test-a' AND sku != ? ORDER BY sku", [sku])]
    web = make_client()
    token = handoff_token(web, "hq", "web-1", [{"sku": sku, "quantity": 2}, {"sku": others[0], "quantity": 1}])
    with a.db.transaction():  # this store stops selling one of the web cart's products
        a.db.conn.execute("DELETE FROM store_products WHERE store = 'test-a' AND sku = ?", [others[0]])
    client = kiosk()
    snapshot, left_out = client.redeem(token, issuer="hq")
    assert [(line.sku, line.quantity) for line in snapshot.lines] == [(sku, 2)]
    assert left_out == (others[0],)
    with pytest.raises(ClientError) as again:
        kiosk().redeem(token, issuer="hq")  # HQ issued it, HQ decides: once
    assert again.value.code == "used"
