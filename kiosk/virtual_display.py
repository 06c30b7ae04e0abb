"""A virtual X display (Xvfb) for running the app where there is no screen: CI, headless demo boxes."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

X_SOCKETS = Path("/tmp/.X11-unix")


class DisplayError(RuntimeError):
    """Xvfb is missing or did not start."""


def _free_number(start: int = 90) -> int:
    for number in range(start, start + 200):
        if not (X_SOCKETS / f"X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise DisplayError("no free X display number")


class VirtualDisplay:
    """``with VirtualDisplay() as display:`` sets DISPLAY for this process and its children."""

    def __init__(self, size: str = "1920x1080x24") -> None:
        self.size = size
        self.number: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> VirtualDisplay:
        """Start Xvfb on a free display number and wait for its socket."""
        binary = shutil.which("Xvfb")
        if binary is None:
            raise DisplayError("Xvfb is not installed (apt-get install xvfb)")
        for _attempt in range(3):
            number = _free_number()
            proc = subprocess.Popen([binary, f":{number}", "-screen", "0", self.size, "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if (X_SOCKETS / f"X{number}").exists():
                    self.number, self._proc = number, proc
                    os.environ["DISPLAY"] = f":{number}"
                    log.info("virtual display :%d (%s)", number, self.size)
                    return self
                time.sleep(0.05)
            proc.kill()
            proc.wait(5)
        raise DisplayError("Xvfb did not start")

    def stop(self) -> None:
        """Stop Xvfb."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> VirtualDisplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
