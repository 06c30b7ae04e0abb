"""Package boundaries and the documented QR formats staying true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from codes.scanned import Unknown, parse_intent

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "qr-codes.md"


def test_vision_does_not_import_ui_or_messaging_packages() -> None:
    code = (
        "import sys, vision, vision.cli, vision.scanner, vision.labels, vision.sources, vision.wedge, "
        "vision.decode, vision.evaluation\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('kivy', 'paho', 'mqtt', 'backend', 'edge'))\n"
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_wedge_import_stays_light() -> None:
    code = "import sys, vision.wedge; print('cv2' in sys.modules, 'numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False False"


def test_documented_example_payloads_parse_as_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)\(.*?\| `([^`]+)`", text, flags=re.MULTILINE)
    assert len(rows) >= 5
    for intent_name, payload in rows:
        result = parse_intent(payload)
        assert type(result).__name__ == intent_name, (payload, result)
    for block in re.findall(r"```\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            payload = line.split()[0] if line.strip() else ""
            if payload.startswith(("https://aisle.example/", "AISLE-STAFF:", "https://id.gs1.org/")) or (
                payload.isdigit() and len(payload) > 7
            ):
                assert not isinstance(parse_intent(payload), Unknown), payload
