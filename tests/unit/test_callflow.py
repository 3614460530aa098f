"""The call flow against fakes: every branch a caller can reach."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.errors import OrchestratorError
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, QueueResult, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory
from chalicelib.domain.script import Enqueue, Gather, Hangup, Leave, Play, Redirect, Say, Step
from chalicelib.adapters.memory import memory_stores, FakeBus, MemoryStores, FixedClock
from tests.fakes import FakeOrchestrator

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
def stores() -> MemoryStores:
    """One agent signed in (busy, so nobody takes the caller): estimates come from real staffing."""
    stores = memory_stores()
    stores.agents.record_agent_status("alice", AgentStatus.BUSY, MONDAY_NOON_KYIV, "client:alice", ("support", "kyiv"), None)
    return stores


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
def flow(stores: MemoryStores, orchestrator: FakeOrchestrator, clock: FixedClock, bus: FakeBus) -> CallFlow:
    return CallFlow(stores, orchestrator, clock, QueueDirectory.from_config(CONFIG), bus)


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


def test_short_wait_holds_with_position_and_estimate(flow: CallFlow, stores: MemoryStores) -> None:
    script = flow.incoming(call())
    assert "number 1 in line" in said(script)
    assert "about 2 minutes" in said(script)  # 100 s AHT, one agent
    assert isinstance(script.verbs[-1], Enqueue)
    assert stores.tickets.get("support-1").status is TicketStatus.WAITING


def test_long_wait_offers_a_callback_and_falls_back_to_holding(flow: CallFlow) -> None:
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    script = flow.incoming(call("CA9"))
    gather = script.verbs[0]
    assert isinstance(gather, Gather) and gather.action.name == "offer"
    assert "number 4 in line" in said(script) and "press 1" in said(script)
    assert isinstance(script.verbs[-1], Enqueue)  # no key pressed: still in line, never dead air


def test_retried_incoming_webhook_reuses_the_ticket(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(call())
    flow.incoming(call())
    assert list(stores.table.tickets) == ["support-1"]


def test_after_hours_offers_callback_at_next_opening(flow: CallFlow, stores: MemoryStores, clock: FixedClock) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    script = flow.incoming(call(caller="+380441234567", called="+380445550100"))
    assert "Ми відкриємося завтра о 09:00" in said(script)
    assert isinstance(script.verbs[-1], Redirect) and script.verbs[-1].step.name == "bye"
    assert stores.tickets.get("kyiv-1").status is TicketStatus.AFTER_HOURS
    assert stores.line.waiting_count("kyiv") == 0  # not in line while closed


def test_after_hours_press_1_books_callback_for_the_opening(flow: CallFlow, stores: MemoryStores,
                                                           orchestrator: FakeOrchestrator,
                                                           clock: FixedClock) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    flow.incoming(call(caller="+380441234567", called="+380445550100"))
    flow.offer("kyiv-1", call(digits="1"))
    script = flow.confirm("kyiv-1", call(digits="1"))
    ticket = stores.tickets.get("kyiv-1")
    assert ticket.not_before == datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
    assert orchestrator.started["kyiv-1-1"]["schedule"]["not_before"] == "2026-11-24T07:00:00Z"
    assert "коли відкриємося, завтра о 09:00" in said(script)


def test_after_hours_without_choice_is_a_lost_call_recovered_at_the_opening(flow: CallFlow, stores: MemoryStores,
                                                                             clock: FixedClock, bus: FakeBus) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    flow.incoming(call(caller="+380441234567", called="+380445550100"))
    script = flow.bye("kyiv-1", call())
    assert isinstance(script.verbs[-1], Hangup)
    ticket = stores.tickets.get("kyiv-1")
    assert (ticket.lost_cause, ticket.kind, ticket.status) == ("after_hours", TicketKind.CALLBACK,
                                                               TicketStatus.SCHEDULED)
    assert ticket.not_before == datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)
    assert bus.events == [{"event": "lost_call", "ticket_id": "kyiv-1", "cause": "after_hours",
                           "recovery": "booked"}]


def test_press_1_reads_back_caller_id_then_books_the_same_ticket(flow: CallFlow, stores: MemoryStores,
                                                                orchestrator: FakeOrchestrator) -> None:
    flow.incoming(call())
    flow.incoming(call("CA2", caller="+14155550199"))
    script = flow.offer("support-1", call(digits="1"))
    assert "4 1 5, 8 6 7, 5 3 0 9" in said(script)
    assert isinstance(script.verbs[0], Gather) and script.verbs[0].action.name == "confirm"

    durable_before_start = []
    real_start = orchestrator.start

    def start(name, payload):  # type: ignore[no-untyped-def]
        durable_before_start.append(stores.tickets.get(name.rsplit("-", 1)[0]).kind)
        return real_start(name, payload)

    orchestrator.start = start  # type: ignore[method-assign]
    script = flow.confirm("support-1", call(digits="1"))
    ticket = stores.tickets.get("support-1")
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


def test_withheld_caller_enters_a_number_and_bad_numbers_are_refused(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(call(caller="anonymous"))
    script = flow.offer("support-1", call(digits="1"))
    assert said(script).startswith("We cannot see the number you are calling from.")
    gather = script.verbs[1]
    assert isinstance(gather, Gather) and gather.action.name == "number" and gather.finish_on_key == "#"
    script = flow.number("support-1", call(digits="19005551234"), tries=0)  # premium
    assert "cannot call premium-rate" in said(script)
    assert script.verbs[1].action.params == (("t", "support-1"), ("tries", "1"))
    script = flow.number("support-1", call(digits="4155550123"), tries=1)
    assert "4 1 5, 5 5 5, 0 1 2 3" in said(script)
    assert stores.tickets.get("support-1").pending_number == "+14155550123"


def test_three_bad_numbers_put_the_caller_back_in_line(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(call(caller="anonymous"))
    script = flow.number("support-1", call(digits="123"), tries=2)
    assert "keep your place" in said(script) and isinstance(script.verbs[-1], Enqueue)
    assert stores.tickets.get("support-1").kind is TicketKind.LIVE


def test_press_2_collects_another_number(flow: CallFlow) -> None:
    flow.incoming(call())
    flow.offer("support-1", call(digits="1"))
    script = flow.confirm("support-1", call(digits="2"))
    assert script.verbs[0].action.name == "number"


def test_workflow_start_failure_keeps_the_caller_in_line(stores: MemoryStores, clock: FixedClock) -> None:
    flow = CallFlow(stores, FakeOrchestrator(fail=True), clock, QueueDirectory.from_config(CONFIG), FakeBus())
    flow.incoming(call())
    flow.offer("support-1", call(digits="1"))
    with pytest.raises(OrchestratorError):
        flow.confirm("support-1", call(digits="1"))
    ticket = stores.tickets.get("support-1")
    assert (ticket.kind, ticket.status) == (TicketKind.LIVE, TicketStatus.WAITING)
    assert "technical problem" in said(flow.apology(None))


def test_hangup_while_holding_is_lost_and_recovered_at_the_same_place(flow: CallFlow, stores: MemoryStores,
                                                                        clock: FixedClock,
                                                                        orchestrator: FakeOrchestrator) -> None:
    flow.incoming(call())
    clock.advance(95)
    assert flow.queue_exit("support-1", call(status=CallStatus.COMPLETED, queue_result=QueueResult.HANGUP)).verbs == ()
    ticket = stores.tickets.get("support-1")
    assert (ticket.lost_cause, ticket.wait_seconds, ticket.number) == ("abandoned", 95, 1)
    assert (ticket.kind, ticket.callback_number) == (TicketKind.CALLBACK, "+14158675309")
    assert list(orchestrator.started) == ["support-1-1"]
    assert [t.id for t in stores.lost.lost_calls("support").items] == ["support-1"]


def test_short_abandon_is_recorded_but_not_called_back(flow: CallFlow, stores: MemoryStores, clock: FixedClock,
                                                        bus: FakeBus, orchestrator: FakeOrchestrator) -> None:
    flow.incoming(call())
    clock.advance(3)
    flow.incoming(call(status=CallStatus.COMPLETED))
    ticket = stores.tickets.get("support-1")
    assert (ticket.status, ticket.lost_cause, ticket.kind) == (TicketStatus.ABANDONED, "abandoned", TicketKind.LIVE)
    assert orchestrator.started == {}
    assert bus.events[-1]["recovery"] == "short_abandon"


def test_status_callback_on_the_incoming_url_abandons_once(flow: CallFlow, stores: MemoryStores,
                                                            clock: FixedClock) -> None:
    flow.incoming(call())
    clock.advance(30)
    flow.incoming(call(status=CallStatus.COMPLETED))
    clock.advance(30)
    flow.incoming(call(status=CallStatus.COMPLETED))
    assert stores.tickets.get("support-1").wait_seconds == 30


def test_hangup_after_booking_a_callback_changes_nothing(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(call())
    flow.offer("support-1", call(digits="1"))
    flow.confirm("support-1", call(digits="1"))
    flow.incoming(call(status=CallStatus.COMPLETED))
    assert stores.tickets.get("support-1").kind is TicketKind.CALLBACK


def test_wait_announces_and_reoffers_then_press_1_leaves_the_queue(flow: CallFlow, stores: MemoryStores) -> None:
    for n in range(4):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    script = flow.wait("support-4", call("CA3"))
    [gather] = script.verbs
    assert isinstance(gather, Gather) and isinstance(gather.prompts[-1], Play)
    assert "number 4 in line" in said(script) and "press 1" in said(script)
    assert "press 9" not in said(script)  # the opt-out hint never rides on the offer
    left = flow.wait_offer("support-4", call("CA3", digits="1")).verbs
    assert left == (Leave(Step.of("queue-exit", t="support-4")),)
    script = flow.queue_exit("support-4", call("CA3", queue_result=QueueResult.LEAVE))
    assert script.verbs[0].action.name == "confirm"


def test_callback_keeps_its_place_for_later_callers(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(call("CA1"))
    flow.offer("support-1", call("CA1", digits="1"))
    flow.confirm("support-1", call("CA1", digits="1"))
    # the workflow parks it: back in line at number 1
    stores.table.park("support-1", "park-token")
    flow.incoming(call("CA2", caller="+14155550199"))
    assert stores.line.ahead_of(stores.tickets.get("support-2")) == 1


# --- what callers hear (issue 9, items 14-19) ---------------------------------------------------

def flow_for(stores: MemoryStores, clock: FixedClock, *queues: dict) -> CallFlow:
    return CallFlow(stores, FakeOrchestrator(), clock, QueueDirectory.from_config(
        {"default": queues[0]["id"], "queues": list(queues)}), FakeBus())


def gathers(script) -> list[Gather]:  # type: ignore[no-untyped-def]
    return [v for v in script.verbs if isinstance(v, Gather)]


def test_first_wait_poll_after_the_greeting_plays_music_not_the_same_announcement(flow: CallFlow) -> None:
    greeting = flow.incoming(call())
    assert "number 1 in line" in said(greeting)
    first = flow.wait("support-1", call(queue_seconds=0))
    [gather] = first.verbs
    assert isinstance(gather, Gather) and gather.action.name == "wait-offer"
    assert [type(p) for p in gather.prompts] == [Play] and said(first) == ""
    later = flow.wait("support-1", call(queue_seconds=95))
    assert "number 1 in line" in said(later)


def test_hold_announcement_is_followed_by_music_not_a_gather_timeout_of_silence(flow: CallFlow) -> None:
    for n in range(4):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    for script in (flow.wait("support-4", call("CA3", queue_seconds=120)),
                   flow.wait("support-1", call("CA0", queue_seconds=120))):  # with and without the offer
        [gather] = script.verbs  # nothing after the Gather: its timeout is the only pause
        assert isinstance(gather.prompts[-1], Play) and gather.timeout_seconds == 1


def test_opt_out_hint_comes_after_the_choice_never_with_the_offer(flow: CallFlow) -> None:
    for n in range(4):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    offer, after = gathers(flow.incoming(call("CA9")))
    assert "press 1" in said_in(offer) and "press 9" not in said_in(offer)
    # no key at the offer is a choice to hold: the hint follows, where 9 is heard
    assert after.action.name == "offer" and said_in(after).startswith("You keep your place in line. If you hang up")
    assert "press 9" not in said(flow.wait("support-5", call("CA9", queue_seconds=300)))
    declined = flow.wait_offer("support-5", call("CA9", digits="2"))
    assert "press 9" in said(declined) and declined.verbs[0].action.name == "wait-offer"
    in_line = flow.offer("support-5", call("CA9", digits="5"))
    assert "press 9" in said(in_line) and isinstance(in_line.verbs[-1], Enqueue)


@pytest.mark.parametrize("setting, hint_on_short_wait, hint_after_offer", [
    ("after_choice", False, True), ("every_caller", True, True), ("never", False, False)])
def test_opt_out_hint_setting(stores: MemoryStores, clock: FixedClock, setting: str, hint_on_short_wait: bool,
                              hint_after_offer: bool) -> None:
    queue = {**CONFIG["queues"][0], "opt_out_hint": setting}
    flow = flow_for(stores, clock, queue)
    short = flow.incoming(call())
    assert ("press 9" in said(short)) is hint_on_short_wait
    if hint_on_short_wait:  # where the law wants every caller told: once, in the greeting
        assert gathers(short)[0].action.name == "offer" and isinstance(short.verbs[-1], Enqueue)
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    assert ("press 9" in said(flow.incoming(call("CA9")))) is hint_after_offer


def said_in(gather: Gather) -> str:
    return " ".join(p.text for p in gather.prompts if isinstance(p, Say))


NEW_YORK = {"id": "ny", "name": "NY", "numbers": ["+12125550100"], "assumed_agents": 1,
            "hours": {"timezone": "America/New_York", "mon": ["09:00-18:00"], "tue": ["09:00-18:00"],
                      "thu": ["09:00-18:00"], "holidays": ["2026-11-24", "2026-11-26"]}}
MONDAY_23_NY = datetime(2026, 11, 24, 4, 0, tzinfo=timezone.utc)  # Monday 20:00 in San Francisco
SF, NYC = "+14158675309", "+12125551234"


def test_after_hours_speaks_the_callers_time_and_names_it_when_the_zones_differ(stores: MemoryStores,
                                                                                clock: FixedClock) -> None:
    clock.current = datetime(2026, 11, 17, 4, 0, tzinfo=timezone.utc)  # Monday 23:00 New York
    flow = flow_for(stores, clock, {**NEW_YORK, "hours": {**NEW_YORK["hours"], "holidays": []}})
    here = flow.incoming(call("CA1", caller=NYC, called="+12125550100"))
    assert "We open tomorrow at 9 AM. To be called back when we open, press 1." in said(here)
    west = flow.incoming(call("CA2", caller=SF, called="+12125550100"))
    # the queue opens at 06:00 in San Francisco; the callback cannot come before 08:00 there
    assert "We open tomorrow at 6 AM your time." in said(west)
    assert "The earliest we can call you back is tomorrow at 8 AM your time. To be called back then" in said(west)
    flow.offer("ny-2", call("CA2", caller=SF, digits="1"))
    booked = flow.confirm("ny-2", call("CA2", caller=SF, digits="1"))
    assert "after we open, tomorrow at 8 AM your time." in said(booked)
    assert stores.tickets.get("ny-2").not_before == datetime(2026, 11, 17, 16, 0, tzinfo=timezone.utc)


def test_closed_for_over_a_week_says_the_date_in_words(stores: MemoryStores, clock: FixedClock) -> None:
    clock.current = datetime(2026, 11, 24, 23, 0, tzinfo=timezone.utc)  # Tuesday 18:00 New York
    closed = {**NEW_YORK, "hours": {**NEW_YORK["hours"], "holidays": ["2026-11-26", "2026-11-30", "2026-12-01"]}}
    script = flow_for(stores, clock, closed).incoming(call(caller=NYC, called="+12125550100"))
    assert "We open on Thursday, December 3 at 9 AM." in said(script)
    assert "12.2026" not in said(script)


@pytest.mark.parametrize("utc_hour, reason", [(15, "as it is early where you are"),  # 07:00 in San Francisco
                                              (6, "as it is late where you are")])  # 22:00
def test_calling_window_reason_is_early_or_late_as_it_really_is(flow: CallFlow, clock: FixedClock,
                                                               utc_hour: int, reason: str) -> None:
    clock.current = datetime(2026, 11, 24, utc_hour, 8, tzinfo=timezone.utc)
    flow.incoming(call(caller=SF))
    flow.offer("support-1", call(caller=SF, digits="1"))
    script = flow.confirm("support-1", call(caller=SF, digits="1"))
    assert reason in said(script) and "8 AM your time" in said(script)


@pytest.mark.parametrize("digits, reason", [
    ("123", "that number is too short"), ("4155550", "that number is too short"),
    ("415555012345678", "that number is too long"), ("19005551234", "premium-rate"),
    ("00442079460000", "numbers in that country"), ("00999123456", "not a valid phone number"),
])
def test_a_refused_typed_number_is_told_why(flow: CallFlow, digits: str, reason: str) -> None:
    flow.incoming(call(caller="anonymous"))
    script = flow.number("support-1", call(digits=digits), tries=0)
    assert reason in said(script)
    assert script.verbs[1].action.params == (("t", "support-1"), ("tries", "1"))


def test_refusal_prompts_are_chosen_by_type() -> None:
    from chalicelib.domain.number_dialogue import refusal_prompt
    from chalicelib.domain.errors import NumberNotAllowedError, NumberTooShortError
    assert refusal_prompt(NumberTooShortError("premium rate")) == "number_too_short"  # not the message
    assert refusal_prompt(NumberNotAllowedError("too short")) == "number_rejected"


def test_star_restarts_the_number_entry_and_the_prompt_says_so(flow: CallFlow, stores: MemoryStores) -> None:
    flow.incoming(call(caller="anonymous"))
    ask = flow.offer("support-1", call(digits="1"))
    assert "To start again, press star." in said(ask)
    script = flow.number("support-1", call(digits="9995*4155550123"), tries=0)
    assert "4 1 5, 5 5 5, 0 1 2 3" in said(script)
    assert stores.tickets.get("support-1").pending_number == "+14155550123"
    again = flow.number("support-1", call(digits="41555*"), tries=0)
    assert said(again).startswith("Please enter the number")  # asked again, not refused
    assert again.verbs[0].action.params == (("t", "support-1"), ("tries", "1"))


def test_a_wrong_key_after_hours_gets_a_second_chance(flow: CallFlow, clock: FixedClock) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    flow.incoming(call(caller="+380441234567", called="+380445550100"))
    script = flow.offer("kyiv-1", call(digits="5"))
    assert isinstance(script.verbs[0], Gather) and script.verbs[0].action.name == "bye"
    assert "такої клавіші немає" in said(script) and "натисніть 1" in said(script)
    assert isinstance(script.verbs[-1], Redirect) and not isinstance(script.verbs[-1], Hangup)
    assert flow.bye("kyiv-1", call(digits="1")).verbs[0].action.name == "confirm"  # 1 still books
    assert isinstance(flow.bye("kyiv-1", call(digits="5")).verbs[-1], Hangup)  # the second wrong key ends it


def test_less_than_a_minute_only_when_the_whole_range_is(flow: CallFlow) -> None:
    from chalicelib.domain.ewt import WaitEstimate
    queue = flow.queues.get("support")
    assert flow._wait_prompt(queue, "en", WaitEstimate(30, 5, 55, 1)).text == \
        "Your wait should be less than a minute."
    assert flow._wait_prompt(queue, "en", WaitEstimate(40, 5, 150, 1)).text == \
        "Your wait should be less than 3 minutes."
    assert flow._wait_prompt(queue, "ru", WaitEstimate(40, 5, 150, 1)).text == "Ожидание займёт меньше 3 минут."
    assert "about 2 minutes" in flow._wait_prompt(queue, "en", WaitEstimate(100, 30, 200, 1)).text


def test_with_nobody_signed_in_there_is_no_estimate_and_the_offer_is_made(flow: CallFlow, stores: MemoryStores) -> None:
    stores.table.agents.clear()
    script = flow.incoming(call())
    text = said(script)
    assert "No agent is available right now." in text and "minute" not in text
    assert "To be called back as soon as an agent is available, press 1." in text
    flow.offer("support-1", call(digits="1"))
    booked = flow.confirm("support-1", call(digits="1"))
    assert "as soon as an agent is available. You keep your place: number 1 in line." in said(booked)
    assert "minute" not in said(booked)


def test_with_nobody_signed_in_the_offer_names_the_next_staffed_time(stores: MemoryStores, clock: FixedClock) -> None:
    clock.current = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)  # Tuesday 09:00 in New York
    stores.table.agents.clear()
    rostered = {**NEW_YORK, "hours": {"timezone": "America/New_York", **{d: ["00:00-00:00"] for d in (
        "mon", "tue", "wed", "thu", "fri", "sat", "sun")}},
                "staffed_hours": {"mon": ["10:00-18:00"], "tue": ["10:00-18:00"]}}
    flow = flow_for(stores, clock, rostered)
    script = flow.incoming(call(caller=NYC, called="+12125550100"))
    assert "No agent is available right now." in said(script)
    assert "The earliest we can call you back is today at 10 AM. To be called back then, press 1." in said(script)
    flow.offer("ny-1", call(caller=NYC, digits="1"))
    booked = flow.confirm("ny-1", call(caller=NYC, digits="1"))
    assert "today at 10 AM, when our agents are back" in said(booked)
    assert stores.tickets.get("ny-1").not_before == datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def test_a_24_7_queue_at_night_says_when_the_callback_can_come_before_the_choice(flow: CallFlow,
                                                                               clock: FixedClock) -> None:
    clock.current = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)  # 23:00 in San Francisco
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1415555{n:04d}"))
    offer = gathers(flow.incoming(call("CA9", caller=SF)))[0]
    assert "The earliest we can call you back is tomorrow at 8 AM your time. To be called back then, press 1." \
        in said_in(offer)


def test_an_offer_near_closing_says_the_callback_comes_after_the_opening(stores: MemoryStores, clock: FixedClock) -> None:
    clock.current = datetime(2026, 11, 23, 22, 55, tzinfo=timezone.utc)  # Monday 17:55 in New York
    flow = flow_for(stores, clock, {**NEW_YORK, "average_handle_seconds": 300})
    stores.agents.record_agent_status("bob", AgentStatus.BUSY, clock.current, "client:bob", ("ny",), None)
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1212555{n:04d}", called="+12125550100"))
    offer = gathers(flow.incoming(call("CA9", caller=NYC, called="+12125550100")))[0]
    # the turn comes after 18:00; Tuesday and Thursday are holidays, Wednesday to Sunday closed
    told = re.search(r"about (\d+) minutes", said(flow.wait("ny-4", call("CA9", queue_seconds=60))))
    assert told and int(told.group(1)) > 5  # told at 17:56: a turn after 18:00 (three ahead, one agent, 5-min calls)
    assert ("The earliest we can call you back is on Monday, November 30 at 9 AM. To be called back then, press 1."
            in said_in(offer))


# --- issue 9 item 13: a status callback before the confirm keypress --------------------------------

TYPED = "+14155550142"


def _typed_and_read_back(flow: CallFlow, stores: MemoryStores, clock: FixedClock) -> str:
    flow.incoming(call(caller="anonymous"))
    ticket_id = stores.tickets.find_by_call("CA1").id
    flow.offer(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="1"))
    flow.number(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="4155550142"), tries=0)
    assert stores.tickets.get(ticket_id).pending_number == TYPED
    clock.advance(60)
    return ticket_id


def test_a_hang_up_before_the_confirm_books_the_typed_number(flow: CallFlow, stores: MemoryStores,
                                                             clock: FixedClock) -> None:
    ticket_id = _typed_and_read_back(flow, stores, clock)
    flow.incoming(call(status=CallStatus.COMPLETED, caller="anonymous"))  # the status callback overtakes
    flow.confirm(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="1"))  # then the keypress
    ticket = stores.tickets.get(ticket_id)
    assert (ticket.kind, ticket.callback_number) == (TicketKind.CALLBACK, TYPED)


def test_the_confirm_after_the_hang_up_books_even_without_automatic_recovery(
        stores: MemoryStores, orchestrator: FakeOrchestrator, clock: FixedClock, bus: FakeBus) -> None:
    config = {"queues": [dict(CONFIG["queues"][0], recover_lost_calls=False)]}
    flow = CallFlow(stores, orchestrator, clock, QueueDirectory.from_config(config), bus)
    ticket_id = _typed_and_read_back(flow, stores, clock)
    flow.incoming(call(status=CallStatus.COMPLETED, caller="anonymous"))
    assert stores.tickets.get(ticket_id).status is TicketStatus.ABANDONED
    flow.confirm(ticket_id, call(status=CallStatus.IN_PROGRESS, digits="1"))
    ticket = stores.tickets.get(ticket_id)
    assert (ticket.kind, ticket.status, ticket.callback_number) == (TicketKind.CALLBACK, TicketStatus.SCHEDULED,
                                                                    TYPED)
    assert list(orchestrator.started) == [f"{ticket_id}-1"]
