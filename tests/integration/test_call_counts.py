"""DynamoDB calls per webhook step (issue 11), counted on the real adapter on moto through the Chalice
app: a change that makes a step walk back and forth to the table again fails here.

The table's stream is drained into the same worker AWS runs before each measured step (it runs
between webhooks in AWS), so the per-queue snapshot is what production reads."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.domain.model import AgentStatus, TicketKind, TicketStatus
from devstack.dynamo_meter import DynamoMeter, metered
from tests.conftest import AGENT_TOKEN, AUTH_TOKEN, PUBLIC_URL
from tests.helpers import Stream, event, signed

QUEUES = str(Path(__file__).resolve().parents[1] / "functional" / "queues.json")
MONDAY_10_PST = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_10_PST)


@pytest.fixture
def built(settings, clock, serve):  # type: ignore[no-untyped-def]
    container = bootstrap.build_aws(replace(settings, queues_file=QUEUES, agent_token=AGENT_TOKEN), clock=clock,
                                dialer=FakeDialer())
    serve(container)
    return container


@pytest.fixture
def stream(built, settings) -> Stream:  # type: ignore[no-untyped-def]
    return Stream(settings.table_name)


@pytest.fixture
def client(built) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    with Client(app, stage_name="local") as c:
        yield c


@pytest.fixture
def staffed(built, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    """One agent signed in and busy (nobody takes a caller): estimates come from real staffing."""
    built.dispatcher.agent_event("alice", AgentStatus.BUSY, MONDAY_10_PST, "client:alice", ("support",))
    stream.drain()


def post(client: Client, step: str, params: dict[str, str], query: dict[str, str] | None = None) -> Any:
    path = f"/voice/twilio/{step}" + (f"?{urlencode(query)}" if query else "")
    body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, params)
    reply = client.http.post(path, headers=headers, body=body)
    assert reply.status_code == 200, reply.body
    return reply


def caller(n: int) -> dict[str, str]:
    return event("incoming", CallSid=f"CA{n:032d}", From=f"+1415555{n:04d}")


def dynamo_only(meter: DynamoMeter) -> dict[str, int]:
    return meter.by_operation()


def calls(meter: DynamoMeter) -> int:
    return meter.count


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("ahead", [0, 3], ids=["short_wait", "long_wait"])
def test_incoming(client: Client, stream: Stream, built, ahead: int) -> None:  # type: ignore[no-untyped-def]
    for n in range(1, ahead + 1):
        post(client, "incoming", caller(n))
    stream.drain()
    with metered() as meter:
        reply = post(client, "incoming", caller(ahead + 1))
    assert f"You are number {ahead + 1} in line.".encode() in reply.body
    assert (b"press 1" in reply.body) is bool(ahead)  # the callback offer, only for a long wait
    assert calls(meter) <= 3, dynamo_only(meter)
    told = built.stores.tickets.get(f"support-{ahead + 1}")  # the estimate heard, and its position band, kept
    assert told.told_shape > 0 and told.told_ahead == ahead


@pytest.mark.usefixtures("staffed")
def test_wait_poll(client: Client, stream: Stream) -> None:
    for n in range(1, 4):
        post(client, "incoming", caller(n))
    stream.drain()
    with metered() as meter:
        reply = post(client, "wait", event("enqueue_wait", CallSid=caller(3)["CallSid"], QueueTime="200"),
                     {"t": "support-3"})
    assert b"You are number 3 in line." in reply.body
    assert calls(meter) <= 2, dynamo_only(meter)


@pytest.mark.usefixtures("staffed")
def test_confirm_books_the_callback(client: Client, stream: Stream, built) -> None:  # type: ignore[no-untyped-def]
    post(client, "incoming", caller(1))
    post(client, "offer", event("gather_digits_1", CallSid=caller(1)["CallSid"]), {"t": "support-1"})
    stream.drain()
    with metered() as meter:
        post(client, "confirm", event("gather_digits_1", CallSid=caller(1)["CallSid"]), {"t": "support-1"})
    assert built.stores.tickets.get("support-1").kind is TicketKind.CALLBACK
    started = [c for c in meter.calls if c.service == "stepfunctions" and c.operation == "StartExecution"]
    assert len(started) == 1
    assert calls(meter) <= 5, dynamo_only(meter)


@pytest.mark.parametrize("event", [{"status": "available", "contact": "client:alice", "queues": ["support"]},
                                   {"status": "available"}], ids=["names-its-queues", "names-none"])
def test_agent_available_claims_the_head(client: Client, stream: Stream, built,  # type: ignore[no-untyped-def]
                                         event: dict[str, object]) -> None:
    """Whether or not the event names the agent's queues (without, the agent serves those it had)."""
    post(client, "incoming", caller(1))
    built.dispatcher.agent_event("alice", AgentStatus.OFFLINE, MONDAY_10_PST, "client:alice", ("support",))
    stream.drain()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {AGENT_TOKEN}"}
    with metered() as meter:
        reply = client.http.post("/agents/alice/status", headers=headers, body=json.dumps(event))
    assert reply.status_code == 200 and json.loads(reply.body)["dispatched"] == "support-1"
    assert built.stores.tickets.get("support-1").status is TicketStatus.CONNECTING
    # the agent's status and presence, the head, the claim (ticket, agent, line counts, presence in one
    # transaction), and the agent leg's slot at the dialing account's pace (issue 24: one UpdateItem)
    assert calls(meter) <= 5, dynamo_only(meter)


