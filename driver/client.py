"""The test side of the harness (no Kivy): one connection to ``python -m driver --harness-port PORT``."""

from __future__ import annotations

import json
import socket
from typing import Any


class HarnessError(Exception):
    """The app refused or failed a command."""


class HarnessClient:
    """One connection, one command at a time."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._file = self._sock.makefile("rwb")

    def call(self, cmd: str, **args: Any) -> Any:
        """Send a command; returns its result or raises HarnessError."""
        self._file.write((json.dumps({"cmd": cmd, **args}) + "\n").encode("utf-8"))
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise HarnessError("the app closed the connection")
        reply = json.loads(line)
        if not reply["ok"]:
            raise HarnessError(reply["error"])
        return reply.get("result")

    def close(self) -> None:
        """Close the connection."""
        self._file.close()
        self._sock.close()
