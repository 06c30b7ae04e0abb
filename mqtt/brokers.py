"""Broker launchers: a real Mosquitto process, or an embedded amqtt broker for the zero-set-up demo."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """A broker could not be started or stopped."""


class Broker(Protocol):
    """A broker this process started and owns."""

    url: BrokerUrl

    def stop(self) -> None:
        """Stop the broker."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, connect_timeout: float = 0.2) -> bool:
    """Wait until something accepts TCP connections on host:port (one look when ``timeout`` is 0).

    ``connect_timeout`` bounds each attempt; a single look wants a generous one, since a loaded machine may not
    run this thread again before a short one has passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=connect_timeout):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary, also where /usr/sbin is not on PATH."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


class MosquittoBroker:
    """A Mosquitto process on a loopback port, with persistence so retained messages survive restarts."""

    def __init__(self, port: int | None = None, workdir: Path | None = None, extra_config: str = "") -> None:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto); run `make setup`")
        self.binary = binary
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="aisle-mosquitto-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.config_path.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 0\n"
            "set_tcp_nodelay true\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\n"
            + extra_config
        )
        self.url = BrokerUrl("127.0.0.1", self.port)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        """Start the process and wait until it accepts connections."""
        log_file = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - lives as long as the process
        self._proc = subprocess.Popen([self.binary, "-c", str(self.config_path)], stdout=log_file,
                                      stderr=subprocess.STDOUT)
        log_file.close()
        if not wait_for_port("127.0.0.1", self.port, timeout):
            self.stop()
            log_text = (self.workdir / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise BrokerError(f"mosquitto did not start on port {self.port}: {log_text}")
        return self

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)

    def stop(self) -> None:
        """Terminate the broker and wait for it."""
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def close(self) -> None:
        """Stop the broker and remove its temporary files."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


class _IterateACopy(dict):  # type: ignore[type-arg]
    """amqtt's subscription table, iterated over a copy.

    amqtt 0.12.1 loops over this table with awaits inside while other clients subscribe, which raises "dictionary
    changed size during iteration" and drops the client that was connecting (it reconnects, but the demo's console
    shows amqtt's traceback).
    """

    def __iter__(self):  # noqa: ANN204 - dict's own signature
        return iter(list(dict.__iter__(self)))

    def items(self):  # noqa: ANN201 - a list instead of a live view
        return list(dict.items(self))


class EmbeddedBroker:
    """An in-process amqtt broker on its own asyncio thread (MQTT 3.1.1 only)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.url = BrokerUrl(host, self.port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: object | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start the broker thread and wait until it accepts connections."""
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        ready = self._ready.wait(timeout)
        if isinstance(self._error, ModuleNotFoundError):
            raise BrokerError("the embedded broker needs amqtt: pip install 'aisle[backend]' "
                              "(or run against a real broker: --broker)")
        if not ready or self._error is not None:
            raise BrokerError(f"embedded broker did not start on {self.host}:{self.port}: {self._error}")
        return self

    def _run(self) -> None:
        try:
            from amqtt.broker import Broker as AmqttBroker  # imported here: only the demo needs it
        except ModuleNotFoundError as exc:  # the [demo] extra is not installed: start() says so
            self._error = exc
            self._ready.set()
            return

        # amqtt and its state machine log every connection at INFO; the demo's console is for Aisle.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 1000}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

        async def start() -> None:
            broker = AmqttBroker(config, loop=loop)
            if isinstance(getattr(broker, "_subscriptions", None), dict):
                broker._subscriptions = _IterateACopy(broker._subscriptions)
            await broker.start()
            self._broker = broker

        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # reported to start() rather than lost in this thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        """Shut the broker down and end its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)  # type: ignore[attr-defined]
        try:
            future.result(10)
        except Exception:
            log.exception("embedded broker shutdown failed")
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(10)
        self._broker = None

    close = stop
