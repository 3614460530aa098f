"""The call flow against fakes: every branch a caller can reach."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.errors import OrchestratorError
from chalicelib.domain.model import CallEvent, CallStatus, QueueResult, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Enqueue, Gather, Hangup, Leave, Play, Redirect, Say
from tests.fakes import FakeBus, FakeOrchestrator, FakeStore, FixedClock

CONFIG = {"default": "support", "queues": [
    {"id": "support", "name": "Acme", "offer_callback_after_seconds": 120, "assumed_agents": 1,
     "average_handle_seconds": 100, "average_patience_seconds": 600},
    {"id": "kyiv", "name": "Kyiv", "language": "uk", "numbers": ["+380445550100"],
     "default_region": "UA", "allowed_countries": ["UA"],
     "hours": {"timezone": "Europe/Kyiv", "mon": ["09:00-18:00"], "tue": ["09:00-18:00"]}},
]}
MONDAY_NOON_KYIV = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
MONDAY_NIGHT_KYIV = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)
MONDAY_10_PST = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # a San Francisco caller may be called


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def orchestrator() -> FakeOrchestrator:
    return FakeOrchestrator()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_10_PST)


@pytest.fixture
def bus() -> FakeBus:
    return FakeBus()


@pytest.fixture
def flow(store: FakeStore, orchestrator: FakeOrchestrator, clock: FixedClock, bus: FakeBus) -> CallFlow:
    return CallFlow(store, orchestrator, clock, QueueDirectory.from_config(CONFIG), bus)


def call(sid: str = "CA1", caller: str = "+14158675309", called: str = "+18005550100",
         status: CallStatus = CallStatus.RINGING, **kw: object) -> CallEvent:
    return CallEvent(sid, status, caller, called, **kw)  # type: ignore[arg-type]


def said(script) -> str:  # type: ignore[no-untyped-def]
    out = []
    for verb in script.verbs:
        if isinstance(verb, Say):
            out.append(verb.text)
        if isinstance(verb, Gather):
            out.extend(p.text for p in verb.prompts if isinstance(p, Say))
    return " ".join(out)


def test_short_wait_holds_with_position_and_estimate(flow: CallFlow, store: FakeStore) -> None:
    script = flow.incoming(call())
    assert "number 1 in line" in said(script)
    assert "about 2 minutes" in said(script)  # 100 s AHT, one agent
    assert isinstance(script.verbs[-1], Enqueue)
    assert store.get("support-1").status is TicketStatus.WAITING


def test_long_wait_offers_a_callback_and_falls_back_to_holding(flow: CallFlow) -> None:
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    script = flow.incoming(call("CA9"))
    gather = script.verbs[0]
    assert isinstance(gather, Gather) and gather.action.name == "offer"
    assert "number 4 in line" in said(script) and "press 1" in said(script)
    assert isinstance(script.verbs[-1], Enqueue)  # no key pressed: still in line, never dead air


def test_retried_incoming_webhook_reuses_the_ticket(flow: CallFlow, store: FakeStore) -> None:
    flow.incoming(call())
    flow.incoming(call())
    assert list(store.tickets) == ["support-1"]


def test_after_hours_offers_callback_at_next_opening(flow: CallFlow, store: FakeStore, clock: FixedClock) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    script = flow.incoming(call(caller="+380441234567", called="+380445550100"))
    assert "Ми відкриємося завтра о 09:00" in said(script)
    assert isinstance(script.verbs[-1], Redirect) and script.verbs[-1].step.name == "bye"
    assert store.get("kyiv-1").status is TicketStatus.AFTER_HOURS
    assert store.waiting_count("kyiv") == 0  # not in line while closed


def test_after_hours_press_1_books_callback_for_the_opening(flow: CallFlow, store: FakeStore,
                                                           orchestrator: FakeOrchestrator,
                                                           clock: FixedClock) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    flow.incoming(call(caller="+380441234567", called="+380445550100"))
    flow.offer("kyiv-1", call(digits="1"))
    script = flow.confirm("kyiv-1", call(digits="1"))
    ticket = store.get("kyiv-1")
    assert ticket.not_before == datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
    assert orchestrator.started["kyiv-1-1"]["schedule"]["not_before"] == "2026-11-24T07:00:00Z"
    assert "коли відкриємося, завтра о 09:00" in said(script)


def test_after_hours_without_choice_is_a_lost_call_recovered_at_the_opening(flow: CallFlow, store: FakeStore,
                                                                             clock: FixedClock, bus: FakeBus) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    flow.incoming(call(caller="+380441234567", called="+380445550100"))
    script = flow.bye("kyiv-1", call())
    assert isinstance(script.verbs[-1], Hangup)
    ticket = store.get("kyiv-1")
    assert (ticket.lost_cause, ticket.kind, ticket.status) == ("after_hours", TicketKind.CALLBACK,
                                                               TicketStatus.SCHEDULED)
    assert ticket.not_before == datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
    assert bus.events == [{"event": "lost_call", "ticket_id": "kyiv-1", "cause": "after_hours",
                           "recovery": "booked"}]


def test_press_1_reads_back_caller_id_then_books_the_same_ticket(flow: CallFlow, store: FakeStore,
                                                                orchestrator: FakeOrchestrator) -> None:
    flow.incoming(call())
    flow.incoming(call("CA2", caller="+14155550199"))
    script = flow.offer("support-1", call(digits="1"))
    assert "4 1 5, 8 6 7, 5 3 0 9" in said(script)
    assert isinstance(script.verbs[0], Gather) and script.verbs[0].action.name == "confirm"

    durable_before_start = []
    real_start = orchestrator.start

    def start(name, payload):  # type: ignore[no-untyped-def]
        durable_before_start.append(store.get(name.rsplit("-", 1)[0]).kind)
        return real_start(name, payload)

    orchestrator.start = start  # type: ignore[method-assign]
    script = flow.confirm("support-1", call(digits="1"))
    ticket = store.get("support-1")
    assert durable_before_start == [TicketKind.CALLBACK]
    assert (ticket.kind, ticket.number, ticket.callback_number) == (TicketKind.CALLBACK, 1, "+14158675309")
    assert ticket.execution_id == "exec:support-1-1"
    assert isinstance(script.verbs[-1], Hangup)
    assert "You keep your place: number 1 in line" in said(script)


def test_repeated_confirmation_books_once(flow: CallFlow, orchestrator: FakeOrchestrator) -> None:
    flow.incoming(call())
    flow.offer("support-1", call(digits="1"))
    first = flow.confirm("support-1", call(digits="1"))
    again = flow.confirm("support-1", call(digits="1"))
    assert said(first) == said(again)
    assert list(orchestrator.started) == ["support-1-1"]


def test_withheld_caller_enters_a_number_and_bad_numbers_are_refused(flow: CallFlow, store: FakeStore) -> None:
    flow.incoming(call(caller="anonymous"))
    script = flow.offer("support-1", call(digits="1"))
    gather = script.verbs[0]
    assert isinstance(gather, Gather) and gather.action.name == "number" and gather.finish_on_key == "#"
    script = flow.number("support-1", call(digits="19005551234"), tries=0)  # premium
    assert "cannot call that number" in said(script)
    assert script.verbs[1].action.params == (("t", "support-1"), ("tries", "1"))
    script = flow.number("support-1", call(digits="4155550123"), tries=1)
    assert "4 1 5, 5 5 5, 0 1 2 3" in said(script)
    assert store.get("support-1").pending_number == "+14155550123"


def test_three_bad_numbers_put_the_caller_back_in_line(flow: CallFlow, store: FakeStore) -> None:
    flow.incoming(call(caller="anonymous"))
    script = flow.number("support-1", call(digits="123"), tries=2)
    assert "keep your place" in said(script) and isinstance(script.verbs[-1], Enqueue)
    assert store.get("support-1").kind is TicketKind.LIVE


def test_press_2_collects_another_number(flow: CallFlow) -> None:
    flow.incoming(call())
    flow.offer("support-1", call(digits="1"))
    script = flow.confirm("support-1", call(digits="2"))
    assert script.verbs[0].action.name == "number"


def test_workflow_start_failure_keeps_the_caller_in_line(store: FakeStore, clock: FixedClock) -> None:
    flow = CallFlow(store, FakeOrchestrator(fail=True), clock, QueueDirectory.from_config(CONFIG), FakeBus())
    flow.incoming(call())
    flow.offer("support-1", call(digits="1"))
    with pytest.raises(OrchestratorError):
        flow.confirm("support-1", call(digits="1"))
    ticket = store.get("support-1")
    assert (ticket.kind, ticket.status) == (TicketKind.LIVE, TicketStatus.WAITING)
    assert "technical problem" in said(flow.apology(None))


def test_hangup_while_holding_is_lost_and_recovered_at_the_same_place(flow: CallFlow, store: FakeStore,
                                                                        clock: FixedClock,
                                                                        orchestrator: FakeOrchestrator) -> None:
    flow.incoming(call())
    clock.advance(95)
    assert flow.queue_exit("support-1", call(status=CallStatus.COMPLETED, queue_result=QueueResult.HANGUP)).verbs == ()
    ticket = store.get("support-1")
    assert (ticket.lost_cause, ticket.wait_seconds, ticket.number) == ("abandoned", 95, 1)
    assert (ticket.kind, ticket.callback_number) == (TicketKind.CALLBACK, "+14158675309")
    assert list(orchestrator.started) == ["support-1-1"]
    assert [t.id for t in store.lost_calls("support")] == ["support-1"]


def test_short_abandon_is_recorded_but_not_called_back(flow: CallFlow, store: FakeStore, clock: FixedClock,
                                                        bus: FakeBus, orchestrator: FakeOrchestrator) -> None:
    flow.incoming(call())
    clock.advance(3)
    flow.incoming(call(status=CallStatus.COMPLETED))
    ticket = store.get("support-1")
    assert (ticket.status, ticket.lost_cause, ticket.kind) == (TicketStatus.ABANDONED, "abandoned", TicketKind.LIVE)
    assert orchestrator.started == {}
    assert bus.events[-1]["recovery"] == "short_abandon"


def test_status_callback_on_the_incoming_url_abandons_once(flow: CallFlow, store: FakeStore,
                                                            clock: FixedClock) -> None:
    flow.incoming(call())
    clock.advance(30)
    flow.incoming(call(status=CallStatus.COMPLETED))
    clock.advance(30)
    flow.incoming(call(status=CallStatus.COMPLETED))
    assert store.get("support-1").wait_seconds == 30


def test_hangup_after_booking_a_callback_changes_nothing(flow: CallFlow, store: FakeStore) -> None:
    flow.incoming(call())
    flow.offer("support-1", call(digits="1"))
    flow.confirm("support-1", call(digits="1"))
    flow.incoming(call(status=CallStatus.COMPLETED))
    assert store.get("support-1").kind is TicketKind.CALLBACK


def test_wait_announces_and_reoffers_then_press_1_leaves_the_queue(flow: CallFlow, store: FakeStore) -> None:
    for n in range(4):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    script = flow.wait("support-4", call("CA3"))
    assert isinstance(script.verbs[0], Gather) and isinstance(script.verbs[-1], Play)
    assert "number 4 in line" in said(script)
    assert "press 9" in said(script)
    assert flow.wait_offer("support-4", call("CA3", digits="1")).verbs == (Leave(),)
    script = flow.queue_exit("support-4", call("CA3", queue_result=QueueResult.LEAVE))
    assert script.verbs[0].action.name == "confirm"


def test_callback_keeps_its_place_for_later_callers(flow: CallFlow, store: FakeStore) -> None:
    flow.incoming(call("CA1"))
    flow.offer("support-1", call("CA1", digits="1"))
    flow.confirm("support-1", call("CA1", digits="1"))
    # the workflow parks it: back in line at number 1
    store.tickets["support-1"] = store.get("support-1").evolve(status=TicketStatus.WAITING)
    flow.incoming(call("CA2", caller="+14155550199"))
    assert store.ahead_of(store.get("support-2")) == 1


# --- issue 9 item 13: a status callback before the confirm keypress --------------------------------

TYPED = "+14155550142"


def _typed_and_read_back(flow: CallFlow, store: FakeStore, clock: FixedClock) -> str:
    flow.incoming(call(caller="anonymous"))
    ticket_id = store.find_by_call("CA1").id
    flow.offer(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="1"))
    flow.number(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="4155550142"), tries=0)
    assert store.get(ticket_id).pending_number == TYPED
    clock.advance(60)
    return ticket_id


def test_a_hang_up_before_the_confirm_books_the_typed_number(flow: CallFlow, store: FakeStore,
                                                             clock: FixedClock) -> None:
    ticket_id = _typed_and_read_back(flow, store, clock)
    flow.incoming(call(status=CallStatus.COMPLETED, caller="anonymous"))  # the status callback overtakes
    flow.confirm(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="1"))  # then the keypress
    ticket = store.get(ticket_id)
    assert (ticket.kind, ticket.callback_number) == (TicketKind.CALLBACK, TYPED)


def test_the_confirm_after_the_hang_up_books_even_without_automatic_recovery(
        store: FakeStore, orchestrator: FakeOrchestrator, clock: FixedClock, bus: FakeBus) -> None:
    config = {"queues": [dict(CONFIG["queues"][0], recover_lost_calls=False)]}
    flow = CallFlow(store, orchestrator, clock, QueueDirectory.from_config(config), bus)
    ticket_id = _typed_and_read_back(flow, store, clock)
    flow.incoming(call(status=CallStatus.COMPLETED, caller="anonymous"))
    assert store.get(ticket_id).status is TicketStatus.ABANDONED
    flow.confirm(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="1"))
    ticket = store.get(ticket_id)
    assert (ticket.kind, ticket.status, ticket.callback_number) == (TicketKind.CALLBACK, TicketStatus.SCHEDULED,
                                                                    TYPED)
    assert list(orchestrator.started) == [f"{ticket_id}-1"]
