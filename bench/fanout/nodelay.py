"""The --nodelay experiment of stock_fanout: paho sockets with TCP_NODELAY, as mqtt/client.py could set them.

paho-mqtt 2.x leaves Nagle's algorithm on. The backend sends a PUBACK for each request and, about a
millisecond later, the stock PUBLISH; with Nagle on, that PUBLISH waits for the ACK of the PUBACK,
which the broker's kernel delays (up to ~40 ms on Linux). `python -m bench.fanout.nodelay` is `python -m backend`
with only that socket option changed.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import paho.mqtt.client as paho


def patch_paho() -> None:
    """Make every paho client of this process open its socket with Nagle's algorithm off."""
    create = paho.Client._create_socket_connection
    if getattr(create, "nodelay", False):
        return

    def create_nodelay(self: paho.Client) -> Any:
        sock = create(self)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    create_nodelay.nodelay = True  # type: ignore[attr-defined]
    paho.Client._create_socket_connection = create_nodelay  # type: ignore[method-assign]


if __name__ == "__main__":
    patch_paho()
    from backend.cli import main

    sys.exit(main())
