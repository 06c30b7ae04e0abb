"""A TCP proxy on loopback whose link the test can cut and restore, like a flaky store network.

``drop_before(marker)`` lands a fault while a request is in flight: the link dies when the broker sends the device
the bytes ``marker`` (say a reply's request id), so the backend has done the work and the device never hears of it.
"""

from __future__ import annotations

import socket
import threading

from mqtt.brokers import free_port


class CuttableProxy:
    """Forwards 127.0.0.1:port to a target; ``cut()`` drops every connection and refuses new ones until restored."""

    def __init__(self, target_port: int, *, refuse_when_cut: bool = False) -> None:
        # refuse_when_cut: while cut, nothing listens (connection refused, as a WAN outage looks to a store), instead
        # of accepting and closing at once. Mosquitto 2.0.11's TLS bridge spins forever on the latter
        # (docs/deployment.md), a fault of the broker this project cannot fix, so the chain's tests model the former.
        self.refuse_when_cut = refuse_when_cut
        self.target_port = target_port
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._closed = False
        self.cuts = 0
        self._marker: bytes | None = None
        self.drops: list[bytes] = []  # markers whose bytes the link swallowed, in order
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def _accept(self) -> None:
        while not self._closed:
            if self.refuse_when_cut and not self._up.wait(0.2):
                continue  # nothing listens while cut
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                upstream.settimeout(None)  # the timeout was for connecting: a quiet link is not a dead one
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):  # a relay, not a buffer: Nagle would add the peer's delayed ACK (40 ms)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b, watch in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pipe, args=(a, b, watch), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        tail = b""  # the end of the last chunk: a marker may straddle two reads
        try:
            while True:
                data = source.recv(65536)
                if not data or not self._up.is_set():
                    break
                if watch and self._swallowed(tail + data):
                    break
                tail = data[-64:]
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass

    def drop_before(self, marker: bytes) -> None:
        """Arm a one-shot fault: the next time the broker sends a device ``marker``, drop the link before it arrives.

        Only the connections die; new ones are let through at once (the device reconnects and retries).
        """
        with self._lock:
            self._marker = marker

    @property
    def armed(self) -> bool:
        """Whether a ``drop_before`` fault is still waiting for its marker."""
        with self._lock:
            return self._marker is not None

    def _swallowed(self, data: bytes) -> bool:
        with self._lock:
            marker = self._marker
            if marker is None or marker not in data:
                return False
            self._marker = None
            self.drops.append(marker)
            sockets, self._sockets = self._sockets, []
        _close_all(sockets)
        return True

    def cut(self) -> None:
        """Drop the link: every open connection dies, new ones are refused."""
        self._up.clear()
        self.cuts += 1
        with self._lock:
            sockets, self._sockets = self._sockets, []
            if self.refuse_when_cut:
                self._server.close()
        _close_all(sockets)

    def restore(self) -> None:
        """Let connections through again."""
        if self.refuse_when_cut and not self._up.is_set():
            with self._lock:
                self._server = socket.create_server(("127.0.0.1", self.port))
                self._server.settimeout(0.2)
        self._up.set()

    def close(self) -> None:
        """Stop the proxy."""
        self._closed = True
        self.cut()
        self._server.close()


def _close_all(sockets: list[socket.socket]) -> None:
    """Shut every connection down at once, as a pulled cable would (errors: it was already gone)."""
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
            s.close()
        except OSError:
            pass
