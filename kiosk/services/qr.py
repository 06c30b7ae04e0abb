"""QR codes as pixel buffers for textures (segno): one pixel per module, scaled up by the GPU without blur."""

from __future__ import annotations

from dataclasses import dataclass

import segno


@dataclass(frozen=True)
class QrPixels:
    """Luminance pixels of a QR code with its quiet zone, bottom row first (OpenGL order)."""

    size: int
    pixels: bytes


def qr_pixels(text: str, border: int = 4) -> QrPixels:
    """Encode ``text`` (error correction M, as docs/qr-codes.md asks) into a square luminance buffer."""
    code = segno.make(text, error="m", boost_error=False)
    rows = [list(r) for r in code.matrix_iter(scale=1, border=border)]
    size = len(rows)
    data = bytearray()
    for row in reversed(rows):
        data.extend(0 if dark else 255 for dark in row)
    return QrPixels(size, bytes(data))
