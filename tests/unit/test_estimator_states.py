"""Issue 30: agents away, in wrap-up or on a call of their own; priority classes; the caller next in line.
Every expected value comes from the scenario's own timeline (how long breaks, wrap-ups and calls last)."""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.memory import memory_stores
from chalicelib.domain import learning
from chalicelib.domain.estimator import (AWAY, HANDLING, OWN_CALL, SHRINK_WEIGHT, WRAP_UP, BusyAgent, QueueEvent,
                                         QueueEventKind as K, WaitEstimator)
from chalicelib.domain.model import Agent, AgentStatus
from chalicelib.domain.queues import QueueDirectory


def steady(mean: float = 300.0, spread: float = 0.05, calls: int = 2000, seed: int = 1) -> WaitEstimator:
    """A queue whose calls last `mean` seconds, give or take `spread` (relative, uniform)."""
    rng = random.Random(seed)
    est = WaitEstimator(prior_service_seconds=mean, prior_patience_seconds=1e12, prior_weight=5,
                        half_life_seconds=1e12)
    for i in range(calls):
        est.observe(QueueEvent(K.SERVICE_END, float(i), mean * rng.uniform(1 - spread, 1 + spread)))
    est.recent_w = est.recent_l = est.recent_w2 = 0.0  # (other agents' calls: not a recent shift)
    return est


def learn_states(est: WaitEstimator, state: str, seconds: float, times: int, reason: str | None = None,
                 at: float = 3000.0) -> None:
    rng = random.Random(7)
    for i in range(times):
        est.observe(QueueEvent(K.STATE_END, at + i, seconds * rng.uniform(0.95, 1.05), state=state, reason=reason))


def test_an_agent_on_a_break_comes_back_when_the_learned_break_is_over() -> None:
    est = steady()
    learn_states(est, AWAY, 600.0, 200, reason="break")  # breaks last 10 minutes
    # the only agent has been on a break for 500 s: back in about 100 s, and takes the caller
    late = est.estimate(3100.0, 1, servers=0, busy=[BusyAgent(500.0, None, AWAY, "break")])
    assert 80 < late.mean < 130
    early = est.estimate(3100.0, 1, servers=0, busy=[BusyAgent(100.0, None, AWAY, "break")])
    assert 450 < early.mean < 560
    # the second caller waits for that return and one 300 s call after it
    second = est.estimate(3100.0, 2, servers=0, busy=[BusyAgent(500.0, None, AWAY, "break")])
    assert 360 < second.mean < 450


def test_each_away_reason_learns_its_own_length() -> None:
    est = steady()
    learn_states(est, AWAY, 600.0, 200, reason="break")
    learn_states(est, AWAY, 3600.0, 200, reason="lunch", at=4000.0)
    lunch = est.estimate(4100.0, 1, servers=0, busy=[BusyAgent(600.0, None, AWAY, "lunch")])
    brk = est.estimate(4100.0, 1, servers=0, busy=[BusyAgent(300.0, None, AWAY, "break")])
    assert 2700 < lunch.mean < 3300  # an hour's lunch, 10 minutes in
    assert 220 < brk.mean < 380  # a 10-minute break, 5 minutes in


def test_wrap_up_after_each_call_is_learned_per_queue() -> None:
    without = steady()
    with_wrap = steady()
    learn_states(with_wrap, WRAP_UP, 60.0, 2000)  # every call is followed by a minute of wrap-up
    # one agent whose call began just now: free after the 300 s call, and its wrap-up where there is one
    plain = without.estimate(3000.0, 1, servers=1, busy=[BusyAgent(0.0)]).mean
    wrapped = with_wrap.estimate(3000.0, 1, servers=1, busy=[BusyAgent(0.0)]).mean
    assert 270 < plain < 330
    assert 330 < wrapped < 390
    # an agent 30 s into a one-minute wrap-up takes the next caller in about 30 s
    finishing = with_wrap.estimate(3000.0, 1, servers=0, busy=[BusyAgent(30.0, None, WRAP_UP)]).mean
    assert 15 < finishing < 50


