"""Scoring decoders against labelled photo folders (NAME.png + NAME.txt); used by tests and bench."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codes.gtin import expand_upce, gtin_from_element_string, normalize_gtin
from vision.images import ImageLoadError, is_image_path, load_image

NO_CODE_SETS = frozenset({"falsepositives-1"})

# Labels that disagree with what is printed in the photo. Both photos show the EAN-13
# 9784872348880 (digits under the bars, check digit valid, both libraries agree); the label
# files say 9780804816632 (the ISBN of another book in the same set) and " 9780804816632".
LABEL_ERRATA: dict[tuple[str, str], str] = {
    ("ean13-2", "23.webp"): "9784872348880",
    ("ean13-2", "28.webp"): "9784872348880",
}
# Photos holding a second genuine symbol besides the labelled one: reading it is no misread.
EXTRA_SYMBOLS: dict[tuple[str, str], frozenset[str]] = {
    ("qrcode-2", "16.webp"): frozenset({"[外側QRコード]\r\n \r\n*ﾀﾞﾌﾞﾙQR*\r\nhttp://d-qr.net/ex/"}),
}

Read = tuple[str, "str | None"]  # (text, GTIN-14 or None)
# GS1 DataBar sets labelled with the bare GTIN-14; a read is their element string "(01)" + GTIN.
GTIN_LABEL_SETS = ("rss14",)
_HRI_AI_RE = re.compile(r"\((\d{2,4})\)")


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled photo; expected is None for photos without any code."""

    set_name: str
    path: Path
    expected: str | None

    @property
    def retail(self) -> bool:
        """True for EAN/UPC sets, which are compared as GTIN-14."""
        return self.set_name.startswith(("ean", "upc"))


@dataclass(slots=True)
class SetScore:
    """Counts and timings of one decoder on one folder."""

    name: str
    images: int = 0
    correct: int = 0
    misread: int = 0
    false_positive: int = 0
    times_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        """Median decode time per image."""
        return statistics.median(self.times_ms) if self.times_ms else 0.0

    @property
    def p95_ms(self) -> float:
        """95th percentile decode time (nearest rank)."""
        if not self.times_ms:
            return 0.0
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def read_label(image_path: Path) -> str | None:
    """Expected text from NAME.txt beside the image, byte-exact (CR LF kept)."""
    label = image_path.with_suffix(".txt")
    if not label.is_file():
        return None
    return label.read_bytes().decode("utf-8")


def load_samples(root: Path, sets: Iterable[str] | None = None) -> dict[str, list[Sample]]:
    """Labelled samples per set folder, sorted; errata applied."""
    wanted = set(sets) if sets is not None else None
    out: dict[str, list[Sample]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is not None and folder.name not in wanted:
            continue
        samples = []
        for img in sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p)):
            expected = LABEL_ERRATA.get((folder.name, img.name), read_label(img))
            if expected is None and folder.name not in NO_CODE_SETS:
                continue
            samples.append(Sample(folder.name, img, expected))
        out[folder.name] = samples
    return out


def gtin_of_text(text: str, upce_first: bool = False) -> str | None:
    """GTIN-14 of a raw retail read (EAN-13/8, UPC-A, or 8-digit UPC-E), else None.

    Eight digits are read as EAN-8 first unless ``upce_first`` (a UPC-E set's label), since many are valid as both.
    """
    digits = text.strip()
    gtin = None if upce_first and len(digits) == 8 else normalize_gtin(digits)
    if gtin is None and len(digits) == 8:
        upca = expand_upce(digits)
        gtin = normalize_gtin(upca) if upca is not None else None
    return gtin


def matches(sample: Sample, read: Read) -> bool:
    """True when a read is the labelled symbol (GTIN-14 for retail sets, exact text otherwise)."""
    if sample.expected is None:
        return False
    text, gtin = read
    if sample.retail:
        want = gtin_of_text(sample.expected, upce_first=sample.set_name.startswith("upce"))
        return want is not None and (gtin or gtin_of_text(text)) == want
    if sample.set_name.startswith(GTIN_LABEL_SETS):
        return (gtin or gtin_from_element_string(text)) == sample.expected.strip()
    if sample.expected.startswith("(") and _HRI_AI_RE.match(sample.expected):
        return flat_element_string(text) == _HRI_AI_RE.sub(r"\1", sample.expected.strip())
    return text == sample.expected


def flat_element_string(text: str) -> str:
    """A GS1 element string without its GS separators, to compare with a bracketed ``(AI)value`` label.

    Comparing without the separators keeps the label check independent of any GS1 parser (the parser is
    under test, and some labels break GS1's rules on purpose); only where a variable-length field ends is lost.
    """
    return text.replace("\x1d", "")


def score_set(
    name: str,
    samples: list[Sample],
    read: Callable[[np.ndarray], list[Read]],
    images: dict[Path, np.ndarray],
    repeat: int = 1,
) -> SetScore:
    """Run one decoder over one set; `images` caches pixels; time is the fastest of `repeat` runs."""
    score = SetScore(name)
    for sample in samples:
        try:
            pixels = images[sample.path] if sample.path in images else load_image(sample.path)
        except ImageLoadError as exc:
            score.failures.append(f"{sample.path.name}: {exc}")
            continue
        images[sample.path] = pixels
        best = float("inf")
        reads: list[Read] = []
        for i in range(max(1, repeat)):
            t0 = time.perf_counter()
            got = read(pixels)
            best = min(best, (time.perf_counter() - t0) * 1000)
            if i == 0:
                reads = got
        score.times_ms.append(best)
        score.images += 1
        if sample.expected is None:
            if reads:
                score.false_positive += 1
                score.failures.append(f"{sample.path.name}: false positive {reads!r}")
            continue
        extras = EXTRA_SYMBOLS.get((sample.set_name, sample.path.name), frozenset())
        hit = any(matches(sample, r) for r in reads)
        wrong = [r for r in reads if not matches(sample, r) and r[0] not in extras]
        score.correct += hit
        if wrong:
            score.misread += 1
            score.failures.append(f"{sample.path.name}: misread {wrong!r}")
        elif not hit:
            score.failures.append(f"{sample.path.name}: not read")
    return score


def combined_reads(decoder: Callable[[np.ndarray], list]) -> Callable[[np.ndarray], list[Read]]:
    """Adapter: a vision decoder (returns Symbols) as a Read function."""
    return lambda pixels: [(s.text, s.gtin) for s in decoder(pixels)]


def raw_zxing_reads(pixels: np.ndarray) -> list[Read]:
    """zxing-cpp as an app would call it: all formats, defaults, plain text (GS1 separators kept)."""
    import zxingcpp

    return [(b.text, None) for b in zxingcpp.read_barcodes(pixels, text_mode=zxingcpp.TextMode.Plain)]


def raw_pyzbar_reads(pixels: np.ndarray) -> list[Read]:
    """pyzbar as an app would call it: all symbologies, payload decoded as UTF-8."""
    from pyzbar import pyzbar

    return [(s.data.decode("utf-8", "replace"), None) for s in pyzbar.decode(pixels)]
