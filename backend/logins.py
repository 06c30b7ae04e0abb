"""The logins `broker-config` writes to devices.csv, read back by the commands that connect with them."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from backend.broker_config import BACKEND_USER, DeviceLogin
from codes import ids
from mqtt.url import BrokerUrl

COLUMNS = ("device", "store", "role", "password")


class LoginsError(ValueError):
    """The credentials file is missing, malformed, or lacks a login a command needs."""


@dataclass(frozen=True)
class BackendUrls:
    """One broker address per backend connection, each with a login of its own."""

    backend_id: str
    main: BrokerUrl
    state: BrokerUrl
    admin: BrokerUrl | None


def read_logins(path: Path) -> list[DeviceLogin]:
    """Every row of a devices.csv file; raises LoginsError naming the line of a bad row."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) [: len(COLUMNS)] != COLUMNS:
                raise LoginsError(f"{path}: expected the columns {', '.join(COLUMNS)}")
            logins = []
            for row in reader:
                try:
                    login = DeviceLogin(ids.device_id(row["device"] or ""), row["store"] or "", row["role"] or "",
                                        row["password"] or "")
                except (ValueError, TypeError) as exc:
                    raise LoginsError(f"{path}:{reader.line_num}: {exc}") from None
                if not login.password:
                    raise LoginsError(f"{path}:{reader.line_num}: {login.device} has no password")
                logins.append(login)
    except OSError as exc:
        raise LoginsError(f"cannot read credentials {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LoginsError(f"{path} is not a UTF-8 CSV file") from None
    return logins


def _with_login(url: BrokerUrl, login: DeviceLogin) -> BrokerUrl:
    return replace(url, username=login.device, password=login.password)


def _check_no_user(url: BrokerUrl) -> None:
    if url.username:
        raise LoginsError("with --credentials the broker URL carries no user: the logins come from the file")


def backend_urls(url: BrokerUrl, logins: list[DeviceLogin], name: str = BACKEND_USER) -> BackendUrls:
    """The backend's connections: ``name`` answers requests, ``name-state`` publishes, ``name-admin`` (if any)
    issues phone logins."""
    _check_no_user(url)
    by_name = {login.device: login for login in logins if login.role == "backend"}
    missing = [n for n in (name, f"{name}-state") if n not in by_name]
    if missing:
        raise LoginsError(f"the credentials have no backend login {' or '.join(missing)} (rows of role backend: "
                          f"{', '.join(sorted(by_name)) or 'none'})")
    admin = by_name.get(f"{name}-admin")
    return BackendUrls(name, _with_login(url, by_name[name]), _with_login(url, by_name[f"{name}-state"]),
                       _with_login(url, admin) if admin else None)


def tool_url(url: BrokerUrl, logins: list[DeviceLogin], store: str) -> tuple[str, BrokerUrl]:
    """(device id, address) for an admin command-line tool of ``store``: the first admin login of that store."""
    _check_no_user(url)
    for login in logins:
        if login.role == "admin" and login.store == store:
            return login.device, _with_login(url, login)
    raise LoginsError(f"the credentials have no login of role admin for store {store}")
