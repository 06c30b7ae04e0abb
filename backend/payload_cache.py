"""The JSON text of each catalogue entry and stock level at its current seq, kept for ``catalog.snapshot`` pages."""

from __future__ import annotations

import threading
from typing import Literal

Kind = Literal["catalog", "stock"]

# Some 550 bytes an entry with its key (UTF-8 text): the catalogue and stock of 100,000 products take about 110 MB.
DEFAULT_MAX_ENTRIES = 200_000


class PayloadCache:
    """Payload texts (UTF-8) by kind, store and SKU, each valid for one seq: a change bumps the seq, retiring it.

    The publisher puts every retained payload it sends, so a device's first snapshot is served without building
    its entries again in SQLite (16 of the 21 µs a product a page cost). At ``max_entries`` new keys are no longer
    kept; keys already held still take their newer texts.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._texts: dict[tuple[Kind, str, str], tuple[int, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, kind: Kind, store: str, sku: str, seq: int) -> bytes | None:
        """The text of this entry at exactly this seq, or None."""
        held = self._texts.get((kind, store, sku))
        return held[1] if held is not None and held[0] == seq else None

    def put(self, kind: Kind, store: str, sku: str, seq: int, text: bytes) -> None:
        """Keep a text unless one of a higher seq is already kept."""
        key = (kind, store, sku)
        with self._lock:
            held = self._texts.get(key)
            if held is None and len(self._texts) >= self.max_entries:
                return
            if held is None or held[0] <= seq:
                self._texts[key] = (seq, text)

    def __len__(self) -> int:
        return len(self._texts)
