"""Staff sign-in: a PIN pad, or a staff badge scanned with the camera or a barcode scanner."""

from __future__ import annotations

from kivy.properties import StringProperty

from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from vision.intents import Intent, StaffBadge

PIN_LENGTH = 8


class StaffLoginScreen(AisleScreen):
    """The PIN is held only until checked; digits show as dots."""

    pin = StringProperty("")

    def press(self, digit: str) -> None:
        """One digit."""
        if len(self.pin) < PIN_LENGTH:
            self.pin += digit

    def erase(self) -> None:
        """Remove the last digit."""
        self.pin = self.pin[:-1]

    def submit(self) -> None:
        """Check the PIN."""
        pin, self.pin = self.pin, ""
        if pin:
            self.ctl.signed_in(self.ctl.staff.pin(pin))

    def on_pre_enter(self, *_args: object) -> None:
        # No provisioning: nothing here could check a PIN or a badge. (No controller yet: the staff app's first
        # screen, and staff mode never starts without provisioning.)
        if self.ctl is not None and not self.ctl.staff.enabled:
            self.ctl.nav.replace("attract")  # switching screens clears notices: say why after it
            self.ctl.notify(tr._("This device is for shoppers only: staff cannot sign in here."), "error")

    def on_scan(self, intent: Intent) -> bool:
        if isinstance(intent, StaffBadge):
            self.ctl.staff_badge(intent)
            return True
        return False

    def reset(self) -> None:
        self.pin = ""

    def on_leave(self, *_args: object) -> None:
        self.pin = ""
