"""Staff sign-in: a PIN pad, or a staff badge scanned with the camera or a barcode scanner."""

from __future__ import annotations

from kivy.properties import StringProperty

from codes.scanned import Intent, StaffBadge
from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.staff import StaffLoginModel

PIN_LENGTH = 8


class StaffLoginScreen(AisleScreen):
    """The PIN is held only until checked; digits show as dots."""

    model = StaffLoginModel
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
            self.vm.sign_in(pin)

    def on_pre_enter(self, *_args: object) -> None:
        # No provisioning: nothing here could check a PIN or a badge. (No view-model yet: the staff app's first
        # screen, and staff mode never starts without provisioning.)
        if self.vm is not None and not self.vm.staff_enabled:
            self.vm.replace("attract")  # switching screens clears notices: say why after it
            self.vm.notify(tr._("This device is for shoppers only: staff cannot sign in here."), "error")

    def on_scan(self, intent: Intent) -> bool:
        if isinstance(intent, StaffBadge):
            self.vm.badge(intent)
            return True
        return False

    def reset(self) -> None:
        self.pin = ""

    def on_leave(self, *_args: object) -> None:
        self.pin = ""
