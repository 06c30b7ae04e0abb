"""Hold a product up to the camera: the best guesses with pictures, or "not listed"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.clock import Clock
from kivy.properties import OptionProperty, StringProperty

from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.shopper import RecogniseModel
from kiosk.widgets.choice import ChoiceCard

if TYPE_CHECKING:
    from vision.recognition import Recognition

INTERVAL = 0.8  # seconds between recognitions; the preview runs at full rate meanwhile


class RecogniseScreen(AisleScreen):
    """Recognition runs on a worker on the newest frame; barcodes are still read meanwhile."""

    model = RecogniseModel
    phase = OptionProperty("loading", options=["loading", "unavailable", "looking", "suggest", "unknown"])
    message = StringProperty("")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._event = None
        self._busy = False

    def on_pre_enter(self, *_args: object) -> None:
        preview = self.ids.preview
        preview.feed = self.vm.camera
        preview.clear()
        if self.vm.start_camera():
            preview.start()
        self.phase = "loading"
        self.relabel()
        self.vm.load_recogniser(self._loaded)

    def on_leave(self, *_args: object) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None
        self.ids.preview.stop()
        self.vm.stop_camera()

    def relabel(self) -> None:
        self.message = {
            "loading": tr._("Getting ready…"),
            "unavailable": tr._("Recognition unavailable on this device. Scan the barcode or search by name."),
            "looking": tr._("Hold the product in front of the camera."),
            "suggest": tr._("Is it one of these? Tap to open."),
            "unknown": tr._("Not listed: we cannot tell what this is. Try the barcode or search by name."),
        }[self.phase]

    def _loaded(self, ok: bool) -> None:
        if self.manager is None or self.manager.current != self.name:
            return
        self.phase = "looking" if ok else "unavailable"
        self.relabel()
        if ok and self._event is None:
            self._event = Clock.schedule_interval(self._recognise, INTERVAL)

    def _recognise(self, _dt: float) -> None:
        if self._busy:
            return
        self._busy = self.vm.suggest(self._suggested, self._failed)

    def _failed(self, _exc: Exception) -> None:
        self._busy = False

    def _suggested(self, guess: Recognition) -> None:
        self._busy = False
        box = self.ids.suggestions
        box.clear_widgets()
        vm = self.vm
        fmt = vm.fmt
        shown = 0
        for suggestion in () if guess.unknown else guess.matches:
            view = vm.product(suggestion.sku)
            if view is None:  # enrolled, but not sold in this store
                continue
            card = ChoiceCard(title=vm.name_of(view), total=fmt.money(view.price, view.currency),
                              line=tr._("{percent} sure").format(percent=fmt.digits(f"{suggestion.score:.0%}")),
                              image=vm.image(view),
                              initial=(view.names.get("en") or view.sku)[:1])
            card.sku = view.sku
            card.bind(on_release=lambda c: vm.open_product(c.sku))
            box.add_widget(card)
            shown += 1
        self.phase = "suggest" if shown else "unknown"
        self.relabel()

    def reset(self) -> None:
        self.ids.suggestions.clear_widgets()
        self.phase = "loading"
