"""Decoder backends: thin adapters over zxing-cpp and ZBar (via pyzbar) with one interface."""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vision.symbols import ALL_FORMATS, Format, Point

log = logging.getLogger(__name__)


class BackendUnavailableError(RuntimeError):
    """A decoder library is not installed or cannot be loaded."""


class NoBackendError(RuntimeError):
    """None of the decoder libraries can be used."""


@dataclass(frozen=True, slots=True)
class RawRead:
    """One undecided read from a backend, in the coordinates of the image it was given."""

    format: Format
    text: str
    polygon: tuple[Point, ...]
    symbology_id: str = ""
    quality: int | None = None


@runtime_checkable
class Backend(Protocol):
    """A barcode library adapter; `family` groups instances that share one decoding engine."""

    name: str
    family: str

    def available(self) -> bool:
        """True when the underlying library can be used."""
        ...

    def unavailable_reason(self) -> str | None:
        """Why the library cannot be used, or None when it can."""
        ...

    def read(self, gray: np.ndarray, formats: frozenset[Format]) -> list[RawRead]:
        """Decode every symbol of the given formats in an 8-bit grayscale image."""
        ...


class _LazyLibrary:
    """The part the adapters share: import the library on first use, once, and keep why it failed."""

    name: str
    family: str

    def __init__(self) -> None:
        self._lib: Any = None
        self._error: str | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def _import(self) -> Any:
        """The library's module; raises ImportError or OSError when it cannot be used."""
        raise NotImplementedError

    def _problem(self, exc: ImportError | OSError) -> str:
        """What to tell the user when `_import` failed with exc."""
        raise NotImplementedError

    def _load(self) -> Any:
        with self._lock:
            if not self._loaded:
                try:
                    self._lib = self._import()
                except (ImportError, OSError) as exc:
                    self._error = self._problem(exc)
                self._loaded = True
        return self._lib

    def _library(self) -> Any:
        """The loaded module; raises BackendUnavailableError when there is none."""
        lib = self._load()
        if lib is None:
            raise BackendUnavailableError(self._error or f"{self.family} unavailable")
        return lib

    def available(self) -> bool:
        """True when the library imports (and its shared library loads)."""
        return self._load() is not None

    def unavailable_reason(self) -> str | None:
        """Load error text, if any."""
        self._load()
        return self._error


class ZxingBackend(_LazyLibrary):
    """zxing-cpp: fast, handles rotation, inversion and character sets well."""

    family = "zxing-cpp"

    def __init__(self, binarizer: str = "local") -> None:
        if binarizer not in ("local", "global"):
            raise ValueError(f"unknown binarizer {binarizer!r}")
        super().__init__()
        self.binarizer = binarizer
        self.name = "zxing-cpp" if binarizer == "local" else "zxing-cpp/global"

    def _import(self) -> Any:
        import zxingcpp

        return zxingcpp

    def _problem(self, exc: ImportError | OSError) -> str:
        return f"zxing-cpp is not installed ({exc}); pip install zxing-cpp"

    def read(self, gray: np.ndarray, formats: frozenset[Format]) -> list[RawRead]:
        """Run zxingcpp.read_barcodes in plain text mode (GS1 separators kept as GS)."""
        zx = self._library()
        zx_formats = tuple(getattr(zx.BarcodeFormat, name) for f in formats for name in _ZX_FORMATS[f])
        binarizer = zx.Binarizer.LocalAverage if self.binarizer == "local" else zx.Binarizer.GlobalHistogram
        found = zx.read_barcodes(
            gray,
            formats=zx_formats,
            text_mode=zx.TextMode.Plain,
            binarizer=binarizer,
            try_rotate=True,
            try_invert=True,
            try_downscale=True,
        )
        reads = []
        for b in found:
            fmt = _FROM_ZX.get(b.format.name)
            if fmt is None or fmt not in formats:
                continue
            p = b.position
            corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
            polygon = tuple((int(c.x), int(c.y)) for c in corners)
            reads.append(RawRead(fmt, b.text, polygon, b.symbology_identifier))
        return reads


