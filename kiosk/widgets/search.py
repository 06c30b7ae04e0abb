"""Find a product by typing its name, SKU or barcode number (on-screen keyboard on the kiosk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.modalview import ModalView

from kiosk.widgets.text import AButton

if TYPE_CHECKING:
    from kiosk.viewmodels.base import ScreenModel

MAX_RESULTS = 6


class SearchPanel(ModalView):
    """A modal search; ``on_pick(sku)`` runs when a result is tapped."""

    query = StringProperty("")
    empty = BooleanProperty(False)

    def __init__(self, model: ScreenModel, on_pick: Callable[[str], None], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._model = model  # the view-model of the screen that opened the panel
        self._on_pick = on_pick
        self._search = Clock.create_trigger(self._run, 0.15)
        self.fbind("query", self._search)

    def on_open(self) -> None:
        self.ids.query_input.focus = True

    def _run(self, *_args: object) -> None:
        model = self._model
        box = self.ids.results
        box.clear_widgets()
        text = self.query.strip()
        if len(text) < 2:
            self.empty = False
            return
        hits = model.search(text, limit=MAX_RESULTS)
        self.empty = not hits
        for view in hits:
            label = f"{model.name_of(view)} · {model.fmt.money(view.price, view.currency)}"
            button = AButton(kind="secondary", text=label)
            button.sku = view.sku
            button.bind(on_release=self._picked)
            box.add_widget(button)

    def _picked(self, button: AButton) -> None:
        self.dismiss()
        self._on_pick(button.sku)
