"""The combined decoder: backends and preprocessing variants voting on validated reads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from codes.gs1 import GS1_SYMBOLOGY_IDS, Gs1Error, parse_element_string
from codes.gtin import check_digit, compress_upca, expand_upce, gtin_from_element_string, normalize_gtin, retail_text
from vision.decoders import Backend, RawRead, usable_backends
from vision.gate import may_hold_code
from vision.images import to_gray
from vision.symbols import ALL_FORMATS, Format, Point, Symbol
from vision.variants import TRANSFORMS, Variant, VariantCache

log = logging.getLogger(__name__)

# DataBar Omnidirectional/Stacked/Limited carry nothing but (01) and a GTIN.
_GTIN_ONLY = frozenset({Format.DATABAR, Format.DATABAR_LIMITED})
ITF_MIN_DIGITS = 6


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of the fallback chain: a preprocessing variant read by one backend."""

    variant: str
    backend: str


def _pair(variant: str, *backends: str) -> tuple[Stage, ...]:
    return tuple(Stage(variant, b) for b in backends)


_ZX, _ZB, _ZB2, _ZXG = "zxing-cpp", "pyzbar", "pyzbar/2", "zxing-cpp/global"

# Cheap first pass (ZBar on every other line), then variants ordered by how often they
# rescued a hard photo in our sample data; later stages only run while nothing is accepted.
DEFAULT_CHAIN: tuple[Stage, ...] = (
    Stage("original", _ZX),
    Stage("original", _ZB2),
    *_pair("clahe", _ZX, _ZB),
    Stage("original", _ZB),
    *_pair("upscale2-sharpen", _ZX, _ZB),
    *_pair("sharpen", _ZX, _ZB),
    *_pair("upscale1.5", _ZX, _ZB),
    *_pair("otsu", _ZX, _ZB),
    *_pair("adaptive", _ZX, _ZB),
    *_pair("blur", _ZX, _ZB),
    Stage("upscale2", _ZX),
    Stage("blur", _ZXG),
    Stage("downscale2", _ZXG),
    *_pair("rotate45", _ZX, _ZB),
)
# Live video gets another frame soon, so it stops after the cheap passes.
LIVE_CHAIN: tuple[Stage, ...] = DEFAULT_CHAIN[:4]
FIRST_PASS = 2


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How hard to try.

    Retail codes (EAN/UPC) carry a single check digit, so one read is not trusted: a value is
    accepted when both decoder families read it, or when one family reads it in
    `confirmations` different variants and no other retail value was read at the same place
    (UPC-E, the weakest symbology, always needs both families). ITF (no check digit of its own,
    prone to short reads) follows the same rule, and so does a GS1 symbol whose element string
    does not parse (a checksummed symbol, but its data breaks GS1's rules: it needs a second look).
    DataMatrix, QR, Code 128 and DataBar (error correction or a checksum over every character)
    are accepted from one read once validated; DataBar Omnidirectional/Limited must hold a GTIN
    with a valid check digit, and any GS1 symbol starting with (01) a valid GTIN.
    """

    formats: frozenset[Format] = ALL_FORMATS
    chain: tuple[Stage, ...] = DEFAULT_CHAIN
    confirmations: int = 3
    deadline_ms: float | None = None
    # After a first pass that read nothing, skip the fallbacks unless vision.gate sees something code-like.
    gate: bool = True


@dataclass(slots=True)
class DecodeTrace:
    """What one decode call did, for benchmarks and debugging."""

    stages_run: int = 0
    reads: int = 0
    elapsed_ms: float = 0.0
    dropped: list[str] = field(default_factory=list)
    gated: bool = False  # the no-code gate stopped the chain after the first pass


@dataclass(slots=True, eq=False)
class _Candidate:
    key: str
    format: Format
    text: str
    gtin: str | None
    polygon: tuple[Point, ...]
    variant: str
    gs1: bool = False
    doubt: str | None = None  # why a checksummed symbol still needs confirming (a malformed GS1 string)
    families: list[str] = field(default_factory=list)
    variants: set[str] = field(default_factory=set)

    @property
    def weak(self) -> bool:
        """True when one read is not trusted (see DecodeOptions)."""
        return self.format.is_weak or self.doubt is not None


class Decoder:
    """Combines zxing-cpp and ZBar; see DecodeOptions for the acceptance rule."""

    def __init__(self, backends: Sequence[Backend] | None = None, options: DecodeOptions | None = None) -> None:
        self.backends = {b.name: b for b in usable_backends(backends)}
        self.options = options or DecodeOptions()
        missing = {s.backend for s in self.options.chain} - set(self.backends)
        if missing:
            log.info("decoder backends not usable, their stages are skipped: %s", sorted(missing))
        unknown = {s.variant for s in self.options.chain} - set(TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown preprocessing variants: {sorted(unknown)}")

    def decode(self, image: object, formats: frozenset[Format] | None = None) -> list[Symbol]:
        """Validated symbols in the image, top-to-bottom; [] when there are none."""
        return self.decode_with_trace(image, formats)[0]

    def decode_with_trace(
        self, image: object, formats: frozenset[Format] | None = None
    ) -> tuple[list[Symbol], DecodeTrace]:
        """Like decode, plus what was tried."""
        start = time.perf_counter()
        trace = DecodeTrace()
        gray = to_gray(image)
        fmts = frozenset(formats) if formats is not None else self.options.formats
        if gray.size == 0 or not fmts:
            return [], trace
        cache = VariantCache(gray)
        candidates: dict[str, _Candidate] = {}
        stages = [s for s in self.options.chain if s.backend in self.backends]
        deadline = self.options.deadline_ms
        for i, stage in enumerate(stages):
            if i >= FIRST_PASS and deadline is not None and (time.perf_counter() - start) * 1000 > deadline:
                break
            if i == FIRST_PASS and self.options.gate and trace.reads == 0 and not may_hold_code(cache):
                trace.gated = True
                break
            variant = cache.get(stage.variant)
            if variant is None:
                continue
            backend = self.backends[stage.backend]
            for view in self._views(variant, backend, candidates, first_pass=i < FIRST_PASS):
                reads = backend.read(view.image, fmts)
                trace.stages_run += 1
                trace.reads += len(reads)
                for read in reads:
                    self._vote(candidates, read, view, backend, fmts, trace)
            accepted = self._accepted(candidates)
            if accepted and not self._unresolved(candidates, accepted):
                break
        symbols = [self._symbol(c) for c in self._accepted(candidates)]
        symbols.sort(key=lambda s: (s.rect[1], s.rect[0], s.key))
        trace.elapsed_ms = (time.perf_counter() - start) * 1000
        return symbols, trace

    def _vote(
        self,
        candidates: dict[str, _Candidate],
        read: RawRead,
        variant: Variant,
        backend: Backend,
        fmts: frozenset[Format],
        trace: DecodeTrace,
    ) -> None:
        why: list[str] = []
        parsed = _validate(read, fmts, why)
        if parsed is None:
            reason = f" ({why[0]})" if why else ""
            trace.dropped.append(f"{backend.name}/{variant.name}: {read.format.value} {read.text[:40]!r}{reason}")
            log.debug("dropped invalid read %s %r from %s/%s%s", read.format, read.text[:40], backend.name,
                      variant.name, reason)
            return
        fmt, text, gtin = parsed
        key = f"gtin:{gtin}" if fmt.is_retail else f"{fmt.value}:{text}"
        cand = candidates.get(key)
        if cand is None:
            polygon = variant.map_points(read.polygon)
            cand = _Candidate(key, fmt, text, gtin, polygon, variant.name, _is_gs1(read), why[0] if why else None)
            candidates[key] = cand
        elif len(cand.polygon) != 4 and len(read.polygon) == 4:
            # ZBar locates linear codes by scan-line points; a corner quadrilateral is more useful.
            cand.polygon = variant.map_points(read.polygon)
        if backend.family not in cand.families:
            cand.families.append(backend.family)
        cand.variants.add(variant.name)

    def _views(
        self, variant: Variant, backend: Backend, candidates: dict[str, _Candidate], first_pass: bool
    ) -> list[Variant]:
        """The whole variant, or in the first pass just the regions another family wants confirmed."""
        if not first_pass or not candidates:
            return [variant]
        cands = list(candidates.values())
        if not all(c.weak and c.polygon and backend.family not in c.families for c in cands):
            return [variant]
        # Confirming a read costs a fraction of a full-frame scan when only its surroundings are read.
        return [_crop(variant, c.polygon) for c in cands]

    def _unresolved(self, candidates: dict[str, _Candidate], accepted: list[_Candidate]) -> list[_Candidate]:
        """Pending weak reads (retail, ITF) that are not just a competing reading of an accepted symbol."""
        return [
            c
            for c in candidates.values()
            if c.weak and c not in accepted and not any(a.weak and _near(a.polygon, c.polygon) for a in accepted)
        ]

    def _accepted(self, candidates: dict[str, _Candidate]) -> list[_Candidate]:
        weak = [c for c in candidates.values() if c.weak]
        out = []
        for c in candidates.values():
            if not c.weak or len(c.families) >= 2:
                out.append(c)
            elif c.format is Format.UPC_E:
                # Six digits and no centre guard: one library can find a UPC-E inside other bars
                # consistently across variants, so only the other library's agreement counts.
                continue
            elif len(c.variants) >= self.options.confirmations and not any(
                o is not c and _near(o.polygon, c.polygon) for o in weak
            ):
                out.append(c)
        return out

    @staticmethod
    def _symbol(c: _Candidate) -> Symbol:
        return Symbol(c.format, c.text, c.gtin, c.polygon, "+".join(c.families), c.variant, c.gs1)


def _validate(
    read: RawRead, fmts: frozenset[Format], why: list[str] | None = None
) -> tuple[Format, str, str | None] | None:
    """(format, canonical text, GTIN-14) for a structurally valid read, None for a misread.

    ``why`` receives the reason a read is dropped, or why a kept one needs confirming (a malformed GS1 string).
    """
    why = why if why is not None else []
    if read.format is Format.ITF:
        return _validate_itf(read.text, why)
    if read.format.is_retail:
        digits = read.text.strip()
        if not (digits.isascii() and digits.isdigit()):
            return None
        if read.format is Format.UPC_E and len(digits) in (7, 8):
            upca = expand_upce(digits)
            if upca is None:
                return None
            digits = upca
        gtin = normalize_gtin(digits)
        if gtin is None:
            return None
        fmt = _retail_format(read.format, gtin, fmts)
        if fmt not in fmts:
            return None
        return fmt, retail_text(gtin, fmt.value), gtin
    if not read.text or "\x00" in read.text:
        return None
    if not _is_gs1(read):
        return read.format, read.text, None
    try:
        data = parse_element_string(read.text)
    except Gs1Error as exc:
        why.append(str(exc))
        if read.format in _GTIN_ONLY or (
            read.text.lstrip("\x1d").startswith("01") and gtin_from_element_string(read.text) is None
        ):
            return None  # a GTIN failing its check digit is a misread, as in EAN/UPC
        # Checksummed symbol, malformed data: kept for a second look, but never as a product number.
        return read.format, read.text, None
    if read.format in _GTIN_ONLY and (data.gtin is None or len(data.fields) != 1):
        why.append("DataBar Omnidirectional/Limited must hold just (01) and a GTIN")
        return None
    return read.format, read.text, data.gtin


def _is_gs1(read: RawRead) -> bool:
    """True when the symbol carries a GS1 element string: DataBar always, others by symbology identifier."""
    return read.format.value.startswith("DATABAR") or read.symbology_id in GS1_SYMBOLOGY_IDS


def _validate_itf(text: str, why: list[str]) -> tuple[Format, str, str | None] | None:
    """ITF: an even number of digits; an ITF-14 with a valid check digit also gives its GTIN (still weak)."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) % 2 == 0 and len(digits) >= ITF_MIN_DIGITS):
        why.append("ITF needs an even number of digits")
        return None
    gtin = digits if len(digits) == 14 and check_digit(digits[:-1]) == digits[-1] else None
    return Format.ITF, digits, gtin


def _retail_format(fmt: Format, gtin: str, fmts: frozenset[Format]) -> Format:
    """EAN-13 with a leading zero is physically a UPC-A symbol; report it one way."""
    if fmt in (Format.EAN_13, Format.UPC_A):
        if gtin.startswith("00") and Format.UPC_A in fmts:
            return Format.UPC_A
        return Format.EAN_13 if Format.EAN_13 in fmts else fmt
    if fmt is Format.UPC_E and not (gtin.startswith("00") and compress_upca(gtin[2:])):
        return _retail_format(Format.EAN_13, gtin, fmts)
    return fmt


def _crop(variant: Variant, polygon: tuple[Point, ...]) -> Variant:
    """Sub-image around a polygon (given in original coordinates) with a generous quiet zone."""
    h, w = variant.image.shape[:2]
    inverse = cv2.invertAffineTransform(variant.to_original)
    pts = np.asarray(polygon, dtype=np.float64) @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pad = max(x1 - x0, y1 - y0) * 0.35 + 16
    cx0, cy0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    cx1, cy1 = min(w, int(x1 + pad) + 1), min(h, int(y1 + pad) + 1)
    shift = np.array([[1.0, 0.0, cx0], [0.0, 1.0, cy0]])
    to_original = variant.to_original[:, :2] @ shift[:, :2]
    offset = variant.to_original[:, :2] @ shift[:, 2] + variant.to_original[:, 2]
    return Variant(variant.name, variant.image[cy0:cy1, cx0:cx1], np.column_stack([to_original, offset]))


def _bbox(polygon: tuple[Point, ...]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def _near(a: tuple[Point, ...], b: tuple[Point, ...]) -> bool:
    """True when two reads could be the same physical symbol (boxes touch after padding)."""
    if not a or not b:
        return True
    ax0, ay0, ax1, ay1 = _bbox(a)
    bx0, by0, bx1, by1 = _bbox(b)
    # ZBar reports scan-line points, so boxes are padded by a quarter of their larger side.
    pa = max(ax1 - ax0, ay1 - ay0) * 0.25 + 2
    pb = max(bx1 - bx0, by1 - by0) * 0.25 + 2
    return not (ax1 + pa < bx0 - pb or bx1 + pb < ax0 - pa or ay1 + pa < by0 - pb or by1 + pb < ay0 - pa)


_default: Decoder | None = None
_default_lock = threading.Lock()


def default_decoder() -> Decoder:
    """Process-wide decoder with all usable backends and default options."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Decoder()
        return _default


def decode(image: np.ndarray | object, formats: frozenset[Format] | None = None) -> list[Symbol]:
    """Decode QR, DataMatrix, EAN/UPC, GS1 DataBar, Code 128 and ITF symbols from a numpy (gray/BGR) or PIL image."""
    return default_decoder().decode(image, formats)
