"""Grocery-style dataset lists (`path, fine_class_id, coarse_class_id`) and their classes.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vision.datasets import GROCERY_ENV, from_env
from vision.recognition.errors import DatasetError


@dataclass(frozen=True)
class ClassInfo:
    """One dataset class: fine id and name, coarse id and name, and its iconic image (if any)."""

    fine_id: int
    name: str
    coarse_id: int
    coarse_name: str
    iconic: Path | None


@dataclass(frozen=True)
class Sample:
    """One listed image and its labels."""

    path: Path
    fine_id: int
    coarse_id: int


def read_classes(path: Path) -> list[ClassInfo]:
    """Parse classes.csv (header row, then name, id, coarse name, coarse id, iconic path, description path)."""
    if not path.is_file():
        raise DatasetError(f"no classes file at {path}")
    root = path.parent
    out: list[ClassInfo] = []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            name, fine, coarse_name, coarse = row[0].strip(), int(row[1]), row[2].strip(), int(row[3])
        except (IndexError, ValueError) as exc:
            raise DatasetError(f"{path}:{lineno}: bad class row {row!r}") from exc
        iconic = root / row[4].strip().lstrip("/") if len(row) > 4 and row[4].strip() else None
        out.append(ClassInfo(fine, name, coarse, coarse_name, iconic))
    out.sort(key=lambda c: c.fine_id)
    if [c.fine_id for c in out] != list(range(len(out))):
        raise DatasetError(f"{path}: class ids are not 0..{len(out) - 1}")
    return out


def resolve_list(root: Path, list_file: str | Path) -> Path:
    """The list file as given, or as a name inside root."""
    candidate = Path(list_file)
    if candidate.is_file():
        return candidate
    inside = root / candidate
    if inside.is_file():
        return inside
    raise DatasetError(f"list file not found: {list_file} (nor {inside})")


def read_list(root: Path, list_path: Path, num_classes: int | None = None) -> list[Sample]:
    """Parse a `path, fine_class_id, coarse_class_id` list; image paths are relative to root."""
    samples: list[Sample] = []
    for lineno, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            rel, fine, coarse = parts[0], int(parts[1]), int(parts[2])
        except (IndexError, ValueError) as exc:
            raise DatasetError(f"{list_path}:{lineno}: expected 'path, fine_id, coarse_id', got {line!r}") from exc
        if num_classes is not None and not 0 <= fine < num_classes:
            raise DatasetError(f"{list_path}:{lineno}: class id {fine} outside 0..{num_classes - 1}")
        samples.append(Sample(root / rel.lstrip("/"), fine, coarse))
    if not samples:
        raise DatasetError(f"{list_path}: no samples")
    return samples


def default_classes_csv(root: Path | None = None) -> Path:
    """classes.csv inside root when present, else the one of the dataset $AISLE_GROCERY names."""
    if root is not None and (root / "classes.csv").is_file():
        return root / "classes.csv"
    dataset = from_env(GROCERY_ENV)
    if dataset is None:
        raise DatasetError(f"no classes.csv in {root}: pass --classes, or name the dataset folder in ${GROCERY_ENV}")
    return dataset / "classes.csv"
