"""Dependencies per role: the backend needs no Kivy, each extra is pinned in constraints.txt, the driver never ships."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Modules the backend never imports to start or to answer --help: the device's ([kiosk]) and the charts' ([report]);
# amqtt comes with [backend] but is imported only when `serve` runs its own embedded broker.
NOT_BACKEND = ("kivy", "cv2", "PIL", "pyzbar", "zxingcpp", "ai_edge_litert", "bidi", "arabic_reshaper",
               "matplotlib", "amqtt")
# Imports every backend module and runs `backend serve --help`, then prints what got imported.
BACKEND_IMPORTS = """
import contextlib, pkgutil, runpy, sys
import backend
for info in pkgutil.walk_packages(backend.__path__, "backend."):
    if info.name != "backend.__main__":
        __import__(info.name)
sys.argv = ["backend", "serve", "--help"]
with contextlib.redirect_stdout(None), contextlib.suppress(SystemExit):
    runpy.run_module("backend", run_name="__main__")
print("\\n".join(sorted(sys.modules)))
"""


def constraints() -> dict[str, str]:
    """Canonical name -> pinned version from constraints.txt."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert not line.startswith("-"), f"constraints.txt is for exact pins only: {line}"
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_backend_imports_nothing_of_the_kiosk_roles() -> None:
    result = subprocess.run([sys.executable, "-c", BACKEND_IMPORTS], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    modules = result.stdout.split()
    assert "backend.service" in modules and "backend.cli" in modules
    leaked = sorted({m for m in modules if m.split(".")[0] in NOT_BACKEND})
    assert not leaked, f"the backend imports packages of other roles: {leaked}"


def test_every_requirement_of_every_role_is_pinned_within_its_bounds() -> None:
    pins = constraints()
    project = PYPROJECT["project"]
    roles = {"base": project["dependencies"], **project["optional-dependencies"]}
    assert {"kiosk", "phone", "backend", "demo", "report", "train", "dev"} <= set(roles)
    for role, requirements in roles.items():
        if role == "train":
            continue  # pinned exactly in pyproject.toml; too big for the test venv
        for text in requirements:
            req = Requirement(text)
            if canonicalize_name(req.name) == "aisle":
                assert req.extras <= set(roles), f"[{role}] refers to an unknown extra: {text}"
                continue
            name = canonicalize_name(req.name)
            assert name in pins, f"[{role}] {req.name} is not pinned in constraints.txt"
            assert req.specifier.contains(pins[name], prereleases=True), \
                f"[{role}] {text}: constraints.txt pins {pins[name]}"
            assert any(spec.operator in ("<", "==") for spec in req.specifier), \
                f"[{role}] {text} has no upper bound"


def test_the_dev_extra_holds_every_role_but_training() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    included: set[str] = set()
    for text in extras["dev"]:
        req = Requirement(text)
        if canonicalize_name(req.name) == "aisle":
            included |= req.extras
    assert included >= set(extras) - {"dev", "train"}


def test_the_new_packages_ship_and_the_test_driver_does_not() -> None:
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {"codes*", "storage*", "assets*"} <= set(include)
    assert not any(pattern.startswith("driver") for pattern in include)
    # buildozer copies every folder of source.dir that is not excluded: include_patterns only add files back.
    spec = (ROOT / "buildozer.spec").read_text(encoding="utf-8")
    excluded = next(line for line in spec.splitlines() if line.startswith("source.exclude_dirs")).split("=")[1]
    assert {"driver", "tests", "bench", "backend"} <= {name.strip() for name in excluded.split(",")}
