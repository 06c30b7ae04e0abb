"""Inputs the walkthrough and the tests show to the app's camera (read from the shared data, never committed)."""

from __future__ import annotations

from pathlib import Path

from vision.datasets import GROCERY_ENV, from_env

# The Grocery Store Dataset: $AISLE_GROCERY, else the shared data beside this checkout (the driver does not ship).
GROCERY = from_env(GROCERY_ENV) or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grocery"

# A shopper holding up a Golden Delicious (the demo's first product).
SAMPLE_PHOTO = GROCERY / "train" / "Fruit" / "Apple" / "Golden-Delicious" / "Golden-Delicious_001.jpg"
