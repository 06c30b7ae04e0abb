"""What every benchmark shares: the machine it ran on, its child processes, the generated production broker."""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import assets
from backend.broker_config import DeviceLogin, write_config
from mqtt.brokers import find_mosquitto, free_port, wait_for_port
from mqtt.url import BrokerUrl

ROOT = Path(__file__).resolve().parents[1]
DEMO_FILES = [assets.path("demo", name) for name in ("stores.csv", "products.csv", "inventory.csv")]


def add_data_argument(parser: argparse.ArgumentParser, env: str, what: str) -> None:
    """``--data DIR``: required unless the environment variable ``env`` names the folder."""
    default = os.environ.get(env)
    parser.add_argument("--data", type=Path, default=Path(default) if default else None, required=not default,
                        help=f"{what} (default: ${env})")


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """Architecture, CPU model and core count, printed with a table."""
    return f"`uname -m` {platform.machine()}, CPU \"{cpu_model()}\", `nproc` {os.cpu_count()}"


def command_line(module: str) -> str:
    """How this benchmark was run, e.g. ``.venv/bin/python -m bench.abuse --quick``."""
    return " ".join([".venv/bin/python -m", f"bench.{module}", *sys.argv[1:]])


def run_header(module: str, started: datetime) -> str:
    """When and how a benchmark ran, and on what: the lines printed above its table."""
    finished = datetime.now(UTC)
    return (f"{finished:%a %b %d %H:%M} UTC {finished.year} (run {started:%H:%M}–{finished:%H:%M}), "
            f"`{command_line(module)}`\nMachine: {machine()}")


try:  # looked up here, not in the forked child, where only async-signal-safe work belongs
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies without cleaning up (Linux only)."""
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


class ProcessGroup:
    """Every process the benchmark starts, each in its own session, stopped together."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def spawn(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a child that a Ctrl-C in the terminal does not reach; stop() ends it."""
        proc = subprocess.Popen(list(args), start_new_session=True, preexec_fn=_die_with_parent, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, procs: Sequence[subprocess.Popen[Any]] | None = None, timeout: float = 5.0) -> None:
        """SIGTERM the given children (default: all), then SIGKILL whatever is still running."""
        targets = list(self.procs if procs is None else procs)
        for proc in targets:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in targets:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        self.procs = [p for p in self.procs if p not in targets]


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the child leads its own session, hence its own group
    except ProcessLookupError:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ProductionBroker:
    """One store's generated set-up; every device of the benchmark gets a kiosk login of its own, never reused
    (a flooder cut off in one cell stays cut off for its penalty)."""

    def __init__(self, workdir: Path, store: str, kiosks: int) -> None:
        self.out = workdir
        self.out.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, *self.out.parents):  # the broker drops to its own user and must reach in
            if folder == Path("/tmp") or folder == Path("/"):
                break
            folder.chmod(0o755)
        self.port = free_port()
        self.logins = write_config(self.out, store, kiosks, 0, hosts=["localhost", "127.0.0.1"], port=self.port)
        self.credentials = self.out / "devices.csv"
        self.url = BrokerUrl("127.0.0.1", self.port, tls=True, ca_file=str(self.out / "ca.crt"))
        self._free = [login for login in self.logins if login.role == "kiosk"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The broker URL handed to child processes: no login in it, the CA beside it."""
        return f"mqtts://127.0.0.1:{self.port}?ca={self.out / 'ca.crt'}"

    def start(self) -> ProductionBroker:
        """Start Mosquitto on the generated mosquitto.conf and wait until it listens."""
        with (self.out / "mosquitto.log").open("ab") as sink:
            self.proc = subprocess.Popen([find_mosquitto() or "mosquitto", "-c", str(self.out / "mosquitto.conf")],
                                         stdout=sink, stderr=subprocess.STDOUT)
        if not wait_for_port("127.0.0.1", self.port, 20) or self.proc.poll() is not None:
            raise RuntimeError(f"the production broker did not start; see {self.out / 'mosquitto.log'}")
        return self

    def take(self, count: int) -> list[DeviceLogin]:
        """Kiosk logins nobody has used yet."""
        if count > len(self._free):
            raise RuntimeError(f"the benchmark needs more kiosk logins than the {len(self.logins)} generated")
        taken, self._free = self._free[:count], self._free[count:]
        return taken

    def url_for(self, login: DeviceLogin) -> BrokerUrl:
        """The broker address with ``login``'s user and password."""
        return replace(self.url, username=login.device, password=login.password)

    def url_for_password(self, login: str, password: str) -> BrokerUrl:
        """The broker address with a login that is not in the file (a phone's, issued at run time)."""
        return replace(self.url, username=login, password=password)

    def close(self) -> None:
        """Stop the broker."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
