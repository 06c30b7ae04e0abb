"""`python -m vision.recognition train|evaluate|enrol`."""

import sys

from vision.recognition.cli import main

if __name__ == "__main__":
    sys.exit(main())
