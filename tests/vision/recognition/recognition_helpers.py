"""Paths and photo lookups shared by the recognition tests."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
# tests/vision/recognition -> the repo root is parents[3]; the shared data sits beside the repo.
GROCERY = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "grocery"


def val_photos(grocery: Path, class_name: str, split: str = "val") -> list[Path]:
    """Photos of one class from a split list, in list order."""
    from vision.recognition.dataset import read_classes, read_list

    cid = next(c.fine_id for c in read_classes(grocery / "classes.csv") if c.name == class_name)
    return [s.path for s in read_list(grocery, grocery / f"{split}.txt") if s.fine_id == cid]
