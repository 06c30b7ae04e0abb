"""A large on-screen keyboard for the kiosk, typing into whichever of its text inputs has focus."""

from __future__ import annotations

from kivy.properties import ListProperty, ObjectProperty, OptionProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.textinput import TextInput

from kiosk.text.compose import TONES, key_label, with_tone
from kiosk.widgets.text import AButton

LAYOUTS = {
    # Nordic letters on the letter layout: addresses here are Swedish and Danish.
    "letters": ["1234567890", "qwertyuiopå", "asdfghjklöä", "zxcvbnmæø-", "@.,'"],
    "symbols": ["1234567890", "+()/&:;#", "-_.,@'", "!?\"*%"],
    # Vietnamese: its extra letters, then the five tones, which go on the letter before the cursor.
    "accents": ["ăâđêôơư", "\u0300\u0301\u0309\u0303\u0323", "éèëíóúüýñç"],
}
PAGE_AFTER = {"letters": "symbols", "symbols": "accents", "accents": "letters"}
PAGE_KEY = {"letters": "#+=", "symbols": "ăêơ", "accents": "abc"}  # names the page the key leads to


class OnScreenKeyboard(BoxLayout):
    """Keys for ``target`` (a TextInput); shift for one capital, a symbols page, space, erase and next."""

    target: TextInput | None = ObjectProperty(None, allownone=True)
    inputs = ListProperty([])  # the fields "Next" walks through
    page = OptionProperty("letters", options=list(LAYOUTS))
    shift = OptionProperty("once", options=["off", "once"])

    def on_kv_post(self, base_widget: object) -> None:
        self._built = False
        self.fbind("page", self._build)
        self.fbind("shift", self._label_keys)

    def ensure_built(self) -> None:
        """Make the keys (once, when first shown: fifty buttons cost half a second of start-up)."""
        if not self._built:
            self._build()

    def _build(self, *_args: object) -> None:
        self._built = True
        rows = self.ids.rows
        rows.clear_widgets()
        for row_keys in LAYOUTS[self.page]:
            row = BoxLayout(spacing=rows.spacing)
            for char in row_keys:
                key = AButton(kind="secondary", font_scale=1.1)
                key.size_hint_y = 1  # the row decides the height; keys never grow into the next row
                key.key_char = char
                key.bind(on_release=lambda button: self.press(button.key_char))
                row.add_widget(key)
            rows.add_widget(row)
        self._label_keys()

    def _label_keys(self, *_args: object) -> None:
        for row in self.ids.rows.children:
            for key in row.children:
                label = key_label(key.key_char)
                key.text = label.upper() if self.shift == "once" and label.isalpha() else label

    def next_page(self) -> None:
        """Letters, symbols, Vietnamese letters and tones, and round again."""
        self.page = PAGE_AFTER[self.page]

    def press(self, char: str) -> None:
        """Type one character into the focused field (a tone changes the letter before the cursor)."""
        field = self.target
        if field is None:
            return
        if char in TONES:
            index = field.cursor_index()
            toned = with_tone(field.text[index - 1], char) if index > 0 else None
            if toned is not None:
                field.do_backspace()
                field.insert_text(toned)
            field.focus = True
            return
        if self.shift == "once" and char.isalpha():
            char = char.upper()
            self.shift = "off"
        field.insert_text(char)
        field.focus = True

    def space(self) -> None:
        """Type a space; the next letter starts a word."""
        self.press(" ")
        self.shift = "once"

    def erase(self) -> None:
        """Delete the character before the cursor."""
        if self.target is not None:
            self.target.do_backspace()
            self.target.focus = True

    def next_field(self) -> None:
        """Move to the next field (or stay on the last)."""
        fields = list(self.inputs)
        if self.target in fields:
            index = fields.index(self.target)
            if index + 1 < len(fields):
                self.target = fields[index + 1]
                self.target.focus = True
                self.shift = "once"
