"""Staff home: live alerts (restocks, expired batches to remove), most urgent first, and the staff tools."""

from __future__ import annotations

from kivy.properties import StringProperty

from kiosk.i18n.translator import tr
from kiosk.screens.base import AisleScreen
from kiosk.viewmodels.staff import StaffModel
from kiosk.widgets.alert_panel import AlertPanel
from kiosk.widgets.choice import ChoiceCard
from mqtt.alerts import Alert, AlertKind, AlertState

LOW_SHELF = 3


class StaffScreen(AisleScreen):
    """Alerts come retained from the backend; without any, a local low-shelf estimate stands in."""

    model = StaffModel
    summary = StringProperty("")

    def on_vm(self, _screen: object, vm: StaffModel) -> None:
        vm.bind(on_alerts=lambda _vm, _alerts: self.refresh())

    def on_pre_enter(self, *_args: object) -> None:
        self.refresh()

    def relabel(self) -> None:
        if self.manager is not None and self.manager.current == self.name:
            self.refresh()

    def refresh(self) -> None:
        """Rebuild the list (fast: alerts are in memory, products in the local cache)."""
        if self.manager is None or self.manager.current != self.name:
            return
        box = self.ids.alerts
        box.clear_widgets()
        vm = self.vm
        fmt = vm.fmt
        alerts = vm.alerts()
        if alerts:
            self.summary = tr.n_("{n} alert needs attention.", "{n} alerts need attention.", len(alerts)).format(
                n=fmt.number(len(alerts)))
            for alert in alerts:
                box.add_widget(self._alert_card(alert))
            return
        low = vm.low_stock(LOW_SHELF)
        self.summary = tr._("No alerts right now.") if not low else tr._(
            "No alerts from the store system. Low on the shelf here (estimate):")
        for view, stock in low:
            line = tr._("Shelf {shelf} · backroom {backroom} · at {location}").format(
                shelf=fmt.number(stock.shelf or 0), backroom=fmt.number(stock.backroom or 0),
                location=view.shelf_location or "–")
            card = ChoiceCard(title=vm.name_of(view), line=line)
            card.sku = view.sku
            card.bind(on_release=lambda c: self._adjust(c.sku))
            box.add_widget(card)

    def _describe(self, alert: Alert) -> tuple[str, str]:
        vm = self.vm
        fmt = vm.fmt
        view = vm.product(alert.sku)
        name = vm.name_of(view) if view else alert.sku
        where = view.shelf_location if view and view.shelf_location else "–"
        if alert.kind == AlertKind.REMOVE_BATCH:
            # Not a refill: the stock counts say nothing about how many units of this batch are on the shelf.
            title = tr._("Remove expired batch: {product}").format(product=name)
            line = tr._("Batch {batch}, expired {date} · at {location}").format(
                batch=alert.batch, date=fmt.day(alert.expiry), location=where)
            return title, line + self._claimed(alert)
        line = tr._("Shelf {shelf} · backroom {backroom} · at {location}").format(
            shelf=fmt.number(alert.shelf), backroom=fmt.number(alert.backroom), location=where)
        line += self._claimed(alert)
        if not alert.backroom:
            line += " · " + tr._("backroom empty")
        elif not alert.restock_now:  # some units, not enough to refill the shelf: order more
            line += " · " + tr._("not enough in the backroom")
        return name, line

    def _claimed(self, alert: Alert) -> str:
        if alert.state != AlertState.CLAIMED:
            return ""
        return " · " + (tr._("yours") if alert.claimed_by == self.vm.device_id else tr._("taken"))

    def _alert_card(self, alert: Alert) -> ChoiceCard:
        name, line = self._describe(alert)
        urgent = tr._("Urgent") if alert.priority >= 70 or alert.escalated else ""
        card = ChoiceCard(title=name, line=line, total=urgent, selected=alert.claimed_by == self.vm.device_id)
        card.alert = alert
        card.bind(on_release=lambda c: self.open_alert(c.alert))
        return card

    def open_alert(self, alert: Alert) -> None:
        """Details and actions of one alert."""
        name, line = self._describe(alert)
        AlertPanel(self.vm, alert, name, line).open()

    def _adjust(self, sku: str) -> None:
        self.vm.adjust(sku)
