"""What the product screen says about the one pack that was scanned: its weight and price, batch, expiry, recall.

No Kivy: ``_`` is the translator's gettext, passed in, so this is tested without a display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from edge.batches import ScannedProduct
from edge.views import ProductView
from kiosk.formatting import Formatter
from mqtt.commerce import CartLine, PricingError, price_line
from mqtt.payloads import Money
from mqtt.recalls import Recall

Gettext = Callable[[str], str]


@dataclass(frozen=True)
class PackText:
    """Lines for the product screen, and whether this pack may go into the cart."""

    pack: str = ""  # "This pack: 1.234 kg · 36.95 kr"
    label: str = ""  # the label's price differs from ours
    note: str = ""  # batch, use-by, expired or recalled
    tone: str = "muted"  # how the note looks: muted, warn or danger
    blocked: bool = False  # expired or recalled: not to be sold
    withdrawn: bool = False  # every batch recalled: not to be sent or reserved either
    measure: Decimal | None = None
    label_price: Money | None = None

    @property
    def weighed(self) -> bool:
        """True when the scanned code carried a weight or price: the cart takes this pack, not "one more"."""
        return self.measure is not None or self.label_price is not None


def pack_text(view: ProductView, scan: ScannedProduct | None, recall: Recall | None, fmt: Formatter,
              _: Gettext) -> PackText:
    """The texts for a product opened by ``scan`` (None: opened by name, a shelf label or a search)."""
    pack, label, measure, label_price = "", "", None, None
    carried = scan.pack() if scan is not None else None
    if carried is not None:
        try:
            line = price_line(view.sku, Money(amount=view.price, currency=view.currency), view.unit, 1, *carried)
        except PricingError:
            line = None
        if line is None:
            label = _("We cannot read the weight or price on this label. Please ask a member of staff.")
        else:
            pack, label = _pack_line(line, fmt, _), _label_line(line, fmt, _)
            measure, label_price = line.measure, line.label_price
    note, tone, blocked = _batch_note(scan, recall, fmt, _)
    withdrawn = recall is not None and recall.batch is None
    return PackText(pack, label, note, tone, blocked, withdrawn, measure, label_price)


def _pack_line(line: CartLine, fmt: Formatter, _: Gettext) -> str:
    price = fmt.money(line.line_total.amount, line.line_total.currency)
    if line.measure is None:
        return _("This pack: {price}").format(price=price)
    return _("This pack: {weight} · {price}").format(weight=fmt.weight(line.measure), price=price)


def _label_line(line: CartLine, fmt: Formatter, _: Gettext) -> str:
    if not line.label_mismatch or line.label_price is None:
        return ""
    text = _("The label says {label}. You pay our price: {price}.")
    return text.format(label=fmt.money(line.label_price.amount, line.label_price.currency),
                       price=fmt.money(line.line_total.amount, line.line_total.currency))


def _batch_note(scan: ScannedProduct | None, recall: Recall | None, fmt: Formatter,
                _: Gettext) -> tuple[str, str, bool]:
    if recall is not None:
        text = _("Recalled: {reason}. Please do not buy or use it, and ask a member of staff.")
        text = text.format(reason=recall.reason)
        if recall.batch is not None:
            text = f"{text}\n{_('Batch {batch}').format(batch=recall.batch)}"
        return text, "danger", True
    if scan is None or scan.gs1 is None:
        return "", "muted", False
    batch, expiry = scan.batch, scan.expiry
    if scan.expired and expiry is not None:
        text = _("This pack expired on {date}. Please take another one from the shelf; we have told the staff.")
        return text.format(date=fmt.day(expiry)), "danger", True
    parts = []
    if batch:
        parts.append(_("Batch {batch}").format(batch=batch))
    if expiry is not None:
        parts.append(_("Use by {date}").format(date=fmt.day(expiry)))
    elif scan.gs1.best_before is not None:
        parts.append(_("Best before {date}").format(date=fmt.day(scan.gs1.best_before)))
    return " · ".join(parts), "muted", False
