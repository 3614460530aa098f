import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import learning
from chalicelib.domain.estimator import QueueEvent, QueueEventKind as K, WaitEstimator
from chalicelib.domain.queues import parse_queue
from chalicelib.adapters.memory import FakeStore


def test_learns_service_rate_and_patience_from_events() -> None:
    rng = random.Random(5)
    est = WaitEstimator(prior_service_seconds=100, prior_patience_seconds=100, half_life_seconds=1e9)
    t = 0.0
    for _ in range(20000):
        t += 1
        est.observe(QueueEvent(K.SERVICE_END, t, rng.expovariate(1 / 240)))
        # every waiting caller's exposure counts, abandoners' and served callers' alike
        wait = rng.expovariate(1 / 60)
        patience = rng.expovariate(1 / 900)
        if patience < wait:
            est.observe(QueueEvent(K.ABANDON, t, patience))
        else:
            est.observe(QueueEvent(K.SERVICE_START, t, wait))
    assert 1 / est.mu == pytest.approx(240, rel=0.03)
    assert 1 / est.theta == pytest.approx(900, rel=0.08)


def test_old_observations_fade_with_the_half_life() -> None:
    est = WaitEstimator(prior_service_seconds=300, prior_weight=1, half_life_seconds=600)
    for i in range(200):
        est.observe(QueueEvent(K.SERVICE_END, float(i), 300))
    for i in range(200):
        est.observe(QueueEvent(K.SERVICE_END, 10_000.0 + i, 600))  # an hour later, calls got longer
    assert 1 / est.mu == pytest.approx(600, rel=0.02)


def test_estimate_uses_position_staffing_and_idle_agents() -> None:
    est = WaitEstimator(prior_service_seconds=300, prior_patience_seconds=1e12,
                        prior_weight=1e6)
    assert est.estimate(0, position=3, idle=3).mean == 0
    assert est.estimate(0, position=10, servers=2).mean == pytest.approx(10 * 150, rel=1e-3)
    est.observe(QueueEvent(K.STAFFING, 1, 5))
    assert est.estimate(1, position=10).mean == pytest.approx(10 * 60, rel=1e-3)


def test_state_round_trips() -> None:
    est = WaitEstimator()
    est.observe(QueueEvent(K.SERVICE_END, 5, 200))
    est.observe(QueueEvent(K.ABANDON, 6, 30))
    again = WaitEstimator.from_state(est.state())
    assert again.state() == est.state()
    assert again.estimate(7, 4).mean == est.estimate(7, 4).mean


def test_production_learning_goes_through_the_store() -> None:
    store, queue = FakeStore(), parse_queue({"id": "q", "average_handle_seconds": 300})
    assert 1 / learning.current(store, queue).mu == pytest.approx(300)
    now = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)
    for i in range(2000):  # the configured 300 s counts as 20 calls: 2000 real ones outweigh it
        learning.learn(store, queue, K.SERVICE_END, now + timedelta(seconds=i), 120)
    assert 1 / learning.current(store, queue).mu == pytest.approx(120, rel=0.02)


def test_a_failing_store_never_breaks_the_call() -> None:
    class Broken(FakeStore):
        def update_queue_stats(self, queue_id, apply):  # type: ignore[no-untyped-def]
            raise RuntimeError("throttled")

    learning.learn(Broken(), parse_queue({"id": "q"}), K.ABANDON, datetime.now(timezone.utc), 5)


def test_calibration_is_nominal_when_ranges_are_honest_and_corrects_them_when_not() -> None:
    from chalicelib.domain.estimator import Calibration

    cal = Calibration()
    assert cal.levels(0.8) is None  # too few outcomes yet
    rng = random.Random(2)
    for _ in range(5000):
        cal.add(rng.random(), observed=True)
    lo, hi = cal.levels(0.8)
    assert lo == pytest.approx(0.1, abs=0.02) and hi == pytest.approx(0.9, abs=0.02)
    narrow = Calibration()  # outcomes bunch in the middle: the model's ranges are too wide
    for _ in range(5000):
        narrow.add(0.25 + 0.5 * rng.random(), observed=True)
    lo, hi = narrow.levels(0.8)
    assert lo == pytest.approx(0.3, abs=0.03) and hi == pytest.approx(0.7, abs=0.03)


def test_calibration_counts_abandoners_as_censored_not_as_short_waits() -> None:
    from chalicelib.domain.estimator import Calibration

    rng = random.Random(4)
    cal, naive = Calibration(), Calibration()
    for _ in range(20000):
        u, gave_up_at = rng.random(), rng.random()  # honest ranges; patience independent of the wait
        if gave_up_at < u:
            cal.add(gave_up_at, observed=False)
        else:
            cal.add(u, observed=True)
            naive.add(u, observed=True)
    assert cal.levels(0.8)[1] == pytest.approx(0.9, abs=0.03)  # Kaplan-Meier recovers the truth
    assert naive.levels(0.8)[1] < 0.8  # served callers alone would shrink every range


def test_production_scores_what_the_caller_was_told() -> None:
    from chalicelib.domain.model import Ticket, TicketKind, TicketStatus

    t = Ticket("q", 1, TicketKind.LIVE, TicketStatus.WAITING, datetime.now(timezone.utc), told_shape=4, told_scale=30)
    assert learning.told_pit(t, 120) == pytest.approx(0.5665, abs=1e-3)  # the median of Gamma(4, 30) is ~110 s
    assert learning.told_pit(t.evolve(told_shape=0.0), 120) is None
