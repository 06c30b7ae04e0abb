"""`python -m vision` as a user runs it: scan JSON lines, labels, backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from vision.cli import main

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vision", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
        encoding="utf-8",
    )


def test_scan_prints_one_json_object_per_image_and_survives_bad_files(barcode_dir: Path, tmp_path: Path) -> None:
    qr = tmp_path / "badge.png"
    badge_text = ("AISLE-STAFF:2:eyJiaWQiOiJiX1FtOXZhMnRsWlhCcGJtY3giLCJleHAiOjE4MDM4NTkyMDAsImlhdCI6MTc5NjA4MzIwMCwic3"
                  "RhZmYiOiJhbm5hLmsiLCJzdG9yZSI6InN0aGxtLWNpdHkiLCJ2IjoyfQ."
                  "c4dYLG27JJujzMcEn5CP9Rq8Zre03bgkA4OLcrnnF-Vki-81HcwfHWOMduCbO0Y6VbE2g70Vqq0fjXnP9MQRAw")
    segno.make(badge_text, error="m").save(
        str(qr), scale=6, border=4
    )
    bogus = tmp_path / "broken.jpg"
    bogus.write_bytes(b"\xff\xd8 not a jpeg")
    folder = barcode_dir / "upca-1"
    result = run("scan", str(folder), str(bogus), str(tmp_path / "missing.png"), str(qr))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    images = sorted(p.name for p in folder.iterdir() if p.suffix == ".webp")
    assert [Path(e["path"]).name for e in lines] == [*images, "broken.jpg", "missing.png", "badge.png"]
    first = lines[images.index("2.webp")]
    assert first["symbols"] == [{"format": "UPC_A", "text": "036602301467", "gtin": "00036602301467"}]
    assert first["intents"] == [{"type": "ProductCode", "gtin": "00036602301467"}]
    assert "error" in lines[len(images)] and "error" in lines[len(images) + 1]
    badge = lines[-1]["intents"][0]
    assert badge["type"] == "StaffBadge" and badge["staff_id"] == "anna.k"
    assert badge_text.split(".")[-1] not in result.stdout  # secrets redacted by default


def test_scan_no_code_gives_empty_lists(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160), 255, np.uint8))
    result = run("scan", "--details", str(blank))
    assert result.returncode == 0
    entry = json.loads(result.stdout)
    assert entry["symbols"] == [] and entry["intents"] == [] and "ms" in entry


def test_labels_command_writes_pdf(tmp_path: Path) -> None:
    (tmp_path / "products.csv").write_text(
        "sku,gtins,brand,category,vision_label,unit,image,name_en,name_sv\n"
        "DAI-MILK-1L,2012345678903,Arla,dairy,,1 l,,Milk,Mjölk\n",
        encoding="utf-8",
    )
    (tmp_path / "inventory.csv").write_text("store,sku,price,shelf_location\ns-1,DAI-MILK-1L,16.90,F1\n")
    (tmp_path / "stores.csv").write_text("id,name,kind,currency,locale\ns-1,Store,store,SEK,sv_SE\n")
    out = tmp_path / "out" / "labels.pdf"
    result = run("labels", "--catalog", str(tmp_path / "products.csv"), "--store", "s-1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:5] == b"%PDF-" and "1 labels on 1 page" in result.stderr
    assert main(["labels", "--catalog", str(tmp_path / "products.csv"), "--store", "nope", "--out", str(out)]) == 1


def test_backends_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "zxing-cpp: ok" in out and "pyzbar: ok" in out
    for argv in ([], ["scan", "--formats", "NOPE", "x.png"], ["labels", "--store", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