# Our formats as zxing-cpp's BarcodeFormat names (3.x splits DataBar and ITF into variants).
_ZX_FORMATS: dict[Format, tuple[str, ...]] = {
    Format.QR_CODE: ("QRCode",),
    Format.EAN_13: ("EAN13",),
    Format.EAN_8: ("EAN8",),
    Format.UPC_A: ("UPCA",),
    Format.UPC_E: ("UPCE",),
    Format.CODE_128: ("Code128",),
    Format.DATA_MATRIX: ("DataMatrix",),
    Format.DATABAR: ("DataBarOmni", "DataBarStk", "DataBarStkOmni"),
    Format.DATABAR_EXPANDED: ("DataBarExp", "DataBarExpStk"),
    Format.DATABAR_LIMITED: ("DataBarLtd",),
    Format.ITF: ("ITF", "ITF14"),
}
# What `Barcode.format.name` says for each; "DataBar" is the family name a generic read may report.
_FROM_ZX = {name: fmt for fmt, names in _ZX_FORMATS.items() for name in names} | {"DataBar": Format.DATABAR}

# zbar.h enum values; pyzbar's ZBarConfig predates BINARY.
_ZBAR_CFG_ENABLE = 0
_ZBAR_CFG_BINARY = 4
_ZBAR_CFG_X_DENSITY = 0x100
_ZBAR_CFG_Y_DENSITY = 0x101
_ZBAR_Y800 = int.from_bytes(b"Y800", "little")
_ZBAR_MOD_GS1 = 1  # bit 0 of zbar_symbol_get_modifiers: FNC1 in first position
# libzbar 0.23 reads DataBar (omnidirectional and stacked), DataBar Expanded and I2/5; no DataMatrix or Limited.
_ZBAR_SYMBOLS = {
    Format.QR_CODE: 64,
    Format.EAN_13: 13,
    Format.EAN_8: 8,
    Format.UPC_A: 12,
    Format.UPC_E: 9,
    Format.CODE_128: 128,
    Format.DATABAR: 34,
    Format.DATABAR_EXPANDED: 35,
    Format.ITF: 25,
}
_FROM_ZBAR = {v: k for k, v in _ZBAR_SYMBOLS.items()}
# ZBar reports no AIM symbology identifier; these are the ones zxing-cpp gives the same GS1 symbols.
_ZBAR_GS1_IDS = {Format.CODE_128: "]C1", Format.QR_CODE: "]Q3", Format.DATABAR: "]e0", Format.DATABAR_EXPANDED: "]e0"}


class ZbarBackend(_LazyLibrary):
    """ZBar through pyzbar's ctypes bindings, with raw QR bytes so text encoding is ours to check."""

    family = "pyzbar"

    def __init__(self, density: int = 1) -> None:
        if density < 1:
            raise ValueError("density must be >= 1")
        super().__init__()
        # Scanning every n-th row/column: n=2 halves the cost and still crosses every real symbol.
        self.density = density
        self.name = "pyzbar" if density == 1 else f"pyzbar/{density}"

    def _import(self) -> Any:
        from pyzbar import wrapper

        wrapper.load_libzbar()
        return wrapper

    def _problem(self, exc: ImportError | OSError) -> str:
        if isinstance(exc, OSError):
            return f"libzbar could not be loaded ({exc}); apt install libzbar0"
        return f"pyzbar/libzbar is not usable ({exc}); pip install pyzbar, apt install libzbar0"

    def read(self, gray: np.ndarray, formats: frozenset[Format]) -> list[RawRead]:
        """Scan with only the requested symbologies enabled."""
        w = self._library()
        h, width = gray.shape[:2]
        if h == 0 or width == 0:
            return []
        buf = np.ascontiguousarray(gray, dtype=np.uint8).tobytes()
        scanner = w.zbar_image_scanner_create()
        try:
            w.zbar_image_scanner_set_config(scanner, 0, _ZBAR_CFG_ENABLE, 0)
            enabled = {f for f in formats if f in _ZBAR_SYMBOLS}
            if not enabled:
                return []
            if enabled & {Format.UPC_A, Format.UPC_E}:
                # ZBar decodes UPC through its EAN-13 reader; the combiner drops unrequested formats.
                enabled.add(Format.EAN_13)
            for fmt in enabled:
                w.zbar_image_scanner_set_config(scanner, _ZBAR_SYMBOLS[fmt], _ZBAR_CFG_ENABLE, 1)
            if self.density > 1:
                w.zbar_image_scanner_set_config(scanner, 0, _ZBAR_CFG_X_DENSITY, self.density)
                w.zbar_image_scanner_set_config(scanner, 0, _ZBAR_CFG_Y_DENSITY, self.density)
            binary = Format.QR_CODE in formats and (
                w.zbar_image_scanner_set_config(scanner, _ZBAR_SYMBOLS[Format.QR_CODE], _ZBAR_CFG_BINARY, 1)
                == 0
            )
            image = w.zbar_image_create()
            try:
                w.zbar_image_set_format(image, _ZBAR_Y800)
                w.zbar_image_set_size(image, width, h)
                w.zbar_image_set_data(image, ctypes.cast(buf, ctypes.c_void_p), len(buf), None)
                if w.zbar_scan_image(scanner, image) < 0:
                    return []
                return list(self._symbols(w, image, binary, _modifiers(w)))
            finally:
                w.zbar_image_destroy(image)
        finally:
            w.zbar_image_scanner_destroy(scanner)

    def _symbols(self, w: Any, image: Any, binary: bool, modifiers: Any) -> Iterable[RawRead]:
        sym = w.zbar_image_first_symbol(image)
        while sym:
            fmt = _FROM_ZBAR.get(sym.contents.type)
            data = ctypes.string_at(w.zbar_symbol_get_data(sym), w.zbar_symbol_get_data_length(sym))
            points = tuple(
                (int(w.zbar_symbol_get_loc_x(sym, i)), int(w.zbar_symbol_get_loc_y(sym, i)))
                for i in range(w.zbar_symbol_get_loc_size(sym))
            )
            quality = int(w.zbar_symbol_get_quality(sym))
            gs1 = modifiers is not None and bool(modifiers(sym) & _ZBAR_MOD_GS1)
            sym = w.zbar_symbol_next(sym)
            if fmt is None:
                continue
            text = _zbar_text(fmt, data, binary)
            if text is not None:
                # DataBar always carries GS1 data; ZBar flags FNC1-first Code 128 and QR with a modifier.
                gs1 = gs1 or fmt in (Format.DATABAR, Format.DATABAR_EXPANDED)
                yield RawRead(fmt, text, points, _ZBAR_GS1_IDS.get(fmt, "") if gs1 else "", quality)


