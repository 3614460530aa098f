"""The in-memory workflow against the real one: the same callback scenarios run through
MemoryOrchestrator (virtual time) and through moto executing infra/callback.asl.json, and must end with
the same ticket states, attempts, dials and execution results."""
from __future__ import annotations

import json
from pathlib import Path
from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.bootstrap import load_queues
from chalicelib.domain.errors import StaleTokenError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketStatus
from chalicelib.bootstrap import build_memory
from tests.integration.test_workflow_moto import MONDAY_10_PST, QUEUES, World

SUPPORT, BRIEF = "+18005550100", "+18005550101"  # BRIEF: 2 s park and dial timeouts, two attempts


class Engine:
    """What a scenario does to Holdfast, whichever workflow engine runs the callbacks."""

    flow: Any
    dispatcher: Any
    callbacks: Any
    stores: Any
    dialer: FakeDialer

    def until(self, done: Callable[[], object]) -> None:
        raise NotImplementedError

    def execution(self, ticket_id: str) -> tuple[str, str | None]:
        raise NotImplementedError

    def status_of(self, execution_id: str) -> str:
        raise NotImplementedError

    def notified(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def book(self, called: str = SUPPORT) -> str:
        self.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+14155550100", called))
        ticket_id = self.stores.tickets.find_by_call("CA1").id
        for step in ("offer", "confirm"):
            getattr(self.flow, step)(ticket_id, CallEvent("CA1", CallStatus.IN_PROGRESS, digits="1"))
        return ticket_id

    def ticket(self, ticket_id: str) -> Ticket:
        return self.stores.tickets.get(ticket_id)

    def finished(self, ticket_id: str) -> bool:
        return self.execution(ticket_id)[0] != "RUNNING"

    def parked(self, ticket_id: str) -> bool:
        t = self.ticket(ticket_id)
        return t.status is TicketStatus.WAITING and bool(t.task_token)

    def agent(self, queue: str = "support") -> None:
        self.dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="client:alice", queues=(queue,))

    def answer(self, ticket_id: str, dial_status: str) -> None:
        did = self.ticket(ticket_id).dial_id
        self.callbacks.answered(ticket_id, did, CallEvent("CAout", CallStatus.IN_PROGRESS))
        self.callbacks.dialed(ticket_id, did, CallEvent("CAout", CallStatus.IN_PROGRESS,
                                                         dial_status=CallStatus(dial_status)))
        self.callbacks.call_status(ticket_id, did, CallEvent("CAout", CallStatus.COMPLETED))

    def answer_in_turn(self, ticket_id: str, *dial_statuses: str) -> None:
        """Answer attempt 1, 2, ... with these outcomes, each once the workflow has dialed it."""
        for attempt, status in enumerate(dial_statuses, start=1):
            self.until(lambda: len(self.dialer.calls) == attempt)
            self.answer(ticket_id, status)

    def result(self, ticket_id: str) -> tuple[TicketStatus, int, int, tuple[str, str | None]]:
        t = self.ticket(ticket_id)
        return t.status, t.attempts, len(self.dialer.calls), self.execution(ticket_id)


class MemoryEngine(Engine):
    def __init__(self) -> None:
        self.dialer = FakeDialer()
        self.w = build_memory(load_queues(QUEUES), MONDAY_10_PST, dialer=self.dialer)
        self.flow, self.dispatcher, self.callbacks, self.stores = (self.w.flow, self.w.dispatcher,
                                                                  self.w.callbacks, self.w.stores)

    def until(self, done: Callable[[], object]) -> None:
        horizon = self.w.clock.now() + timedelta(hours=2)
        while not done():
            due = self.w.clock.next_due()
            if due is None or due > horizon:
                raise AssertionError("the workflow never got there")
            self.w.clock.run_until(due)

    def execution(self, ticket_id: str) -> tuple[str, str | None]:
        return self.w.orchestrator.status(self.ticket(ticket_id).execution_id or "")

    def status_of(self, execution_id: str) -> str:
        return self.w.orchestrator.status(execution_id)[0]

    def notified(self) -> list[dict[str, Any]]:
        return [e for e in self.w.bus.events if e["event"] == "callback_lost"]


class MotoEngine(Engine):
    def __init__(self, world: World) -> None:
        self.world, self.dialer = world, world.dialer
        c = world.c
        self.flow, self.dispatcher, self.callbacks, self.stores = c.flow, c.dispatcher, c.callbacks, c.stores

    def until(self, done: Callable[[], object]) -> None:
        self.world.pump_until(done, timeout=60)  # generous: a loaded machine slows moto, never the logic

    def execution(self, ticket_id: str) -> tuple[str, str | None]:
        ex = self.world.execution(ticket_id)
        return ex["status"], ex.get("error")

    def status_of(self, execution_id: str) -> str:
        return self.world.sfn.describe_execution(executionArn=execution_id)["status"]

    def notified(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name="us-east-1")
        messages = sqs.receive_message(QueueUrl=self.world.resources.notify_queue_url,
                                       MaxNumberOfMessages=10).get("Messages", [])
        # the workflow's notices (the booking's own `callback_booked`, for the caller's text, is not one)
        return [e for e in (json.loads(m["Body"]) for m in messages) if e["event"] == "callback_lost"]


