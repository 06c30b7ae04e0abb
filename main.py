"""Entry point for buildozer (Android): the app in phone mode, its data in the app's private folder."""

import os
import sys

from kiosk.cli import main

if __name__ == "__main__":
    args = ["--mode", "phone"]
    private = os.environ.get("ANDROID_PRIVATE")  # set by python-for-android; absent on a desktop
    if private:
        args += ["--data-dir", os.path.join(private, "aisle")]
    sys.exit(main(args))
