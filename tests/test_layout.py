"""Architecture rules: imports point one way, only the kiosk draws, modules stay small."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kiosk", "edge", "vision", "mqtt", "backend", "codes", "storage", "assets", "driver")
# What each package may import from the project (besides itself); docs/architecture.md says why.
ALLOWED = {
    "kiosk": {"edge", "vision", "mqtt", "codes", "assets"},
    "edge": {"mqtt", "codes", "storage", "assets"},
    "backend": {"mqtt", "codes", "storage", "assets"},
    "vision": {"codes", "assets"},
    "mqtt": {"codes"},
    "codes": set(),
    "storage": set(),
    "assets": set(),
    # The test driver runs inside the app process (tests, make demo, bench); it is not shipped.
    "driver": {"kiosk", "edge", "vision", "mqtt", "codes", "assets"},
}
# Third-party modules that only some packages may use.
RESTRICTED = {"kivy": {"kiosk", "driver"}, "paho": {"mqtt"}, "amqtt": {"mqtt"}, "biip": {"codes"}}


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
    return [(pkg, path) for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py"))
            if "__pycache__" not in path.parts]


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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path, known: set[str]) -> set[str]:
    """The project modules one module imports (anywhere: in functions and for type hints too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            # "from a.b import c" imports module a.b.c when there is one, else a name of a.b.
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_import_cycles() -> None:
    paths = {_module_name(path): path for _, path in modules()}
    known = set(paths)
    # A package's __init__ importing its own submodules is how packages re-export; not a cycle of design.
    graph = {name: {dep for dep in project_imports(path, known) if not name or not dep.startswith(name + ".")
                    or path.name != "__init__.py"}
             for name, path in paths.items()}
    cycles = import_cycles(graph)
    assert not cycles, cycles


def test_cycle_finder_finds_a_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_product_code_never_names_the_shared_data() -> None:
    """Dataset paths come from the command line or configuration, never from product modules."""
    named = [str(path.relative_to(ROOT)) for pkg, path in modules() if pkg != "driver"
             and "../shared" in (text := path.read_text(encoding="utf-8")) or "shared/data" in text]
    assert not named, named


# The shipped app must not carry its test driver (it would go into the Android package).
DRIVER_MODULES = ("kivy.tests", "driver")


@pytest.mark.parametrize("path", [p for pkg, p in modules() if pkg == "kiosk"], ids=_id)
def test_shipped_app_never_imports_the_test_driver(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    bad = {n for n in names if any(n == m or n.startswith(m + ".") for m in DRIVER_MODULES) or "harness" in n}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
