"""What a device is configured to be: mode, store, broker, languages, idle timeout and display preferences."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEVICE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{1,63}")
TEXT_SCALES = (1.0, 1.3, 1.6)
IDLE_CHOICES = (30.0, 60.0, 90.0, 120.0, 180.0, 300.0)
DEFAULT_PIN = "2468"  # demo only; a deployment sets its own with --staff-pin or settings.json


class Mode(StrEnum):
    """Who uses the device and on what kind of screen."""

    KIOSK = "kiosk"  # landscape touchscreen in the store, shared by shoppers
    PHONE = "phone"  # a shopper's own phone, portrait, one-handed
    STAFF = "staff"  # a staff phone: restock, stock adjustment, enrolment, settings


class ConfigError(ValueError):
    """A configuration value is not acceptable."""


def hash_pin(pin: str, salt: str | None = None) -> str:
    """``salt$sha256`` of a staff PIN, so settings files never hold the PIN itself."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), 50_000).hex()
    return f"{salt}${digest}"


def pin_matches(pin: str, stored: str) -> bool:
    """Constant-time check of a PIN against ``hash_pin`` output."""
    salt, _, _digest = stored.partition("$")
    return bool(salt) and hmac.compare_digest(hash_pin(pin, salt), stored)


@dataclass(frozen=True)
class KioskConfig:
    """Everything the app needs to start; the settings screen changes the persisted part."""

    mode: Mode = Mode.KIOSK
    broker: str = "mqtt://127.0.0.1:1883"
    store: str = "sthlm-city"
    device_id: str = ""
    data_dir: Path = Path("var/kiosk")
    images: Path | None = None  # a folder of images that stands in for the camera
    images_fps: float = 15.0  # how fast the folder is replayed
    camera: int | None = 0
    language: str | None = None  # None: the store's own language
    text_scale: float = 1.0
    high_contrast: bool = False
    idle_timeout: float = 90.0
    idle_warning: float = 15.0
    staff_pin_hash: str = field(default_factory=lambda: hash_pin(DEFAULT_PIN, "aisle-demo"))
    staff_badge_keys: tuple[str, ...] = ()  # sha256 of badge keys accepted offline; empty: any badge of this store
    product_images: tuple[Path, ...] = ()
    recognition_model: Path | None = None  # None: vision.recognition's default under assets/models
    base_url: str = "https://aisle.example"
    width: int = 0
    height: int = 0

    @property
    def settings_path(self) -> Path:
        """Where the settings screen saves its choices."""
        return self.data_dir / "settings.json"

    @property
    def is_shopper(self) -> bool:
        """Kiosk and phone serve shoppers; staff mode serves staff."""
        return self.mode is not Mode.STAFF

    def window_size(self) -> tuple[int, int]:
        """Window size on a desktop: landscape for the kiosk, a phone's portrait otherwise."""
        if self.width and self.height:
            return self.width, self.height
        return (1280, 800) if self.mode is Mode.KIOSK else (420, 860)


PERSISTED = ("language", "text_scale", "high_contrast", "idle_timeout", "store", "broker", "staff_pin_hash")


def validate(config: KioskConfig) -> KioskConfig:
    """Check values a person typed; raises ConfigError with a reason."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,31}", config.store):
        raise ConfigError(f"bad store id {config.store!r}")
    if not config.broker.startswith(("mqtt://", "mqtts://")):
        raise ConfigError(f"broker must be mqtt:// or mqtts://, got {config.broker!r}")
    if config.device_id and not DEVICE_RE.fullmatch(config.device_id):
        raise ConfigError(f"bad device id {config.device_id!r}")
    if config.idle_timeout and config.idle_warning >= config.idle_timeout:
        raise ConfigError("the idle warning must be shorter than the idle timeout")
    return config


def load_settings(config: KioskConfig) -> KioskConfig:
    """Overlay the saved settings (settings.json in the data folder) on the command-line configuration."""
    path = config.settings_path
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return config
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings %s: %s", path, exc)
        return config
    known = {f.name for f in fields(KioskConfig)}
    values = {k: v for k, v in saved.items() if k in PERSISTED and k in known}
    try:
        return validate(replace(config, **values))
    except (ConfigError, TypeError) as exc:
        log.warning("ignoring settings %s: %s", path, exc)
        return config


def save_settings(config: KioskConfig) -> None:
    """Persist the settings-screen part of the configuration atomically."""
    data = {k: v for k, v in asdict(config).items() if k in PERSISTED}
    config.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = config.settings_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, config.settings_path)


def stable_device_id(config: KioskConfig) -> str:
    """This device's id, made once and kept: the order outbox relies on it across restarts."""
    if config.device_id:
        return config.device_id
    path = config.data_dir / "device-id"
    try:
        text = path.read_text(encoding="utf-8").strip()
        if DEVICE_RE.fullmatch(text):
            return text
    except FileNotFoundError:
        pass
    device = f"{config.mode.value}-{secrets.token_hex(4)}"
    config.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(device + "\n", encoding="utf-8")
    return device


def as_dict(config: KioskConfig) -> dict[str, Any]:
    """JSON-friendly view for logs and the harness (no secrets)."""
    data = asdict(config)
    data.pop("staff_pin_hash", None)
    data.pop("staff_badge_keys", None)
    return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}
