"""Delivery and pickup options with lead time and price; the chosen one becomes an order in the outbox."""

from __future__ import annotations

from kivy.properties import BooleanProperty, OptionProperty, StringProperty

from edge.client_types import ClientError
from kiosk import presenters
from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.checkout import OptionsModel
from kiosk.widgets.choice import ChoiceCard
from mqtt.commerce import DeliveryOption, Fulfilment


class OptionsScreen(AisleScreen):
    """Lists ``order.options`` of the draft's kind; "till" shows only picking up (and paying) here."""

    model = OptionsModel
    phase = OptionProperty("loading", options=["loading", "choose", "error"])
    message = StringProperty("")
    selected = StringProperty("")
    placing = BooleanProperty(False)
    kind = StringProperty("pickup")  # the draft's kind: till, pickup or delivery

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._options: list[DeliveryOption] = []

    def on_pre_enter(self, *_args: object) -> None:
        self.load()

    def load(self) -> None:
        """Ask the backend for options (worker thread)."""
        draft = self.vm.draft
        if draft is None:
            return
        self.kind = draft.kind
        self.phase, self.selected, self.message = "loading", "", tr._("Finding the options…")
        self.ids.options.clear_widgets()
        self.vm.load(draft, self._loaded, self._failed)

    def _wanted(self, option: DeliveryOption) -> bool:
        here = self.vm.here
        if self.kind == "till":
            return option.kind == Fulfilment.PICKUP and option.source_store == here and option.pickup_store == here
        return option.kind.value == self.kind

    def _loaded(self, options: list[DeliveryOption]) -> None:
        self._options = [o for o in options if self._wanted(o)]
        if not self._options:
            self.phase = "error"
            self.message = tr._("Not enough in stock here to pay at the till now. Send it home or pick it up later.") \
                if self.kind == "till" else tr._("There is no way to get these items right now.")
            return
        self.phase = "choose"
        self.message = ""
        self.selected = self._options[0].option_id
        self._draw()

    def _failed(self, exc: Exception) -> None:
        self.phase = "error"
        self.message = presenters.error_text(exc.code if isinstance(exc, ClientError) else "other", tr._)

    def relabel(self) -> None:
        if self.phase == "choose":
            self._draw()

    def _draw(self) -> None:
        fmt = self.vm.fmt
        box = self.ids.options
        box.clear_widgets()
        for option in self._options:
            text = presenters.option_text(option, self.vm.here, self.vm.store_name, fmt, tr._, tr.n_)
            card = ChoiceCard(title=text.title, line=" · ".join((text.when, text.fee)), total=text.total,
                              selected=option.option_id == self.selected, radio=True)
            card.option_id = option.option_id
            card.bind(on_release=self._choose)
            box.add_widget(card)

    def _choose(self, card: ChoiceCard) -> None:
        self.selected = card.option_id
        for child in self.ids.options.children:
            child.selected = child.option_id == self.selected

    def place(self) -> None:
        """Put the order in the outbox (durable at once) and show its confirmation."""
        draft = self.vm.draft
        option = next((o for o in self._options if o.option_id == self.selected), None)
        if draft is None or option is None or self.placing:
            return
        self.placing = True
        text = presenters.option_text(option, self.vm.here, self.vm.store_name, self.vm.fmt, tr._, tr.n_)

        def done(order: object) -> None:
            self.placing = False
            self.vm.replace("confirm", order=order, option=text, kind=draft.kind)

        def failed(exc: Exception) -> None:
            self.placing = False
            self.vm.notify(presenters.error_text("other", tr._), "error")

        self.vm.place(option, draft, done, failed)

    def reset(self) -> None:
        self._options = []
        self.ids.options.clear_widgets()
        self.phase, self.selected, self.message, self.placing = "loading", "", "", False
