"""The day simulator (bench/daysim.py): Holdfast's own code in virtual time, the peers beside it."""
from __future__ import annotations

import pytest

from bench.daysim import POLICIES, Scenario, Sim, arrivals, summarize, t95

SMALL = Scenario("small", agents=3, calls_per_hour=8.0, surge=3.0)


@pytest.fixture(scope="module")
def sims() -> dict[str, Sim]:
    return {p: Sim(SMALL, p, days=2, seed=3).run() for p in POLICIES}


def test_every_policy_meets_the_same_callers(sims: dict[str, Sim]) -> None:
    first = {r.caller.id for r in sims["none"].records if not r.repeat}
    assert first == {c.id for d in range(2) for c in arrivals(SMALL, d, 3)}
    for sim in sims.values():
        assert {r.caller.id for r in sim.records if not r.repeat} == first


def test_measures_add_up(sims: dict[str, Sim]) -> None:
    for policy, sim in sims.items():
        for m in sim.day_metrics():
            assert m["answered_live"] + m["not_answered_live"] == pytest.approx(1.0), policy
            recovered = m["recovered_callback"] + m["recovered_call_again"]
            assert recovered + m["unrecovered"] == pytest.approx(m["not_answered_live"]), policy
            assert m["service_level"] <= m["answered_live"] and m["unrecovered_long"] <= m["unrecovered"]
            assert m["abandoned_short"] + m["abandoned_long"] + m["chose_callback"] == \
                pytest.approx(m["not_answered_live"]), policy


def test_holdfast_callbacks_run_through_its_workflow_and_the_peers_never_do(sims: dict[str, Sim]) -> None:
    hf = sims["holdfast"]
    assert hf.w.orchestrator.executions, "Holdfast's callbacks are booked by its own call flow"
    states = {s for ex in hf.w.orchestrator.executions.values() for s in ex.states}
    assert {"Schedule", "Park", "Dial", "Outcome"} <= states
    assert sum(len(v) for v in hf.dialed.values()) == len(hf.phone_calls())
    for peer in POLICIES[:-1]:
        assert not sims[peer].w.orchestrator.executions
        assert not sims[peer].phone_calls()


def test_unitalk_calls_back_within_five_minutes_or_never(sims: dict[str, Sim]) -> None:
    sim = sims["unitalk"]
    dials = [(number, t) for number, ts in sim.dialed.items() for t in ts]
    assert dials
    for number, t in dials:
        assert any(r.caller.number == number and r.ended_at is not None and r.ended_at <= t <= r.ended_at + 300
                   for r in sim.records if r.answered_at is None)


def test_comagic_makes_at_most_four_attempts_per_missed_call(sims: dict[str, Sim]) -> None:
    for policy in ("comagic_strict", "comagic_waiting"):
        sim = sims[policy]
        missed = sum(1 for r in sim.records if r.answered_at is None)
        dials = sum(len(v) for v in sim.dialed.values())
        assert missed and dials, policy  # the scenario's surge misses calls, and they are called back
        assert dials <= 4 * missed, policy


def test_summary_gives_mean_and_interval() -> None:
    s = summarize([{"x": 1.0}, {"x": 3.0}])
    # [1, 3]: mean 2, standard deviation sqrt(2), standard error 1, t(0.975, 1 df) = 12.706
    assert s["x"][0] == 2.0 and s["x"][1] == pytest.approx(12.706, abs=1e-3)
    # a week of days: 6 degrees of freedom, t = 2.447 (not the 7 df value, which would be narrower)
    assert t95(7) == pytest.approx(2.447, abs=1e-3)


def test_callers_who_choose_a_time_are_called_from_their_slot_and_counted() -> None:
    from bench.daysim import with_queue

    timed = with_queue(Scenario("timed", agents=3, calls_per_hour=8.0, surge=3.0, choose_time=0.5),
                       scheduled_callbacks={"slot_minutes": 30})
    sim = Sim(timed, "holdfast", days=1, seed=3).run()
    day = sim.day_metrics()[0]
    scheduled = [r for r in sim.records if r.scheduled]
    in_slots = [t for t in sim.stores.table.tickets.values() if t.slot is not None]
    assert scheduled and len(scheduled) == len(in_slots)  # each caller who chose a time holds a slot
    assert day["scheduled"] == len(scheduled) / day["offered"]
    for r in scheduled:  # never called before the time they chose
        assert all(t >= (r.promise or 0.0) for t in sim.dialed.get(r.caller.number, ()) if t >= (r.ended_at or 0.0))
    assert 0.0 <= day["scheduled_kept"] <= 1.0
    assert sum(r.chose_callback and not r.scheduled for r in sim.records) > 0  # the others still press 1
