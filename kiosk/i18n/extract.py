"""Find every translatable message in the app's .py and .kv files; ``python -m kiosk.i18n.extract`` writes the .pot.

Messages are the string arguments of ``_()`` / ``tr._()`` and the two strings of ``n_()`` / ``tr.n_()``.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

KIOSK = Path(__file__).resolve().parents[1]
_KV_CALL = re.compile(r"""tr\._\(\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*\)""")


@dataclass(frozen=True, order=True)
class Message:
    """One message id (and its plural form, if any)."""

    msgid: str
    plural: str | None = None


def from_python(path: Path) -> set[Message]:
    """Messages in one Python file."""
    found: set[Message] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else "")
        strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if name == "_" and len(strings) == 1:
            found.add(Message(strings[0]))
        elif name == "n_" and len(strings) == 2:
            found.add(Message(strings[0], strings[1]))
    return found


def from_kv(path: Path) -> set[Message]:
    """Messages in one kv file."""
    return {Message(ast.literal_eval(m.group(1))) for m in _KV_CALL.finditer(path.read_text(encoding="utf-8"))}


def messages(root: Path = KIOSK) -> list[Message]:
    """Every message of the app, sorted."""
    found: set[Message] = set()
    for path in root.rglob("*.py"):
        found |= from_python(path)
    for path in root.rglob("*.kv"):
        found |= from_kv(path)
    return sorted(found)


def write_pot(path: Path) -> int:
    """Write the template catalogue; returns the number of messages."""
    catalog = Catalog(project="Aisle kiosk", charset="utf-8")
    for message in messages():
        catalog.add((message.msgid, message.plural) if message.plural else message.msgid)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=120, omit_header=False)
    return len(catalog)


if __name__ == "__main__":
    target = KIOSK / "i18n" / "locale" / "kiosk.pot"
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"{write_pot(target)} messages written to {target}", file=sys.stderr)
