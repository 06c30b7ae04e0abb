"""CLI: subcommands register on any parser; evaluate prints the summary line; enrol updates the device gallery."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
from recognition_helpers import val_photos

from vision.recognition.cli import add_subcommands, main

ROOT = Path(__file__).resolve().parents[3]


def test_add_subcommands_registers_train_evaluate_enrol() -> None:
    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command"))
    for argv in (["train", "--out", "x"], ["evaluate", "--root", "r", "--list", "val.txt"],
                 ["enrol", "--data-dir", "d", "--sku", "S", "a.jpg"]):
        args = parser.parse_args(argv)
        assert callable(args.func)


@pytest.mark.parametrize("text,sizes", [("96,112,128,144", (96, 112, 128, 144)), ("128", (128,)), ("5x", None),
                                        ("128,96", None), ("16,32", None), ("", None)])
def test_train_sizes_must_be_increasing_crop_sizes(text: str, sizes: tuple[int, ...] | None) -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_subcommands(parser.add_subparsers(dest="command"))
    if sizes is None:
        with pytest.raises((argparse.ArgumentError, SystemExit)):
            parser.parse_args(["train", "--out", "x", "--sizes", text])
    else:
        assert parser.parse_args(["train", "--out", "x", "--sizes", text]).sizes == sizes


def test_evaluate_prints_summary(committed_model: Path, grocery: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    lines = (grocery / "val.txt").read_text().splitlines()[::25]
    (tmp_path / "few.txt").write_text("\n".join(lines) + "\n")
    assert main(["evaluate", "--root", str(grocery), "--list", str(tmp_path / "few.txt")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("top1=") and " top5=" in out[-1] and " ms=" in out[-1]
    assert "coarse" in "\n".join(out)


def test_evaluate_reports_bad_model(tmp_path: Path, grocery: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nope")
    assert main(["evaluate", "--root", str(grocery), "--list", "val.txt", "--model", str(bad)]) == 1
    assert "error:" in capsys.readouterr().err


def test_enrol_and_remove(committed_model: Path, grocery: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    photos = [str(p) for p in val_photos(grocery, "Lime", "train")[:3]]
    assert main(["enrol", "--data-dir", str(tmp_path), "--sku", "NEW-1", "--label", "New", *photos]) == 0
    assert re.search(r"NEW-1: enrolled from [36] view\(s\)", capsys.readouterr().out)
    assert main(["enrol", "--data-dir", str(tmp_path), "--sku", "NEW-1", "--remove"]) == 0
    assert main(["enrol", "--data-dir", str(tmp_path), "--sku", "NEW-1", "--remove"]) == 1


def test_python_m_vision_evaluate_as_the_issue_states(committed_model: Path, grocery: Path, tmp_path: Path) -> None:
    lines = (grocery / "val.txt").read_text().splitlines()[::40]
    (tmp_path / "few.txt").write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "vision", "evaluate", "--root", str(grocery), "--list",
                           str(tmp_path / "few.txt")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"top1=[0-9.]+ top5=[0-9.]+ ms=[0-9.]+", done.stdout.strip().splitlines()[-1])
    bad = subprocess.run([sys.executable, "-m", "vision", "evaluate", "--root", str(tmp_path), "--list", "nope.txt"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr


def test_module_entry_point_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "vision.recognition", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "evaluate" in done.stdout


def test_train_without_tensorflow_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if the `train` extra were not installed
    monkeypatch.setitem(sys.modules, "keras", None)
    assert main(["train", "--out", str(tmp_path)]) == 2
    assert ".[train]" in capsys.readouterr().err
