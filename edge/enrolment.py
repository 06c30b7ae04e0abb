"""A shopper phone's side of enrolment: trade the code a kiosk shows for a broker login of the phone's own."""

from __future__ import annotations

import logging
from dataclasses import replace

from pydantic import ValidationError

from mqtt.client import MqttClient
from mqtt.enrolment import EnrolmentError, PhoneCredentials, parse_enrolment_qr
from mqtt.rpc import RpcClient
from mqtt.url import BrokerUrl

log = logging.getLogger(__name__)


def register_phone(qr_text: str, broker: BrokerUrl, *, timeout: float = 10.0) -> PhoneCredentials:
    """Connect with the code's one-use login, ask ``phone.register`` and return the phone's own login.

    Raises EnrolmentError for text that is not an enrolment code, ConnectError when the broker refuses the code
    (expired, used, rotated away), RemoteError when the backend does (``used``, ``expired``, ``unavailable``), and
    RpcTimeout when no backend answers. The caller keeps the result in private storage: it is the phone's password.
    """
    code = parse_enrolment_qr(qr_text)
    # The broker pins the client id to the login anyway; naming it so keeps the logs readable.
    client = MqttClient(replace(broker, username=code.login, password=code.password), code.login)
    client.connect(timeout)
    try:
        rpc = RpcClient(client, code.store, code.login)
        try:
            result = rpc.call("phone.register", timeout=timeout)
        finally:
            rpc.close()
    finally:
        client.close()
    try:
        credentials = PhoneCredentials.model_validate(result)
    except ValidationError as exc:
        raise EnrolmentError(f"the backend's answer is not a phone login: {exc.error_count()} bad fields") from None
    if credentials.store != code.store:
        raise EnrolmentError("the backend answered with a login of another store")
    log.info("registered as %s in %s", credentials.device, credentials.store)
    return credentials
