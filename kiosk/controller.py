"""The glue between services and screens: listeners, language, idle resets, scanning input, sign-in."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.textinput import TextInput

from codes.scanned import PhoneEnrolment, StaffBadge
from edge.cart import CartSnapshot
from edge.client_types import CartOpened, OrderDraft
from edge.device import ProductView, StockView
from edge.session import SessionState
from edge.staff_actions import ActionOutcome
from edge.store_client import StoreClient
from kiosk.config import KioskConfig, Mode, save_settings
from kiosk.formatting import Formatter
from kiosk.i18n.languages import LANGUAGES, is_rtl, offered, supported
from kiosk.i18n.translator import tr
from kiosk.navigation import Navigator
from kiosk.presenters import link_text
from kiosk.routing import ScanRouter
from kiosk.services.alarm import Alarm, UrgentAlerts
from kiosk.services.camera import CameraFeed, CameraUnavailable, make_source
from kiosk.services.images import ProductImages
from kiosk.services.phones import PhoneCodes, enrol_failure, enrol_phone
from kiosk.services.recognition import RecognitionService
from kiosk.services.staff import SignIn, StaffAuth
from kiosk.services.tasks import Tasks
from kiosk.state import state
from kiosk.theme import ui
from kiosk.viewmodels.updates import Updates
from mqtt.alerts import Alert
from mqtt.commerce import LineRequest
from mqtt.payloads import utcnow
from vision.scanner import Detection
from vision.wedge import KeyboardWedge

log = logging.getLogger(__name__)

IDLE_TICK = 0.25
ENROL_RETRY = 10.0  # seconds before a phone retries an enrolment code that failed without being spent
KEY_ESCAPE = 27  # also Android's back button
NAMED_KEYS = {13: "enter", 271: "enter", 9: "tab", 8: "backspace"}


def ui_dispatch(fn: Callable[[], None]) -> None:
    """Run ``fn`` on the Kivy thread (Clock.schedule_once is thread-safe)."""
    Clock.schedule_once(lambda _dt: fn(), 0)


class Controller:
    """Owns the services for the app's lifetime and keeps ``state`` and the screens in step with them."""

    def __init__(self, config: KioskConfig, device_id: str, navigator: Navigator) -> None:
        self.config = config
        self.device_id = device_id
        self.nav = navigator
        self.tasks = Tasks(ui_dispatch)
        self.camera = CameraFeed(lambda: make_source(self.config.images, self.config.camera, self.config.images_fps))
        self.images = ProductImages(config.product_images, config.product_dataset)
        self.recognition = RecognitionService(config.data_dir / "recognition", config.recognition_model)
        self.staff = StaffAuth(config)
        self.alarm = Alarm(config.data_dir)
        self.urgent = UrgentAlerts(since=utcnow())
        self.wedge = KeyboardWedge(max_gap=None)
        self.router = ScanRouter(self, config.code_config())
        self.updates = Updates()  # what the screens' view-models follow
        self.link = self._connect(config)
        # A provisioned kiosk offers shopper phones a way in; the demo's broker has no phone registry (nothing shown).
        self.phone_codes = PhoneCodes(lambda: self.link.enrolment_code(), self.tasks, self._show_phone_code) if (
            config.mode is Mode.KIOSK and config.provisioned) else None
        self._enrolling: Future[KioskConfig] | None = None
        self._welcome = False  # a phone just enrolled: say so once it is connected and knows the store's name
        self._tried_codes: dict[str, float] = {}  # enrolment login -> when it may be tried again (monotonic)
        self.language_chosen = False
        self.draft: OrderDraft | None = None
        self._tick_event = Clock.schedule_interval(self._tick, IDLE_TICK)
        Window.bind(on_key_down=self._on_key_down, on_touch_down=self._on_touch)
        ui.mode = config.mode.value
        state.staff_enabled = self.staff.enabled
        ui.text_scale = config.text_scale
        ui.high_contrast = config.high_contrast

    def start(self) -> None:
        """Show the first texts (screens reach the controller through the app from now on)."""
        self.set_language(supported(self.config.language) or self._store_language(),
                          chosen=bool(self.config.language))
        self._refresh_store()

    # -- wiring -----------------------------------------------------------------------

    def _connect(self, config: KioskConfig) -> StoreClient:
        link = StoreClient(config.device_settings(self.device_id), ui_dispatch)
        link.on_stock(self._stock_changed)
        link.on_product(self._product_changed)
        link.on_connection(self._connection_changed)
        link.on_cart(self._cart_changed)
        link.on_order(lambda order: self.updates.dispatch("on_order", order))
        link.on_cart_opened(self._cart_opened)
        link.on_enrolment_used(self._enrolment_used)
        link.on_session_end(lambda _session: self.reset_ui())
        link.on_alerts(self._alerts_changed)
        link.on_recalls(lambda recalls: self.updates.dispatch("on_recalls", recalls))
        link.on_staff_action(self._staff_action_done)
        if self.staff.enabled:  # the store's revoked badges, kept on the device for offline checks
            link.on_staff_revocations(self.staff.on_revocation_message)
        link.start()  # after the listeners: nothing that arrives early is missed
        return link

    def _alerts_changed(self, alerts: tuple[Alert, ...]) -> None:
        self.updates.dispatch("on_alerts", alerts)
        fresh = self.urgent.new(alerts)
        if not fresh or not (self.config.mode is Mode.STAFF or state.staff_id):
            return
        self.alarm.ring()
        view = self.link.product(fresh[0].sku)
        name = self.link.name_of(view, ui.lang) if view is not None else fresh[0].sku
        where = view.shelf_location if view is not None and view.shelf_location else fresh[0].location
        self.notify(tr._("Urgent: {product} at {location}").format(product=name, location=where), "error")

    def _staff_action_done(self, outcome: ActionOutcome) -> None:
        if outcome.ok:
            self.notify(tr._("Sent now that you are back online."), "ok")
        else:
            self.notify(tr._("Not done: {reason}").format(reason=outcome.error or outcome.error_code), "error")

    def close(self) -> None:
        """Stop everything this app started."""
        self._tick_event.cancel()
        self.camera.stop()
        self.tasks.close()
        self.link.close()

    def apply_config(self, config: KioskConfig) -> None:
        """Settings changed: save them, and reconnect when the store or broker changed."""
        old, self.config = self.config, config
        save_settings(config)
        ui.text_scale = config.text_scale
        ui.high_contrast = config.high_contrast
        login = (config.store, config.broker, config.broker_username, config.broker_password, config.device_id)
        if (old.store, old.broker, old.broker_username, old.broker_password, old.device_id) != login:
            self.tasks.cancel_all()
            self.link.close()
            self.device_id = config.device_id or self.device_id  # a phone's own login is its device id
            self.staff = StaffAuth(config)
            state.staff_enabled = self.staff.enabled
            self.router.intent_config = config.code_config()
            self.link = self._connect(config)
            state.store_name = ""
            if self.phone_codes is not None:
                self.phone_codes.renew()
            self._refresh_store()
        if config.mode is not Mode.PHONE and config.idle_timeout > 0:
            self.link.sessions.idle_timeout = config.idle_timeout
            self.link.sessions.warning = min(config.idle_warning, config.idle_timeout / 3)
        if config.language and config.language != old.language:
            self.set_language(config.language, chosen=True)

    # -- language -------------------------------------------------------------------

    def _store_language(self) -> str:
        details = self.link.store_details()
        return (supported(details.locale) if details else None) or "en"

    def set_language(self, code: str, chosen: bool = True) -> None:
        """Switch every text on screen to another language (and direction)."""
        code = supported(code) or "en"
        details = self.link.store_details()
        ui.fmt = Formatter(code, details.locale if details else None)
        tr.switch(code)
        ui.rtl = is_rtl(code)
        ui.lang = code
        self.language_chosen = chosen
        for screen in self.nav.manager.screens:
            screen.relabel()
        self._cart_changed(self.link.cart_snapshot())
        self._show_link()

    @property
    def fmt(self) -> Formatter:
        """The formatter of the current language."""
        return ui.fmt

    def _refresh_store(self) -> bool:
        details = self.link.store_details()
        if details is None:
            return False
        state.store_name = details.name
        state.languages = offered(details.locales) if self.config.is_shopper else list(LANGUAGES)
        # Prices follow the store's conventions too, so the formatter is rebuilt once the store is known.
        self.set_language(ui.lang if self.language_chosen else self._store_language(), chosen=self.language_chosen)
        return True

    # -- listeners (UI thread) ----------------------------------------------------------

    def _stock_changed(self, view: StockView) -> None:
        self.updates.dispatch("on_stock", view)

    def _product_changed(self, view: ProductView) -> None:
        self.updates.dispatch("on_product", view)

    def _connection_changed(self, up: bool) -> None:
        state.connected = up
        self.updates.dispatch("on_connection", up)
        if up and not state.store_name:
            Clock.schedule_once(lambda _dt: self._refresh_store(), 1.0)

    def _show_link(self) -> None:
        """Not ready, getting ready or offline since when, and why (every tick: a few cheap look-ups)."""
        health = self.link.health()
        text = link_text(health, self.fmt, tr._)
        reason = text.reason
        config = self.config
        if (config.mode is Mode.PHONE and not config.provisioned and not config.broker_username
                and (health.problem or "").startswith("refused")):
            # A production broker lets a shopper's phone in only with a login of its own, from a kiosk's code.
            reason = tr._("Scan the code on a kiosk in the store to connect this phone.")
        state.link_state, state.link_banner = text.state, text.banner
        state.link_reason, state.link_status = reason, text.status

    def _cart_changed(self, snapshot: CartSnapshot | None) -> None:
        if snapshot is None:
            return
        state.cart_count = sum(line.quantity for line in snapshot.lines)
        state.cart_total = self.fmt.money(snapshot.total.amount, snapshot.total.currency)
        self.updates.dispatch("on_cart", snapshot)

    def _enrolment_used(self, login: str) -> None:
        if self.phone_codes is not None:  # a phone took the code on screen: the next shopper gets a fresh one
            self.phone_codes.used(login)

    def _cart_opened(self, opened: CartOpened) -> None:
        self.updates.dispatch("on_cart_opened", opened)

    def notify(self, text: str, kind: str = "info") -> None:
        """Show a notice at the bottom of the screen."""
        state.notice_kind = kind
        state.notice = ""
        state.notice = text

    # -- sessions --------------------------------------------------------------------

    def _idle_applies(self) -> bool:
        if self.config.mode is Mode.PHONE:
            return False
        if self.config.mode is Mode.STAFF:
            return bool(state.staff_id)
        return self.nav.current != "attract" or bool(state.staff_id)

    def _tick(self, _dt: float) -> None:
        if state.connected != self.link.connected:  # the first connect may beat the listener
            self._connection_changed(self.link.connected)
        if not state.store_name:
            self._refresh_store()
        self._show_link()
        if self.phone_codes is not None:
            self.phone_codes.tick(self.link.connected and self.nav.current == "attract")
        if self._welcome and self.link.connected and state.store_name:
            self._welcome = False
            self.notify(tr._("Connected to {store}").format(store=state.store_name), "ok")
        if not self._idle_applies():
            self.link.sessions.touch()
            state.idle_warning = False
            return
        status = self.link.sessions.tick()  # ends the session when it ran out (reset_ui follows)
        state.idle_warning = status.state is SessionState.WARNING
        state.idle_left = math.ceil(status.seconds_left)

    def end_session(self) -> None:
        """The shopper is done: wipe the session now (cart, addresses, orders) and start over."""
        self.link.sessions.end()

    def reset_ui(self) -> None:
        """After a session ended: forget everything on screen and go back to the start."""
        self.tasks.cancel_all()
        self.stop_camera()
        state.idle_warning = False
        state.notice = ""
        state.staff_id = ""
        self.draft = None
        for screen in self.nav.manager.screens:
            screen.reset()
        if self.config.mode is not Mode.PHONE and self.config.is_shopper:
            self.set_language(supported(self.config.language) or self._store_language(), chosen=False)
        self.nav.home()

    # -- input ------------------------------------------------------------------------

    def _on_touch(self, _window: object, _touch: object) -> None:
        self.link.sessions.touch()
        state.idle_warning = False

    def _on_key_down(self, _window: object, key: int, _scancode: int, codepoint: str | None,
                     _modifiers: list[str]) -> bool:
        self.link.sessions.touch()
        state.idle_warning = False
        if key == KEY_ESCAPE:
            if self.nav.current != self.nav.home_name:
                self.nav.back()
            return True  # never let Escape (or Android's back button) close the kiosk
        if self._focused_inputs():
            return False  # a focused field takes the keys (a wedge scan typed into it still works)
        code = self.wedge.feed_key(NAMED_KEYS[key]) if key in NAMED_KEYS else (
            self.wedge.feed_char(codepoint) if codepoint else None)
        if code:
            self.router.text(code)
            return True
        return False

    def _focused_inputs(self) -> list[TextInput]:
        screen = self.nav.screen(self.nav.current)
        return [w for w in screen.walk(restrict=True) if isinstance(w, TextInput) and w.focus]

    # -- camera -----------------------------------------------------------------------

    def start_camera(self, decode: bool = True) -> bool:
        """Start reading the camera (or image folder); False when there is none."""
        try:
            self.camera.start(self._detected if decode else None, ui_dispatch)
        except (CameraUnavailable, OSError) as exc:
            log.info("no camera: %s", exc)
            state.camera_ok = False
            return False
        state.camera_ok = True
        return True

    def stop_camera(self) -> None:
        """Stop the camera."""
        self.camera.stop()

    def _detected(self, detection: Detection) -> None:
        screen = self.nav.screen(self.nav.current)
        if hasattr(screen, "code_seen"):
            screen.code_seen(detection)
        self.router.intent(detection.intent)

    # -- shopper phones -----------------------------------------------------------------

    def _show_phone_code(self, text: str) -> None:
        state.phone_code = text

    def enrol_phone(self, intent: PhoneEnrolment) -> None:
        """A kiosk's enrolment code was scanned: a shopper's phone trades it for a login of its own and reconnects."""
        if self.config.mode is not Mode.PHONE or self.config.provisioned:
            self.notify(tr._("This code connects a phone: scan it with the Aisle app on your phone."), "error")
            return
        # The camera reads the same code many times a second: one try per code, unless it failed for a while only.
        if time.monotonic() < self._tried_codes.get(intent.login, 0.0) or (
                self._enrolling is not None and not self._enrolling.done()):
            return
        self._tried_codes[intent.login] = math.inf
        self.notify(tr._("Connecting this phone to the store…"))
        config, text, login = self.config, intent.text, intent.login
        self._enrolling = self.tasks.run(lambda: enrol_phone(config, text), self._enrolled,
                                         lambda exc: self._enrol_failed(login, exc))

    def _enrolled(self, config: KioskConfig) -> None:
        self._welcome = True
        self.apply_config(config)
        self.nav.home()  # off the scan screen, whose camera still sees the spent code

    def _enrol_failed(self, login: str, exc: Exception) -> None:
        log.info("phone enrolment failed: %s", exc)
        reason = enrol_failure(exc)
        if reason in ("busy", "offline"):  # the code was not spent: the same one may be scanned again shortly
            self._tried_codes[login] = time.monotonic() + ENROL_RETRY
        text = {
            "used": tr._("This code was used or has expired. Scan the new code on the kiosk."),
            "busy": tr._("Many phones are connecting right now. Try again in a minute."),
            "offline": tr._("The store's server cannot be reached. Check the network and try again."),
        }.get(reason, tr._("This phone could not connect. Scan the new code on the kiosk."))
        self.notify(text, "error")

    # -- checkout ---------------------------------------------------------------------

    def start_checkout(self, lines: list[LineRequest], cart_id: str | None, kind: str) -> None:
        """Begin an order: an address first for deliveries, else straight to the options."""
        self.draft = OrderDraft(list(lines), cart_id, kind)
        self.nav.go("address" if kind == "delivery" else "options")

    # -- staff ------------------------------------------------------------------------

    def staff_badge(self, badge: StaffBadge) -> None:
        """A staff badge was scanned on any screen."""
        self.signed_in(self.staff.badge(badge.token))

    def signed_in(self, result: SignIn) -> bool:
        """Apply a sign-in attempt; on success show the staff screen."""
        if not result.ok:
            text = {
                "locked": tr._("Too many attempts. Try again in {seconds} s.").format(
                    seconds=self.fmt.digits(str(math.ceil(result.retry_after)))),
                "other_store": tr._("This badge belongs to another store."),
                "unknown_badge": tr._("This badge is not known here."),
                "expired": tr._("This badge has expired."),
                "revoked": tr._("This badge has been withdrawn."),
                "not_provisioned": tr._("This device is for shoppers only: staff cannot sign in here."),
            }.get(result.reason, tr._("Wrong PIN. Please try again."))
            self.notify(text, "error")
            return False
        self.link.sessions.touch()
        state.staff_id = result.staff_id
        self.nav.go("staff")
        return True

    def sign_out(self) -> None:
        """Staff leave: end the session, which also resets the screens."""
        self.end_session()

    def settings_changed(self, **changes: object) -> None:
        """The settings screen changed some values."""
        self.apply_config(replace(self.config, **changes))  # type: ignore[arg-type]
