"""Request/response on MQTT 3.1.1 and MQTT 5, and on the embedded broker."""

import dataclasses
import json
import time

import pytest

from mqtt import topics
from mqtt.brokers import EmbeddedBroker
from mqtt.client import Message, MqttClient
from mqtt.payloads import ErrorCode
from mqtt.rpc import OpError, RawResult, RemoteError, RpcClient, RpcServer, RpcTimeout, reply_result
from tests.conftest import unique


def _operations() -> dict:
    def echo(ctx, args):
        return {"args": args, "store": ctx.store, "device": ctx.device}

    def fail(ctx, args):
        raise OpError(ErrorCode.CONFLICT, "nope")

    def crash(ctx, args):
        raise RuntimeError("bug")

    def raw(ctx, args):
        return RawResult(json.dumps({"n": args.get("n", 0), "text": "x" * args.get("size", 0)}).encode())

    return {"test.echo": echo, "test.fail": fail, "test.crash": crash, "test.raw": raw}


@pytest.fixture
def server(make_client):
    client = make_client(unique("srv"))
    rpc = RpcServer(client, _operations())
    rpc.start()
    assert client.wait_subscribed(topics.request_filter())
    yield rpc
    rpc.stop()


@pytest.mark.parametrize("protocol", [4, 5], ids=["mqtt311", "mqtt5"])
def test_call_round_trip_on_both_protocol_versions(server, broker_url, make_client, protocol) -> None:
    url = dataclasses.replace(broker_url, protocol=protocol)
    client = make_client(unique("k"), url=url)
    rpc = RpcClient(client, "s1", "kiosk-1")
    assert rpc.call("test.echo", {"x": 1}) == {"args": {"x": 1}, "store": "s1", "device": "kiosk-1"}
    with pytest.raises(RemoteError) as err:
        rpc.call("test.fail")
    assert err.value.code == ErrorCode.CONFLICT
    with pytest.raises(RemoteError) as err:
        rpc.call("test.crash")
    assert err.value.code == ErrorCode.INTERNAL
    with pytest.raises(RemoteError) as err:
        rpc.call("test.unknown")
    assert err.value.code == ErrorCode.UNKNOWN_OP
    # the server survived all of that
    assert rpc.call("test.echo", {"y": 2})["args"] == {"y": 2}


def test_a_raw_result_arrives_as_any_result_and_one_too_large_is_an_error(server, make_client) -> None:
    rpc = RpcClient(make_client(), "s1", "kiosk-raw")
    assert rpc.call("test.raw", {"n": 7, "size": 3}) == {"n": 7, "text": "xxx"}
    with pytest.raises(RemoteError) as err:
        rpc.call("test.raw", {"size": 70_000})
    assert err.value.code == ErrorCode.INTERNAL and "too large" in err.value.message
    assert rpc.call("test.raw", {"n": 8})["n"] == 8


@pytest.mark.parametrize("protocol", [4, 5], ids=["mqtt311", "mqtt5"])
def test_a_raw_call_gets_the_reply_bytes_unparsed(broker_url, make_client, protocol) -> None:
    url = dataclasses.replace(broker_url, protocol=protocol)
    server = RpcServer(make_client(unique("srv"), url=url), _operations())
    server.start()
    try:
        rpc = RpcClient(make_client(unique("k"), url=url), "s1", "kiosk-raw-bytes")
        assert rpc.wait_ready()
        raw = rpc.call_async("test.raw", {"n": 5}, raw=True).result(5)
        assert isinstance(raw, bytes) and reply_result(raw) == {"n": 5, "text": ""}
        failed = rpc.call_async("test.fail", raw=True).result(5)
        with pytest.raises(RemoteError) as err:
            reply_result(failed)
        assert err.value.code == ErrorCode.CONFLICT
        assert rpc.call("test.echo", {"x": 1})["args"] == {"x": 1}  # plain calls are still parsed
    finally:
        server.stop()


def test_a_raw_call_answered_in_another_key_order_still_resolves(make_client) -> None:
    responder = make_client(unique("odd"))
    rpc = RpcClient(make_client(unique("k")), "s1", "kiosk-odd")

    def answer(message: Message) -> None:
        request = json.loads(message.payload)
        responder.publish(request["reply_to"], json.dumps({"ok": True, "result": {"a": 1}, "id": request["id"],
                                                           "v": 1}).encode(), qos=1)

    responder.subscribe(topics.request("s1", "kiosk-odd"), answer, qos=1)
    assert responder.wait_subscribed(topics.request("s1", "kiosk-odd")) and rpc.wait_ready()
    assert reply_result(rpc.call_async("test.any", raw=True).result(5)) == {"a": 1}


def test_concurrent_calls_get_their_own_replies(server, make_client) -> None:
    rpc = RpcClient(make_client(), "s1", "kiosk-2")
    futures = [rpc.call_async("test.echo", {"i": i}) for i in range(50)]
    assert [f.result(5)["args"]["i"] for f in futures] == list(range(50))


def test_reply_to_outside_the_device_branch_is_refused(server, make_client, collector) -> None:
    client = make_client()
    spy = collector()
    client.subscribe("aisle/v1/s1/catalog/#", spy)
    assert client.wait_subscribed("aisle/v1/s1/catalog/#")
    forged = {"id": "abcdefgh12", "op": "test.echo", "reply_to": "aisle/v1/s1/catalog/SKU1", "args": {}}
    before = server.rejected
    client.publish(topics.request("s1", "kiosk-3"), json.dumps(forged).encode())
    deadline = time.monotonic() + 3
    while server.rejected == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.rejected == before + 1
    assert not spy.wait_for(lambda m: bool(m), timeout=0.3)


