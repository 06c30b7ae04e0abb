"""Sessions: idle warning and reset on a clock the test controls."""

import pytest

from edge.session import SessionManager, SessionState
from mqtt.commerce import Address


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_session_warns_then_resets_and_wipes() -> None:
    clock = FakeClock()
    manager = SessionManager(idle_timeout=60, warning=10, clock=clock)
    ended = []
    manager.on_end.append(ended.append)
    first = manager.session
    first.address = Address(name="A", street="B 1", postcode="11122", city="C", country="SE")
    clock.now += 49
    assert manager.tick().state == SessionState.ACTIVE
    clock.now += 2
    status = manager.tick()
    assert status.state == SessionState.WARNING and status.seconds_left == pytest.approx(9)
    manager.touch()  # the shopper taps: the countdown starts over
    clock.now += 45
    assert manager.tick().state == SessionState.ACTIVE
    clock.now += 14
    assert manager.tick().state == SessionState.WARNING and first.address is not None
    clock.now += 1
    assert manager.tick().state == SessionState.EXPIRED
    assert ended == [first] and first.address is None
    assert manager.session is not first and manager.status().state == SessionState.ACTIVE


def test_warning_must_be_shorter_than_timeout() -> None:
    with pytest.raises(ValueError):
        SessionManager(idle_timeout=10, warning=10)
