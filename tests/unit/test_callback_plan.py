"""The callback plan (domain/callback_plan.py): the live line with a reserve, the reserve per half hour, the
callback capacity, and what the dispatcher and the promise take from it."""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chalicelib.adapters.memory import FakeDialer, FixedClock, MemoryStores, memory_stores
from tests.fakes import FakeOrchestrator
from chalicelib.domain import callback_plan, guard
from chalicelib.domain.demand import SLOTS_PER_DAY, Demand
from chalicelib.domain.dispatch import Dispatcher
from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
from chalicelib.domain.queues import QueueDirectory, parse_queue
from chalicelib.domain.roster import Roster
from chalicelib.domain.staffing import ErlangA

NY = ZoneInfo("America/New_York")
HOURS = {"timezone": "America/New_York", **{d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
QUEUE = parse_queue({"id": "q", "hours": HOURS})
MONDAY = datetime(2026, 11, 23, tzinfo=NY)


def local(hour: float) -> datetime:
    return MONDAY + timedelta(hours=hour)


def day_profile(per_half_hour: dict[float, float], default: float = 0.0) -> Demand:
    """Learned arrivals per half hour of any day (08:00 = 8.0, 08:30 = 8.5), every open half hour
    `default` unless named."""
    day = {}
    for index in range(SLOTS_PER_DAY):
        hour = index / 2
        day[str(index)] = [per_half_hour.get(hour, default if 8 <= hour < 20 else 0.0), 10.0]
    return Demand({}, day)


# --- the live line with a reserve ---------------------------------------------------------------------

def test_two_agents_one_held_back() -> None:
    # 2 agents, callbacks take any agent beyond 1 idle; 1 call/s, 1 s talk, (almost) nobody hangs up.
    # Idle agents: 1 or 0. From 1 idle a call takes it (rate 1); from 0 idle and nobody waiting, one
    # of the 2 busy agents frees (rate 2); waiting callers clear at 2 a second. Weights: 1 idle: 1;
    # 0 idle, j waiting: 1/2 x (1/2)^j, summing to 1. An arrival waits with probability 1/2.
    line = callback_plan.live_line(2, 1, 1.0, 1.0, 1e12)
    assert line.p_wait == pytest.approx(0.5)
    assert line.idle == pytest.approx(0.5)
    assert line.p_abandon == pytest.approx(0.0, abs=1e-9)


def test_with_every_agent_held_back_it_is_the_plain_erlang_a_queue() -> None:
    for agents, per_hour in ((13, 40.0), (13, 80.0), (5, 40.0)):
        exact = ErlangA(agents, per_hour / 3600, 540.0, 150.0).measures(20.0)
        line = callback_plan.live_line(agents, agents, per_hour / 3600, 540.0, 150.0)
        assert line.p_wait == pytest.approx(exact["p_wait"], rel=1e-6)
        assert line.p_abandon == pytest.approx(exact["p_abandon"], rel=1e-6)
        assert line.service_level == pytest.approx(exact["service_level"], abs=0.02)  # one rate for the stages


def test_a_bigger_reserve_answers_more_live_callers_at_once() -> None:
    lines = callback_plan.lines_by_reserve(13, 40 / 3600, 540.0, 150.0)
    waits = [line.p_wait for line in lines]
    assert waits == sorted(waits, reverse=True) and waits[0] == pytest.approx(1.0)
    assert callback_plan.lowest_reserve(lines, 1.0) == 0
    assert callback_plan.lowest_reserve(lines, 0.0) == max(r for r, line in enumerate(lines)
                                                    if line.service_level < lines[-1].service_level) + 1


# --- the plan ---------------------------------------------------------------------------------------

def plan_at(hour: float, demand: Demand, backlog: int = 0, agents: int = 10, queue=QUEUE) -> callback_plan.Plan:  # type: ignore[no-untyped-def]
    return callback_plan.make_plan(queue, demand, callback_plan.PlanInputs(agents, 600.0, 150.0, backlog, 0), local(hour))


def test_a_half_hour_whose_live_load_needs_every_agent_takes_no_callbacks() -> None:
    # 10 agents, 10-minute calls: 20 calls a half hour is 6.7 agents busy; 45 (12:00-13:00) is 15
    demand = day_profile({12.0: 45, 12.5: 45}, default=20)
    plan = plan_at(11.0, demand)
    by_start = {datetime.fromtimestamp(p.start, timezone.utc).astimezone(NY).hour + p.start % 3600 / 3600: p
                for p in plan.periods}
    quiet, surge = by_start[11.0], by_start[12.0]
    assert (surge.reserve, surge.capacity) == (10, 0.0)
    assert by_start[12.5].reserve == 10
    assert 0 < quiet.reserve < 10 and quiet.capacity > 0
    # the last ten minutes before the surge hold back for the surge's first ten (a callback begun then
    # would still hold its agent): as many as the surge; the twenty before them do not
    assert by_start[11.5].reserve < 10 and by_start[11.5].end == local(11 + 50 / 60).timestamp()
    assert by_start[11 + 50 / 60].reserve == 10
    assert plan.periods[-1].end == local(20).timestamp()  # to closing, no further


def test_the_plan_ends_at_closing_and_has_nothing_after_it() -> None:
    plan = plan_at(21.0, day_profile({}, default=20))
    assert plan.periods == () and plan.reserve(local(21)) is None


def test_a_backlog_the_day_cannot_make_lowers_the_reserve_where_it_costs_least_first() -> None:
    # every half hour at 20 calls but 19:00-20:00 at 8: the evening is where a callback costs least
    demand = day_profile({19.0: 8, 19.5: 8}, default=20)
    relaxed = plan_at(16.0, demand)
    made = sum(p.capacity for p in relaxed.periods)
    tight = plan_at(16.0, demand, backlog=int(made) + 3)
    lowered = [(a.start, a.reserve - b.reserve) for a, b in zip(relaxed.periods, tight.periods) if a.reserve != b.reserve]
    assert lowered and all(start >= local(19).timestamp() for start, _ in lowered)
    assert sum(p.capacity for p in tight.periods) >= int(made) + 3
    # a backlog far beyond the day: every half hour down to its floor, and no further
    flooded = plan_at(16.0, demand, backlog=10_000)
    for p in flooded.periods:
        lines = callback_plan.lines_by_reserve(p.agents, p.arrivals, 600.0, 150.0)
        assert p.reserve == callback_plan.lowest_reserve(lines, QUEUE.callback_plan_allowance_max)


def test_the_roster_gives_the_agents_of_each_half_hour() -> None:
    queue = parse_queue({"id": "q", "hours": HOURS,
                         "roster": {d: {"08:00": 6, "14:00": 14} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    plan = plan_at(13.0, day_profile({}, default=20), agents=7, queue=queue)
    assert [p.agents for p in plan.periods[:3]] == [7, 6, 14]  # signed in now; then the roster: 6 before 14:00, 14 after


def test_time_for_and_capacity_follow_the_plan() -> None:
    start = local(10).timestamp()
    plan = callback_plan.Plan(start, (callback_plan.Period(start, start + 1800, 10, 0.0, 2, 10.0),
                               callback_plan.Period(start + 1800, start + 3600, 10, 0.0, 10, 0.0),
                               callback_plan.Period(start + 3600, start + 5400, 10, 0.0, 2, 20.0)), 600.0, 0, 0, 60.0)
    assert plan.capacity(start, start + 5400) == pytest.approx(30)
    assert plan.time_for(5, local(10)) == local(10.25)  # half the first half hour
    assert plan.time_for(15, local(10)) == local(11.125)  # 10 in the first, none in the second, 5 of 20
    assert plan.time_for(31, local(10)) is None
    assert plan.reserve(local(10) + callback_plan.STALE_PLAN) == 2
    assert plan.reserve(local(10) + callback_plan.STALE_PLAN + timedelta(seconds=1)) is None  # the sweep stopped
    assert replace(plan, at=plan.at + 1800).reserve(local(10.5)) == 10
    assert callback_plan.Plan.from_state({callback_plan.PLAN: plan.state()}) == plan


# --- what the dispatcher takes from it ----------------------------------------------------------------

def test_with_nobody_live_waiting_the_planned_reserve_decides_both_ways() -> None:
    head = Ticket("q", 1, TicketKind.CALLBACK, TicketStatus.WAITING, local(9), lost_cause="abandoned", lost_at=local(9))
    assert guard.next_ticket(head, None, QUEUE, local(9), idle_others=3, staffed=13, reserve=3) is head
    assert guard.next_ticket(head, None, QUEUE, local(9), idle_others=2, staffed=13, reserve=3) is None
    assert guard.next_ticket(head, None, QUEUE, local(9), idle_others=3, staffed=13, reserve=4) is None
    # no current plan: the fallback; a queue that fixes its reserve: that one, whatever the plan
    assert guard.next_ticket(head, None, QUEUE, local(9), idle_others=3, staffed=13) is None
    assert guard.next_ticket(head, None, QUEUE, local(9), idle_others=4, staffed=13) is head
    fixed = parse_queue({"id": "q", "callback_reserve_agents": 1})
    assert guard.next_ticket(head, None, fixed, local(9), idle_others=1, staffed=13, reserve=8) is head


def test_promises_close_together_start_early_enough_for_the_last() -> None:
    stores, q = memory_stores(), parse_queue({"id": "q", "hours": HOURS, "callback_promise_lead_seconds": 120})
    ids = []
    for n in range(3):  # three callbacks told the same time, T = 10:30
        t = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, local(10), call_id=f"CA{n}"))
        stores.tickets.convert_to_callback(t.id, f"+1212555000{n}", local(10), local(10))
        stores.table.park(t.id, f"token-{n}")
        guard.promise(stores.stats, q, t.id, local(10.5), local(10))
        ids.append(t.id)
    # one agent frees every 60 s: the third must start by T - 120 s, so the first by T - 240 s
    before, from_then = local(10.5) - timedelta(seconds=241), local(10.5) - timedelta(seconds=240)
    assert guard.due_callback(stores.stats, stores.tickets, q, before, gap=60.0) is None
    assert guard.due_callback(stores.stats, stores.tickets, q, from_then, gap=60.0).id == ids[0]
    # without the gap (one at a time): from T - 120 s only
    assert guard.due_callback(stores.stats, stores.tickets, q, from_then) is None


def world(hour: float, demand: Demand, agents: int = 10) -> tuple[MemoryStores, FixedClock, Dispatcher]:
    stores, clock = memory_stores(), FixedClock(local(hour))
    queues = QueueDirectory([parse_queue({"id": "q", "hours": HOURS, "average_handle_seconds": 600,
                                          "average_patience_seconds": 150})])
    d = Dispatcher(stores, FakeOrchestrator(), FakeDialer(), clock, queues)
    stores.table.on_change = d.callback_promised  # the table's stream, delivered at once
    stores.stats.update_queue_stats("q", lambda state: {**(state or {}), "demand": demand.state()})
    for n in range(agents):
        stores.agents.record_agent_status(f"a{n}", AgentStatus.BUSY, local(hour), f"client:a{n}", ("q",), None)
    return stores, clock, d


def recovery(stores: MemoryStores, n: int, at: datetime) -> Ticket:
    t = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, at, call_id=f"CR{n}"))
    stores.tickets.abandon(t.id, at, 30)
    stores.lost.mark_lost(t.id, "abandoned", at)
    stores.tickets.convert_to_callback(t.id, f"+1212556{n:04d}", at, at, recovering=True)
    stores.table.park(t.id, f"token-r{n}")
    return stores.tickets.get(t.id)


def test_the_sweep_plans_and_the_free_agent_follows_the_half_hours_reserve() -> None:
    # 10-minute calls; 20 calls a half hour, but 45 from 12:00 to 13:00 (every agent needed)
    demand = day_profile({12.0: 45, 12.5: 45}, default=20)
    for hour, takes in ((10.0, True), (12.25, False)):
        stores, clock, d = world(hour, demand)
        cb = recovery(stores, 1, local(hour) - timedelta(minutes=5))
        d.sweep()
        plan = callback_plan.Plan.from_state(stores.stats.queue_stats("q"))
        assert plan is not None and plan.backlog == 1
        reserve = plan.reserve(local(hour))
        assert (reserve < 9) is takes  # quiet: a few held back; in the surge every agent
        for n in range(9):  # nine agents free up one by one: the tenth is still on a call
            d.agent_event(f"a{n}", AgentStatus.AVAILABLE)
        taken = stores.tickets.get(cb.id).status is TicketStatus.CONNECTING
        assert taken is takes


def test_the_ledger_follows_callbacks_opening_and_closing_and_the_sweep_drops_what_it_missed() -> None:
    stores, clock, d = world(10.0, day_profile({}, default=20))
    a, b = recovery(stores, 1, local(9.9)), recovery(stores, 2, local(9.9))
    assert set(callback_plan.ledger(stores.stats.queue_stats("q"))) == {a.id, b.id}
    d.callback_promised(stores.tickets.get(a.id), None)  # a record delivered again changes nothing
    assert set(callback_plan.ledger(stores.stats.queue_stats("q"))) == {a.id, b.id}
    stores.dialing.cancel_callback(a.id, local(10))  # closed: out
    assert set(callback_plan.ledger(stores.stats.queue_stats("q"))) == {b.id}
    stores.table.on_change = None  # the stream misses b's closing
    stores.dialing.cancel_callback(b.id, local(10))
    assert set(callback_plan.ledger(stores.stats.queue_stats("q"))) == {b.id}
    d.sweep()  # the sweep reads the least recently checked entries back
    state = stores.stats.queue_stats("q")
    assert callback_plan.ledger(state) == {} and callback_plan.Plan.from_state(state).backlog == 0


@pytest.mark.parametrize("seed", range(5))
def test_the_ledger_settles_on_the_open_callbacks_whatever_order_and_repeats_the_stream_brings(seed: int) -> None:
    rng = random.Random(seed)
    stores, clock, d = world(10.0, day_profile({}, default=20))
    records: list[tuple[Ticket, Ticket | None]] = []
    stores.table.on_change = lambda ticket, before: records.append((ticket, before))  # held back, not delivered
    tickets = [recovery(stores, n, local(9.9)) for n in range(8)]
    closed = rng.sample(tickets, 4)
    for t in closed:
        stores.dialing.cancel_callback(t.id, local(10))
    deliveries = records + rng.sample(records, len(records) // 2)  # each once, half of them twice
    rng.shuffle(deliveries)  # any order: a close may come before its open
    for ticket, before in deliveries:
        d.callback_promised(ticket, before)
    open_ids = {t.id for t in tickets} - {t.id for t in closed}
    assert open_ids <= set(callback_plan.ledger(stores.stats.queue_stats("q")))  # nothing open is lost
    for _ in range(3):  # sweeps a minute apart read entries back, three each: every entry in three
        clock.advance(60)
        d.sweep()
    assert set(callback_plan.ledger(stores.stats.queue_stats("q"))) == open_ids
    for _ in range(5):  # and the next plan (every five minutes) counts them
        clock.advance(60)
        d.sweep()
    assert callback_plan.Plan.from_state(stores.stats.queue_stats("q")).backlog == 4


def test_the_promise_comes_after_the_book_with_a_margin_and_past_closing_is_not_today() -> None:
    start = local(10).timestamp()
    plan = callback_plan.Plan(start, (callback_plan.Period(start, local(20).timestamp(), 10, 0.0, 2, 200.0),), 600.0, 0, 0, 60.0)
    book = {f"q-{n}": [start + 3600, start] for n in range(3)}
    state = {callback_plan.PLAN: plan.state(), guard.PROMISES: book}
    # 3 promises ahead: (3 + 1) x 1 + 1 = 5 callbacks of the 20 an hour the plan makes: 15 minutes
    assert guard.planned_delay(state, local(10)) == pytest.approx(15 * 60)
    assert guard.promise_delay(QUEUE, state, local(10)) == pytest.approx(15 * 60)  # nothing observed yet
    late = {callback_plan.PLAN: plan.state(), guard.PROMISES: {f"q-{n}": [start, start] for n in range(300)}}
    assert local(10) + timedelta(seconds=guard.planned_delay(late, local(10))) > local(20)
    assert guard.planned_delay({}, local(10)) is None


def test_the_sweep_counts_every_minute_plans_every_five_and_again_when_agents_sign_in_or_out() -> None:
    stores, clock, d = world(10.0, day_profile({}, default=20))
    d.sweep()
    first = callback_plan.Plan.from_state(stores.stats.queue_stats("q"))
    counted = stores.stats.queue_stats("q")
    clock.current = local(10) + timedelta(seconds=10)  # a sweep every few seconds (the local stack's)
    d.sweep()
    assert stores.stats.queue_stats("q") == counted  # counts once a minute
    clock.current = local(10) + timedelta(minutes=1)
    d.sweep()
    assert callback_plan.Plan.from_state(stores.stats.queue_stats("q")).at == first.at  # the same plan
    stores.agents.record_agent_status("a10", AgentStatus.BUSY, clock.now(), "client:a10", ("q",), None)
    clock.current = local(10) + timedelta(minutes=2)
    d.sweep()
    again = callback_plan.Plan.from_state(stores.stats.queue_stats("q"))
    assert again.at == clock.now().timestamp() and again.periods[0].agents == 11
    clock.current = local(10) + timedelta(minutes=7)
    d.sweep()
    assert callback_plan.Plan.from_state(stores.stats.queue_stats("q")).at == clock.now().timestamp()
    clock.current = local(21)  # closed: no plan is made, nothing is counted
    before = stores.stats.queue_stats("q")
    d.sweep()
    assert stores.stats.queue_stats("q") == before


# --- chosen times (issue 27) in the book and the ledger ---------------------------------------------

TIMED = parse_queue({"id": "q", "hours": HOURS, "scheduled_callbacks": {"slot_minutes": 30}})


def chosen(slot_hour: float, number: int = 7, booked_hour: float = 10) -> Ticket:
    """A web request's callback (born a callback: no live ticket before it) at a chosen slot."""
    start = local(slot_hour)
    return Ticket("q", number, TicketKind.CALLBACK, TicketStatus.SCHEDULED, local(booked_hour),
                  callback_number="+12125550100", not_before=start, told_shape=1.0,
                  told_scale=(start - local(booked_hour)).total_seconds(),
                  slot=start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ"), origin="web")


def test_a_chosen_time_is_a_promise_for_its_slot_and_counts_on_its_own_day() -> None:
    stores = memory_stores()
    today, tomorrow = chosen(15, 7), chosen(15 + 24, 8)
    for ticket in (today, tomorrow):
        guard.callback_changed(stores.stats, TIMED, ticket, None, local(10))
    state = stores.stats.queue_stats("q")
    assert state[guard.PROMISES][today.id][0] == local(15).timestamp()  # the slot's start, told from the web
    assert state[guard.PROMISES][tomorrow.id][0] == local(39).timestamp()
    ledger = callback_plan.ledger(state)
    assert ledger[today.id][3] == local(15).timestamp() and ledger[tomorrow.id][3] == local(39).timestamp()
    closes = local(20).timestamp()  # today's closing
    assert callback_plan.backlog_counts(ledger, closes) == (1, 1)  # tomorrow's is tomorrow's work
    assert callback_plan.backlog_counts(ledger) == (2, 2)
    # moved to tomorrow morning: the promise and the ledger follow it, and today's backlog is empty
    moved = chosen(8.5 + 24, 7)
    guard.callback_changed(stores.stats, TIMED, moved, today, local(11))
    state = stores.stats.queue_stats("q")
    assert state[guard.PROMISES][today.id][0] == local(32.5).timestamp()
    assert callback_plan.backlog_counts(callback_plan.ledger(state), closes) == (0, 0)


def test_a_chosen_times_retry_inside_its_slot_still_binds_and_after_it_does_not() -> None:
    ticket = replace(chosen(15), status=TicketStatus.WAITING, attempts=2)
    assert guard.binding(ticket, TIMED, local(15.25)) == local(15)  # inside 15:00-15:30
    assert guard.binding(ticket, TIMED, local(15.5)) is None  # the slot is over: a retry like any other
    asap = replace(ticket, slot=None)
    assert guard.binding(asap, TIMED, local(15.25)) is None
