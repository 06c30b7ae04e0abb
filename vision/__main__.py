"""`python -m vision`: see vision/cli.py."""

import sys

from vision.cli import main

if __name__ == "__main__":
    sys.exit(main())
