"""Generated GS1 symbols with photograph-like distortions: a labelled set for tests and the scan benchmark.

zxing-cpp's writer makes the symbols (GS1 DataMatrix, GS1 DataBar, GS1-128, ITF-14); OpenCV blurs, warps, adds
sensor noise and JPEG-compresses them on an unevenly lit background, seeded so every run sees the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.evaluation import Sample

SET_NAME = "generated-gs1"


@dataclass(frozen=True, slots=True)
class GeneratedSymbol:
    """One symbol to write: zxing-cpp format name, content as the writer takes it, and the expected label."""

    name: str
    zx_format: str
    content: str
    label: str  # "(AI)value" form for GS1 symbols, the digits for ITF-14
    gs1: bool = False  # write with FNC1 in first position (DataMatrix, Code 128)


SYMBOLS: tuple[GeneratedSymbol, ...] = (
    GeneratedSymbol("dm-gs1", "DataMatrix", "(01)09506000134352(17)270101(10)ABC123",
                    "(01)09506000134352(17)270101(10)ABC123", gs1=True),
    GeneratedSymbol("dm-gs1-serial", "DataMatrix", "(01)04012345678901(21)SN12345(17)261130(10)L0T-7",
                    "(01)04012345678901(21)SN12345(17)261130(10)L0T-7", gs1=True),
    GeneratedSymbol("databar-exp", "DataBarExp", "(01)90012345678908(3103)001750(3922)795",
                    "(01)90012345678908(3103)001750(3922)795"),
    GeneratedSymbol("databar-exp-stk", "DataBarExpStk", "(01)98898765432106(3103)012340(15)270315(10)B42",
                    "(01)98898765432106(3103)012340(15)270315(10)B42"),
    GeneratedSymbol("databar-omni", "DataBarOmni", "04412345678909", "(01)04412345678909"),
    GeneratedSymbol("databar-ltd", "DataBarLtd", "(01)00012345678905", "(01)00012345678905"),
    GeneratedSymbol("gs1-128", "Code128", "(01)09506000134352(10)AB12(17)261231",
                    "(01)09506000134352(10)AB12(17)261231", gs1=True),
    GeneratedSymbol("itf-14", "ITF14", "1540014128876", "15400141288763"),
)
DISTORTIONS: tuple[str, ...] = ("clean", "blur", "perspective", "noise", "jpeg", "photo")


def symbol_image(symbol: GeneratedSymbol, scale: int = 4) -> np.ndarray:
    """The symbol as a clean 8-bit grayscale image with its quiet zone."""
    import zxingcpp

    fmt = getattr(zxingcpp.BarcodeFormat, symbol.zx_format)
    options = {"gs1": True} if symbol.gs1 else {}
    barcode = zxingcpp.create_barcode(symbol.content, fmt, **options)
    image = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=scale))
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def label_image(content: str, zx_format: str, gs1: bool = False, scale: int = 6, margin: int = 60) -> np.ndarray:
    """A printed label: one symbol (GS1 content in its HRI form when ``gs1``) on white paper, for a camera folder."""
    clean = symbol_image(GeneratedSymbol("label", zx_format, content, content, gs1), scale)
    return cv2.copyMakeBorder(clean, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def distort(clean: np.ndarray, distortion: str, rng: np.random.Generator) -> np.ndarray:
    """A photograph-like version of a clean symbol image (see DISTORTIONS)."""
    if distortion not in DISTORTIONS:
        raise ValueError(f"unknown distortion {distortion!r}")
    img = _on_paper(clean, rng)
    if distortion in ("perspective", "photo"):
        img = _perspective(img, rng, 0.06 if distortion == "photo" else 0.09)
    if distortion in ("blur", "photo"):
        img = cv2.GaussianBlur(img, (0, 0), 1.1 if distortion == "photo" else 1.6)
    if distortion in ("noise", "photo"):
        noise = rng.normal(0.0, 9.0 if distortion == "photo" else 14.0, img.shape)
        img = np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)
    if distortion in ("jpeg", "photo"):
        quality = 45 if distortion == "photo" else 25
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode an image")
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return img


def generated_set(seed: int = 21) -> tuple[list[Sample], dict[Path, np.ndarray]]:
    """Samples (every symbol under every distortion) and their pixels, keyed by a made-up path per image."""
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    pixels: dict[Path, np.ndarray] = {}
    for symbol in SYMBOLS:
        clean = symbol_image(symbol)
        for distortion in DISTORTIONS:
            path = Path(SET_NAME) / f"{symbol.name}-{distortion}.png"
            samples.append(Sample(SET_NAME, path, symbol.label))
            pixels[path] = distort(clean, distortion, rng)
    return samples, pixels


def _on_paper(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The symbol on a larger, unevenly lit, slightly grey label, as a camera frames it."""
    h, w = clean.shape
    pad = min(h, w) // 2 + 16
    paper = np.full((h + 2 * pad, w + 2 * pad), 255, np.uint8)
    paper[pad : pad + h, pad : pad + w] = clean
    ys, xs = np.mgrid[0 : paper.shape[0], 0 : paper.shape[1]]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys) / max(paper.shape)
    light = 0.78 + 0.18 * (ramp - ramp.min()) / max(1e-9, float(ramp.max() - ramp.min()))
    dark = 25.0  # printed black is never 0 in a photo
    return np.clip(dark + (paper.astype(np.float64) * (255 - dark) / 255) * light, 0, 255).astype(np.uint8)


def _perspective(img: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Tilt: each corner moves inwards by up to ``amount`` of the image size."""
    h, w = img.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(0, amount, (4, 2)) * np.float32([w, h])
    inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = (src + jitter * inward).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=int(img[0, 0]))
