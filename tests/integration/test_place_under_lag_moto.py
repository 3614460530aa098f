"""Issue 20 on DynamoDB (moto, the real ASL run by moto's Step Functions): the table's stream is never
read (no record applied: no snapshot, no dispatcher trigger, no console feed), the scenario of
tests/place_scenario.py; every place told is checked against the exact line read from the table."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import line_keys
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.domain import line
from chalicelib.domain.model import TicketKind, TicketStatus
from chalicelib.edges import workers
from devstack.pollers import SqsPoller
from tests.place_scenario import QUEUE, QUEUES, InLine, Scenario, World

# In the past, so the workflow's Wait states (real time in moto) pass at once; 10:00 in San Francisco.
MONDAY_10_PST = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(settings, serve, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    queues = tmp_path / "queues.json"
    queues.write_text(json.dumps(QUEUES))
    clock, dialer = FixedClock(MONDAY_10_PST), FakeDialer()
    c = bootstrap.build_aws(replace(settings, queues_file=str(queues)), clock=clock, dialer=dialer)
    serve(c)
    dial_worker = SqsPoller(settings.dial_queue_url, workers.on_dial_message)

    ddb = c.stores.table.client

    def standing() -> list[InLine]:  # the `line` index, a few attributes of each (moto's replies are slow)
        found, start = [], None
        while True:
            page = ddb.query(TableName=settings.table_name, IndexName="line", KeyConditionExpression="line_pk = :l",
                             ExpressionAttributeValues={":l": {"S": line_keys(QUEUE, 0)[0]}},
                             ProjectionExpression="#n, priority, kind, #s", **({"ExclusiveStartKey": start} if start else {}),
                             ExpressionAttributeNames={"#n": "number", "#s": "status"})
            found += [InLine(f"{QUEUE}-{int(i['number']['N'])}", int(i["number"]["N"]), int(i["priority"]["N"]),
                             TicketKind(i["kind"]["S"]), TicketStatus(i["status"]["S"])) for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def settle(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline, "the workflow never got there"
            dial_worker.poll_once()
            time.sleep(0.05)

    return World(c, standing, settle, clock.advance, dialer)


def test_every_place_told_is_within_the_bound_while_the_stream_is_held_back(world: World,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line, "SHORT_LINE", 0)  # never counted: the counter item's counts answer every time
    scenario = Scenario(world, polls=1)  # fewer wait polls than in memory: moto answers each in ~30 ms
    scenario.run()
    scenario.check()
    assert {t.step for t in scenario.told} == {"greeting", "wait", "confirmation"}
    assert scenario.done["requeued"] and scenario.done["booked"] >= 20
