"""Agents who go away between calls (a break nobody announced): a share of call ends frees nobody for
the line. The estimator learns that share from the queue's own events (times away ended over calls
ended) and the caller next in line counts each call's end as freeing its agent only that often."""
from __future__ import annotations

import math

from chalicelib.domain.estimator import AWAY, BusyAgent, QueueEvent, QueueEventKind, WaitEstimator
from chalicelib.domain.estimator.agents import _Agents
from chalicelib.domain.estimator.talk import TalkTime


def test_the_share_of_calls_followed_by_time_away_is_learned_from_the_queues_events() -> None:
    """400 calls end, and after every fourth the agent goes away for ten minutes: a quarter of call
    ends free nobody (the share starts from a few calls without time away: 100 / 405)."""
    est = WaitEstimator(prior_service_seconds=300.0)
    assert est.presence.away_share() == 0.0  # (no time away seen: every end frees its agent)
    for i in range(400):
        est.observe(QueueEvent(QueueEventKind.SERVICE_END, 0.0, 300.0))
        if i % 4 == 3:
            est.observe(QueueEvent(QueueEventKind.STATE_END, 0.0, 600.0, state=AWAY, reason="break"))
    assert math.isclose(est.presence.away_share(), 0.25, abs_tol=0.005)
    # (and it survives the saved state)
    assert math.isclose(WaitEstimator.from_state(est.state()).presence.away_share(), 0.25, abs_tol=0.005)


def test_the_next_caller_counts_a_call_end_as_freeing_its_agent_as_often_as_agents_stay() -> None:
    """Two agents on calls (lognormal, mean 5 min, cv 0.8) 100 s and 400 s in; after a quarter of
    calls the agent goes away for ~10 min (lognormal, cv 0.5: back within a minute almost never).
    Within the first minute the caller is still waiting unless a call has ended AND its agent
    stayed: P(T > t) = prod (1/4 + 3/4 S(e + t) / S(e)). Its 10% quantile solves 1 - that = 0.1."""
    s2 = math.log(1.0 + 0.8 ** 2)
    mu, s = math.log(300.0) - s2 / 2.0, math.sqrt(s2)

    def sf(x: float) -> float:
        return 0.5 * math.erfc((math.log(x) - mu) / (s * math.sqrt(2.0)))

    def waiting(t: float) -> float:
        return math.prod(0.25 + 0.75 * sf(e + t) / sf(e) for e in (100.0, 400.0))

    lo, hi = 0.0, 60.0  # (the scenario's 10% quantile lies within the first minute: checked here)
    assert waiting(hi) < 0.9
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if waiting(mid) > 0.9 else (lo, mid)
    expected_q10 = (lo + hi) / 2.0
    model = _Agents(TalkTime(300.0, 0.8 ** 2), [BusyAgent(100.0), BusyAgent(400.0)], serve=0.75,
                    away=TalkTime(600.0, 0.5 ** 2))
    _, _, (q10,) = model.first_departure(60.0, levels=(0.1,))
    assert math.isclose(q10, expected_q10, rel_tol=0.02)
    # where nobody goes away, the same two calls: P(T > t) = prod S(e + t) / S(e), reached sooner
    everyone_stays = _Agents(TalkTime(300.0, 0.8 ** 2), [BusyAgent(100.0), BusyAgent(400.0)])
    _, _, (q10_stay,) = everyone_stays.first_departure(60.0, levels=(0.1,))
    lo, hi = 0.0, 60.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        stay = math.prod(sf(e + mid) / sf(e) for e in (100.0, 400.0))
        lo, hi = (mid, hi) if stay > 0.9 else (lo, mid)
    assert math.isclose(q10_stay, (lo + hi) / 2.0, rel_tol=0.02)
