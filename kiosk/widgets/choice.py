"""A selectable card with a title, a detail line and a price (delivery options, settings choices)."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout


class ChoiceCard(ButtonBehavior, BoxLayout):
    """Tap to select; the selected card has a thick accent border."""

    title = StringProperty("")
    line = StringProperty("")
    total = StringProperty("")
    image = StringProperty("")  # a product picture at the start of the card, when given
    initial = StringProperty("")
    show_picture = BooleanProperty(False)

    def on_image(self, *_args: object) -> None:
        self.show_picture = bool(self.image or self.initial)

    on_initial = on_image
    selected = BooleanProperty(False)
    radio = BooleanProperty(False)  # one of several to pick from: show a radio mark
