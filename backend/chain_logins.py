"""The central broker's logins (``logins.csv`` from ``central-config``): one per store bridge, HQ and an observer."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from codes import ids

LOGINS_FILE = "logins.csv"
COLUMNS = ("login", "site", "role", "password")
ROLES = ("bridge", "hq", "observer", "web")
HQ_LOGIN = "hq"
OBSERVER_LOGIN = "observer"
# The password ends up verbatim on a mosquitto.conf line (remote_password): nothing that could end or extend it.
_PASSWORD_RE = re.compile(r"^[A-Za-z0-9_.~+/=-]{16,128}$")


class ChainLoginsError(ValueError):
    """The logins file is missing, malformed, or lacks the login asked for."""


@dataclass(frozen=True)
class ChainLogin:
    """One identity on the central broker."""

    login: str
    site: str  # the store of a bridge, hq for HQ, empty for the observer (it belongs to no site)
    role: str
    password: str = field(repr=False)


def bridge_login(store: str) -> str:
    """The central login of store ``store``'s bridge."""
    return f"bridge-{ids.chain_store_id(store)}"


def write_logins(path: Path, logins: list[ChainLogin]) -> None:
    """Write the logins with their passwords, readable by the owner only."""
    path.touch(mode=0o600)
    path.chmod(0o600)  # before the passwords go in, also when the file was already there
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows([login.login, login.site, login.role, login.password] for login in logins)


def read_logins(path: Path) -> list[ChainLogin]:
    """Every row of a logins.csv; raises ChainLoginsError naming the line of a bad row."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ())[: len(COLUMNS)] != COLUMNS:
                raise ChainLoginsError(f"{path}: expected the columns {', '.join(COLUMNS)}")
            logins = []
            for row in reader:
                login = ChainLogin(row["login"] or "", row["site"] or "", row["role"] or "", row["password"] or "")
                try:
                    ids.device_id(login.login)
                except ids.InvalidIdentifier as exc:
                    raise ChainLoginsError(f"{path}:{reader.line_num}: {exc}") from None
                if login.role not in ROLES:
                    raise ChainLoginsError(f"{path}:{reader.line_num}: unknown role {login.role!r:.20}")
                if not _PASSWORD_RE.fullmatch(login.password):
                    raise ChainLoginsError(f"{path}:{reader.line_num}: {login.login} has no usable password "
                                           "(16-128 characters of A-Z a-z 0-9 _ . ~ + / = -)")
                logins.append(login)
    except OSError as exc:
        raise ChainLoginsError(f"cannot read logins {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ChainLoginsError(f"{path} is not a UTF-8 CSV file") from None
    return logins


def find_login(logins: list[ChainLogin], login: str) -> ChainLogin:
    """The row of ``login``; raises ChainLoginsError when the file has none."""
    for row in logins:
        if row.login == login:
            return row
    raise ChainLoginsError(f"no login {login} in the central logins (was the store in central-config --stores?)")
