"""Online carts and handoff tokens over a real broker: pricing, flags, single use, expiry, store binding."""

from datetime import timedelta

import pytest

from backend import carts
from mqtt.commerce import Cart, Event, LineRequest
from mqtt.payloads import ErrorCode, decode, utcnow
from mqtt.rpc import RemoteError, RpcClient
from tests.helpers import race


@pytest.fixture
def webshop(service, make_client):
    return RpcClient(make_client(), "test-a", "webshop")


@pytest.fixture
def kiosk(service, make_client):
    return RpcClient(make_client(), "test-a", "kiosk-1")


def new_cart(rpc: RpcClient, lines: list[dict]) -> Cart:
    return Cart.model_validate(rpc.call("cart.create", {"lines": lines})["cart"])


def test_cart_is_priced_in_store_currency_to_the_cent(webshop) -> None:
    cart = new_cart(webshop, [{"sku": "FRU-APL-GOLDEN", "quantity": 3}, {"sku": "DAI-MILK-1L", "quantity": 2}])
    assert cart.owner == "webshop" and cart.currency == "SEK"
    assert [str(line.line_total.amount) for line in cart.lines] == ["89.85", "33.80"]
    assert str(cart.total.amount) == "123.65"
    cart = Cart.model_validate(webshop.call("cart.set_line", {"cart_id": cart.cart_id, "sku": "DAI-MILK-1L",
                                                              "quantity": 0})["cart"])
    assert [line.sku for line in cart.lines] == ["FRU-APL-GOLDEN"] and cart.version == 2


def test_price_change_is_applied_and_flagged_and_deleted_products_are_dropped(service, webshop) -> None:
    cart = new_cart(webshop, [{"sku": "FRU-APL-GOLDEN", "quantity": 1}, {"sku": "DRY-PASTA-500", "quantity": 1}])
    with service.db.transaction():
        service.db.conn.execute("UPDATE store_products SET price = '24.95' WHERE store = 'test-a' AND "
                                   "sku = 'FRU-APL-GOLDEN'")
        service.db.conn.execute("DELETE FROM store_products WHERE store = 'test-a' AND sku = 'DRY-PASTA-500'")
    again = Cart.model_validate(webshop.call("cart.get", {"cart_id": cart.cart_id})["cart"])
    (line,) = again.lines
    assert str(line.unit_price.amount) == "24.95" and str(line.price_changed_from.amount) == "29.95"
    assert again.unavailable == ["DRY-PASTA-500"] and str(again.total.amount) == "24.95"


def test_stale_version_is_refused(webshop) -> None:
    cart = new_cart(webshop, [])
    webshop.call("cart.set_line", {"cart_id": cart.cart_id, "sku": "DAI-MILK-1L", "quantity": 1})
    with pytest.raises(RemoteError) as err:
        webshop.call("cart.set_line", {"cart_id": cart.cart_id, "sku": "DAI-MILK-1L", "quantity": 2,
                                       "expected_version": 1})
    assert err.value.code == ErrorCode.CONFLICT


def test_handoff_opens_cart_once_and_tells_the_owner(service, webshop, kiosk, watch_events) -> None:
    events = watch_events("test-a", "webshop")
    cart = new_cart(webshop, [{"sku": "DAI-MILK-1L", "quantity": 2}])
    handoff = webshop.call("cart.handoff", {"cart_id": cart.cart_id})["handoff"]
    assert handoff["url"] == f"https://aisle.example/s/test-a/cart/{handoff['token']}"
    opened = Cart.model_validate(kiosk.call("cart.redeem", {"token": handoff["token"]})["cart"])
    assert opened.cart_id == cart.cart_id and opened.total == cart.total
    assert events.wait_for(lambda m: bool(m))
    event = decode(Event, events.messages[0].payload)
    assert event.type == "cart.opened" and event.data == {"cart_id": cart.cart_id, "store": "test-a",
                                                          "device": "kiosk-1"}
    with pytest.raises(RemoteError) as err:
        kiosk.call("cart.redeem", {"token": handoff["token"]})
    assert err.value.code == ErrorCode.USED and "already been used" in err.value.message


