"""The generated production broker for bench/abuse.py --production: `backend broker-config`'s TLS, logins, ACLs
and dynamic security plugin, run by a real Mosquitto, with a pool of kiosk logins handed out once each."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from backend.broker_config import DeviceLogin, write_config
from mqtt.brokers import find_mosquitto, free_port, wait_for_port
from mqtt.url import BrokerUrl


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
