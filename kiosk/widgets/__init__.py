"""Reusable widgets: bidi-aware text and buttons, mirrored layouts, QR codes, camera preview, on-screen keyboard."""
