"""``python -m edge``: look up a product or watch stock from a terminal."""

import sys

from edge.cli import main

sys.exit(main())
