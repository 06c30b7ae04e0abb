"""The start screen: what this device does, in the store's languages, and a big invitation to scan."""

from __future__ import annotations

from kiosk.i18n import catalogs
from kiosk.i18n.languages import LANGUAGES
from kiosk.screens.base import AisleScreen
from kiosk.state import state
from kiosk.theme import ui
from kiosk.viewmodels.shopper import AttractModel
from kiosk.widgets.search import SearchPanel
from kiosk.widgets.text import AButton, AText

INVITATION = "Scan a product here to see its price and stock"


class AttractScreen(AisleScreen):
    """Invitation, language choice, and ways in: scan, photo, search, cart, staff."""

    model = AttractModel

    def on_kv_post(self, base_widget: object) -> None:
        state.fbind("languages", self.relabel)
        self.relabel()

    def relabel(self, *_args: object) -> None:
        chooser = self.ids.languages
        chooser.clear_widgets()
        for code in state.languages:
            lang = LANGUAGES[code]
            button = AButton(kind="choice", text=lang.native, selected=code == ui.lang)
            button.lang_code = code
            button.bind(on_release=lambda b: self.vm.set_language(b.lang_code))
            chooser.add_widget(button)
        lines = self.ids.invitations
        lines.clear_widgets()
        for code in state.languages:
            if code == ui.lang:
                continue
            text = catalogs.load(code, catalogs.LOCALE_DIR).gettext(INVITATION)
            lines.add_widget(AText(raw=text, direction="rtl" if LANGUAGES[code].rtl else "ltr", tone="muted"))

    def on_pre_enter(self, *_args: object) -> None:
        self.relabel()

    def search(self) -> None:
        """Open the search panel; a result opens the product."""
        SearchPanel(self.vm, on_pick=self.vm.open_product).open()
