"""A caller who calls again with a callback pending: they hear when it is, and keep it, cancel it, hold
on the line now, or choose another time. Cancelling stops the workflow, gives the slot back, leaves no
lost call and is counted as cancelled by the caller."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from chalicelib.adapters.memory import FixedClock, MemoryStores
from chalicelib.domain import reports
from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.model import CallEvent, CallStatus, TicketKind, TicketStatus
from chalicelib.domain.script import Enqueue, Gather, Hangup
from tests.fakes import FakeOrchestrator
from tests.unit.test_chosen_time import MONDAY_EVENING_NY, SF, said
from tests.unit.test_chosen_time import clock, flow, orchestrator, stores  # noqa: F401 (the same world)

MENU = "202611231830.202611231900.202611231930"


def ev(sid: str, digits: str | None = None, status: CallStatus = CallStatus.IN_PROGRESS) -> CallEvent:
    return CallEvent(sid, status, SF, "+18005550100", digits=digits)


def book_slot(flow: CallFlow, key: str = "2") -> str:
    """The caller chooses 11 AM their time (14:00 in New York) and hangs up."""
    flow.incoming(ev("CA1", status=CallStatus.RINGING))
    flow.offer("sched-1", ev("CA1", "2"))
    flow.confirm("sched-1", ev("CA1", "1"), choose=True)
    flow.slot("sched-1", ev("CA1", key), MENU)
    return "sched-1"


def call_again(flow: CallFlow) -> object:
    return flow.incoming(ev("CA2", status=CallStatus.RINGING))


def test_calling_again_hears_when_and_the_choices_and_opens_no_ticket(flow: CallFlow, stores: MemoryStores) -> None:
    book_slot(flow)
    script = call_again(flow)
    text = said(script)
    assert "You have a callback booked for today at 11 AM your time." in text
    assert "To keep it, press 1. To cancel it, press 2." in text
    assert "To hold on the line now instead, keeping your place, press 3." in text
    assert "To choose another time, press 4." in text
    gather = script.verbs[0]
    assert isinstance(gather, Gather) and gather.action.name == "pending"
    assert isinstance(script.verbs[-1], Hangup)  # pressing nothing keeps it
    assert list(stores.table.tickets) == ["sched-1"] and stores.tickets.find_by_call("CA2") is None


def test_keeping_it_changes_nothing(flow: CallFlow, stores: MemoryStores, orchestrator: FakeOrchestrator) -> None:
    book_slot(flow)
    before = stores.tickets.get("sched-1")
    call_again(flow)
    script = flow.pending_choice("sched-1", ev("CA2", "1"))
    assert "Your callback stays booked." in said(script) and isinstance(script.verbs[-1], Hangup)
    assert stores.tickets.get("sched-1") == before and orchestrator.stopped == []


def test_cancelling_stops_the_workflow_frees_the_slot_and_is_no_lost_call(flow: CallFlow, stores: MemoryStores,
                                                                          orchestrator: FakeOrchestrator) -> None:
    book_slot(flow)
    before = stores.tickets.get("sched-1")
    call_again(flow)
    script = flow.pending_choice("sched-1", ev("CA2", "2"))
    assert "Your callback is cancelled." in said(script)
    after = stores.tickets.get("sched-1")
    assert (after.status, after.cancelled_by) == (TicketStatus.CANCELLED, "caller")
    assert orchestrator.stopped == [before.execution_id]
    assert stores.bookings.slot_counts("sched", ["2026-11-23T19:00Z"]) == {"2026-11-23T19:00Z": 0}
    assert stores.lost.lost_calls("sched").items == [] and after.lost_cause is None
    counted = reports.facts(before, after, 10)
    assert [f.counts for f in counted] == [{"cancelled_by_caller": 1, "scheduled_cancelled": 1}]
    # pressed again (a repeated webhook): nothing more happens
    assert "cancelled" not in said(flow.pending_choice("sched-1", ev("CA2", "2")))
    assert orchestrator.stopped == [before.execution_id]


def test_holding_now_takes_the_place_back_and_gives_the_slot_up(flow: CallFlow, stores: MemoryStores,
                                                                orchestrator: FakeOrchestrator) -> None:
    book_slot(flow)
    call_again(flow)
    script = flow.pending_choice("sched-1", ev("CA2", "3"))
    assert "Welcome back. You have your place in line again." in said(script)
    assert isinstance(script.verbs[-1], Enqueue)
    ticket = stores.tickets.get("sched-1")
    assert (ticket.kind, ticket.status, ticket.call_id, ticket.slot) == (TicketKind.LIVE, TicketStatus.WAITING, "CA2",
                                                                         None)
    assert stores.bookings.slot_counts("sched", ["2026-11-23T19:00Z"]) == {"2026-11-23T19:00Z": 0}


def test_choosing_another_time_moves_it_under_a_new_workflow(flow: CallFlow, stores: MemoryStores,
                                                             orchestrator: FakeOrchestrator) -> None:
    book_slot(flow)
    call_again(flow)
    menu = flow.pending_choice("sched-1", ev("CA2", "4"))
    gather = menu.verbs[0]
    assert isinstance(gather, Gather) and dict(gather.action.params)["m"] == "1"
    offered = dict(gather.action.params)["o"]
    script = flow.slot("sched-1", ev("CA2", "3"), offered, moving=True)
    ticket = stores.tickets.get("sched-1")
    assert ticket.slot == "2026-11-23T19:30Z" and ticket.not_before == datetime(2026, 11, 23, 19, 30, tzinfo=timezone.utc)
    assert orchestrator.stopped == ["exec:sched-1-1"]
    assert orchestrator.started["sched-1-2"]["schedule"]["not_before"] == "2026-11-23T19:30:00Z"
    assert ticket.execution_id == "exec:sched-1-2"
    assert stores.bookings.slot_counts("sched", ["2026-11-23T19:00Z", "2026-11-23T19:30Z"]) == {
        "2026-11-23T19:00Z": 0, "2026-11-23T19:30Z": 1}
    assert "We will call you back at 4 1 5, 8 6 7, 5 3 0 9 today at 11:30 AM your time." in said(script)
    # the same key again (a repeated webhook) moves nothing more
    flow.slot("sched-1", ev("CA2", "3"), offered, moving=True)
    assert list(orchestrator.started) == ["sched-1-1", "sched-1-2"]


def test_after_hours_the_line_is_not_a_choice(flow: CallFlow, stores: MemoryStores, clock: FixedClock) -> None:
    book_slot(flow)
    clock.current = MONDAY_EVENING_NY
    text = said(call_again(flow))
    assert "press 3" not in text and "To cancel it, press 2." in text
    again = flow.pending_choice("sched-1", ev("CA2", "3"))
    assert said(again).startswith("Sorry, that key is not one of the choices.")
    assert stores.tickets.get("sched-1").kind is TicketKind.CALLBACK


def test_a_callback_as_soon_as_possible_is_said_as_the_time_promised_then(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(ev("CA1", status=CallStatus.RINGING))
    flow.offer("sched-1", ev("CA1", "1"))
    confirmed = said(flow.confirm("sched-1", ev("CA1", "1")))
    minutes = int(re.search(r"within (\d+) minutes", confirmed).group(1))  # type: ignore[union-attr]
    text = said(call_again(flow))
    # told at 10:00 their time "within N minutes": the same moment, said as a time of day
    assert f"You have a callback booked for today at 10:{minutes:02d} AM your time." in text
