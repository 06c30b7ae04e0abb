"""What the app does that is not drawing: store link, background tasks, camera, codes, images; no Kivy here."""
