"""The day simulator's callers who chose a time (bench/daychosen.py): they call again and move or cancel it
through Holdfast's own pending-callback menu, and the simulator's count agrees with Holdfast's report rows."""
from __future__ import annotations

import math

from bench.daychosen import CANCEL_IT, MOVE, ChangeCall
from bench.daysim import Caller, Scenario, Sim, at, day_start, with_queue
from chalicelib.domain.model import TicketStatus

QUEUE = {"scheduled_callbacks": {"slot_minutes": 30}, "sms_countries": ["US"]}
# Everyone who is offered a callback takes it and chooses a time (the first one offered); with nobody
# signed in the queue's slots count on 6 agents: room for 9 callbacks in each half hour (half of 6 agents'
# 30 minutes at 570 s a call), so the three below all find room in the first slot
CHOOSERS = with_queue(Scenario("choosers", agents=3, calls_per_hour=8.0, surge=3.0, accept=1.0, choose_time=1.0),
                      assumed_agents=6, **QUEUE)
TEN_AM = day_start(0) + 10 * 3600  # Monday 2 November 2026, 10:00 New York (15:00 UTC)


def caller(n: int, minute: int) -> Caller:
    """A caller who arrives at 10:0n, presses at the offer and never runs out of patience or calls again."""
    return Caller(n, f"+1212555{n:04d}", TEN_AM + minute * 60, 7200.0, 300.0, 0.0, [1.0] * 8, [1.0] * 8, 1.0, 0.0)


def test_three_choose_a_time_one_moves_it_one_cancels_it() -> None:
    """Timeline (nobody signed in, so nobody is dialed): A, B and C call at 10:00, 10:01 and 10:02 and each
    takes the first time offered, 10:30 (15 minutes' lead, 30-minute slots). At 10:10 B calls again and
    moves it to the last time the menu offers then (10:30, 11:00, 11:30: 11:30); at 10:12 C calls again and
    cancels. So: 3 chosen, 1 moved, 1 cancelled; 10:30 holds A only, 11:30 holds B; C is no lost call."""
    sim = Sim(CHOOSERS, "holdfast", days=1, seed=1)
    a, b, c = caller(1, 0), caller(2, 1), caller(3, 2)
    for who in (a, b, c):
        sim.clock.at(at(who.arrival), lambda who=who: sim.arrive(who, repeat=False))
    sim.clock.run_until(at(TEN_AM + 5 * 60))
    tickets = {r.caller.number: sim.stores.tickets.find_by_call(f"CA{r.caller.id}") for r in sim.records}
    assert len(sim.records) == 3 and all(r.scheduled for r in sim.records)
    assert {t.slot for t in tickets.values() if t is not None} == {"2026-11-02T15:30Z"}  # 10:30 New York
    tb, tc = tickets[b.number], tickets[c.number]
    assert tb is not None and tc is not None
    sim.clock.at(at(TEN_AM + 10 * 60), lambda: sim.arrive(b, repeat=True, about=ChangeCall(0.0, MOVE, tb.id)))
    sim.clock.at(at(TEN_AM + 12 * 60), lambda: sim.arrive(c, repeat=True, about=ChangeCall(0.0, CANCEL_IT, tc.id)))
    sim.clock.run_until(at(TEN_AM + 20 * 60))

    assert sim.stores.tickets.get(tb.id).slot == "2026-11-02T16:30Z"  # 11:30 New York
    assert sim.stores.tickets.get(tc.id).status is TicketStatus.CANCELLED
    counts = sim.stores.bookings.slot_counts("sim", ["2026-11-02T15:30Z", "2026-11-02T16:30Z"])
    assert counts == {"2026-11-02T15:30Z": 1, "2026-11-02T16:30Z": 1}  # C's place in 10:30 given back
    lost = sim.stores.lost.lost_calls("sim").items
    assert tc.id not in {t.id for t in lost}
    day = sim.day_metrics()[0]
    assert day["offered"] == 3  # the two calls about a chosen time opened no ticket: not offered to the line
    assert (day["scheduled_n"], day["scheduled_moved"], day["scheduled_cancelled"]) == (3, 1, 1)  # the simulator's
    assert (day["hf_scheduled"], day["hf_moved"], day["hf_cancelled"], day["hf_cancelled_by_caller"]) == (3, 1, 1, 1)
    # a confirmation each, and a reminder each at the next minute's sweep: 10:30 is inside the 30 minutes'
    # reminder already (B's 11:30 reminder is due at 11:00, after this timeline); B's move texted its new
    # time; each delivered
    assert (day["sms_sent"], day["sms_delivered"]) == (7, 7)


