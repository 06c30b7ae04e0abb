"""Where the data sets are: never shipped and never a default path, so from the command line or these variables."""

from __future__ import annotations

import os
from pathlib import Path

GROCERY_ENV = "AISLE_GROCERY"  # the Grocery Store Dataset (train.txt, val.txt, classes.csv, iconic photos)
BARCODES_ENV = "AISLE_BARCODES"  # folders of labelled barcode photos (NAME.png + NAME.txt)
BARCODES_GS1_ENV = "AISLE_BARCODES_GS1"  # the same for DataMatrix, GS1 DataBar, Code 128, ITF, UPC-E


def from_env(name: str) -> Path | None:
    """The folder the environment variable ``name`` names, or None when it is unset or empty."""
    value = os.environ.get(name)
    return Path(value) if value else None