@pytest.fixture(params=["memory", "moto"])
def engine(request, serve) -> Engine:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        return MemoryEngine()
    settings = request.getfixturevalue("settings")
    dialer, clock = FakeDialer(), FixedClock(MONDAY_10_PST)
    c = bootstrap.build_aws(replace(settings, queues_file=QUEUES), clock=clock, dialer=dialer)
    serve(c)
    return MotoEngine(World(c, dialer, request.getfixturevalue("aws"), clock))


def test_connect(engine: Engine) -> None:
    ticket_id = engine.book()
    engine.until(lambda: engine.parked(ticket_id))
    engine.agent()
    engine.until(lambda: engine.dialer.calls)
    engine.answer(ticket_id, "completed")
    engine.until(lambda: engine.finished(ticket_id))
    assert engine.result(ticket_id) == (TicketStatus.SERVED, 1, 1, ("SUCCEEDED", None))


def test_busy_retry_connect(engine: Engine) -> None:
    ticket_id = engine.book()
    engine.agent()
    engine.answer_in_turn(ticket_id, "busy", "completed")
    engine.until(lambda: engine.finished(ticket_id))
    assert engine.result(ticket_id) == (TicketStatus.SERVED, 2, 2, ("SUCCEEDED", None))
    assert engine.ticket(ticket_id).number == 1


def test_three_no_answers(engine: Engine) -> None:
    ticket_id = engine.book()
    engine.agent()
    engine.answer_in_turn(ticket_id, "no-answer", "no-answer", "no-answer")
    engine.until(lambda: engine.finished(ticket_id))
    assert engine.result(ticket_id) == (TicketStatus.LOST, 3, 3, ("FAILED", "Holdfast.CallbackLost"))
    assert engine.notified() == [{"event": "callback_lost", "ticket_id": ticket_id}]
    assert engine.ticket(ticket_id).lost_cause == "callback_failed"


def test_park_timeout(engine: Engine) -> None:
    ticket_id = engine.book(BRIEF)
    engine.until(lambda: engine.finished(ticket_id))
    assert engine.result(ticket_id) == (TicketStatus.LOST, 1, 0, ("FAILED", "Holdfast.CallbackLost"))


def test_dial_timeout(engine: Engine) -> None:
    ticket_id = engine.book(BRIEF)
    engine.agent("brief")
    engine.until(lambda: engine.dialer.calls)
    engine.until(lambda: len(engine.dialer.calls) == 2)  # no outcome: counted, parked, dialed again
    assert engine.ticket(ticket_id).attempts == 2
    engine.until(lambda: engine.finished(ticket_id))
    assert engine.result(ticket_id) == (TicketStatus.LOST, 2, 2, ("FAILED", "Holdfast.CallbackLost"))


def test_late_token(engine: Engine) -> None:
    ticket_id = engine.book(BRIEF)
    engine.until(lambda: engine.parked(ticket_id))
    token = engine.ticket(ticket_id).task_token or ""
    engine.until(lambda: engine.finished(ticket_id))
    with pytest.raises(StaleTokenError):
        engine.dispatcher.orchestrator.complete(token, {"agent_id": "late", "contact": "client:late"})
    assert engine.result(ticket_id) == (TicketStatus.LOST, 1, 0, ("FAILED", "Holdfast.CallbackLost"))


def test_outcome_reported_twice(engine: Engine) -> None:
    ticket_id = engine.book()
    engine.agent()
    engine.until(lambda: engine.dialer.calls)
    engine.answer(ticket_id, "completed")
    engine.until(lambda: engine.finished(ticket_id))
    engine.answer(ticket_id, "completed")  # the webhooks again: the token is spent, nothing changes
    assert engine.result(ticket_id) == (TicketStatus.SERVED, 1, 1, ("SUCCEEDED", None))


def test_an_execution_the_ticket_does_not_name_closes_at_its_park(engine: Engine) -> None:
    """One left running after its callback moved (or was booked again) never parks the ticket."""
    ticket_id = engine.book()
    engine.until(lambda: engine.parked(ticket_id))
    parked = engine.ticket(ticket_id)
    queue = engine.flow.queues.get(parked.queue_id)
    stray = engine.flow.orchestrator.start(f"{ticket_id}-stray",
                                           engine.flow.workflow_input(queue, parked, engine.flow.clock.now()))
    engine.until(lambda: engine.status_of(stray) != "RUNNING")
    assert engine.status_of(stray) == "SUCCEEDED"  # Closed
    assert engine.ticket(ticket_id).task_token == parked.task_token  # still its own execution's
    assert engine.execution(ticket_id) == ("RUNNING", None)


def test_memory_states_are_the_asl_states() -> None:
    engine = MemoryEngine()
    ticket_id = engine.book()
    engine.agent()
    engine.answer_in_turn(ticket_id, "busy", "no-answer", "no-answer")
    engine.until(lambda: engine.finished(ticket_id))
    asl = json.loads((Path(__file__).resolve().parents[2] / "infra" / "callback.asl.json").read_text())
    [execution] = engine.w.orchestrator.executions.values()
    # booked by a caller in line, due at once: its place is held, so its first park is in place; after a
    # failed attempt it comes back into the line (ParkBack)
    assert execution.states == ["Schedule", "Park", "ParkInPlace", "Dial", "Outcome", "Reschedule", "Schedule",
                                "Park", "ParkBack", "Dial", "Outcome", "Reschedule", "Schedule", "Park", "ParkBack",
                                "Dial", "Outcome", "GiveUp", "Notify", "Lost"]
    assert set(execution.states) <= set(asl["States"])
