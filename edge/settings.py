"""What a store device is: its broker login, store, id, data folder, role and session rules (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codes import scanned
from mqtt.payloads import DeviceRole
from mqtt.url import BrokerUrl


@dataclass(frozen=True)
class DeviceSettings:
    """Everything the device core needs, built by the kiosk from its configuration or by ``python -m edge``."""

    broker: BrokerUrl  # where, and as whom (the provisioned login wins over the URL's)
    store: str
    device_id: str
    data_dir: Path  # orders, staff actions, "last known at" and, unless ``cache_file`` says otherwise, the cache
    role: DeviceRole = DeviceRole.KIOSK
    idle_timeout: float | None = 90.0  # None: a shopper session never ends by itself (a phone, or turned off)
    idle_warning: float = 15.0
    locale: str | None = None  # None: product names in the store's languages
    code_config: scanned.IntentConfig = scanned.DEFAULT_CONFIG
    cache_file: Path | None = None

    @property
    def cache_path(self) -> Path:
        """The local catalogue and stock cache of this store."""
        return self.cache_file or self.data_dir / f"cache-{self.store}.db"

