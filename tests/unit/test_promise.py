"""The callback's promise: what the caller who presses 1 is told comes from the policy that will serve
them, is durable before they hear it, and the dispatcher keeps it (issue 13)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import memory_stores, FakeBus, FakeDialer, MemoryStores, FixedClock
from tests.fakes import FakeOrchestrator
from chalicelib.domain import callback_plan, guard, learning
from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.dispatch import Dispatcher
from chalicelib.domain.estimator import QueueEventKind
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue
from tests.unit.test_callflow import said

# 09:00-18:00 New York, Monday to Friday; one agent, 5-minute calls
QUEUE = {"id": "ny", "name": "NY", "numbers": ["+12125550100"], "assumed_agents": 1, "average_handle_seconds": 300,
         "hours": {"timezone": "America/New_York", **{d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}}
NOON = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)  # Monday 12:00 in New York
AT_1740 = datetime(2026, 11, 23, 22, 40, tzinfo=timezone.utc)  # Monday 17:40 in New York
CALLER = "+12125551234"


def world(now: datetime, **settings: object) -> tuple[MemoryStores, FixedClock, CallFlow, Dispatcher]:
    stores, clock = memory_stores(), FixedClock(now)
    queues = QueueDirectory([parse_queue({**QUEUE, **settings})])
    stores.agents.record_agent_status("bob", AgentStatus.BUSY, now, "client:bob", ("ny",), None)
    flow = CallFlow(stores, FakeOrchestrator(), clock, queues, FakeBus())
    dispatcher = Dispatcher(stores, FakeOrchestrator(), FakeDialer(), clock, queues)
    stores.table.on_change = dispatcher.callback_promised  # the table's stream, delivered at once
    return stores, clock, flow, dispatcher


def call(sid: str, caller: str = CALLER, **kw: object) -> CallEvent:
    return CallEvent(sid, CallStatus.RINGING, caller, "+12125550100", **kw)  # type: ignore[arg-type]


def book_callback(flow: CallFlow, stores: MemoryStores, ahead: int = 3) -> tuple[str, str]:
    """`ahead` callers hold, then ours presses 1 and confirms: (ticket id, what they heard)."""
    for n in range(ahead):
        flow.incoming(call(f"CA{n}", caller=f"+1212555{n:04d}"))
    flow.incoming(call("CA9"))
    tid = stores.tickets.find_by_call("CA9").id
    flow.offer(tid, call("CA9", digits="1"))
    return tid, said(flow.confirm(tid, call("CA9", digits="1")))


def learn(stores: MemoryStores, clock: FixedClock, seconds: float) -> None:
    """The guard took `seconds` to make a callback booked at this hour (one observation, not forced)."""
    q = parse_queue(QUEUE)
    guard.promise(stores.stats, q, "ny-999", clock.now() + timedelta(days=1), clock.now())
    guard.kept(stores.stats, q, "ny-999", clock.now() + timedelta(seconds=seconds))


def test_the_caller_hears_the_time_the_dispatcher_keeps_and_it_is_durable() -> None:
    stores, clock, flow, _ = world(NOON)
    tid, heard = book_callback(flow, stores)
    minutes = int(re.search(r"within (\d+) minutes", heard).group(1))  # type: ignore[union-attr]
    promised = NOON + timedelta(minutes=minutes)
    assert guard.promised_at(stores.tickets.get(tid)) == promised  # on the ticket: what the caller heard
    assert guard.promised(stores.stats, "ny", tid) == promised  # and in the dispatcher's book
    again = said(flow.confirm(tid, call("CA9", digits="1")))  # a repeated webhook says the same time
    assert f"within {minutes} minutes" in again


def test_the_booking_and_its_promise_are_one_change_on_the_stream() -> None:
    """As DynamoDB's one transaction makes one stream record: the stream never sees the promise on a
    ticket that is still a live caller, nor a callback without its promise."""
    stores, clock, flow, dispatcher = world(NOON)
    seen: list[tuple[Ticket, Ticket | None]] = []

    def stream(new: Ticket, old: Ticket | None) -> None:
        seen.append((new, old))
        dispatcher.callback_promised(new, old)

    stores.table.on_change = stream
    flow.incoming(call("CA9"))
    tid = stores.tickets.find_by_call("CA9").id
    flow.offer(tid, call("CA9", digits="1"))
    seen.clear()
    flow.confirm(tid, call("CA9", digits="1"))
    told = [(new, old) for new, old in seen
            if old is not None and (new.told_shape, new.told_scale) != (old.told_shape, old.told_scale)]
    assert len(told) == 1, seen
    new, old = told[0]
    assert new.kind is TicketKind.CALLBACK and old is not None and old.kind is TicketKind.LIVE


def test_the_promise_is_the_learned_delay_when_that_is_longer_than_the_turn() -> None:
    stores, clock, flow, _ = world(NOON)
    learn(stores, clock, 3 * 3600)  # at noon the guard has been taking 3 hours
    tid, heard = book_callback(flow, stores)
    assert "no later than today at 3 PM" in heard
    assert guard.promised_at(stores.tickets.get(tid)) == NOON + timedelta(hours=3)


def test_a_promise_past_closing_is_carried_to_the_next_opening() -> None:
    # both sides of closing: at noon the same wait is said in minutes; at 17:40 its last part comes
    # after Tuesday's opening
    stores, clock, flow, _ = world(NOON)
    learn(stores, clock, 40 * 60)
    _, heard = book_callback(flow, stores)
    assert "within 40 minutes" in heard
    stores, clock, flow, _ = world(AT_1740)
    learn(stores, clock, 40 * 60)
    tid, heard = book_callback(flow, stores)
    assert "tomorrow at 9:20 AM" in heard  # 20 minutes before closing, 20 after opening
    assert guard.promised_at(stores.tickets.get(tid)) == datetime(2026, 11, 24, 14, 20, tzinfo=timezone.utc)


def test_the_offer_says_the_time_when_it_is_more_than_an_hour_away() -> None:
    stores, clock, flow, _ = world(NOON)
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1212555{n:04d}"))
    assert "To be called back when it is your turn, press 1." in said(flow.incoming(call("CA8")))
    learn(stores, clock, 2 * 3600)
    assert "We can call you back no later than today at 2 PM. To be called back, press 1." in \
        said(flow.incoming(call("CA9")))


def test_no_offer_when_the_days_callbacks_are_spoken_for_and_an_honest_alternative() -> None:
    # at 17:40 a learned delay of 40 minutes ends after closing: no offer; at noon it fits: offered
    for now, offered in ((AT_1740, False), (NOON, True)):
        stores, clock, flow, _ = world(now)
        learn(stores, clock, 40 * 60)
        for n in range(3):
            flow.incoming(call(f"CA{n}", caller=f"+1212555{n:04d}"))
        heard = said(flow.incoming(call("CA9")))
        assert ("press 1" in heard) is offered
        assert ("We cannot take more callback requests today. Please stay on the line, or call us again "
                "tomorrow." in heard) is not offered
    stores, clock, flow, _ = world(AT_1740, offer_callback_within_day=False)  # the manager's choice
    learn(stores, clock, 40 * 60)
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1212555{n:04d}"))
    assert "press 1" in said(flow.incoming(call("CA9")))


def test_a_learned_delay_not_seen_for_a_day_halves_each_day() -> None:
    stores, clock, flow, _ = world(NOON)
    learn(stores, clock, 4 * 3600)
    q = parse_queue(QUEUE)
    assert guard.observed_delay(q, stores.stats.queue_stats("ny"), NOON) == 4 * 3600
    # observed at 16:00 (the callback's first dial), for noon; Tuesday noon it still stands, Thursday
    # noon (68 h later: 44 h unseen past the first day) it has halved 44/24 times
    assert guard.observed_delay(q, stores.stats.queue_stats("ny"), NOON + timedelta(days=1)) == 4 * 3600
    assert guard.observed_delay(q, stores.stats.queue_stats("ny"), NOON + timedelta(days=3)) == \
        pytest.approx(4 * 3600 * 0.5 ** (44 / 24))
    assert guard.observed_delay(q, stores.stats.queue_stats("ny"), NOON + timedelta(hours=2)) is None  # 14:00: unseen


def test_the_learned_quantile_rises_on_late_callbacks_and_on_kept_promises_only() -> None:
    delays = guard._learn_delay({}, "12", 600.0, None, NOON)
    assert delays["12"][0] == 600.0
    up = guard._learn_delay(delays, "12", 900.0, None, NOON)["12"][0]
    down = guard._learn_delay(delays, "12", 300.0, None, NOON)["12"][0]
    assert up > 600.0 > down and (up / 600.0) > (600.0 / down)  # a high quantile: up fast, down slowly
    # made because its promise fell due: promised at least the quantile, it says the quantile is low;
    # promised less (before the quantile grew), it says nothing
    assert guard._learn_delay(delays, "12", 500.0, 600.0, NOON)["12"][0] == up
    assert guard._learn_delay(delays, "12", 400.0, 400.0, NOON)["12"][0] == 600.0


def test_learning_keeps_the_book_and_the_book_keeps_the_estimator() -> None:
    stores, clock, flow, _ = world(NOON)
    tid, _ = book_callback(flow, stores)
    before = stores.stats.queue_stats("ny")
    assert tid in before[guard.PROMISES] and "decay_rate" in before
    learning.learn(stores.stats, parse_queue(QUEUE), QueueEventKind.SERVICE_END, NOON, 200.0)
    assert tid in stores.stats.queue_stats("ny")[guard.PROMISES]


def parked_callback(stores: MemoryStores, call_id: str, number: str, told: float | None, lost: bool = False) -> Ticket:
    t = stores.tickets.open_ticket(Ticket("ny", 0, TicketKind.LIVE, TicketStatus.WAITING, NOON, call_id=call_id))
    if lost:
        stores.tickets.abandon(t.id, NOON, 30)
        stores.lost.mark_lost(t.id, "abandoned", NOON)
    stores.tickets.convert_to_callback(t.id, number, NOON, NOON, recovering=lost)
    if told is not None:
        stores.stats.record_told(t.id, 1.0, told)
        guard.promise(stores.stats, parse_queue(QUEUE), t.id, NOON + timedelta(seconds=told), NOON)
    stores.table.park(t.id, f"token-{t.id}")
    return stores.tickets.get(t.id)


def test_a_due_promise_goes_before_recoveries_ahead_and_live_callers() -> None:
    stores, clock, _, d = world(NOON)
    stores.agents.record_agent_status("bob", AgentStatus.OFFLINE, NOON, None, None, None)
    recovery = parked_callback(stores, "CA1", "+12125550001", None, lost=True)
    promised = parked_callback(stores, "CA2", "+12125550002", 600.0)
    stores.tickets.open_ticket(Ticket("ny", 0, TicketKind.LIVE, TicketStatus.WAITING, NOON, call_id="CA3"))
    clock.current = NOON + timedelta(seconds=600 - 121)  # not due yet: the live caller first
    _, took = d.agent_event("amy", AgentStatus.AVAILABLE, contact="client:amy", queues=("ny",))
    assert took is not None and took.call_id == "CA3"
    clock.current = NOON + timedelta(seconds=600 - 120)  # due: before the recovery ahead of it
    _, took = d.agent_event("cal", AgentStatus.AVAILABLE, contact="client:cal", queues=("ny",))
    assert took is not None and took.id == promised.id
    assert stores.tickets.get(recovery.id).status is TicketStatus.WAITING


def test_a_callback_someone_asked_for_stands_before_recoveries_but_not_before_live_callers_ahead() -> None:
    stores, clock, _, d = world(NOON, callback_reserve_agents=0)
    stores.agents.record_agent_status("bob", AgentStatus.OFFLINE, NOON, None, None, None)
    recovery = parked_callback(stores, "CA1", "+12125550001", None, lost=True)
    asked = parked_callback(stores, "CA2", "+12125550002", 3 * 3600.0)
    _, took = d.agent_event("amy", AgentStatus.AVAILABLE, contact="client:amy", queues=("ny",))
    assert took is not None and took.id == asked.id  # nobody live waiting: the asked-for one first
    _, took = d.agent_event("cal", AgentStatus.AVAILABLE, contact="client:cal", queues=("ny",))
    assert took is not None and took.id == recovery.id


def test_closed_or_dialed_callbacks_leave_the_book() -> None:
    stores, clock, _, d = world(NOON)
    q = parse_queue(QUEUE)
    gone = parked_callback(stores, "CA1", "+12125550001", 60.0)
    stores.dialing.cancel_callback(gone.id, NOON)
    clock.current = NOON + timedelta(minutes=5)
    assert guard.due_callback(stores.stats, stores.tickets, q, clock.now()) is None
    assert gone.id not in stores.stats.queue_stats("ny")[guard.PROMISES]


def plan_from_noon(stores: MemoryStores, per_half_hour: float, promises: int) -> None:
    """A callback plan (as the sweep keeps it) making `per_half_hour` callbacks in every half hour from
    noon to closing (18:00), and `promises` callbacks already promised in the book."""
    start = NOON.timestamp()
    periods = tuple(callback_plan.Period(start + k * 1800, start + (k + 1) * 1800, 3, 0.0, 1, per_half_hour) for k in range(12))
    plan = callback_plan.Plan(start, periods, 300.0, promises, promises, 100.0)
    book = {f"ny-{1000 + n}": [start + 7200, start - 60] for n in range(promises)}
    stores.stats.update_queue_stats("ny", lambda state: {**(state or learning.prior(parse_queue(QUEUE)).state()),
                                                         callback_plan.PLAN: plan.state(), guard.PROMISES: book})


def test_the_offer_and_the_promise_come_after_the_callbacks_ahead_at_the_days_pace() -> None:
    # 10 callbacks a half hour from noon; 29 promised ahead: the 31st callback (30 and this one, and
    # one more for the plan's error) falls 3.1 half hours on, at 13:33 (after the caller's turn)
    stores, clock, flow, _ = world(NOON)
    plan_from_noon(stores, 10.0, 29)
    for n in range(3):
        flow.incoming(call(f"CA{n}", caller=f"+1212555{n:04d}"))
    assert "We can call you back no later than today at 1:33 PM. To be called back, press 1." in \
        said(flow.incoming(call("CA8")))
    tid, heard = book_callback(flow, stores, ahead=0)
    assert "no later than today at 1:33 PM" in heard
    assert guard.promised_at(stores.tickets.get(tid)) == NOON + timedelta(minutes=93)


def test_no_offer_when_the_callbacks_ahead_fill_the_rest_of_the_day() -> None:
    # 120 callbacks to closing: 118 promised ahead still leaves room (120 with this one and the margin),
    # 119 does not
    for ahead, offered in ((118, True), (119, False)):
        stores, clock, flow, _ = world(NOON)
        plan_from_noon(stores, 10.0, ahead)
        for n in range(3):
            flow.incoming(call(f"CA{n}", caller=f"+1212555{n:04d}"))
        heard = said(flow.incoming(call("CA9")))
        assert ("press 1" in heard) is offered
        assert ("We cannot take more callback requests today" in heard) is not offered
