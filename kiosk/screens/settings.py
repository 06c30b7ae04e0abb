"""Staff-only settings: language, text size, contrast, idle timeout, store and broker."""

from __future__ import annotations

from dataclasses import replace

from kivy.properties import StringProperty

from kiosk.config import IDLE_CHOICES, TEXT_SCALES, ConfigError, validate
from kiosk.i18n.languages import LANGUAGES
from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.state import state
from kiosk.theme import ui
from kiosk.viewmodels.staff import SettingsModel
from kiosk.widgets.text import AButton
from mqtt.url import mask_url


class SettingsScreen(AisleScreen):
    """Display choices apply at once; store and broker apply with "Save and reconnect"."""

    model = SettingsModel
    error = StringProperty("")

    def on_pre_enter(self, *_args: object) -> None:
        if not state.staff_id:  # only reachable after sign-in; a stale history must not open it
            self.vm.replace("staff_login")
            return
        self.ids.store_input.text = self.vm.config.store
        # Never the password: anyone who gets a staff PIN would read the device's broker login here.
        self.ids.broker_input.text = mask_url(self.vm.config.broker)
        self.error = ""
        self.relabel()

    def relabel(self) -> None:
        vm = self.vm
        config, fmt = vm.config, vm.fmt
        self._choices(self.ids.languages, [(c, lang.native) for c, lang in LANGUAGES.items()], ui.lang,
                      lambda code: vm.change(language=code))
        sizes = [tr._("Normal"), tr._("Large"), tr._("Larger")]
        self._choices(self.ids.sizes, list(zip(TEXT_SCALES, sizes, strict=True)), config.text_scale,
                      lambda scale: vm.change(text_scale=scale))
        self._choices(self.ids.contrast, [(False, tr._("Standard")), (True, tr._("High contrast"))],
                      config.high_contrast, lambda value: vm.change(high_contrast=value))
        idle = [(s, tr._("{n} s").format(n=fmt.number(int(s)))) for s in IDLE_CHOICES]
        self._choices(self.ids.idle, idle, config.idle_timeout,
                      lambda seconds: vm.change(idle_timeout=seconds))

    def _choices(self, box: object, items: list, current: object, apply: object) -> None:
        box.clear_widgets()  # type: ignore[attr-defined]
        for value, label in items:
            button = AButton(kind="choice", text=label, selected=value == current)
            button.choice_value = value
            button.bind(on_release=lambda b: (apply(b.choice_value), self.relabel()))  # type: ignore[operator]
            box.add_widget(button)  # type: ignore[attr-defined]

    def save_connection(self) -> None:
        """Switch store or broker (reconnects; the cart of the old store is dropped)."""
        store, broker = self.ids.store_input.text.strip(), self.ids.broker_input.text.strip()
        config = self.vm.config
        if broker == mask_url(config.broker):
            broker = config.broker  # unchanged: keep the password the mask stands for
        try:
            validate(replace(config, store=store, broker=broker))
        except ConfigError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self.vm.change(store=store, broker=broker)
        self.vm.notify(tr._("Saved. Connecting to {store}…").format(store=store), "ok")