def test_token_is_bound_to_its_store(service, make_client, webshop) -> None:
    cart = new_cart(webshop, [])
    token = webshop.call("cart.handoff", {"cart_id": cart.cart_id})["handoff"]["token"]
    other_store = RpcClient(make_client(), "test-b", "kiosk-9")
    with pytest.raises(RemoteError) as err:
        other_store.call("cart.redeem", {"token": token})
    assert err.value.code == ErrorCode.BAD_REQUEST and "not issued for this store" in err.value.message


@pytest.mark.parametrize("token", ["A" * 22, "A" * 48, "not a token!", "x" * 200, "A" * 35 + "_-"])
def test_malformed_or_forged_tokens_are_refused(kiosk, token: str) -> None:
    with pytest.raises(RemoteError) as err:
        kiosk.call("cart.redeem", {"token": token})
    assert err.value.code == ErrorCode.BAD_REQUEST


def test_expired_token_explains_itself(service, kiosk, webshop) -> None:
    cart = new_cart(webshop, [])
    past = utcnow() - timedelta(minutes=30)
    handoff = carts.issue_handoff(service.db, "test-a", cart.cart_id, "webshop", past)
    with pytest.raises(RemoteError) as err:
        kiosk.call("cart.redeem", {"token": handoff.token})
    assert err.value.code == ErrorCode.EXPIRED and "expired" in err.value.message


def test_tokens_carry_128_random_bits_and_never_repeat(db) -> None:
    from backend import tokens

    key, expires, n = tokens.signing_key(db), utcnow() + timedelta(minutes=5), 512
    issued = [tokens.issue(key, "test-a", expires) for _ in range(n)]
    nonces = [bytes.fromhex(tokens.verify(key, "test-a", token).nonce) for token, _ in issued]
    assert [x.hex() for x in nonces] == [nonce for _, nonce in issued]  # the token carries the nonce it names
    assert all(len(x) == 16 for x in nonces) and len(set(nonces)) == n
    # Unpredictable, not merely distinct: a counter or a clock, in either byte order, shares its high or low bytes...
    assert len({x[:6] for x in nonces}) == len({x[-6:] for x in nonces}) == n
    values = [int.from_bytes(x, "big") for x in nonces]
    for bit in range(128):  # ...and leaves bits that never change: random ones are set about half the time
        ones = sum(v >> bit & 1 for v in values)
        assert abs(ones - n / 2) <= 72, f"bit {bit} set in {ones} of {n} tokens"  # 6.4 sigma
    # ...and consecutive tokens differ in about half of their 128 bits (a counter flips one or two).
    flips = [(a ^ b).bit_count() for a, b in zip(values, values[1:], strict=False)]
    assert 60 <= sum(flips) / len(flips) <= 68, sum(flips) / len(flips)

    # The handoffs the backend issues are keyed by those nonces.
    cart = carts.create(db, "test-a", "webshop", [LineRequest(sku="DAI-MILK-1L", quantity=1)], utcnow())
    handoffs = [carts.issue_handoff(db, "test-a", cart.cart_id, "webshop", utcnow()) for _ in range(20)]
    stored = {r[0] for r in db.conn.execute("SELECT nonce FROM handoffs")}
    assert {tokens.verify(key, "test-a", h.token).nonce for h in handoffs} == stored
    assert all(len(x) == 32 for x in stored)  # 16 bytes hex


def test_concurrent_redeems_have_exactly_one_winner(service, db_path) -> None:
    from backend.db import Database

    cart = carts.create(service.db, "test-a", "webshop", [], utcnow())
    # Each contender has its own connection, as separate backend processes would.
    connections = [Database(db_path) for _ in range(4)]
    for _ in range(20):
        token = carts.issue_handoff(service.db, "test-a", cart.cart_id, "webshop", utcnow()).token

        def redeem(i: int, token: str = token) -> str:
            try:
                carts.redeem(connections[i], "test-a", f"kiosk-{i}", token, utcnow())
            except carts.CartError as exc:
                return exc.code.value
            return "won"

        assert race(4, redeem) == ["used", "used", "used", "won"]
    for connection in connections:
        connection.close()
