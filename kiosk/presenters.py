"""What the screens say about products, stock, options, orders and errors, in the shopper's language (no Kivy).

``_`` and ``n_`` are the translator's gettext and ngettext, passed in so this stays testable without a display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from edge.device import StockView
from edge.link_health import LinkHealth
from edge.nearby import NearbyStock, StoreStock
from edge.outbox import LocalOrder
from kiosk.formatting import Formatter
from mqtt.commerce import DeliveryOption, Fulfilment

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]
LOW_STOCK = 3


@dataclass(frozen=True)
class StockText:
    """A stock line and how it should look: ok, low, out, stale (offline) or unknown."""

    text: str
    state: str
    detail: str = ""


def stock_text(view: StockView, fmt: Formatter, _: Gettext, n_: Ngettext) -> StockText:
    """"12 in stock here", "Only 2 left here", "Out of stock here", with "last known at" when offline."""
    if not view.known or view.available is None:
        return StockText(_("Stock here is not known yet"), "unknown")
    count = view.available
    if count == 0:
        text, state = _("Out of stock here"), "out"
    elif count <= LOW_STOCK:
        text, state = n_("Only {n} left here", "Only {n} left here", count).format(n=fmt.number(count)), "low"
    else:
        text, state = n_("{n} in stock here", "{n} in stock here", count).format(n=fmt.number(count)), "ok"
    if not view.live:
        return StockText(text, "stale", _("Offline: last known at {time}").format(time=fmt.time(view.as_of)))
    return StockText(text, state)


def shelf_text(location: str, _: Gettext) -> str:
    """Where on the shop floor to find it."""
    return _("Find it at shelf {location}").format(location=location) if location else ""


@dataclass(frozen=True)
class NearbyRow:
    """One other store for the product screen; ``note`` ("last known at 18:32") when its level is not live."""

    name: str
    distance: str
    stock: str
    price: str
    state: str
    note: str = ""


def nearby_rows(nearby: NearbyStock, fmt: Formatter, _: Gettext, n_: Ngettext, limit: int = 4,
                now: datetime | None = None) -> list[NearbyRow]:
    """Other shops nearest first, then warehouses (for delivery)."""
    rows = [_nearby_row(entry, fmt, _, n_, now) for entry in nearby.stores[:limit]]
    for entry in nearby.warehouses[:1]:
        rows.append(replace(_nearby_row(entry, fmt, _, n_, now), distance=_("for home delivery"), price=""))
    return rows


def _nearby_row(entry: StoreStock, fmt: Formatter, _: Gettext, n_: Ngettext, now: datetime | None) -> NearbyRow:
    if entry.available is None:
        stock, state = _("not known"), "unknown"
    elif entry.available == 0:
        stock, state = _("out of stock"), "out"
    else:
        stock = n_("{n} in stock", "{n} in stock", entry.available).format(n=fmt.number(entry.available))
        state = "ok" if entry.live else "stale"
    note = ""
    if not entry.live and entry.available is not None:
        # In words, not by colour alone: the level may be minutes or hours old (store cut off, or not heard).
        note = (_("last known at {time}").format(time=moment_text(entry.received_at, fmt, now))
                if entry.received_at else _("last known"))
    return NearbyRow(entry.name, fmt.distance(entry.distance_km), stock, fmt.money(entry.price, entry.currency),
                     state, note)


def moment_text(moment: datetime | None, fmt: Formatter, now: datetime | None = None) -> str:
    """A past moment as its clock time when it was today (local time), else as date and time."""
    local_now = (now or datetime.now().astimezone()).astimezone()
    aware = None if moment is None else moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # as fmt reads it
    if aware is not None and aware.astimezone().date() == local_now.date():
        return fmt.time(moment)
    return fmt.datetime(moment)


def lead_time(hours: int, _: Gettext, n_: Ngettext, fmt: Formatter) -> str:
    """"in about 1 hour", "in about 2 days"."""
    if hours < 24:
        return n_("in about {n} hour", "in about {n} hours", max(hours, 1)).format(n=fmt.number(max(hours, 1)))
    days = round(hours / 24)
    return n_("in about {n} day", "in about {n} days", days).format(n=fmt.number(days))


@dataclass(frozen=True)
class OptionText:
    """A delivery or pickup option as the shopper reads it."""

    option_id: str
    title: str
    when: str
    fee: str
    total: str


def option_text(option: DeliveryOption, here: str, store_name: Callable[[str], str], fmt: Formatter, _: Gettext,
                n_: Ngettext) -> OptionText:
    """Title, timing, fee and total of one option."""
    when = lead_time(option.lead_time_hours, _, n_, fmt)
    if option.kind == Fulfilment.PICKUP:
        pickup = option.pickup_store or here
        if pickup == here and option.source_store == here:
            title, when = _("Pick up here"), _("Ready {when}").format(when=when)
        elif pickup == here:
            title = _("Pick up here, sent from {store}").format(store=store_name(option.source_store))
            when = _("Ready {when}").format(when=when)
        else:
            title, when = _("Pick up at {store}").format(store=store_name(pickup)), _("Ready {when}").format(when=when)
    else:
        title = _("Home delivery from {store}").format(store=store_name(option.source_store))
        when = _("Arrives {when}").format(when=when)
    fee = _("Free") if option.fee.amount == 0 else _("Delivery {fee}").format(
        fee=fmt.money(option.fee.amount, option.fee.currency))
    return OptionText(option.option_id, title, when, fee, fmt.money(option.total.amount, option.total.currency))


def order_status_text(order: LocalOrder, _: Gettext) -> str:
    """Where a placed order stands."""
    return {
        "queued": _("Saved on this device. It is sent as soon as the store system answers."),
        "awaiting_payment": _("Confirmed. Pay at the till with your reference."),
        "paid": _("Paid. Thank you!"),
        "ready": _("Ready to collect."),
        "shipped": _("On its way."),
        "collected": _("Collected."),
        "cancelled": _("Cancelled."),
        "rejected": _("The store could not take this order."),
    }.get(order.status, order.status)


def error_text(code: str, _: Gettext) -> str:
    """A protocol error code explained to a shopper, with what to do next."""
    return {
        "expired": _("This code has expired. Ask for a new code on the screen that showed it."),
        "used": _("This code has already been used. Each code opens a cart once."),
        "bad_request": _("This code does not belong to this store."),
        "not_found": _("We could not find that here."),
        "conflict": _("Some items sold out meanwhile. Please check your cart."),
        "offline": _("The store system is not answering. Please try again in a moment."),
        "unavailable": _("The store system is busy. Please try again in a moment."),
        "rate_limited": _("The store system is busy. Please try again in a moment."),
        "limit_reached": _("This device already holds as many reservations as it may. Pay for one at the till, "
                           "or let one expire, then try again."),
        "not_ready": _("The store system has not answered yet. Please try again in a moment."),
        "currency": _("That cart belongs to a store with another currency."),
        "forbidden": _("This device may not do that. Please use a staff phone."),
        "chain_unavailable": _("Online carts are unavailable right now. Everything else in this store works as "
                               "usual."),
    }.get(code, _("Something went wrong. Please try again or ask the staff."))


def cart_opened_text(count: int, left_out: int, fmt: Formatter, _: Gettext, n_: Ngettext) -> str:
    """"Your online cart is open here: 3 items.", and how many of its products this store does not sell."""
    opened = n_("Your online cart is open here: {n} item.", "Your online cart is open here: {n} items.",
                count).format(n=fmt.number(count))
    if not left_out:
        return opened
    missing = n_("{n} product of your online cart is not sold in this store, so it was left out.",
                 "{n} products of your online cart are not sold in this store, so they were left out.",
                 left_out).format(n=fmt.number(left_out))
    return f"{opened} {missing}"


@dataclass(frozen=True)
class LinkText:
    """What the screens say about the store connection: a calm banner for shoppers, the reason for staff."""

    state: str  # "ready", "syncing" (first sync running), "not_ready" (never had data) or "offline"
    banner: str  # for shoppers; empty when ready
    reason: str  # why there is no connection, in words; empty while connected
    status: str  # the Settings line for staff: the reason with the client's own words


def link_text(health: LinkHealth, fmt: Formatter, _: Gettext, now: datetime | None = None) -> LinkText:
    """Not ready (never synced), getting ready, or offline with data "last known at"; with the reason why."""
    if health.connected:
        if health.ever_synced:
            return LinkText("ready", "", "", _("Connected to the store."))
        text = _("Getting ready: loading this store's prices and stock…")
        return LinkText("syncing", text, "", text)
    kind = (health.problem or "").split(":", 1)[0]
    reason = {
        "": _("Connecting to the store's server…"),
        "unreachable": _("The store's server cannot be reached. Check the network and the broker address."),
        "refused": _("The store's server refused this device's login (wrong login or not allowed)."),
        "tls": _("The store server's certificate was not accepted."),
    }.get(kind, _("Cannot connect to the store's server."))
    status = f"{reason}\n{health.problem}" if health.problem else reason  # the client's words, for support
    if not health.ever_synced:
        return LinkText("not_ready", _("Not ready yet: prices and stock appear once this device reaches the store."),
                        reason, status)
    when = moment_text(health.last_known, fmt, now)
    return LinkText("offline", _("Offline: prices and stock as last known at {time}.").format(time=when), reason,
                    status)
