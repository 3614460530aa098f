"""A callback at a chosen time, on the phone: the offer's key 2, the number read back, the menu of
slots said in the caller's own time, the choice booked with its place in the slot, a slot that filled
meanwhile, another day, after hours, and pressing 2 while holding."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.adapters.memory import FakeBus, FixedClock, MemoryStores, memory_stores
from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.guard import promised_at
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, QueueResult, Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Gather, Leave, Say
from chalicelib.ports import SlotClaim
from tests.fakes import FakeOrchestrator

WEEKDAYS = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
CONFIG = {"queues": [{
    "id": "sched", "name": "Acme", "numbers": ["+18005550100"], "offer_callback_after_seconds": 0,
    "average_handle_seconds": 300, "hours": {"timezone": "America/New_York", **WEEKDAYS},
    "scheduled_callbacks": {"slot_minutes": 30, "offered": 3, "max_share": 0.5, "lead_minutes": 15}}]}
MONDAY_1PM_NY = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # 10:00 in San Francisco
MONDAY_EVENING_NY = datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)  # 18:30 in New York: closed
SF = "+14158675309"  # America/Los_Angeles: three hours behind the queue
NY = "+12125550142"


@pytest.fixture
def stores() -> MemoryStores:
    """One agent signed in and busy: a slot expects one agent, who can make 6 callbacks in 30 minutes
    of 300 s each, at most half of them (max_share) for chosen times: 3 a slot."""
    stores = memory_stores()
    stores.agents.record_agent_status("alice", AgentStatus.BUSY, MONDAY_1PM_NY, "client:alice", ("sched",), None)
    return stores


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_1PM_NY)


@pytest.fixture
def orchestrator() -> FakeOrchestrator:
    return FakeOrchestrator()


@pytest.fixture
def flow(stores: MemoryStores, orchestrator: FakeOrchestrator, clock: FixedClock) -> CallFlow:
    return CallFlow(stores, orchestrator, clock, QueueDirectory.from_config(CONFIG), FakeBus())


def ev(digits: str | None = None, sid: str = "CA1", caller: str = SF, **kw: object) -> CallEvent:
    return CallEvent(sid, CallStatus.IN_PROGRESS, caller, "+18005550100", digits=digits, **kw)  # type: ignore[arg-type]


def said(script) -> str:  # type: ignore[no-untyped-def]
    out = []
    for verb in script.verbs:
        if isinstance(verb, Say):
            out.append(verb.text)
        if isinstance(verb, Gather):
            out.extend(p.text for p in verb.prompts if isinstance(p, Say))
    return " ".join(out)


def to_menu(flow: CallFlow, caller: str = SF) -> object:
    """Call, press 2 at the offer, confirm the number read back: the menu."""
    script = flow.incoming(CallEvent("CA1", CallStatus.RINGING, caller, "+18005550100"))
    assert "To choose the time we call you back, press 2." in said(script)
    ticket = flow.tickets.find_by_call("CA1")
    assert ticket is not None
    confirm = flow.offer(ticket.id, ev("2", caller=caller))
    gather = confirm.verbs[0]
    assert isinstance(gather, Gather) and gather.action.name == "confirm" and dict(gather.action.params)["c"] == "1"
    return flow.confirm(ticket.id, ev("1", caller=caller), choose=True)


def test_the_menu_offers_the_next_slots_in_the_callers_time(flow: CallFlow) -> None:
    menu = to_menu(flow)
    text = said(menu)
    # 13:15 in New York is the earliest (15 minutes' lead): the first slot is 13:30 there, 10:30 for the caller
    assert "To be called back today at 10:30 AM your time, press 1." in text
    assert "To be called back today at 11 AM your time, press 2." in text
    assert "To be called back today at 11:30 AM your time, press 3." in text
    assert "For another day, press 9." in text
    gather = menu.verbs[0]
    assert isinstance(gather, Gather) and gather.action.name == "slot"
    assert dict(gather.action.params)["o"] == "202611231830.202611231900.202611231930"


def test_a_caller_in_the_queues_zone_hears_no_zone(flow: CallFlow) -> None:
    assert "To be called back today at 1:30 PM, press 1." in said(to_menu(flow, NY))


def test_choosing_books_the_slot_durable_before_it_is_said(flow: CallFlow, stores: MemoryStores,
                                                          orchestrator: FakeOrchestrator) -> None:
    to_menu(flow)
    script = flow.slot("sched-1", ev("2"), "202611231830.202611231900.202611231930")
    ticket = stores.tickets.get("sched-1")
    start = datetime(2026, 11, 23, 19, 0, tzinfo=timezone.utc)
    assert (ticket.kind, ticket.slot, ticket.not_before) == (TicketKind.CALLBACK, "2026-11-23T19:00Z", start)
    assert promised_at(ticket) == start  # the guard reads the promise as the slot's start
    assert orchestrator.started["sched-1-1"]["schedule"]["not_before"] == "2026-11-23T19:00:00Z"
    assert stores.bookings.slot_counts("sched", ["2026-11-23T19:00Z"]) == {"2026-11-23T19:00Z": 1}
    text = said(script)
    assert "We will call you back at 4 1 5, 8 6 7, 5 3 0 9 today at 11 AM your time." in text
    assert "To cancel or change it, call us again from this number." in text
    # a repeated webhook says the same and books nothing more
    assert said(flow.slot("sched-1", ev("2"), "202611231830.202611231900.202611231930")) == text
    assert list(orchestrator.started) == ["sched-1-1"]


def fill(stores: MemoryStores, key: str, count: int) -> None:
    for _ in range(count):
        n = len(stores.table.tickets)  # every booking its own caller: one open callback per number
        ticket = stores.tickets.open_ticket(Ticket("sched", 0, TicketKind.LIVE, TicketStatus.WAITING, MONDAY_1PM_NY,
                                                   call_id=f"CF{n}", caller=f"+1212555{n:04d}"))
        assert isinstance(stores.bookings.book_callback(ticket, ticket.caller or "", MONDAY_1PM_NY, MONDAY_1PM_NY,
                                                        False, None, "2026-11-23", 3, 1000, None,
                                                        SlotClaim(key, 3)), int)


def test_a_full_slot_is_not_offered(flow: CallFlow, stores: MemoryStores) -> None:
    fill(stores, "2026-11-23T18:30Z", 3)
    text = said(to_menu(flow))
    assert "10:30 AM" not in text and "today at 11 AM your time, press 1." in text
    assert "today at 12 PM your time, press 3." in text


def test_a_slot_taken_meanwhile_is_said_and_the_menu_comes_again(flow: CallFlow, stores: MemoryStores) -> None:
    to_menu(flow)
    fill(stores, "2026-11-23T18:30Z", 3)  # others took the last places while the caller listened
    script = flow.slot("sched-1", ev("1"), "202611231830.202611231900.202611231930")
    text = said(script)
    assert text.startswith("Sorry, that time has just been taken.")
    assert "today at 11 AM your time, press 1." in text
    assert stores.tickets.get("sched-1").kind is TicketKind.LIVE  # nothing booked, still in line
    assert stores.bookings.slot_counts("sched", ["2026-11-23T18:30Z"]) == {"2026-11-23T18:30Z": 3}


def test_another_day_starts_the_next_morning_inside_the_callers_window(flow: CallFlow) -> None:
    to_menu(flow)
    text = said(flow.slot("sched-1", ev("9"), "202611231830.202611231900.202611231930"))
    # Tuesday opens at 09:00 in New York, 06:00 for the caller: the calling window opens at 08:00 theirs
    assert "To be called back tomorrow at 8 AM your time, press 1." in text
    assert "tomorrow at 8:30 AM your time, press 2." in text


def test_a_wrong_key_hears_the_menu_again(flow: CallFlow) -> None:
    to_menu(flow)
    text = said(flow.slot("sched-1", ev("7"), "202611231830.202611231900.202611231930"))
    assert text.startswith("Sorry, that key is not one of the choices.") and "press 1" in text


def test_after_hours_the_closed_offer_has_key_2(flow: CallFlow, clock: FixedClock) -> None:
    clock.current = MONDAY_EVENING_NY
    script = flow.incoming(CallEvent("CA1", CallStatus.RINGING, NY, "+18005550100"))
    assert "To choose the time we call you back, press 2." in said(script)
    flow.offer("sched-1", ev("2", caller=NY))
    text = said(flow.confirm("sched-1", ev("1", caller=NY), choose=True))
    assert "To be called back tomorrow at 9 AM, press 1." in text


def test_pressing_2_while_holding(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(CallEvent("CA1", CallStatus.RINGING, SF, "+18005550100"))
    left = flow.wait_offer("sched-1", ev("2"))
    assert isinstance(left.verbs[-1], Leave)
    confirm = flow.queue_exit("sched-1", ev(queue_result=QueueResult.LEAVE))
    assert dict(confirm.verbs[0].action.params)["c"] == "1"  # type: ignore[union-attr]
    assert "press 1" in said(flow.confirm("sched-1", ev("1"), choose=True))


MONDAY_LEFT = ("2026-11-23T18:30Z", "2026-11-23T19:00Z", "2026-11-23T19:30Z", "2026-11-23T20:00Z", "2026-11-23T20:30Z",
               "2026-11-23T21:00Z", "2026-11-23T21:30Z", "2026-11-23T22:00Z", "2026-11-23T22:30Z")  # 13:30-17:30 NY


def test_a_full_day_offers_the_next(flow: CallFlow, stores: MemoryStores) -> None:
    for key in MONDAY_LEFT:
        fill(stores, key, 3)
    assert "tomorrow at 8 AM your time, press 1." in said(to_menu(flow))


def queue_with(**scheduled: object) -> QueueDirectory:
    raw = {k: v for k, v in CONFIG["queues"][0].items() if k != "scheduled_callbacks"}
    if scheduled:
        raw["scheduled_callbacks"] = scheduled
    return QueueDirectory.from_config({"queues": [raw]})


def test_no_slot_left_offers_the_soonest_callback_instead(stores: MemoryStores, clock: FixedClock) -> None:
    flow = CallFlow(stores, FakeOrchestrator(), clock, queue_with(slot_minutes=30, days_ahead=1), FakeBus())
    # a day ahead reaches Tuesday 13:00 in New York; the caller's window opens at 11:00 there
    for key in (*MONDAY_LEFT, "2026-11-24T16:00Z", "2026-11-24T16:30Z", "2026-11-24T17:00Z", "2026-11-24T17:30Z"):
        fill(stores, key, 3)
    script = to_menu(flow)
    assert said(script).startswith("Sorry, there are no callback times left to choose from. To be called back "
                                   "as soon as an agent is available, press 1.")
    assert script.verbs[0].action.name == "offer"  # type: ignore[union-attr]


def test_a_queue_without_chosen_times_says_nothing_of_key_2(stores: MemoryStores, clock: FixedClock) -> None:
    flow = CallFlow(stores, FakeOrchestrator(), clock, queue_with(), FakeBus())
    script = flow.incoming(CallEvent("CA1", CallStatus.RINGING, SF, "+18005550100"))
    assert "press 2" not in said(script)
    assert "keep your place" in said(flow.offer("sched-1", ev("2"))).lower()  # not a choice: back in line
