"""What a device is configured to be: mode, store, broker, languages, idle timeout and display preferences."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from codes import ids
from codes.scanned import IntentConfig
from edge.settings import DeviceSettings
from mqtt.badges import demo_public_key
from mqtt.credentials import (
    CA_FILE,
    Provisioning,
    ProvisioningError,
    broker_with_ca,
    hash_pin,
    parse_provisioning,
    write_private,
    write_public,
)
from mqtt.enrolment import PhoneCredentials
from mqtt.payloads import DeviceRole
from mqtt.url import BrokerUrl, mask_url, parse_broker_url, strip_password

log = logging.getLogger(__name__)

DEVICE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{1,63}")
TEXT_SCALES = (1.0, 1.3, 1.6)
IDLE_CHOICES = (30.0, 60.0, 90.0, 120.0, 180.0, 300.0)
DEMO_PIN = "2468"  # only with --demo; a production device gets its store's PIN hash from provisioning
PROVISIONING_FILE = "provisioning.json"
PHONE_LOGIN_FILE = "phone-login.json"  # a shopper phone's own broker login, from a kiosk's enrolment code


class Mode(StrEnum):
    """Who uses the device and on what kind of screen."""

    KIOSK = "kiosk"  # landscape touchscreen in the store, shared by shoppers
    PHONE = "phone"  # a shopper's own phone, portrait, one-handed
    STAFF = "staff"  # a staff phone: restock, stock adjustment, enrolment, settings


class ConfigError(ValueError):
    """A configuration value is not acceptable."""


@dataclass(frozen=True)
class KioskConfig:
    """Everything the app needs to start; the settings screen changes the persisted part."""

    mode: Mode = Mode.KIOSK
    broker: str = field(default="mqtt://127.0.0.1:1883", repr=False)  # may carry a password: see as_dict
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
    # Staff sign-in exists only with these, from provisioning (or --demo): no PIN or key is built in.
    staff_pin_hash: str = field(default="", repr=False)
    badge_public_key: str = ""  # the store's Ed25519 key that signs staff badges
    broker_username: str = ""  # the provisioned broker login
    broker_password: str = field(default="", repr=False)
    provisioned: bool = False
    demo: bool = False
    product_images: tuple[Path, ...] = ()
    product_dataset: Path | None = None  # the Grocery Store Dataset, for its iconic photos (never a default path)
    recognition_model: Path | None = None  # None: vision.recognition's default under assets/models
    base_url: str = "https://aisle.example"
    width: int = 0
    height: int = 0

    @property
    def settings_path(self) -> Path:
        """Where the settings screen saves its choices."""
        return self.data_dir / "settings.json"

    @property
    def provisioning_path(self) -> Path:
        """Where the device keeps its provisioning (mode 0600)."""
        return self.data_dir / PROVISIONING_FILE

    @property
    def phone_login_path(self) -> Path:
        """Where a shopper phone keeps the broker login it got for a kiosk's enrolment code (mode 0600)."""
        return self.data_dir / PHONE_LOGIN_FILE

    @property
    def staff_enabled(self) -> bool:
        """Whether staff can sign in here at all: only a provisioned (or demo) device knows how to check them."""
        return bool(self.staff_pin_hash or self.badge_public_key)

    @property
    def is_shopper(self) -> bool:
        """Kiosk and phone serve shoppers; staff mode serves staff."""
        return self.mode is not Mode.STAFF

    def window_size(self) -> tuple[int, int]:
        """Window size on a desktop: landscape for the kiosk, a phone's portrait otherwise."""
        if self.width and self.height:
            return self.width, self.height
        return (1280, 800) if self.mode is Mode.KIOSK else (420, 860)

    def device_settings(self, device_id: str) -> DeviceSettings:
        """What the device core needs of this configuration (``device_id``: see ``stable_device_id``)."""
        never_idle = self.mode is Mode.PHONE or self.idle_timeout <= 0  # a phone is its owner's: no idle reset
        return DeviceSettings(broker_url(self), self.store, device_id, self.data_dir, DeviceRole(self.mode.value),
                              idle_timeout=None if never_idle else self.idle_timeout, idle_warning=self.idle_warning,
                              code_config=self.code_config())

    def code_config(self) -> IntentConfig:
        """Which links are this store's own: the scan router and the device core read codes alike."""
        return IntentConfig(base_urls=(self.base_url,))


PERSISTED = ("language", "text_scale", "high_contrast", "idle_timeout", "store", "broker")


