"""Architecture rules: imports point one way, only the kiosk draws, modules stay small."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kiosk", "edge", "vision", "mqtt", "backend")
# What each package may import from the project (besides itself).
ALLOWED = {
    "kiosk": {"edge", "vision", "mqtt"},
    "edge": {"mqtt"},
    "backend": {"mqtt"},
    "vision": set(),
    "mqtt": set(),
}
# Third-party modules that only some packages may use.
RESTRICTED = {"kivy": {"kiosk"}, "paho": {"mqtt"}, "amqtt": {"mqtt"}}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py"))]


def _id(value: object) -> str:
    return str(value.relative_to(ROOT)) if isinstance(value, Path) else str(value)


@pytest.mark.parametrize("package,path", modules(), ids=_id)
def test_imports_point_one_way(package: str, path: Path) -> None:
    roots = imported_roots(path)
    forbidden = (roots & set(PACKAGES)) - ALLOWED[package] - {package}
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"
    for module, owners in RESTRICTED.items():
        assert module not in roots or package in owners, f"{path.relative_to(ROOT)} imports {module}"


def test_rule_detects_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import kivy\nfrom backend.db import Store\n")
    assert {"kivy", "backend"} <= imported_roots(bad)


def test_no_module_over_500_lines() -> None:
    long = [f"{p.relative_to(ROOT)} ({n})" for _, p in modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500]
    assert not long, long
