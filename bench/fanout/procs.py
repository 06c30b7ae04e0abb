"""Child processes of bench.stock_fanout: backend service, mosquitto_sub devices, the full device client."""

from __future__ import annotations

import logging
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import ROOT, ProcessGroup

FLOOR_PREFIX = "bench/floor"

log = logging.getLogger(__name__)


def start_backend(group: ProcessGroup, url: str, workdir: Path, *, nodelay: bool = False,
                  timeout: float = 60.0, extra: tuple[str, ...] = ()) -> subprocess.Popen[Any]:
    """Run `python -m backend serve --demo` on a fresh database (demo data and demo device roles)."""
    db = workdir / "backend.db"
    log_path = workdir / "backend.log"
    with log_path.open("wb") as log_file:
        entry = ["-m", "bench.fanout.nodelay"] if nodelay else ["-m", "backend"]
        proc = group.spawn([sys.executable, *entry, "serve", "--demo", "--broker", url, "--db", str(db), *extra],
                           cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while b"backend ready" not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"backend did not start: {log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return proc


def start_device(group: ProcessGroup, url: str, store: str, expect: int, out: Path, *, nodelay: bool = False,
                 timeout: float = 40.0) -> subprocess.Popen[Any]:
    """Start the full device client process and wait until it mirrored the store's retained stock."""
    proc = group.spawn([sys.executable, "-m", "bench.fanout.device", "--broker", url,
                        "--store", store, "--expect", str(expect), "--out", str(out)]
                       + (["--nodelay"] if nodelay else []),
                       cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if line != "ready":
        raise RuntimeError(f"device client not ready: {line or 'no answer'}")
    return proc


class TailReader:
    """Reads the complete lines a child appended to its output file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def size(self) -> int:
        """Bytes in the file so far."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def skip_to_end(self) -> None:
        """Forget everything written so far."""
        self.offset = self.size()

    def new_lines(self) -> list[bytes]:
        """Complete lines written since the last call."""
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].splitlines()


class Subscribers:
    """N mosquitto_sub processes, one per simulated device, each writing `%U %t %p` lines to its own file."""

    def __init__(self, group: ProcessGroup, host: str, port: int, store: str, count: int, workdir: Path,
                 nice: int = 0, qos: int = 0) -> None:
        binary = shutil.which("mosquitto_sub")
        if binary is None:
            raise RuntimeError("mosquitto_sub is not installed (Debian: apt-get install mosquitto-clients)")
        self.group = group
        self.readers = [TailReader(workdir / f"sub-{count}-{i:03d}.txt") for i in range(count)]
        self.procs: list[subprocess.Popen[Any]] = []
        for i, reader in enumerate(self.readers):
            with reader.path.open("wb") as out:
                # -R: retained messages (the burst at subscription) are not printed; live ones arrive unflagged.
                # nice: real devices have their own CPUs; here they must not starve the broker and backend.
                self.procs.append(group.spawn(
                    ["nice", "-n", str(nice), binary, "-h", host, "-p", str(port), "-q", str(qos),
                     "-i", f"bench-sub-{count}-{i}", "-R", "-t", f"aisle/v1/{store}/stock/#",
                     "-t", f"{FLOOR_PREFIX}/#", "-F", "%U %t %p"],
                    stdout=out, stderr=subprocess.DEVNULL))

    @classmethod
    def pool(cls, group: ProcessGroup, host: str, port: int, store: str, count: int, workdir: Path,
             nice: int = 0, qos: int = 0, processes: int = 1) -> Subscribers:
        """The same devices as raw MQTT connections in a few processes (bench.fanout.pool), same files."""
        self = cls.__new__(cls)
        self.group = group
        self.readers = [TailReader(workdir / f"sub-{count}-{i:03d}.txt") for i in range(count)]
        for reader in self.readers:
            reader.path.write_bytes(b"")  # the pool opens them one connection at a time
        size = -(-count // processes)
        self.procs = [group.spawn(
            ["nice", "-n", str(nice), sys.executable, "-m", "bench.fanout.pool",
             "--host", host, "--port", str(port), "--store", store, "--offset", str(first),
             "--count", str(min(size, count - first)), "--out", str(workdir), "--prefix", f"sub-{count}",
             "--floor-prefix", FLOOR_PREFIX, "--qos", str(qos)],
            cwd=ROOT, stderr=subprocess.DEVNULL) for first in range(0, count, size)]
        return self

    def wait_ready(self, publish_marker: Callable[[int], None], timeout: float = 60.0) -> None:
        """Publish numbered markers until every subscriber has printed one, i.e. is subscribed."""
        pending = set(range(len(self.readers)))
        deadline = time.monotonic() + timeout
        marker = 0
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} subscribers never became ready")
            dead = [i for i, proc in enumerate(self.procs) if proc.poll() is not None]
            if dead:
                raise RuntimeError(f"mosquitto_sub exited early (subscriber {dead[0]})")
            marker += 1
            publish_marker(marker)
            time.sleep(0.2)
            pending = {i for i in pending if f"{FLOOR_PREFIX}/ready".encode() not in self.readers[i].path.read_bytes()}
        for reader in self.readers:
            reader.skip_to_end()

    def total_bytes(self) -> int:
        """Bytes written by all subscribers so far."""
        return sum(reader.size() for reader in self.readers)

    def new_lines(self) -> Iterator[list[bytes]]:
        """Per subscriber, the complete lines received since the last call."""
        for reader in self.readers:
            yield reader.new_lines()

    def stop(self) -> None:
        """End every subscriber process."""
        self.group.stop(self.procs)


def wait_quiet(size: Callable[[], int], quiet: float = 1.0, timeout: float = 120.0) -> bool:
    """Wait until size() has not grown for `quiet` seconds; False on timeout."""
    deadline = time.monotonic() + timeout
    last, since = size(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = size()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
    return False


def close_stdin(proc: subprocess.Popen[Any]) -> None:
    """Close a child's stdin (the device client exits on EOF)."""
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()


def _tcp_sockets() -> list[tuple[int, int, int, int]]:
    """(local port, remote port, unread bytes, inode) of every IPv4 TCP socket."""
    rows = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            rx = int(fields[4].split(":")[1], 16)
            rows.append((int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), rx, int(fields[9])))
    return rows


def client_ports(pid: int, broker_port: int) -> set[int]:
    """Local ports of the TCP connections a process holds to the broker."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return {local for local, remote, _, inode in _tcp_sockets() if inode in inodes and remote == broker_port}


class IngressSampler:
    """Largest number of bytes the broker had received from a client but not yet read, sampled every 20 ms."""

    def __init__(self, broker_port: int, peers: dict[str, set[int]]) -> None:
        self.broker_port = broker_port
        self.peers = peers
        self.peak = dict.fromkeys(peers, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingress-sampler", daemon=True)

    def __enter__(self) -> IngressSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            unread = {remote: rx for local, remote, rx, _ in _tcp_sockets() if local == self.broker_port}
            for name, ports in self.peers.items():
                self.peak[name] = max(self.peak[name], *(unread.get(port, 0) for port in ports), 0)
