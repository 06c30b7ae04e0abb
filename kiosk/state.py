"""App-wide state the screens show (connection, cart badge, idle countdown, notices); set on the UI thread only."""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, OptionProperty, StringProperty


class AppState(EventDispatcher):
    """One per app (``state``); workers never write here, the controller does on the UI thread."""

    connected = BooleanProperty(False)
    store_name = StringProperty("")
    languages = ListProperty(["en"])
    cart_count = NumericProperty(0)
    cart_total = StringProperty("")
    staff_id = StringProperty("")
    staff_enabled = BooleanProperty(False)  # provisioned (or demo): staff can sign in on this device
    idle_warning = BooleanProperty(False)
    idle_left = NumericProperty(0)
    notice = StringProperty("")
    notice_kind = OptionProperty("info", options=["info", "ok", "error"])
    camera_ok = BooleanProperty(True)
    link_state = OptionProperty("not_ready", options=["ready", "syncing", "not_ready", "offline"])
    link_banner = StringProperty("")  # for shoppers: not ready, getting ready, or offline "last known at"
    link_reason = StringProperty("")  # for staff: why there is no connection
    link_status = StringProperty("")  # for staff on Settings: the reason with the client's own words
    phone_code = StringProperty("")  # a provisioned kiosk's phone enrolment QR text; "" shows no code


state = AppState()
