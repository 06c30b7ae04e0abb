"""paho's client reading the socket in large chunks and in bounded batches (used by mqtt/client.py)."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho

READ_BATCH = 100  # packets handled per pass of paho's loop before it writes again


class BufferedReads(paho.Client):
    """Fewer system calls per message, and replies that do not wait for a flood of incoming messages to be read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_buffer = b""  # bytes received but not yet parsed, and where parsing stands in them
        self._read_pos = 0

    def reconnect(self) -> paho.MQTTErrorCode:
        """Open a new connection with an empty read buffer."""
        self._read_buffer, self._read_pos = b"", 0  # nothing of an old connection belongs to the new one
        return super().reconnect()

    def _sock_recv(self, bufsize: int) -> bytes:
        # paho reads a packet in 3+ recv calls (type byte, length bytes, body): one system call per call. Reading
        # what the socket has and serving paho from it cut the receive cost per message by 40 % (a request flood
        # on the backend, bench/abuse.py).
        if self._read_pos >= len(self._read_buffer):
            data = super()._sock_recv(65536)
            if not data:
                return data  # the connection closed: paho sees it as it would have
            self._read_buffer, self._read_pos = data, 0
        end = self._read_pos + bufsize
        chunk = self._read_buffer[self._read_pos:end]
        self._read_pos = min(end, len(self._read_buffer))
        return chunk

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        """Read up to a batch of packets, then return so that paho's loop writes what is waiting to go out.

        paho reads as many packets as it has messages in flight: under a request flood, thousands, while every
        reply waited (measured in bench/abuse.py: a shopper's reply took seconds to leave).
        """
        for _ in range(READ_BATCH):
            if self._sock is None:
                return paho.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == paho.MQTT_ERR_AGAIN:
                break
        return paho.MQTT_ERR_SUCCESS

    def _loop(self, timeout: float = 1.0) -> paho.MQTTErrorCode:
        # Packets left in our buffer do not make the socket readable: read them first, and do not wait in select.
        if self._sock is not None and self._read_pos < len(self._read_buffer):
            rc = self.loop_read()
            if rc != paho.MQTT_ERR_SUCCESS:
                return rc
            timeout = 0.0
        return super()._loop(timeout)

