"""The line's counts on DynamoDB (moto) (issues 11, 20): moved in the same transaction as each ticket,
so exact after concurrent joins and leaves before the table's stream has delivered anything; the
snapshot the stream keeps (the team, the head) applied the same however often a record comes."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.domain import line
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, QueueResult, TicketStatus
from chalicelib.ports import LineCounts
from devstack.dynamo_meter import metered
from tests.helpers import Stream

QUEUES = str(Path(__file__).resolve().parents[1] / "functional" / "queues.json")
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # Monday 10:00 in San Francisco: open


@pytest.fixture
def built(settings, serve):  # type: ignore[no-untyped-def]
    container = bootstrap.build_aws(replace(settings, queues_file=QUEUES), clock=FixedClock(NOW), dialer=FakeDialer())
    serve(container)
    return container


@pytest.fixture
def stream(built, settings) -> Stream:  # type: ignore[no-untyped-def]
    return Stream(settings.table_name)


def ring(built: Any, n: int) -> str:  # type: ignore[no-untyped-def]
    built.flow.incoming(CallEvent(f"CA{n:05d}", CallStatus.RINGING, f"+1415555{n:04d}", "+18005550100"))
    return f"CA{n:05d}"


def hang_up(built: Any, call_id: str) -> None:
    built.flow.call_ended(CallEvent(call_id, CallStatus.COMPLETED, "", "+18005550100"))


def test_fifty_join_while_fifty_leave_and_the_counts_are_the_line_before_any_stream_record(built, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    first = [ring(built, n) for n in range(50)]
    assert built.stores.line.snapshot("support").line == LineCounts({0: 50}, {}, {})
    with ThreadPoolExecutor(max_workers=16) as pool:
        jobs = [pool.submit(ring, built, n) for n in range(50, 100)]
        jobs += [pool.submit(hang_up, built, call_id) for call_id in first]
        for job in jobs:
            job.result()
    assert stream.records == []  # nothing read from the stream yet
    assert built.stores.line.snapshot("support").line == LineCounts({0: 50}, {0: 50}, {})
    assert built.stores.line.waiting_count("support") == 50
    # Each joiner read the line in the one write that counted it in: between two joiners (in number order)
    # the line grew by one, less whoever left between them (the departures counted meanwhile).
    joined = [built.stores.tickets.get(f"support-{n}").joined for n in range(50, 101)]
    for before, after in zip(joined, joined[1:]):
        assert after.ahead == before.ahead + 1 - (after.departed - before.departed)
    assert joined[-1].departed <= 50 and joined[0].ahead == 49
    stream.drain()
    snapshot = built.stores.line.snapshot("support")
    tickets = [r for r in stream.records if (r[0] or r[1])["sk"]["S"].startswith("TICKET#")]
    for new, old, event_id in tickets:  # the stream delivers the records again: nothing moves
        built.stores.stream.apply_change(new, old, event_id)
    assert built.stores.line.snapshot("support") == snapshot


def test_the_snapshot_knows_the_team_and_the_head(built, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    built.dispatcher.agent_event("ann", AgentStatus.BUSY, NOW, "client:ann", ("support",))
    built.dispatcher.agent_event("bob", AgentStatus.OFFLINE, NOW, "client:bob", ("support",))
    ring(built, 1)
    stream.drain()
    snapshot = built.stores.line.snapshot("support")
    assert snapshot.staffing.staffed == 1 and snapshot.staffing.idle == 0
    assert [a.id for a in snapshot.busy] == ["ann"] and snapshot.head_since == NOW
    hang_up(built, "CA00001")
    stream.drain()
    assert built.stores.line.snapshot("support").head_since is None


def test_a_long_line_tells_each_caller_their_place_without_counting(built, stream: Stream,  # type: ignore[no-untyped-def]
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line, "SHORT_LINE", 2)  # every line is long: the line's counts answer
    built.dispatcher.agent_event("ann", AgentStatus.BUSY, NOW, "client:ann", ("support",))
    calls = [ring(built, n) for n in range(1, 7)]
    stream.drain()
    built.flow.queue_exit(f"support-2", CallEvent(calls[1], CallStatus.COMPLETED, "", "+18005550100",
                                                  queue_result=QueueResult.HANGUP))  # ahead of 4..6
    stream.drain()
    ticket, snapshot = built.stores.line.view("support-5")
    with metered() as meter:
        est, ahead = built.flow.estimate(built.flow.queues.get("support"), ticket, snapshot=snapshot)
    assert meter.count == 0  # no COUNT: what the ticket remembers and the line's counts say it
    assert ahead == built.stores.line.ahead_of(ticket) == 3
    assert built.stores.tickets.get("support-2").status is not TicketStatus.WAITING
