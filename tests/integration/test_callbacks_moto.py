"""Callbacks on moto: the real store, the real ASL parking tickets, duplicates and races."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from datetime import datetime, timezone

from chalicelib.adapters.memory import FixedClock

from chalicelib.adapters.dynamo import TicketItem
from chalicelib.bootstrap import Container, build_aws
from chalicelib.domain.model import CallEvent, CallStatus, TicketKind
from chalicelib.domain.script import Hangup


# In the past (the workflow's Wait states run on real time in moto), at 10:00 in San Francisco.
MONDAY_10_PST = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(settings) -> Container:  # type: ignore[no-untyped-def]
    return build_aws(settings, clock=FixedClock(MONDAY_10_PST))


def ring(c: Container, sid: str, caller: str = "+14158675309") -> str:
    c.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, "+18005550100"))
    return c.stores.tickets.find_by_call(sid).id


def press(c: Container, ticket_id: str, step: str, digits: str):  # type: ignore[no-untyped-def]
    return getattr(c.flow, step)(ticket_id, CallEvent("CAx", CallStatus.IN_PROGRESS, digits=digits))


def parked(c: Container, ticket_id: str, timeout: float = 10.0) -> TicketItem:
    queue_id, number = ticket_id.rsplit("-", 1)
    deadline = time.monotonic() + timeout
    while True:
        item = TicketItem.get(f"QUEUE#{queue_id}", f"TICKET#{int(number):012d}", consistent_read=True)
        if item.task_token or time.monotonic() > deadline:
            return item
        time.sleep(0.1)


def executions(settings) -> list[dict]:  # type: ignore[no-untyped-def]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return sfn.list_executions(stateMachineArn=settings.state_machine_arn)["executions"]


def test_callback_parks_at_its_own_place_in_line(app: Container, settings) -> None:  # type: ignore[no-untyped-def]
    ids = [ring(app, f"CA{n}", caller=f"+1415555{n:04d}") for n in range(1, 6)]
    press(app, ids[1], "offer", "1")
    press(app, ids[1], "confirm", "1")
    item = parked(app, ids[1])
    assert item.task_token and item.status == "WAITING" and item.kind == "CALLBACK"
    assert int(item.number) == 2 and int(item.attempts) == 1
    # same place: one ahead of it, and it still counts for everyone after it
    assert app.stores.line.ahead_of(app.stores.tickets.get(ids[1])) == 1
    assert [app.stores.line.ahead_of(app.stores.tickets.get(t)) for t in ids] == [0, 1, 2, 3, 4]
    [execution] = executions(settings)
    assert execution["name"] == f"{ids[1]}-1" and execution["status"] == "RUNNING"
    assert "+1415" not in execution["name"]


def test_sequential_duplicate_confirmations_book_one_callback(app: Container, settings) -> None:  # type: ignore[no-untyped-def]
    ticket_id = ring(app, "CA1")
    press(app, ticket_id, "offer", "1")
    scripts = [press(app, ticket_id, "confirm", "1") for _ in range(5)]
    assert all(isinstance(s.verbs[-1], Hangup) for s in scripts)
    assert len(executions(settings)) == 1
    assert app.stores.tickets.get(ticket_id).kind is TicketKind.CALLBACK
    assert len(list(TicketItem.query("QUEUE#support", TicketItem.sk.startswith("TICKET#")))) == 1


def test_twenty_concurrent_confirmations_book_one_callback(app: Container, settings) -> None:  # type: ignore[no-untyped-def]
    ticket_id = ring(app, "CA1")
    press(app, ticket_id, "offer", "1")
    with ThreadPoolExecutor(max_workers=20) as pool:
        scripts = list(pool.map(lambda _: press(app, ticket_id, "confirm", "1"), range(20)))
    assert all(isinstance(s.verbs[-1], Hangup) for s in scripts)
    assert len(executions(settings)) == 1
    assert parked(app, ticket_id).task_token


def test_twenty_concurrent_incoming_retries_open_one_ticket(app: Container) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda _: ring(app, "CA1"), range(20)))
    tickets = list(TicketItem.query("QUEUE#support", TicketItem.sk.startswith("TICKET#")))
    assert len(tickets) == 1


def test_abandoned_caller_leaves_the_line(app: Container) -> None:
    first, second = ring(app, "CA1"), ring(app, "CA2", caller="+14155550199")
    app.flow.incoming(CallEvent("CA1", CallStatus.COMPLETED, "+14158675309", "+18005550100"))
    assert app.stores.tickets.get(first).lost_cause == "abandoned"
    assert app.stores.line.ahead_of(app.stores.tickets.get(second)) == 0