@pytest.mark.parametrize("payload", [b"not json", b"{}", b'{"id":"short","op":"x","reply_to":"r"}', b"\x00" * 70000])
def test_malformed_requests_are_rejected_and_server_keeps_running(server, make_client, payload) -> None:
    client = make_client()
    before = server.rejected
    client.publish(topics.request("s1", "kiosk-4"), payload)
    deadline = time.monotonic() + 3
    while server.rejected == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.rejected == before + 1
    assert RpcClient(client, "s1", "kiosk-4").call("test.echo")["device"] == "kiosk-4"


def test_timeout_when_nobody_answers(make_client) -> None:
    rpc = RpcClient(make_client(), "nobody-home", "kiosk-5")
    with pytest.raises(RpcTimeout):
        rpc.call("test.echo", timeout=0.5)


def test_embedded_broker_serves_rpc_and_retained_messages() -> None:
    broker = EmbeddedBroker().start()
    try:
        server_client = MqttClient(broker.url, "srv-embedded")
        server_client.connect()
        RpcServer(server_client, _operations()).start()
        assert server_client.wait_subscribed(topics.request_filter())
        server_client.publish("aisle/v1/s1/stock/A1", b"{}", retain=True).wait_for_publish(5)
        device = MqttClient(broker.url, "dev-embedded")
        device.connect()
        assert RpcClient(device, "s1", "kiosk-6").call("test.echo", {"e": 1})["args"] == {"e": 1}
        got = []
        device.subscribe("aisle/v1/s1/stock/#", got.append)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got and got[0].retain and got[0].topic == "aisle/v1/s1/stock/A1"
        device.close()
        server_client.close()
    finally:
        broker.stop()


@pytest.mark.parametrize("payload", [
    b'{"v":1,"id":"bignumber01","op":"test.echo","reply_to":"aisle/v1/s1/device/kiosk-7/reply/r1","args":{"n":'
    + b"9" * 5000 + b"}}",
    b'{"v":1,"id":"deepnest001","op":"test.echo","reply_to":"aisle/v1/s1/device/kiosk-7/reply/r1","args":'
    + b'{"a":' * 3000 + b"1" + b"}" * 3001,
    b'{"v":1,"id":"badfield001","op":"test.echo","reply_to":"aisle/v1/s1/device/kiosk-7/reply/r1","args":[]}',
], ids=["5000-digit-number", "deep-nesting", "wrong-type"])
def test_a_request_that_does_not_parse_gets_a_bad_request_reply(server, make_client, collector, caplog,
                                                                  payload) -> None:
    client = make_client()
    replies = collector()
    client.subscribe("aisle/v1/s1/device/kiosk-7/reply/r1", replies)
    assert client.wait_subscribed("aisle/v1/s1/device/kiosk-7/reply/r1")
    with caplog.at_level("WARNING", logger="mqtt.rpc"):
        client.publish(topics.request("s1", "kiosk-7"), payload)
        assert replies.wait_for(lambda m: len(m) == 1)
    reply = json.loads(replies.messages[0].payload)
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    assert reply["id"].encode() in payload[:30]
    assert "Traceback" not in caplog.text and all(len(r.getMessage()) < 400 for r in caplog.records)
    assert RpcClient(client, "s1", "kiosk-7").call("test.echo")["device"] == "kiosk-7"


def test_a_bad_request_is_never_answered_outside_the_device_branch(server, make_client, collector) -> None:
    client = make_client()
    spy = collector()
    client.subscribe("aisle/v1/s1/device/victim/#", spy)
    assert client.wait_subscribed("aisle/v1/s1/device/victim/#")
    before = server.rejected
    client.publish(topics.request("s1", "kiosk-8"),
                   b'{"id":"abcdefgh12","op":"x","reply_to":"aisle/v1/s1/device/victim/reply/x","args":' + b"9" * 5000)
    deadline = time.monotonic() + 3
    while server.rejected == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.rejected == before + 1
    assert not spy.wait_for(lambda m: bool(m), timeout=0.3)


def test_a_retained_request_is_not_run_again_on_resubscription(make_client, collector) -> None:
    runs: list[dict] = []
    device = unique("kiosk-ret")
    first = RpcServer(make_client(unique("srv")), {"test.count": lambda ctx, args: runs.append(args) or {}})
    first.start()
    sender = make_client()
    rpc = RpcClient(sender, "s1", device)
    assert rpc.wait_ready()
    request = {"v": 1, "id": "retained0001", "op": "test.count", "reply_to": rpc.reply_topic, "args": {"n": 1}}
    sender.publish(topics.request("s1", device), json.dumps(request).encode(), retain=True).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while not runs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(runs) == 1  # a live request runs once, retained flag or not
    first.stop()
    # A backend that (re)subscribes gets the stored copy flagged retained: it must not run it again, and clears it.
    second_client = make_client(unique("srv"))
    second = RpcServer(second_client, {"test.count": lambda ctx, args: runs.append(args) or {}})
    second.start()
    assert second_client.wait_subscribed(topics.request_filter())
    deadline = time.monotonic() + 5
    while second.rejected == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert second.rejected == 1 and len(runs) == 1
    probe = collector()
    watcher = make_client()
    watcher.subscribe(topics.request("s1", device), probe)
    assert watcher.wait_subscribed(topics.request("s1", device))
    assert not probe.wait_for(lambda m: any(x.retain and x.payload for x in m), timeout=0.5)
    second.stop()
