"""The outbound pace's two adapters (in memory, and on DynamoDB on moto) answer the same cases alike."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest

from chalicelib.adapters.memory import MemoryPace
from chalicelib.ports import OutboundPace, PendingDial

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "dynamo"])
def pace(request: pytest.FixtureRequest) -> OutboundPace:
    if request.param == "memory":
        return MemoryPace()
    from chalicelib.adapters.dynamo import DynamoPace

    aws = request.getfixturevalue("aws")
    return DynamoPace(aws.table_name, boto3.client("dynamodb", region_name="us-east-1"), pause=lambda _: None)


def dial(n: int, klass: int = 0) -> PendingDial:
    return PendingDial(f"{klass}#20261123T1{n:05d}#{n:012d}#support", "callback", f"support-{n}", f"d{n}")


def test_a_slot_every_interval(pace: OutboundPace) -> None:
    assert pace.take("twilio", 0.5, NOW).granted
    refused = pace.take("twilio", 0.5, NOW + timedelta(seconds=0.3))
    assert not refused.granted and refused.next_at == NOW + timedelta(seconds=0.5)
    assert pace.take("twilio", 0.5, NOW + timedelta(seconds=0.5)).granted
    assert pace.take("telnyx", 0.5, NOW + timedelta(seconds=0.5)).granted  # another account's own pace


def test_the_backlog_in_the_order_owed_each_claimed_once(pace: OutboundPace) -> None:
    for n, klass in ((3, 2), (1, 0), (2, 1)):
        assert pace.wait("twilio", dial(n, klass))
    assert not pace.wait("twilio", dial(1, 0))  # handed in again: waits once
    assert [d.ref for d in pace.first("twilio", 5)] == ["d1", "d2", "d3"] and pace.backlog("twilio") == 3
    assert not pace.take("twilio", 1.0, NOW, when_idle=True).granted  # dials wait: none jumps them
    assert pace.claim("twilio", dial(1, 0)) and not pace.claim("twilio", dial(1, 0))
    assert pace.backlog("twilio") == 2 and not pace.wait("twilio", dial(1, 0))  # claimed: never waits again
    assert pace.take("twilio", 1.0, NOW).granted  # a drain's take does not ask the backlog
    assert pace.backlog("telnyx") == 0 and pace.first("telnyx", 1) == []
