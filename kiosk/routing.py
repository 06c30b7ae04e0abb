"""What happens when a code is scanned (camera or keyboard wedge), on whatever screen the app is showing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kiosk.i18n.translator import tr
from vision.intents import (
    CartHandoff,
    Intent,
    IntentConfig,
    PhoneEnrolment,
    ProductCode,
    ProductLink,
    StaffBadge,
    Unknown,
    parse_intent,
)

if TYPE_CHECKING:
    from kiosk.controller import Controller

log = logging.getLogger(__name__)


class ScanRouter:
    """Turns intents into navigation; the current screen may claim an intent first (``on_scan``)."""

    def __init__(self, ctl: Controller, intent_config: IntentConfig) -> None:
        self.ctl = ctl
        self.intent_config = intent_config

    def text(self, text: str) -> None:
        """A code from the keyboard wedge or typed by hand."""
        self.intent(parse_intent(text, self.intent_config))

    def intent(self, intent: Intent) -> None:
        """Act on one scanned intent."""
        ctl = self.ctl
        ctl.link.sessions.touch()
        screen = ctl.nav.screen(ctl.nav.current)
        if screen.on_scan(intent):
            return
        if isinstance(intent, ProductLink):
            self.open_product(intent.sku, other_store=intent.store != ctl.config.store)
        elif isinstance(intent, ProductCode):
            self.open_product(intent.gtin)
        elif isinstance(intent, CartHandoff):
            if intent.store != ctl.config.store:
                ctl.notify(tr._("This cart code belongs to another store."), "error")
            else:
                ctl.nav.go("handoff", token=intent.token)
        elif isinstance(intent, StaffBadge):
            ctl.staff_badge(intent)
        elif isinstance(intent, PhoneEnrolment):
            ctl.enrol_phone(intent)
        elif isinstance(intent, Unknown):
            log.info("unknown code: %s", intent.reason)
            ctl.notify(tr._("We cannot use this code here. Try a shelf label or a product barcode."), "error")

    def open_product(self, code: str, other_store: bool = False) -> bool:
        """Show the product of a SKU or GTIN, or say why not."""
        ctl = self.ctl
        view = ctl.link.product(code)
        if view is None:
            if ctl.link.store_details() is None or not ctl.link.edge.synced(0.1):
                ctl.notify(tr._("Still loading this store's products. Please scan again in a moment."), "error")
            else:
                ctl.notify(tr._("We do not sell this product in this store."), "error")
            return False
        ctl.nav.go("product", sku=view.sku)
        if other_store:
            ctl.notify(tr._("This label is from another store. Showing the price and stock here."), "info")
        return True
