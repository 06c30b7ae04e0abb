"""The envelope of a request: what a request that did not parse still tells, and the error reply to it."""

from __future__ import annotations

import re

from mqtt.client import Message
from mqtt.payloads import MAX_PAYLOAD_BYTES, ErrorCode, ErrorInfo, Reply

# What a request that fails to parse still tells: who to answer and under which id (see ``salvage``).
_ID_FIELD = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9_-]{8,64})"')
_REPLY_TO_FIELD = re.compile(rb'"reply_to"\s*:\s*"([A-Za-z0-9_/.-]{1,200})"')


def in_branch(reply_to: str, device_branch: str) -> bool:
    """Whether a reply topic lies in the requester's own branch (and names one topic, no wildcard)."""
    return reply_to.startswith(device_branch) and "+" not in reply_to and "#" not in reply_to


def salvage(message: Message) -> tuple[str, str] | None:
    """The id and reply topic of a request that failed to parse: MQTT 5 properties, else the raw JSON's fields."""
    head = message.payload[:MAX_PAYLOAD_BYTES]
    request_id = None
    if message.correlation_data:
        text = message.correlation_data.decode("ascii", "replace")
        request_id = text if re.fullmatch(r"[A-Za-z0-9_-]{8,64}", text) else None
    if request_id is None:
        found = _ID_FIELD.search(head)
        request_id = found.group(1).decode("ascii") if found else None
    reply_to = message.response_topic
    if not reply_to:
        found = _REPLY_TO_FIELD.search(head)
        reply_to = found.group(1).decode("ascii") if found else None
    if request_id is None or not reply_to:
        return None
    return request_id, reply_to


def error_reply(request_id: str, code: ErrorCode, message: str, *, retry_after: float | None = None) -> Reply:
    """A failed reply, its message cut to what a reply may carry."""
    return Reply(id=request_id, ok=False, error=ErrorInfo(code=code, message=message[:500], retry_after=retry_after))
