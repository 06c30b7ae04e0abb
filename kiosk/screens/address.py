"""Where to send it: an address form with the kiosk's on-screen keyboard; checked before going on."""

from __future__ import annotations

from kivy.properties import StringProperty
from pydantic import ValidationError

from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.theme import ui
from kiosk.viewmodels.checkout import AddressModel
from mqtt.commerce import Address

FIELDS = ("name", "street", "postcode", "city", "country", "email", "phone")


class AddressScreen(AisleScreen):
    """Personal data lives in the session only (wiped when it ends) and in the outbox until the order is sent."""

    model = AddressModel
    error = StringProperty("")

    def field_labels(self) -> dict[str, str]:
        """Field names as the shopper reads them."""
        return {"name": tr._("Name"), "street": tr._("Street and number"), "postcode": tr._("Postcode"),
                "city": tr._("City"), "country": tr._("Country code"), "email": tr._("Email (optional)"),
                "phone": tr._("Phone (optional)")}

    def on_kv_post(self, base_widget: object) -> None:
        for field in FIELDS:  # the on-screen keyboard types into the field in focus
            self.ids[f"{field}_input"].bind(focus=self._focused)

    def _focused(self, field: object, focus: bool) -> None:
        if focus:
            self.ids.keyboard.target = field

    def on_pre_enter(self, *_args: object) -> None:
        keyboard_box = self.ids.keyboard_box
        if ui.mode != "kiosk" and keyboard_box.parent is not None:
            keyboard_box.parent.remove_widget(keyboard_box)  # phones type with their own keyboard
        if ui.mode == "kiosk":
            self.ids.keyboard.ensure_built()
        inputs = self.ids
        if not inputs.country_input.text:
            inputs.country_input.text = self.vm.territory()
        self.ids.keyboard.target = self.ids.name_input
        self.error = ""

    def on_enter(self, *_args: object) -> None:
        if self.ids.keyboard.target is not None:
            self.ids.keyboard.target.focus = True

    def values(self) -> dict[str, str | None]:
        """The typed values, trimmed; empty optional fields are None."""
        values: dict[str, str | None] = {f: self.ids[f"{f}_input"].text.strip() for f in FIELDS}
        values["country"] = (values["country"] or "").upper()
        for optional in ("email", "phone"):
            values[optional] = values[optional] or None
        return values

    def submit(self) -> None:
        """Check the address and go on to the delivery options."""
        try:
            address = Address(**self.values())
        except ValidationError as exc:
            labels = self.field_labels()
            wrong = [labels.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors() if e.get("loc")]
            self.error = tr._("Please check: {fields}").format(fields=", ".join(dict.fromkeys(wrong)))
            return
        self.error = ""
        self.vm.use_address(address)

    def reset(self) -> None:
        for name in FIELDS:
            self.ids[f"{name}_input"].text = ""
        self.error = ""
