"""The access ports (chalicelib/ports_access.py) hold the same contract in memory and on DynamoDB (moto):
a signature is spent once, a session is open until it expires or is closed, attempts are counted per
window and refused past the limit with the seconds until the window ends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.adapters.memory import MemoryConsoleSessions, MemoryReplays, MemoryThrottle

NOW = datetime(2026, 11, 23, 15, 0, 10, tzinfo=timezone.utc)  # 10 s into a minute


@pytest.fixture(params=["memory", "dynamo"])
def access(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {"replays": MemoryReplays(), "sessions": MemoryConsoleSessions(), "throttle": MemoryThrottle()}
    from chalicelib.adapters.dynamo import DynamoTable
    from chalicelib.adapters.dynamo.access import DynamoConsoleSessions, DynamoReplays, DynamoThrottle

    table = DynamoTable(request.getfixturevalue("aws").table_name, "us-east-1")
    return {"replays": DynamoReplays(table), "sessions": DynamoConsoleSessions(table), "throttle": DynamoThrottle(table)}


def test_a_signature_is_spent_once(access: dict[str, Any]) -> None:
    replays = access["replays"]
    until = NOW + timedelta(seconds=300)
    assert replays.first_use("vonage#abc", until) is True
    assert replays.first_use("vonage#abc", until) is False
    assert replays.first_use("vonage#abc", until + timedelta(seconds=1)) is False  # whatever it claims
    assert replays.first_use("telnyx#abc", until) is True  # another provider's, another key
    replays.release("vonage#abc")  # not acted on after all: its retry is a first use
    assert replays.first_use("vonage#abc", until) is True
    replays.release("never-spent")  # harmless


def test_a_session_is_open_until_it_expires_or_is_closed(access: dict[str, Any]) -> None:
    sessions = access["sessions"]
    sessions.open("s-1", NOW + timedelta(hours=8))
    sessions.open("s-2", NOW + timedelta(hours=8))
    assert sessions.is_open("s-1", NOW) and sessions.is_open("s-1", NOW + timedelta(hours=7, minutes=59))
    assert not sessions.is_open("s-1", NOW + timedelta(hours=8))
    sessions.close("s-1")
    assert not sessions.is_open("s-1", NOW) and sessions.is_open("s-2", NOW)
    assert not sessions.is_open("never-opened", NOW)
    sessions.close("never-opened")  # harmless


def test_attempts_past_the_limit_wait_for_the_next_window(access: dict[str, Any]) -> None:
    throttle, minute = access["throttle"], timedelta(minutes=1)
    assert [throttle.take("signin#10.0.0.1", 3, minute, NOW) for _ in range(3)] == [None, None, None]
    assert throttle.take("signin#10.0.0.1", 3, minute, NOW) == 50.0  # the minute ends 50 s later
    assert throttle.take("signin#10.0.0.1", 3, minute, NOW + timedelta(seconds=49)) == 1.0
    assert throttle.take("signin#10.0.0.2", 3, minute, NOW) is None  # another client
    assert throttle.take("signin#10.0.0.1", 3, minute, NOW + timedelta(seconds=50)) is None  # the next minute