def test_an_agent_on_a_call_of_their_own_is_back_when_such_calls_end() -> None:
    est = steady()
    learn_states(est, OWN_CALL, 120.0, 40)  # their own calls last two minutes
    own = est.estimate(3100.0, 1, servers=1, busy=[BusyAgent(60.0, None, OWN_CALL)]).mean
    assert 40 < own < 90  # a minute in: a minute to go, not a 300 s talk time


def test_states_survive_the_saved_state() -> None:
    est = steady(calls=200)
    learn_states(est, AWAY, 600.0, 10, reason="break")
    learn_states(est, WRAP_UP, 60.0, 100)
    for i in range(50):
        est.observe(QueueEvent(K.SERVICE_START, 3500.0 + i, 30.0, pit=0.5, ahead=3, klass=2))
    again = WaitEstimator.from_state(est.state())
    busy = [BusyAgent(100.0), BusyAgent(200.0, None, AWAY, "break"), BusyAgent(10.0, None, WRAP_UP)]
    for klass in (None, 0, 2):
        a = est.estimate(3600.0, 4, servers=1, busy=busy, klass=klass)
        b = again.estimate(3600.0, 4, servers=1, busy=busy, klass=klass)
        assert (a.mean, a.low, a.high) == pytest.approx((b.mean, b.low, b.high), rel=1e-4)


def test_production_learns_how_long_agents_stay_away_from_their_changes() -> None:
    config = {"default": "q", "queues": [{"id": "q", "average_handle_seconds": 300}]}
    queues = QueueDirectory.from_config(config)
    stores = memory_stores()
    start = datetime(2026, 12, 7, 9, tzinfo=timezone.utc)
    for k in range(20):  # twenty breaks of 10 minutes, then back to available
        went = start + timedelta(hours=k)
        away = Agent("ann", AgentStatus.AWAY, ("q",), "client:ann", None, went, None, "break")
        learning.state_ended(stores.stats, queues, away,
                             Agent("ann", AgentStatus.AVAILABLE, ("q",), "client:ann", None, went + timedelta(minutes=10)))
    est = WaitEstimator.from_state(stores.stats.queue_stats("q"))
    assert 580 < est.presence.duration(AWAY, "break").m < 660
    # a change within the same state, or a Holdfast call ending, teaches no state length
    learning.state_ended(stores.stats, queues, Agent("bob", AgentStatus.BUSY, ("q",), None, "q-1", start),
                         Agent("bob", AgentStatus.AVAILABLE, ("q",), None, None, start + timedelta(hours=5)))
    assert WaitEstimator.from_state(stores.stats.queue_stats("q")).presence.duration(OWN_CALL) is not None
    assert "busy" not in WaitEstimator.from_state(stores.stats.queue_stats("q")).presence.windows


def test_the_estimate_sees_every_agent_state_from_the_snapshot() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
    agents = [Agent("a", AgentStatus.BUSY, ("q",), None, "q-1", now - timedelta(seconds=40)),
              Agent("b", AgentStatus.BUSY, ("q",), None, None, now - timedelta(seconds=50)),
              Agent("c", AgentStatus.WRAP_UP, ("q",), None, None, now - timedelta(seconds=20)),
              Agent("d", AgentStatus.AWAY, ("q",), None, None, now - timedelta(seconds=90), None, "lunch"),
              Agent("e", AgentStatus.AVAILABLE, ("q",), None, None, now),
              Agent("f", AgentStatus.OFFLINE, ("q",), None, None, now)]
    seen = sorted((a.state, a.elapsed, a.reason) for a in learning.busy_from(agents, now))
    assert seen == sorted([(HANDLING, 40.0, None), (OWN_CALL, 50.0, None), (WRAP_UP, 20.0, None),
                           (AWAY, 90.0, "lunch")])