@pytest.mark.usefixtures("staffed")
@pytest.mark.parametrize("drained", [True, False], ids=["after-the-stream", "before-the-stream"])
@pytest.mark.parametrize("left", ["hung-up-in-line", "booked-a-callback"])
def test_status_callback_after_the_caller_left(client: Client, stream: Stream, clock: FixedClock,  # type: ignore[no-untyped-def]
                                               built, left: str, drained: bool) -> None:
    """Twilio sends the status callback as the call ends, often before the table's stream has seen the
    ticket let the call go: the change itself marks the call done."""
    for n in (1, 2):
        post(client, "incoming", caller(n))
    clock.advance(95)
    sid = caller(2)["CallSid"]
    if left == "hung-up-in-line":
        post(client, "queue-exit", event("enqueue_action_hangup", CallSid=sid), {"t": "support-2"})
    else:
        post(client, "offer", event("gather_digits_1", CallSid=sid), {"t": "support-2"})
        post(client, "confirm", event("gather_digits_1", CallSid=sid), {"t": "support-2"})
    if drained:
        stream.drain()
    with metered() as meter:
        post(client, "incoming", event("status_completed", CallSid=sid))
    ticket = built.stores.tickets.get("support-2")
    if left == "hung-up-in-line":
        assert ticket.lost_cause == "abandoned"
    else:
        assert ticket.kind is TicketKind.CALLBACK and ticket.lost_cause is None
    assert calls(meter) <= 1, dynamo_only(meter)


@pytest.mark.usefixtures("staffed")
def test_reads_stay_flat_as_the_line_grows(client: Client, stream: Stream, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past a short line (here 2, to keep the test small) neither the incoming call nor the wait poll
    reads more items for a longer line: the snapshot and the ticket's memory answer, not a COUNT."""
    from chalicelib.domain import line

    monkeypatch.setattr(line, "SHORT_LINE", 2)
    work: dict[int, tuple[int, int, int, int]] = {}
    joined = 0
    for depth in (3, 12):
        while joined < depth:
            joined += 1
            post(client, "incoming", caller(joined))
        stream.drain()
        with metered() as arriving:
            post(client, "incoming", caller(joined + 1))
        joined += 1
        stream.drain()  # the poll comes seconds later: the stream has counted the caller in
        with metered() as polling:
            reply = post(client, "wait", event("enqueue_wait", CallSid=caller(joined)["CallSid"], QueueTime="200"),
                         {"t": f"support-{joined}"})
        assert f"You are number {joined} in line.".encode() in reply.body
        work[depth] = (arriving.count, arriving.items_read, polling.count, polling.items_read)
    assert work[3] == work[12] and work[3][2] == 1, work