def test_the_scenarios_shares_move_and_cancel_and_holdfasts_reports_count_what_callers_did() -> None:
    timed = with_queue(Scenario("timed", agents=3, calls_per_hour=8.0, surge=3.0, choose_time=0.6,
                                move_time=0.3, cancel_time=0.3), **QUEUE)
    sim = Sim(timed, "holdfast", days=2, seed=3).run()
    assert sim.chosen is not None
    intents = {call.intent for call in sim.chosen.calls}
    assert intents == {MOVE, CANCEL_IT}
    moved = sum(r.moved for r in sim.records)
    cancelled = sum(r.cancelled for r in sim.records)
    assert moved and cancelled
    assert moved + cancelled == sum(call.done for call in sim.chosen.calls)
    days = sim.day_metrics()
    for day in days:  # the simulator's own count of what its callers did, and Holdfast's reports, agree
        assert day["hf_scheduled"] == day["scheduled_n"]
        assert (day["hf_moved"], day["hf_cancelled"]) == (day["scheduled_moved"], day["scheduled_cancelled"])
    assert sum(d["scheduled_moved"] for d in days) == moved and sum(d["scheduled_cancelled"] for d in days) == cancelled
    for r in sim.records:  # a cancelled callback is never dialed; a moved one not before its new time
        later = [t for t in sim.dialed.get(r.caller.number, ()) if t >= (r.ended_at or 0.0)]
        if r.cancelled:
            assert not later
        if r.moved:
            assert all(t >= (r.promise or 0.0) for t in later)
    sent = sum(d["sms_sent"] for d in days)
    assert sent > 0 and sum(d["sms_delivered"] for d in days) == sent  # every text delivered, its report counted


def test_callers_who_reply_stop_are_counted_as_opted_out_and_texted_no_more() -> None:
    """Every number texted replies STOP a minute after its first text (the scenario's share 1.0)."""
    stopping = with_queue(Scenario("stop", agents=3, calls_per_hour=8.0, surge=3.0, choose_time=0.6,
                                   stop_reply=1.0), **QUEUE)
    sim = Sim(stopping, "holdfast", days=2, seed=3).run()
    assert sim.chosen is not None
    texted = {to for _, to in sim.chosen.sent}
    assert texted and set(sim.chosen.stopped_at) == texted  # each number texted replied once
    days = sim.day_metrics()
    replies = sum(d["sms_stop_replies"] for d in days)
    assert replies == len(texted) and sum(d["sms_opt_outs"] for d in days) == replies  # Holdfast counted each
    for when, to in sim.chosen.sent:  # and sent nothing to a number after its STOP
        assert when < sim.chosen.stopped_at[to]
    assert all(sim.stores.bookings.is_opted_out(number) for number in texted)


def test_web_requests_land_in_the_line_and_are_counted_as_holdfast_reports_them() -> None:
    """People asking from the web page at 6 an hour over two days, beside the same callers: each request
    goes through the product's web use case; Holdfast's report rows count the ones it booked, and a
    person who asked is called back like a caller who pressed 1."""
    web = with_queue(Scenario("web", agents=3, calls_per_hour=8.0, surge=3.0, web_per_hour=6.0),
                     web_callbacks={"allowed_origins": ["https://www.example.com"]}, **QUEUE)
    sim = Sim(web, "holdfast", days=2, seed=3).run()
    assert sim.chosen is not None
    asked = [t for t, booked in sim.chosen.web if booked]
    assert len(asked) == len(sim.chosen.web) > 40  # 12 hours x 6 an hour x 2 days, about 144; none refused
    days = sim.day_metrics()
    assert sum(d["web_asked"] for d in days) == len(asked) == sum(d["web_requests"] for d in days)
    web_numbers = {n for n in sim.callers if n.startswith("+1646")}
    assert any(sim.dialed.get(n) for n in web_numbers)  # called back


def test_the_peers_have_no_report_rows_to_read() -> None:
    day = Sim(CHOOSERS, "none", days=1, seed=3).run().day_metrics()[0]
    assert day["scheduled_n"] == 0
    assert math.isnan(day["hf_moved"]) and math.isnan(day["sms_sent"])  # no Holdfast reports for a peer
