"""The client wrapper against a real Mosquitto: delivery thread, resubscribe, retained, presence."""

import threading
import time

from mqtt.brokers import MosquittoBroker
from mqtt.client import Message, MqttClient, Will
from tests.conftest import Collector, unique


def test_handlers_run_off_the_network_thread(make_client, collector) -> None:
    client = make_client()
    seen_threads: list[str] = []
    got = collector()

    def handler(message: Message) -> None:
        seen_threads.append(threading.current_thread().name)
        got(message)

    topic = f"test/{unique('t')}"
    client.subscribe(topic, handler)
    assert client.wait_subscribed(topic)
    client.publish(topic, b"hello")
    assert got.wait_for(lambda m: len(m) == 1)
    assert got.messages[0].payload == b"hello"
    assert seen_threads[0].startswith("mqtt-dispatch")  # not paho's network thread


def test_custom_dispatch_receives_jobs_instead_of_threads(make_client) -> None:
    jobs: list = []
    client = make_client(dispatch=jobs.append)
    topic = f"test/{unique('t')}"
    received: list[Message] = []
    client.subscribe(topic, received.append)
    assert client.wait_subscribed(topic)
    client.publish(topic, b"x")
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        while jobs:
            jobs.pop(0)()  # the application's own loop (e.g. Kivy's Clock) runs handlers
        time.sleep(0.01)
    assert [m.payload for m in received] == [b"x"]


def test_unsubscribe_stops_delivery(make_client, collector) -> None:
    client = make_client()
    topic = f"test/{unique('t')}"
    got = collector()
    unsubscribe = client.subscribe(topic, got)
    assert client.wait_subscribed(topic)
    client.publish(topic, b"1")
    assert got.wait_for(lambda m: len(m) == 1)
    unsubscribe()
    barrier = collector()
    client.subscribe(f"{topic}/after", barrier)
    assert client.wait_subscribed(f"{topic}/after")
    client.publish(topic, b"2")
    client.publish(f"{topic}/after", b"3")  # in order on one connection: once "3" is here, "2" would be too
    assert barrier.wait_for(lambda m: len(m) == 1)
    assert [m.payload for m in got.messages] == [b"1"]


def test_failing_handler_does_not_stop_others(make_client, collector) -> None:
    client = make_client()
    topic = f"test/{unique('t')}"
    got = collector()

    def broken(message: Message) -> None:
        raise RuntimeError("boom")

    client.subscribe(topic, broken)
    client.subscribe(topic, got)
    assert client.wait_subscribed(topic)
    client.publish(topic, b"a")
    client.publish(topic, b"b")
    assert got.wait_for(lambda m: len(m) == 2)


def test_resubscribes_after_broker_restart(tmp_path) -> None:
    broker = MosquittoBroker(workdir=tmp_path).start()
    try:
        client = MqttClient(broker.url, unique("resub"))
        states: list[bool] = []
        # Listening from before the first connection: its "up" may reach listeners after connect() returned.
        client.add_connection_listener(states.append)
        client.connect()
        got = Collector()
        client.subscribe("test/resub", got)
        assert client.wait_subscribed("test/resub")
        broker.kill()
        deadline = time.monotonic() + 5
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not client.connected
        broker.start()
        assert client.wait_connected(15)
        assert client.wait_subscribed("test/resub", 5)
        publisher = MqttClient(broker.url, unique("pub"))
        publisher.connect()
        publisher.publish("test/resub", b"after restart")
        assert got.wait_for(lambda m: any(x.payload == b"after restart" for x in m))
        assert got.wait_for(lambda m: True) and states[:3] == [True, False, True]
        publisher.close()
        client.close()
    finally:
        broker.close()


def test_last_will_marks_device_offline(tmp_path, broker_url, collector) -> None:
    import subprocess
    import sys

    topic = f"test/{unique('will')}/status"
    watcher = MqttClient(broker_url, unique("watch"))
    watcher.connect()
    got = collector()
    watcher.subscribe(topic, got)
    assert watcher.wait_subscribed(topic)
    script = (
        "import time, sys\n"
        "from mqtt.client import MqttClient, Will\n"
        "from mqtt.url import parse_broker_url\n"
        f"c = MqttClient(parse_broker_url('mqtt://127.0.0.1:{broker_url.port}'), 'dying-1', keepalive=2,\n"
        f"    will=Will('{topic}', b'offline'))\n"
        "c.connect()\n"
        f"c.publish('{topic}', b'online', retain=True).wait_for_publish(5)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
    proc.kill()  # no DISCONNECT: the broker must publish the will
    proc.wait()
    assert got.wait_for(lambda m: m and m[-1].payload == b"offline", timeout=10)
    watcher.close()
    assert Will  # the public type used above


def test_an_unreachable_broker_is_named_and_logged_once(caplog) -> None:
    from mqtt.brokers import free_port
    from mqtt.client import ConnectError
    from mqtt.url import BrokerUrl

    client = MqttClient(BrokerUrl("127.0.0.1", free_port()), unique("lonely"))
    with caplog.at_level("WARNING", logger="mqtt.client"):
        client.connect(wait=False)
        deadline = time.monotonic() + 5
        while client.problem is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.problem is not None and client.problem.startswith("unreachable")
        assert not client.connected
        client.close()
    assert sum("cannot connect" in r.getMessage() for r in caplog.records) == 1
    again = MqttClient(BrokerUrl("127.0.0.1", free_port()), unique("lonely"))
    started = time.monotonic()
    try:
        again.connect(1.0)
    except ConnectError as exc:
        assert "unreachable" in str(exc)
    else:
        raise AssertionError("connected to nothing")
    assert time.monotonic() - started < 3


def test_reconnect_waits_are_jittered_and_bounded() -> None:
    import random

    from mqtt.client import MAX_RECONNECT_DELAY, MIN_RECONNECT_DELAY, next_delay

    rng = random.Random(7)
    runs = []
    for _ in range(50):
        delay, waits = None, []
        for _ in range(12):
            delay = next_delay(delay, rng=rng)
            waits.append(delay)
        runs.append(waits)
    assert all(MIN_RECONNECT_DELAY <= w <= MAX_RECONNECT_DELAY for waits in runs for w in waits)
    # Fifty devices that lost the broker together do not come back together: their n-th attempts spread out.
    for n in (0, 3, 8, 11):
        attempts = sorted(sum(waits[: n + 1]) for waits in runs)
        assert attempts[-1] - attempts[0] > 0.5
        buckets: dict[int, int] = {}
        for a in attempts:
            buckets[int(a * 10)] = buckets.get(int(a * 10), 0) + 1
        assert max(buckets.values()) <= 12  # lockstep would put all fifty in one 100 ms window