def validate(config: KioskConfig) -> KioskConfig:
    """Check values a person typed; raises ConfigError with a reason."""
    if not ids.STORE_ID_RE.fullmatch(config.store):
        raise ConfigError(f"bad store id {config.store!r}")
    if not config.broker.startswith(("mqtt://", "mqtts://")):
        raise ConfigError(f"broker must be mqtt:// or mqtts://, got {mask_url(config.broker)!r}")
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
    """Persist the settings-screen part of the configuration atomically (never a broker password)."""
    data = {k: v for k, v in asdict(config).items() if k in PERSISTED}
    data["broker"] = strip_password(config.broker)
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
    """JSON-friendly view for logs (no secrets)."""
    data = asdict(config)
    data.pop("staff_pin_hash", None)
    data.pop("broker_password", None)
    data["broker"] = mask_url(config.broker)
    return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


def broker_url(config: KioskConfig) -> BrokerUrl:
    """Where and as whom to connect: the provisioned login wins over the URL's and the environment's."""
    url = parse_broker_url(config.broker)
    if config.broker_username:
        url = replace(url, username=config.broker_username, password=config.broker_password or None)
    return url


def demo_config(config: KioskConfig) -> KioskConfig:
    """``--demo``: the demo's staff PIN and badge key, which only demo badges are signed with."""
    return replace(config, demo=True, staff_pin_hash=hash_pin(DEMO_PIN, "aisle-demo"),
                   badge_public_key=demo_public_key())


def install_provisioning(config: KioskConfig, source: Path) -> Provisioning:
    """Check a provisioning file (or a provisioning QR's text in a file) and keep it in the data folder."""
    try:
        data = parse_provisioning(source.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    except ProvisioningError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    write_private(config.provisioning_path, data.to_json())
    if data.broker_ca:
        write_public(config.data_dir / CA_FILE, data.broker_ca)
    return data


def _provisioned_broker(config: KioskConfig, data: Provisioning) -> str:
    """The provisioned broker URL, checked with the provisioned CA (kept as ca.crt beside the provisioning)."""
    if not data.broker_ca:
        return data.broker  # an older provisioning: the URL's ca= file, or the system's CAs
    path = (config.data_dir / CA_FILE).resolve()
    try:
        current = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        current = ""
    if current != data.broker_ca:  # deleted or changed by hand: provisioning is the truth
        try:
            write_public(path, data.broker_ca)
        except OSError as exc:
            raise ConfigError(f"cannot write the broker's CA certificate {path}: {exc.strerror}") from None
    return broker_with_ca(data.broker, path)


def load_provisioning(config: KioskConfig) -> KioskConfig:
    """Overlay the device's provisioning, if it has one, on the defaults."""
    path = config.provisioning_path
    try:
        data = parse_provisioning(path.read_bytes())
    except FileNotFoundError:
        return config
    except (OSError, ProvisioningError) as exc:
        raise ConfigError(f"unusable provisioning {path}: {exc}") from None
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # it holds the broker password: nobody else may read it
    return replace(config, store=data.store, device_id=data.device, broker=_provisioned_broker(config, data),
                   broker_username=data.username, broker_password=data.password,
                   staff_pin_hash=data.staff_pin_hash, badge_public_key=data.badge_public_key, provisioned=True)


def _with_phone_login(config: KioskConfig, credentials: PhoneCredentials) -> KioskConfig:
    # The broker pins the client id to the login and grants the phone's topics by that name: device id = login.
    return replace(config, store=credentials.store, device_id=credentials.device,
                   broker_username=credentials.device, broker_password=credentials.password)


def save_phone_login(config: KioskConfig, credentials: PhoneCredentials) -> KioskConfig:
    """Keep a shopper phone's own broker login (0600, like provisioning) and return the config that uses it."""
    write_private(config.phone_login_path, credentials.model_dump_json(indent=2) + "\n")
    log.info("this phone is now %s in store %s", credentials.device, credentials.store)
    return _with_phone_login(config, credentials)


def load_phone_login(config: KioskConfig) -> KioskConfig:
    """Overlay a shopper phone's own broker login, if it enrolled at a kiosk (provisioned devices have their own)."""
    if config.mode is not Mode.PHONE or config.provisioned:
        return config
    path = config.phone_login_path
    try:
        credentials = PhoneCredentials.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return config
    except (OSError, ValidationError) as exc:
        # The phone can enrol again at any kiosk; a pydantic message could quote the password, so it is not logged.
        log.warning("ignoring unusable phone login %s (%s): scan a kiosk's code again", path, type(exc).__name__)
        return config
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return _with_phone_login(config, credentials)
