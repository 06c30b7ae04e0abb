"""Many simulated devices in one process for bench.stock_fanout: raw MQTT 3.1.1 subscribers on one selector.

Each device is its own TCP connection and client id, subscribed like a device (QoS 0 by default) to its store's
stock and the floor topics, and writes the same `%U %t %p` lines as `mosquitto_sub -F` to its own file. Unlike
one mosquitto_sub process per device, 200 devices do not cost 200 process wake-ups and 200 write calls per
stock change, so the simulator stops being what saturates a 2-core machine. Retained messages (the burst at
subscription) are skipped, as `mosquitto_sub -R` does.

    python -m bench.fanout.pool --port 1883 --store sthlm-city --count 200 --out DIR --prefix sub-200
"""

from __future__ import annotations

import argparse
import selectors
import signal
import socket
import struct
import time
from pathlib import Path

FLUSH_SECONDS = 0.02


def _text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([first]) + bytes(encoded) + body


class Device:
    """One subscriber connection: parses PUBLISH packets out of its byte stream."""

    def __init__(self, host: str, port: int, client_id: str, filters: list[str], qos: int, out: Path) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connect = _text("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _text(client_id)  # clean, no keepalive
        subscribe = struct.pack("!H", 1) + b"".join(_text(f) + bytes([qos]) for f in filters)
        self.sock.sendall(_packet(0x10, connect) + _packet(0x82, subscribe))
        self.sock.setblocking(False)
        self.buffer = bytearray()
        self.lines: list[bytes] = []
        self.file = out.open("wb")

    def feed(self, data: bytes, stamp: bytes) -> None:
        """Take received bytes; complete PUBLISH packets become lines (QoS 1 ones are acknowledged)."""
        buf = self.buffer
        buf += data
        acks = bytearray()
        while len(buf) >= 2:
            length, multiplier, i = 0, 1, 1
            while True:
                if i >= len(buf):
                    return
                byte = buf[i]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                i += 1
                if not byte & 0x80:
                    break
            end = i + length
            if len(buf) < end:
                break
            first = buf[0]
            if first >> 4 == 3:
                topic_len = struct.unpack_from("!H", buf, i)[0]
                topic = bytes(buf[i + 2:i + 2 + topic_len])
                start = i + 2 + topic_len
                if (first >> 1) & 3:
                    acks += b"\x40\x02" + bytes(buf[start:start + 2])
                    start += 2
                if not first & 1:  # live, not retained
                    self.lines.append(stamp + b" " + topic + b" " + bytes(buf[start:end]) + b"\n")
            del buf[:end]
        if acks:
            self.sock.sendall(bytes(acks))

    def flush(self) -> None:
        if self.lines:
            self.file.write(b"".join(self.lines))
            self.file.flush()
            self.lines.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0, help="number of the first device (several pools)")
    parser.add_argument("--out", type=Path, required=True, help="folder for PREFIX-NNN.txt")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--floor-prefix", default="bench/floor")
    parser.add_argument("--qos", type=int, choices=[0, 1], default=0)
    args = parser.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    selector = selectors.DefaultSelector()
    filters = [f"aisle/v1/{args.store}/stock/#", f"{args.floor_prefix}/#"]
    devices = []
    for i in range(args.offset, args.offset + args.count):
        device = Device(args.host, args.port, f"bench-pool-{args.prefix}-{i}", filters, args.qos,
                        args.out / f"{args.prefix}-{i:03d}.txt")
        selector.register(device.sock, selectors.EVENT_READ, device)
        devices.append(device)
    next_flush = time.monotonic() + FLUSH_SECONDS
    while not stop:
        for key, _ in selector.select(FLUSH_SECONDS):
            device = key.data
            try:
                data = device.sock.recv(262144)
            except BlockingIOError:
                continue
            if not data:
                return 1  # the broker closed a device's connection
            device.feed(data, b"%.6f" % time.time())
        if time.monotonic() >= next_flush:
            for device in devices:
                device.flush()
            next_flush = time.monotonic() + FLUSH_SECONDS
    for device in devices:
        device.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
