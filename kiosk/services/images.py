"""Where a product's picture is: the catalogue's image path under an asset folder, or the dataset's iconic photo."""

from __future__ import annotations

import csv
import logging
from functools import lru_cache
from pathlib import Path

import assets

log = logging.getLogger(__name__)


class ProductImages:
    """Resolves ``Product.image`` and ``vision_label`` to a local file; None means draw a placeholder."""

    def __init__(self, roots: tuple[Path, ...] = (), dataset: Path | None = None) -> None:
        # dataset: the Grocery Store Dataset's folder, for its iconic photos (--product-dataset); never a default.
        self.roots = tuple(roots) + (assets.path(),)
        self.dataset = dataset if dataset is not None and (dataset / "classes.csv").is_file() else None

    def path(self, image: str, vision_label: str = "") -> str | None:
        """A readable image file for the product, or None."""
        if image and ".." not in Path(image).parts and not Path(image).is_absolute():
            for root in self.roots:
                candidate = root / image
                if candidate.is_file():
                    return str(candidate)
        if vision_label and self.dataset is not None:
            found = _iconic(str(self.dataset)).get(vision_label)
            if found:
                return found
        return None


@lru_cache(maxsize=4)
def _iconic(dataset: str) -> dict[str, str]:
    """Class name -> iconic image path of the Grocery Store Dataset."""
    base = Path(dataset)
    result: dict[str, str] = {}
    try:
        with (base / "classes.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) >= 5 and row[4].startswith("/"):
                    path = base / row[4].lstrip("/")
                    if path.is_file():
                        result[row[0]] = str(path)
    except OSError as exc:
        log.warning("cannot read %s: %s", base / "classes.csv", exc)
    return result
