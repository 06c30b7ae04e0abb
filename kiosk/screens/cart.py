"""The cart: lines with quantities, totals, flagged price changes, hand-off to a phone, checkout choices."""

from __future__ import annotations

from datetime import UTC, datetime

from kivy.clock import Clock
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView

from edge.cart import CartSnapshot
from edge.client_types import CartOpened, ClientError
from kiosk.i18n.translator import tr
from kiosk.presenters import error_text
from kiosk.screens.base import AisleScreen
from kiosk.theme import ui
from kiosk.viewmodels.shopper import CartModel
from kiosk.widgets.cart_line import CartLineRow
from mqtt.commerce import Handoff


class HandoffPanel(ModalView):
    """The QR code that moves this cart to the shopper's phone, with its expiry and when it was opened."""

    url = StringProperty("")
    status = StringProperty("")
    opened = BooleanProperty(False)
    handoff: Handoff | None = ObjectProperty(None, allownone=True)
    __events__ = ("on_finish",)

    def on_finish(self) -> None:
        """The shopper tapped Done: the cart moved to the phone."""

    def on_open(self) -> None:
        self._tick = Clock.schedule_interval(self._countdown, 1.0)

    def on_dismiss(self) -> None:
        self._tick.cancel()

    def _countdown(self, _dt: float) -> None:
        if self.handoff is None or self.opened:
            return
        left = (self.handoff.expires_at - datetime.now(UTC)).total_seconds()
        fmt = ui.fmt
        if left <= 0:
            self.status = tr._("This code has expired. Close and show a new one.")
        else:
            minutes, seconds = divmod(int(left), 60)
            self.status = tr._("Scan it with your phone's camera. Works once, for {time} more.").format(
                time=fmt.digits(f"{minutes}:{seconds:02d}"))


class CartScreen(AisleScreen):
    """Lines and totals; every change goes through DeviceCart and comes back as a snapshot."""

    model = CartModel
    total = StringProperty("")
    flagged = StringProperty("")
    empty = BooleanProperty(True)
    busy = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._panel: HandoffPanel | None = None
        self._snapshot: CartSnapshot | None = None

    def on_vm(self, _screen: object, vm: CartModel) -> None:
        vm.bind(on_cart=lambda _vm, snapshot: self.cart_changed(snapshot),
                on_cart_opened=lambda _vm, opened: self.cart_opened(opened))

    def on_pre_enter(self, *_args: object) -> None:
        self.cart_changed(self.vm.snapshot())

    def relabel(self) -> None:
        if self._snapshot is not None:
            self.cart_changed(self._snapshot)

    def cart_changed(self, snapshot: CartSnapshot | None) -> None:
        """Redraw from a snapshot (UI thread)."""
        self._snapshot = snapshot
        box = self.ids.lines
        box.clear_widgets()
        lines = snapshot.lines if snapshot else ()
        self.empty = not lines
        vm = self.vm
        fmt = vm.fmt
        for line in lines:
            view = vm.product(line.sku)
            name = vm.name_of(view) if view else line.sku
            was = ""
            if line.price_changed_from is not None:
                was = tr._("Price changed from {old}").format(
                    old=fmt.money(line.price_changed_from.amount, line.price_changed_from.currency))
            price = fmt.money(line.unit_price.amount, line.unit_price.currency)
            if line.label_mismatch and line.label_price is not None:
                was = tr._("The label said {label}").format(
                    label=fmt.money(line.label_price.amount, line.label_price.currency))
            unit = (tr._("{weight} at {price} per kg").format(weight=fmt.weight(line.measure), price=price)
                    if line.measure is not None else tr._("{price} each").format(price=price))
            box.add_widget(CartLineRow(
                sku=line.sku, name=name, unit=unit, weighed=line.labelled,
                quantity=fmt.number(line.quantity), total=fmt.money(line.line_total.amount, line.line_total.currency),
                was=was, on_change=vm.change))
        self.total = fmt.money(snapshot.total.amount, snapshot.total.currency) if snapshot else ""
        count = len(snapshot.flagged) if snapshot else 0
        self.flagged = tr.n_("The price of {n} item changed since you added it.",
                             "The prices of {n} items changed since you added them.", count).format(
            n=fmt.number(count)) if count else ""

    def checkout(self, kind: str) -> None:
        """Pay at the till, send home or pick up later, for the whole cart."""
        self.vm.checkout(kind)

    def continue_on_phone(self) -> None:
        """Export the cart and show its single-use QR code."""
        self.busy = True
        self.vm.export_cart(self._show_handoff, self._handoff_failed)

    def _show_handoff(self, handoff: Handoff) -> None:
        self.busy = False
        self._panel = HandoffPanel(handoff=handoff, url=handoff.url)
        self._panel.bind(on_finish=lambda _panel: self.finish_on_phone())
        self._panel.status = tr._("Scan it with your phone's camera.")
        self._panel.open()

    def _handoff_failed(self, exc: Exception) -> None:
        self.busy = False
        self.vm.notify(error_text(exc.code if isinstance(exc, ClientError) else "other", tr._), "error")

    def cart_opened(self, opened: CartOpened) -> None:
        """The phone took the cart."""
        panel = self._panel
        if panel is not None and panel.handoff is not None and panel.handoff.cart_id == opened.cart_id:
            panel.opened = True
            panel.status = tr._("Opened on your phone. You can leave the kiosk now.")

    def finish_on_phone(self) -> None:
        """The shopper moved on to the phone: end the kiosk session."""
        if self._panel is not None:
            self._panel.dismiss()
        self.vm.end_session()

    def reset(self) -> None:
        if self._panel is not None:
            self._panel.dismiss()
            self._panel = None
        self._snapshot = None
        self.ids.lines.clear_widgets()
        self.empty = True
