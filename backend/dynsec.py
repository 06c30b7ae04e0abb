"""Mosquitto's dynamic security plugin, driven by the backend's admin login over ``$CONTROL/dynamic-security/v1``."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from typing import Any

from mqtt.client import Message, MqttClient

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ACL_TYPES = ("publishClientSend", "publishClientReceive", "subscribe", "unsubscribe")
# "Not granted by a role" must fall through to the acl_file, which denies it: the plugin's own defaults let a client
# receive every message it subscribes to ('#' included). mosquitto_ctrl's setDefaultACLAccess exits 0 and changes
# nothing in 2.0.11, so the JSON command is sent, and read back, by the backend itself.
DENY_ALL = {acl_type: False for acl_type in ACL_TYPES}
# The generated broker refuses bigger packets (max_packet_size 70000 in backend/broker_config.py) by closing the
# connection, and a QoS 1 message is sent again on every reconnect: a command list must stay below it.
MAX_COMMANDS_BYTES = 64 * 1024


class DynsecError(RuntimeError):
    """The plugin refused a command, or did not answer in time."""


def initial_config() -> str:
    """The plugin's starting file: no clients, no roles, every default denied (the backend adds phones at run time)."""
    return json.dumps({"defaultACLAccess": DENY_ALL, "clients": [], "groups": [], "roles": []}, indent=2) + "\n"


class DynsecAdmin:
    """Sends commands to the plugin and waits for their answers, matched by correlation data."""

    def __init__(self, client: MqttClient, timeout: float = 5.0) -> None:
        self.client = client
        self.timeout = timeout
        self._answers: dict[str, dict[str, Any]] = {}
        self._waiting: set[str] = set()  # answers arriving after their caller gave up are dropped, not kept
        self._cond = threading.Condition()
        self._unsubscribe = client.subscribe(RESPONSE_TOPIC, self._on_response, qos=1)

    def wait_ready(self, timeout: float) -> bool:
        """Whether the broker confirmed the response subscription (an answer sent before it would be lost)."""
        return self.client.wait_subscribed(RESPONSE_TOPIC, timeout)

    def close(self) -> None:
        """Stop listening for answers."""
        self._unsubscribe()

    def run(self, *commands: dict[str, Any], tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Run commands in order and return their responses; an error not containing a ``tolerate`` text raises."""
        tagged, keys = [], []
        for command in commands:
            key = secrets.token_hex(8)
            keys.append(key)
            tagged.append({**command, "correlationData": key})
        data = json.dumps({"commands": tagged}).encode()
        if len(data) > MAX_COMMANDS_BYTES:
            raise DynsecError(f"{len(commands)} commands make {len(data)} bytes, more than the broker takes in one "
                              f"message ({MAX_COMMANDS_BYTES}); send fewer at a time")
        with self._cond:
            self._waiting.update(keys)
        # The commands carry passwords: they are never logged, only their names.
        self.client.publish(CONTROL_TOPIC, data, qos=1)
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while not all(k in self._answers for k in keys):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    for k in keys:
                        self._answers.pop(k, None)
                        self._waiting.discard(k)
                    names = ", ".join(str(c.get("command")) for c in commands)
                    raise DynsecError(f"the broker's dynamic security plugin did not answer {names} within "
                                      f"{self.timeout:g} s (is the plugin loaded, and the admin login allowed on "
                                      f"{CONTROL_TOPIC}?)")
                self._cond.wait(remaining)
            answers = [self._answers.pop(k) for k in keys]
            self._waiting.difference_update(keys)
        for command, answer in zip(commands, answers, strict=True):
            error = answer.get("error")
            if error and not any(text in str(error) for text in tolerate):
                raise DynsecError(f"{command.get('command')}: {str(error)[:200]}")
        return answers

    def secure_defaults(self) -> None:
        """Set every default ACL access to deny, and read it back; raises DynsecError if it did not take."""
        acls = [{"acltype": acl_type, "allow": False} for acl_type in ACL_TYPES]
        self.run({"command": "setDefaultACLAccess", "acls": acls})
        current = self.run({"command": "getDefaultACLAccess"})[0].get("data", {}).get("acls", [])
        allowed = sorted(a.get("acltype", "?") for a in current if a.get("allow") is not False)
        if allowed or len(current) < len(ACL_TYPES):
            raise DynsecError(f"the plugin still allows by default: {', '.join(allowed) or 'unknown'}")

    def list_clients(self) -> list[str]:
        """Every client name the plugin knows."""
        data = self.run({"command": "listClients", "verbose": False})[0].get("data", {})
        clients = data.get("clients", [])
        return [c for c in clients if isinstance(c, str)]

    def _on_response(self, message: Message) -> None:
        try:
            responses = json.loads(message.payload).get("responses", [])
        except (ValueError, AttributeError):
            log.warning("dropped a malformed dynamic security response (%d bytes)", len(message.payload))
            return
        with self._cond:
            for response in responses if isinstance(responses, list) else []:
                key = response.get("correlationData") if isinstance(response, dict) else None
                if key in self._waiting:
                    self._answers[key] = response
            self._cond.notify_all()
