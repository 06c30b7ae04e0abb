"""Accuracy of a recogniser on a dataset list: top-1/top-5 (fine and coarse), unknown rate and latency."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from vision.recognition.catalog import CatalogProduct
from vision.recognition.dataset import ClassInfo, Sample
from vision.recognition.errors import DatasetError, FrameError
from vision.recognition.images import read_image_bgr
from vision.recognition.recognizer import Recognizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalReport:
    """Fractions in 0..1 over the listed images; ms is the median recognise time per image (decode excluded)."""

    images: int
    unreadable: int
    top1: float
    top5: float
    coarse_top1: float
    coarse_top5: float
    accepted_top1: float
    unknown_rate: float
    ms_median: float
    ms_p90: float

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON."""
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable summary; the last line is machine-readable `top1=… top5=… ms=…`."""
        return [
            f"images: {self.images} ({self.unreadable} unreadable, counted as wrong)",
            f"fine:   top-1 {self.top1:.1%}  top-5 {self.top5:.1%}",
            f"coarse: top-1 {self.coarse_top1:.1%}  top-5 {self.coarse_top5:.1%}",
            f"unknown rate {self.unknown_rate:.1%}; top-1 correct and accepted {self.accepted_top1:.1%}",
            f"latency: median {self.ms_median:.2f} ms, p90 {self.ms_p90:.2f} ms per image",
            f"top1={self.top1:.4f} top5={self.top5:.4f} ms={self.ms_median:.2f}",
        ]


def sku_to_class(classes: Sequence[ClassInfo], products: dict[str, CatalogProduct]) -> dict[str, ClassInfo]:
    """Gallery SKU -> dataset class, through each class name being a catalogue vision_label."""
    by_name = {c.name: c for c in classes}
    return {p.sku: by_name[label] for label, p in products.items() if label in by_name}


def evaluate(
    recognizer: Recognizer,
    samples: Sequence[Sample],
    classes: Sequence[ClassInfo],
    products: dict[str, CatalogProduct],
    k: int = 5,
    progress: bool = True,
) -> EvalReport:
    """Recognise every sample against the recogniser's gallery and score the ranking."""
    mapping = sku_to_class(classes, products)
    missing = set(recognizer.gallery.skus()) - set(mapping)
    if missing:
        log.warning("%d gallery products have no dataset class (never counted correct): %s", len(missing),
                    sorted(missing)[:5])
    if not mapping:
        raise DatasetError("no gallery product maps to a dataset class (check the catalogue's vision_label)")
    hits = np.zeros((len(samples), 5), dtype=bool)  # top1, top5, coarse top1, coarse top5, accepted top1
    unknown = np.zeros(len(samples), dtype=bool)
    times: list[float] = []
    unreadable = 0
    for i, sample in enumerate(tqdm(samples, desc="evaluate", unit="img", disable=not progress)):
        try:
            frame = read_image_bgr(sample.path)
        except FrameError as exc:
            log.warning("%s", exc)
            unreadable += 1
            unknown[i] = True
            continue
        start = time.perf_counter()
        result = recognizer.recognize(frame, k)
        times.append((time.perf_counter() - start) * 1000)
        ranked = [mapping.get(m.sku) for m in result.matches]
        fine = [c.fine_id if c else -1 for c in ranked]
        coarse = [c.coarse_id if c else -1 for c in ranked]
        hits[i, 0] = bool(fine) and fine[0] == sample.fine_id
        hits[i, 1] = sample.fine_id in fine[:5]
        hits[i, 2] = bool(coarse) and coarse[0] == sample.coarse_id
        hits[i, 3] = sample.coarse_id in coarse[:5]
        hits[i, 4] = hits[i, 0] and not result.unknown
        unknown[i] = result.unknown
    rates = hits.mean(axis=0) if len(samples) else np.zeros(5)
    ms = np.array(times) if times else np.zeros(1)
    return EvalReport(
        images=len(samples),
        unreadable=unreadable,
        top1=float(rates[0]),
        top5=float(rates[1]),
        coarse_top1=float(rates[2]),
        coarse_top5=float(rates[3]),
        accepted_top1=float(rates[4]),
        unknown_rate=float(unknown.mean()) if len(samples) else 0.0,
        ms_median=float(np.median(ms)),
        ms_p90=float(np.percentile(ms, 90)),
    )
