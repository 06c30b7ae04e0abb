"""What happens when a code is scanned (camera or keyboard wedge), on whatever screen the app is showing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from codes.ids import HQ_SITE
from codes.measure import MeasureError
from codes.scanned import (
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
from kiosk.i18n.translator import tr

if TYPE_CHECKING:
    from edge.store_client import StoreClient
    from kiosk.config import KioskConfig
    from kiosk.navigation import Navigator

log = logging.getLogger(__name__)


def handoff_params(intent: CartHandoff, store: str) -> dict[str, str] | None:
    """The hand-off screen's parameters for a scanned cart code, or None when this store cannot open it."""
    if intent.store == store:
        return {"token": intent.token}
    if intent.store == HQ_SITE:
        # A cart from the chain's web shop: this store's backend asks HQ, which alone decides single use.
        return {"token": intent.token, "issuer": HQ_SITE}
    return None  # another store's cart: only that store's backend knows its token


class RouterHost(Protocol):
    """What the router needs of the controller (named here so routing never imports the controller)."""

    config: KioskConfig
    link: StoreClient
    nav: Navigator

    def notify(self, text: str, kind: str = "info") -> None: ...

    def staff_badge(self, badge: StaffBadge) -> None: ...

    def enrol_phone(self, intent: PhoneEnrolment) -> None: ...


class ScanRouter:
    """Turns intents into navigation; the current screen may claim an intent first (``on_scan``)."""

    def __init__(self, ctl: RouterHost, intent_config: IntentConfig) -> None:
        self.ctl = ctl
        self.intent_config = intent_config

    def text(self, text: str) -> None:
        """A code from the keyboard wedge or typed by hand."""
        self.intent(parse_intent(text, self.intent_config))

    def intent(self, intent: Intent) -> None:
        """Act on one scanned intent."""
        ctl, link = self.ctl, self.ctl.link
        link.sessions.touch()
        screen = ctl.nav.screen(ctl.nav.current)
        if screen.on_scan(intent):
            return
        if isinstance(intent, ProductLink):
            self.open_product(intent, other_store=intent.store != ctl.config.store)
        elif isinstance(intent, ProductCode):
            self.open_product(intent)
        elif isinstance(intent, CartHandoff):
            params = handoff_params(intent, ctl.config.store)
            if params is None:
                ctl.notify(tr._("This cart code belongs to another store."), "error")
            else:
                ctl.nav.go("handoff", **params)
        elif isinstance(intent, StaffBadge):
            ctl.staff_badge(intent)
        elif isinstance(intent, PhoneEnrolment):
            ctl.enrol_phone(intent)
        elif isinstance(intent, Unknown):
            log.info("unknown code: %s", intent.reason)
            ctl.notify(tr._("We cannot use this code here. Try a shelf label or a product barcode."), "error")

    def open_product(self, code: str | ProductLink | ProductCode, other_store: bool = False) -> bool:
        """Show the product of a SKU, or of a scan parsed once already, or say why not.

        A scan brings what its code says about this one pack (weight, price, batch, expiry) to the product screen.
        """
        ctl, link = self.ctl, self.ctl.link
        scan = None
        if isinstance(code, str):
            view = link.product(code)
        else:
            try:
                scan = link.resolve_scan(code)
            except MeasureError as exc:
                log.info("variable-measure label refused: %s", exc)
                ctl.notify(tr._("We cannot read the weight or price on this label. Please ask a member of staff."),
                           "error")
                return False
            view = scan.product if scan is not None else None
        if view is None:
            if link.store_details() is None or not link.synced(0.1):
                ctl.notify(tr._("Still loading this store's products. Please scan again in a moment."), "error")
            else:
                ctl.notify(tr._("We do not sell this product in this store."), "error")
            return False
        ctl.nav.go("product", sku=view.sku, scan=scan)
        if other_store:
            ctl.notify(tr._("This label is from another store. Showing the price and stock here."), "info")
        return True