_modifiers_fn: Any = None


def _modifiers(w: Any) -> Any:
    """libzbar's zbar_symbol_get_modifiers (pyzbar does not wrap it), or None when the library lacks it."""
    global _modifiers_fn
    if _modifiers_fn is None:
        try:
            _modifiers_fn = w.zbar_function(
                "zbar_symbol_get_modifiers", ctypes.c_uint, ctypes.POINTER(w.zbar_symbol)
            )
        except AttributeError:  # a libzbar older than 0.10
            _modifiers_fn = False
    return _modifiers_fn or None


def _zbar_text(fmt: Format, data: bytes, binary: bool) -> str | None:
    """Text of a ZBar payload, or None when its character set cannot be trusted."""
    if fmt is Format.QR_CODE:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Shift-JIS/Big5/Latin-1 payloads: ZBar's guess is often wrong; zxing-cpp's is not.
            log.debug("pyzbar QR payload is not UTF-8; leaving it to zxing-cpp")
            return None
        if not binary and not text.isascii():
            return None
        return text
    return data.decode("latin-1")


def default_backends() -> list[Backend]:
    """All backends in the order the combined decoder prefers them."""
    return [ZxingBackend("local"), ZbarBackend(2), ZbarBackend(1), ZxingBackend("global")]


def usable_backends(backends: Sequence[Backend] | None = None) -> list[Backend]:
    """The available subset; raises NoBackendError naming each reason when it is empty."""
    candidates = list(backends) if backends is not None else default_backends()
    usable = [b for b in candidates if b.available()]
    if not usable:
        reasons = "; ".join(f"{b.name}: {b.unavailable_reason()}" for b in candidates) or "none configured"
        raise NoBackendError(f"no barcode decoder backend is usable ({reasons})")
    return usable


def backend_status(backends: Sequence[Backend] | None = None) -> dict[str, str | None]:
    """Map of backend name to None (usable) or the reason it is not."""
    return {b.name: b.unavailable_reason() for b in (backends or default_backends())}


__all__ = [
    "ALL_FORMATS",
    "Backend",
    "BackendUnavailableError",
    "NoBackendError",
    "RawRead",
    "ZbarBackend",
    "ZxingBackend",
    "backend_status",
    "default_backends",
    "usable_backends",
]
