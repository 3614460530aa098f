"""The callback workflow end to end on moto: infra/callback.asl.json executed by moto's Step Functions
interpreter, the dial worker fed from SQS and the dispatcher fed from the table's stream (the pollers
the local runtime uses), outbound calls through a recording dialer, outcomes through the webhooks' use cases."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.edges import workers
from chalicelib.bootstrap import Container
from chalicelib.domain.callbacks import dial_id
from chalicelib.domain.errors import StaleTokenError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, TicketStatus
from devstack.pollers import SqsPoller, StreamPoller, deployed_filters
from chalicelib.adapters.memory import FakeDialer, FixedClock
from tests.helpers import workflow_notices

QUEUES = str(Path(__file__).with_name("queues.json"))
# In the past, so the workflow's Wait states (real time in moto) pass at once; 10:00 in San Francisco.
MONDAY_10_PST = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


class World:
    def __init__(self, c: Container, dialer: FakeDialer, resources, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
        self.c, self.dialer, self.resources, self.clock = c, dialer, resources, clock
        self.pollers = [SqsPoller(resources.dial_queue_url, workers.on_dial_message),
                        StreamPoller(resources.table_name, workers.on_table_change, filters=deployed_filters())]
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")

    def pump_until(self, done: Callable[[], object], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the workflow")
            for poller in self.pollers:
                poller.poll_once()
            self.clock.advance(1)  # the test's time goes on while it waits (the dial pace's next slot comes)
            time.sleep(0.05)

    def book(self, sid: str, called: str = "+18005550100", caller: str = "+14155550100") -> str:
        self.c.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, called))
        ticket_id = self.c.stores.tickets.find_by_call(sid).id
        for step in ("offer", "confirm"):
            getattr(self.c.flow, step)(ticket_id, CallEvent(sid, CallStatus.IN_PROGRESS, digits="1"))
        return ticket_id

    def ticket(self, ticket_id: str):  # type: ignore[no-untyped-def]
        return self.c.stores.tickets.get(ticket_id)

    def parked(self, ticket_id: str) -> bool:
        t = self.ticket(ticket_id)
        return t.status is TicketStatus.WAITING and bool(t.task_token)

    def execution(self, ticket_id: str) -> dict:
        arn = self.ticket(ticket_id).execution_id
        return self.sfn.describe_execution(executionArn=arn)

    def finished(self, ticket_id: str) -> bool:
        return self.execution(ticket_id)["status"] != "RUNNING"

    def agent(self, agent_id: str, status: AgentStatus = AgentStatus.AVAILABLE, queue: str = "support") -> None:
        self.c.dispatcher.agent_event(agent_id, status, contact=f"client:{agent_id}", queues=(queue,))

    def answer(self, ticket_id: str, dial_status: str) -> None:
        """What Twilio posts for an agent-first attempt: the agent answers, then the customer leg ends."""
        did = self.ticket(ticket_id).dial_id
        self.c.callbacks.answered(ticket_id, did, CallEvent("CAout", CallStatus.IN_PROGRESS))
        self.c.callbacks.dialed(ticket_id, did, CallEvent("CAout", CallStatus.IN_PROGRESS,
                                                           dial_status=CallStatus(dial_status)))
        self.c.callbacks.call_status(ticket_id, did, CallEvent("CAout", CallStatus.COMPLETED))


@pytest.fixture
def world(settings, aws, serve) -> World:  # type: ignore[no-untyped-def]
    dialer, clock = FakeDialer(), FixedClock(MONDAY_10_PST)
    c = bootstrap.build_aws(replace(settings, queues_file=QUEUES), clock=clock, dialer=dialer)
    serve(c)
    return World(c, dialer, aws, clock)


def test_parked_callback_is_dialed_once_and_recovered(world: World) -> None:
    ticket_id = world.book("CA1")
    world.pump_until(lambda: world.parked(ticket_id))
    world.agent("alice")
    world.pump_until(lambda: world.dialer.calls)
    world.answer(ticket_id, "completed")
    world.pump_until(lambda: world.finished(ticket_id))
    assert world.execution(ticket_id)["status"] == "SUCCEEDED"
    assert len(world.dialer.calls) == 1 and world.dialer.calls[0]["to"] == "client:alice"
    assert world.ticket(ticket_id).status is TicketStatus.SERVED
    assert world.c.stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE


def test_agent_idle_before_the_callback_parks_gets_it(world: World) -> None:
    world.agent("alice")
    ticket_id = world.book("CA1")
    world.pump_until(lambda: world.dialer.calls)  # the stream saw it park; nobody pressed anything
    assert world.ticket(ticket_id).agent_id == "alice"


def test_busy_then_retried_inside_the_window_then_recovered(world: World) -> None:
    ticket_id = world.book("CA1")
    world.agent("alice")
    world.pump_until(lambda: world.dialer.calls)
    world.answer(ticket_id, "busy")
    world.pump_until(lambda: len(world.dialer.calls) == 2)  # rescheduled, re-parked, re-dispatched
    assert world.ticket(ticket_id).attempts == 2 and world.ticket(ticket_id).number == 1
    world.answer(ticket_id, "completed")
    world.pump_until(lambda: world.finished(ticket_id))
    assert world.execution(ticket_id)["status"] == "SUCCEEDED"
    assert len(world.dialer.calls) == 2


def test_last_attempt_fails_gives_up_and_notifies(world: World) -> None:
    ticket_id = world.book("CA1")
    world.agent("alice")
    for attempt in (1, 2, 3):
        world.pump_until(lambda: len(world.dialer.calls) == attempt)
        world.answer(ticket_id, "no-answer")
    world.pump_until(lambda: world.finished(ticket_id))
    execution = world.execution(ticket_id)
    assert execution["status"] == "FAILED" and execution["error"] == "Holdfast.CallbackLost"
    assert world.ticket(ticket_id).status is TicketStatus.LOST
    assert workflow_notices(world.resources.notify_queue_url) == [{"event": "callback_lost", "ticket_id": ticket_id}]
    assert len(world.dialer.calls) == 3


def test_park_timeout_gives_up_and_a_late_resume_is_harmless(world: World) -> None:
    ticket_id = world.book("CA1", called="+18005550101")  # the 'brief' queue: 2 s park
    world.pump_until(lambda: world.parked(ticket_id))
    token = world.ticket(ticket_id).task_token
    world.pump_until(lambda: world.finished(ticket_id), timeout=15)
    assert world.execution(ticket_id)["status"] == "FAILED"
    assert world.ticket(ticket_id).status is TicketStatus.LOST
    with pytest.raises(StaleTokenError):
        world.c.dispatcher.orchestrator.complete(token, {"agent_id": "late"})


def test_dial_timeout_counts_the_attempt_and_parks_again(world: World) -> None:
    ticket_id = world.book("CA1", called="+18005550101")  # 2 s dial timeout, two attempts
    world.agent("alice", queue="brief")
    world.pump_until(lambda: world.dialer.calls)
    # no webhook ever comes back: the Dial task times out, the attempt counts, it parks again and the
    # stream releases alice's stale reservation and hands the ticket straight back to her
    world.pump_until(lambda: len(world.dialer.calls) == 2, timeout=15)
    assert world.ticket(ticket_id).attempts == 2
    world.pump_until(lambda: world.finished(ticket_id), timeout=15)  # second timeout: attempts ran out
    assert world.execution(ticket_id)["status"] == "FAILED"


def test_outcome_reported_twice_is_harmless(world: World) -> None:
    ticket_id = world.book("CA1")
    world.agent("alice")
    world.pump_until(lambda: world.dialer.calls)
    token = world.c.stores.table.get_item(ticket_id).dial_token
    world.c.dispatcher.orchestrator.complete(token, {"result": "connected"})
    world.pump_until(lambda: world.finished(ticket_id))
    assert world.execution(ticket_id)["status"] == "SUCCEEDED"
    with pytest.raises(StaleTokenError):
        world.c.dispatcher.orchestrator.complete(token, {"result": "connected"})
    world.answer(ticket_id, "completed")  # the real webhooks afterwards: nothing breaks
    assert world.ticket(ticket_id).status is TicketStatus.SERVED


def test_redelivered_dial_message_does_not_dial_twice(world: World) -> None:
    ticket_id = world.book("CA1")
    world.agent("alice")
    world.pump_until(lambda: world.dialer.calls)
    t = world.c.stores.table.get_item(ticket_id)
    again = json.dumps({"ticket_id": ticket_id, "attempt": 1, "token": t.dial_token,
                        "agent": {"agent_id": "alice"}})
    workers.on_dial_message(again)
    assert len(world.dialer.calls) == 1
    assert dial_id(t.dial_token) == t.dial_id


def test_racing_agent_events_dial_each_callback_once(world: World) -> None:
    tickets = [world.book(f"CA{n}", caller=f"+1415555{n:04d}") for n in range(10)]
    world.pump_until(lambda: all(world.parked(t) for t in tickets))
    for n in range(10):  # every 'available' delivered twice, interleaved
        world.c.dispatcher.agent_event(f"agent{n}", AgentStatus.AVAILABLE, contact=f"client:agent{n}",
                                       queues=("support",), event_id=f"ev{n}")
        world.c.dispatcher.agent_event(f"agent{n}", AgentStatus.AVAILABLE, event_id=f"ev{n}")
    # ten dials at the account's pace of one a second (each next slot an alarm, delayed in real seconds)
    world.pump_until(lambda: len(world.dialer.calls) == 10, timeout=90.0)
    for _ in range(10):
        for poller in world.pollers:
            poller.poll_once()
    assert len(world.dialer.calls) == 10
    assert len({c["to"] for c in world.dialer.calls}) == 10  # no agent twice
    assert {world.ticket(t).agent_id for t in tickets} == {f"agent{n}" for n in range(10)}


def test_given_up_callback_is_on_the_lost_list_and_someone_is_told(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace as dc_replace

    from devstack.pollers import SqsPoller
    from tests.helpers import StandIn

    slack = StandIn()
    try:
        queue = world.c.flow.queues.get("support")
        monkeypatch.setattr(world.c.notifications.queues, "get", lambda qid: dc_replace(
            queue, notify={"slack_webhook_url": slack.url + "/hook"}))
        world.pollers.append(SqsPoller(world.resources.notify_queue_url, workers.on_notify_message))
        ticket_id = world.book("CA1")
        world.agent("alice")
        for attempt in (1, 2, 3):
            world.pump_until(lambda: len(world.dialer.calls) == attempt)
            world.answer(ticket_id, "busy")
        world.pump_until(lambda: world.finished(ticket_id) and slack.requests)
        [lost] = world.c.stores.lost.lost_calls("support").items
        assert (lost.id, lost.lost_cause, lost.status) == (ticket_id, "callback_failed", TicketStatus.LOST)
        [(path, body)] = slack.requests
        assert path == "/hook" and "callback failed" in body["text"] and "0100" not in body["text"]
    finally:
        slack.close()


def test_the_workflow_and_its_queue_carry_the_agent_id_never_the_contact(world: World) -> None:
    ticket_id = world.book("CA1")
    world.pump_until(lambda: world.parked(ticket_id))
    world.c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="+14155550177", queues=("support",))
    world.pump_until(lambda: world.dialer.calls)
    assert world.dialer.calls[0]["to"] == "+14155550177"  # the worker looked it up
    arn = world.ticket(ticket_id).execution_id
    history = json.dumps(world.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"], default=str)
    assert "agent_id" in history and "ann" in history
    assert "4155550177" not in history  # not in the Dial message, the task's output or any state's input


def test_the_agent_is_freed_when_the_call_status_overtakes_the_dial_action(world: World) -> None:
    ticket_id = world.book("CA1")
    world.agent("alice")
    world.pump_until(lambda: world.dialer.calls)
    did = world.ticket(ticket_id).dial_id
    world.c.callbacks.answered(ticket_id, did, CallEvent("CAout", CallStatus.IN_PROGRESS))
    world.c.callbacks.call_status(ticket_id, did, CallEvent("CAout", CallStatus.COMPLETED))
    world.c.callbacks.dialed(ticket_id, did, CallEvent("CAout", CallStatus.IN_PROGRESS,
                                                       dial_status=CallStatus("completed")))
    world.pump_until(lambda: world.finished(ticket_id))
    assert world.ticket(ticket_id).status is TicketStatus.SERVED
    agent = world.c.stores.agents.get_agent("alice")
    assert (agent.status, agent.ticket_id) == (AgentStatus.AVAILABLE, None)
