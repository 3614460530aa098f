"""Talk times of two kinds (issue 30): the two-hump lognormal mixture is recovered from the queue's
own history, calls still going are counted as censored (no bias toward short calls), a busy agent's
residual follows the long hump once the short one is outlasted, and one hump keeps one lognormal.
Expected values come from the known distributions the histories are drawn from."""
from __future__ import annotations

import math
import random

from chalicelib.domain.estimator import BusyAgent, QueueEvent, QueueEventKind, WaitEstimator
from chalicelib.domain.estimator.mixture import MixtureTalkTime, fit_mixture, mixture_mean
from chalicelib.domain.estimator.talk import TalkHistogram, TalkTime, mean_residual

SHORT_MEDIAN, LONG_MEDIAN, SIGMA, LONG_SHARE = 120.0, 900.0, 0.3, 0.3  # 2 min and 15 min calls


def _draw(rng: random.Random) -> float:
    median = LONG_MEDIAN if rng.random() < LONG_SHARE else SHORT_MEDIAN
    return rng.lognormvariate(math.log(median), SIGMA)


def _true_sf(x: float) -> float:
    def sf(median: float) -> float:
        return 0.5 * math.erfc((math.log(x) - math.log(median)) / (SIGMA * math.sqrt(2.0)))
    return (1.0 - LONG_SHARE) * sf(SHORT_MEDIAN) + LONG_SHARE * sf(LONG_MEDIAN)


def _true_residual(elapsed: float) -> float:
    """E[X - e | X > e] = integral of S(x) from e on, over S(e) (trapezoid, 1 s steps, to 3 h)."""
    total, x = 0.0, elapsed
    while x < 3 * 3600.0:
        total += 0.5 * (_true_sf(x) + _true_sf(x + 1.0))
        x += 1.0
    return total / _true_sf(elapsed)


TRUE_MEAN = (1 - LONG_SHARE) * SHORT_MEDIAN * math.exp(SIGMA ** 2 / 2) + LONG_SHARE * LONG_MEDIAN * math.exp(SIGMA ** 2 / 2)


def test_two_humps_recovered_from_history() -> None:
    rng = random.Random(7)
    hist = TalkHistogram()
    for _ in range(3000):
        hist.add(_draw(rng))
    fit = fit_mixture(hist.raw, hist.factor, [])
    assert fit is not None
    (p_short, mu_short, s_short), (p_long, mu_long, s_long) = fit
    assert abs(p_long - LONG_SHARE) < 0.03
    assert abs(math.exp(mu_short) / SHORT_MEDIAN - 1.0) < 0.05  # medians within 5%
    assert abs(math.exp(mu_long) / LONG_MEDIAN - 1.0) < 0.05
    assert abs(s_short - SIGMA) < 0.05 and abs(s_long - SIGMA) < 0.05


def test_calls_still_going_keep_the_fit_from_reading_short() -> None:
    """Calls begun evenly over half an hour, looked at its end: long calls are mostly still going.
    Counted as censored, the fit finds the true shares; left out, it would read talk times short."""
    rng = random.Random(11)
    horizon = 1800.0
    hist, going = TalkHistogram(), []
    for _ in range(3000):
        began, talk = rng.uniform(0.0, horizon), _draw(rng)
        if began + talk <= horizon:
            hist.add(talk)
        else:
            going.append(horizon - began)
    censored = fit_mixture(hist.raw, hist.factor, going)
    assert censored is not None
    assert abs(censored[1][0] - LONG_SHARE) < 0.04
    assert abs(math.exp(censored[1][1]) / LONG_MEDIAN - 1.0) < 0.08
    assert abs(mixture_mean(censored) / TRUE_MEAN - 1.0) < 0.05
    finished_only = fit_mixture(hist.raw, hist.factor, [])
    assert finished_only is not None and mixture_mean(finished_only) < 0.85 * TRUE_MEAN  # (the bias avoided)


def _learned(rng: random.Random, draw, calls: int = 2000) -> WaitEstimator:
    est = WaitEstimator(prior_service_seconds=300.0)
    est.use_mixture = True
    t = 0.0
    for _ in range(calls):
        t += 5.0
        est.observe(QueueEvent(QueueEventKind.SERVICE_END, t, draw(rng)))
    return est


def test_busy_agent_past_the_short_hump_expects_the_long_ones_rest() -> None:
    est = _learned(random.Random(3), _draw)
    talk = est.talk_time()
    assert isinstance(talk, MixtureTalkTime)
    truth = _true_residual(240.0)  # 4 minutes in: nearly surely a long call (some 11 minutes to go)
    assert 600.0 < truth < 720.0
    assert abs(mean_residual(talk, 240.0) / truth - 1.0) < 0.08
    # one lognormal of the same history is far off (its residual at 4 min is not the long hump's)
    single = TalkTime(est.talk_long.mean, est.talk_long.cv2)
    assert abs(mean_residual(single, 240.0) / truth - 1.0) > 0.2
    # the caller next in line with one agent, 4 minutes into a call: waits for that call's end (an
    # hour after the history, so that no recent shift of talk times is read from the calls that ended)
    wait = est.estimate(now=10_000.0 + 3600.0, position=1, servers=1, busy=[BusyAgent(240.0)])
    assert abs(wait.mean / truth - 1.0) < 0.1


def test_one_hump_keeps_the_single_lognormal() -> None:
    est = _learned(random.Random(5), lambda rng: rng.lognormvariate(math.log(300.0), 0.6))
    assert est.mixture is None
    assert isinstance(est.talk_time(), TalkTime)


def test_mixture_saved_and_older_states_load() -> None:
    est = _learned(random.Random(3), _draw, calls=600)
    assert est.mixture is not None
    again = WaitEstimator.from_state(est.state())
    assert again.mixture == [tuple(round(v, 6) for v in c) for c in est.mixture]
    old = est.state()
    del old["mixture"]
    assert WaitEstimator.from_state(old).mixture is None
