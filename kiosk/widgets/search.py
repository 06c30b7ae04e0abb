"""Find a product by typing its name, SKU or barcode number (on-screen keyboard on the kiosk)."""

from __future__ import annotations

from collections.abc import Callable

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.modalview import ModalView

from kiosk.theme import ui
from kiosk.widgets.text import AButton

MAX_RESULTS = 6


class SearchPanel(ModalView):
    """A modal search; ``on_pick(sku)`` runs when a result is tapped."""

    query = StringProperty("")
    empty = BooleanProperty(False)

    def __init__(self, on_pick: Callable[[str], None], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._on_pick = on_pick
        self._search = Clock.create_trigger(self._run, 0.15)
        self.fbind("query", self._search)

    def on_open(self) -> None:
        self.ids.query_input.focus = True

    def _run(self, *_args: object) -> None:
        ctl = App.get_running_app().ctl
        box = self.ids.results
        box.clear_widgets()
        text = self.query.strip()
        if len(text) < 2:
            self.empty = False
            return
        hits = ctl.link.edge.search(text, limit=MAX_RESULTS)
        self.empty = not hits
        for view in hits:
            label = f"{ctl.link.name_of(view, ui.lang)} · {ctl.fmt.money(view.price, view.currency)}"
            button = AButton(kind="secondary", text=label)
            button.sku = view.sku
            button.bind(on_release=self._picked)
            box.add_widget(button)

    def _picked(self, button: AButton) -> None:
        self.dismiss()
        self._on_pick(button.sku)
