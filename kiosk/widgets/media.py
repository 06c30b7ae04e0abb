"""Pictures: QR codes drawn from module buffers, the live camera preview, product photos with a placeholder."""

from __future__ import annotations

import time

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.graphics.texture import Texture
from kivy.properties import NumericProperty, ObjectProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.widget import Widget

from kiosk.services.camera import CameraFeed
from kiosk.services.qr import qr_pixels

PREVIEW_HZ = 30.0


class QrImage(Widget):
    """A QR code for ``text``, square, as large as the widget allows, crisp at any size."""

    text = StringProperty("")
    texture = ObjectProperty(None, allownone=True)

    def on_text(self, _instance: QrImage, text: str) -> None:
        if not text:
            self.texture = None
            return
        code = qr_pixels(text)
        texture = Texture.create(size=(code.size, code.size), colorfmt="luminance")
        texture.blit_buffer(code.pixels, colorfmt="luminance", bufferfmt="ubyte")
        texture.mag_filter = "nearest"
        texture.min_filter = "nearest"
        self.texture = texture


class CameraPreview(FloatLayout):
    """Shows the newest frame of a CameraFeed; ``flash`` gives visible feedback on a read."""

    feed: CameraFeed | None = ObjectProperty(None, allownone=True)
    texture = ObjectProperty(None, allownone=True)
    flash_alpha = NumericProperty(0.0)
    frame_side = NumericProperty(0.0)  # the framing square, set in kv
    shown = NumericProperty(0)  # frames drawn since start, for the frame-rate figure

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._event = None
        self._last_index = -1
        self._started = 0.0

    def start(self) -> None:
        """Begin polling the feed for new frames."""
        self.shown, self._started, self._last_index = 0, time.monotonic(), -1
        if self._event is None:
            self._event = Clock.schedule_interval(self._poll, 1 / PREVIEW_HZ)

    def stop(self) -> None:
        """Stop polling (the last frame stays on screen until cleared)."""
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def clear(self) -> None:
        """Forget the last frame."""
        self.texture = None

    def fps(self) -> float:
        """Frames drawn per second since ``start``."""
        elapsed = time.monotonic() - self._started
        return self.shown / elapsed if elapsed > 0 else 0.0

    def flash(self) -> None:
        """A green pulse around the frame: the code was read."""
        Animation.cancel_all(self, "flash_alpha")
        self.flash_alpha = 1.0
        Animation(flash_alpha=0.0, duration=0.6, t="out_quad").start(self)

    def _poll(self, _dt: float) -> None:
        frame = self.feed.preview() if self.feed else None
        if frame is None or frame.index == self._last_index:
            return
        self._last_index = frame.index
        texture = self.texture
        if texture is None or tuple(texture.size) != (frame.width, frame.height):
            texture = Texture.create(size=(frame.width, frame.height), colorfmt="rgb")
        texture.blit_buffer(frame.pixels, colorfmt="rgb", bufferfmt="ubyte")
        self.texture = texture
        self.canvas.ask_update()
        self.shown += 1


class ProductPicture(FloatLayout):
    """A product photo, or a tile with the product's initial when there is none."""

    source = StringProperty("")
    initial = StringProperty("")