# --- priority classes --------------------------------------------------------------------------------

def test_callers_of_a_higher_class_who_come_meanwhile_stretch_a_lower_class_wait() -> None:
    est = steady(calls=2000)
    # ten agents, 300 s calls: a departure every 30 s; class 1 callers are served one a minute
    for i in range(240):
        est.observe(QueueEvent(K.SERVICE_START, 3000.0 + 60.0 * i, 0.0, klass=1))
    busy = [BusyAgent(30.0 * k) for k in range(10)]
    now = 3000.0 + 60.0 * 240
    top = est.estimate(now, 11, servers=10, busy=busy, klass=1).mean
    low = est.estimate(now, 11, servers=10, busy=busy, klass=0).mean
    # half the departures go to class 1 callers who come while the class 0 caller waits: twice as long
    assert 1.7 < low / top < 2.3


def test_each_class_is_calibrated_on_its_own_and_a_thin_one_keeps_near_its_band() -> None:
    est = WaitEstimator()
    rng = random.Random(5)
    for i in range(400):  # class 0: honest ranges; class 1: every wait in the middle (ranges too wide)
        est.observe(QueueEvent(K.SERVICE_START, float(i), 10, pit=rng.random(), ahead=3, klass=0))
        est.observe(QueueEvent(K.SERVICE_START, float(i), 10, pit=rng.uniform(0.4, 0.6), ahead=3, klass=1))
    lo0, hi0 = est.levels(0.8, ahead=3, klass=0)
    lo1, hi1 = est.levels(0.8, ahead=3, klass=1)
    assert hi1 - lo1 < 0.6 * (hi0 - lo0)  # class 1's range narrowed, class 0's not nearly as much
    for i in range(3):  # class 2: three outcomes, all at the very top
        est.observe(QueueEvent(K.SERVICE_START, 500.0 + i, 10, pit=0.99, ahead=3, klass=2))
    band = est.levels(0.8, ahead=3)
    thin = est.levels(0.8, ahead=3, klass=2)
    most = 3 / (3 + SHRINK_WEIGHT)  # three outcomes move a class this share of the way from its band's levels
    assert abs(thin[0] - band[0]) <= most * (1 - band[0]) and abs(thin[1] - band[1]) <= most * (1 - band[1])
    assert thin[0] > band[0]  # (and they do move it, toward the top)


# --- the caller next in line --------------------------------------------------------------------------

def test_the_next_caller_waits_for_the_first_call_to_end() -> None:
    """Lognormal calls of mean 300 s, cv 0.6, on 20 agents at known elapsed times: the first end by
    Monte Carlo from that distribution."""
    rng = random.Random(11)
    sigma = math.sqrt(math.log(1 + 0.36))
    mu = math.log(300) - sigma ** 2 / 2
    est = WaitEstimator(prior_service_seconds=300, prior_patience_seconds=1e12, prior_weight=5, half_life_seconds=1e12)
    for i in range(20000):
        est.observe(QueueEvent(K.SERVICE_END, float(i), rng.lognormvariate(mu, sigma)))
    est.SHIFT_Z = math.inf  # (about the first departure: no talk-time shift read into the calls in progress)
    elapsed = [15.0 * k for k in range(20)]
    firsts = []
    for _ in range(4000):
        ends = []
        for e in elapsed:
            x = rng.lognormvariate(mu, sigma)
            while x <= e:
                x = rng.lognormvariate(mu, sigma)
            ends.append(x - e)
        firsts.append(min(ends))
    got = est.estimate(20000.0, 1, servers=20, busy=[BusyAgent(e) for e in elapsed])
    assert got.mean == pytest.approx(sum(firsts) / len(firsts), rel=0.05)
    firsts.sort()
    assert got.low == pytest.approx(firsts[len(firsts) // 10], rel=0.3)
    assert got.high == pytest.approx(firsts[9 * len(firsts) // 10], rel=0.15)
