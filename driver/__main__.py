"""``python -m driver``."""

import sys

from driver.launch import main

sys.exit(main())
