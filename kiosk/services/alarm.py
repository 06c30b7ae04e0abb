"""Tell staff that an urgent restock alert arrived: a short chime where there is audio, a buzz where there is a motor.

Which alerts deserve it is decided without Kivy (``UrgentAlerts``); ``Alarm`` makes the noise and knows how
often it did, so tests and the status can see it even on a box without a sound card.
"""

from __future__ import annotations

import logging
import math
import struct
import wave
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from mqtt.alerts import Alert, AlertState

log = logging.getLogger(__name__)

URGENT_PRIORITY = 70  # a shopper found the shelf empty, or an alert waited too long (see backend/alerts.py)


class UrgentAlerts:
    """Picks, from each new view of the alerts, the live ones that became urgent since the app started."""

    def __init__(self, since: datetime) -> None:
        self.since = since
        self._rung: set[str] = set()

    def new(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Alerts to ring for now: live, urgent, changed after start-up, not rung for before."""
        fresh = [a for a in alerts if a.state in (AlertState.OPEN, AlertState.CLAIMED)
                 and a.priority >= URGENT_PRIORITY and a.updated_at >= self.since and a.alert_id not in self._rung]
        self._rung.update(a.alert_id for a in fresh)
        return fresh


def _chime(path: Path) -> Path:
    """Write a 0.4 s two-tone chime as 16-bit mono WAV (no binary asset in the repository)."""
    rate, frames = 22050, bytearray()
    for tone, seconds in ((880.0, 0.18), (1320.0, 0.22)):
        for i in range(int(rate * seconds)):
            fade = min(1.0, i / 300, (rate * seconds - i) / 300)
            frames += struct.pack("<h", int(12000 * fade * math.sin(2 * math.pi * tone * i / rate)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


class Alarm:
    """Chime and vibrate; each is skipped (once logged) where the device cannot do it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._sound: object | None = None
        self._loaded = False

    def ring(self) -> None:
        """Call from the UI thread."""
        sound = self._load()
        if sound is not None:
            sound.play()  # type: ignore[attr-defined]
        try:
            from plyer import vibrator  # optional: present in Android builds

            vibrator.vibrate(0.4)
        except Exception as exc:  # no plyer, or no vibrator on this platform: the chime has to do
            log.debug("no vibration: %s", exc)

    def _load(self) -> object | None:
        if not self._loaded:
            self._loaded = True
            try:
                from kivy.core.audio import SoundLoader

                self._sound = SoundLoader.load(str(_chime(self.data_dir / "alert-chime.wav")))
            except Exception as exc:  # no audio provider or device (a headless kiosk)
                log.info("alert chime unavailable: %s", exc)
            if self._sound is None:
                log.info("alert chime unavailable: no audio output")
        return self._sound
