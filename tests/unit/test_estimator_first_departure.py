"""The caller next in line waits for the first agent to free up: the shortest of the calls in
progress (some signing off first), agents back from a break, and agents of unknown elapsed time.
`_Agents.first_departure` inlines each kind's survival (the next caller's estimate must stay under
2 ms): its mean and quantiles are checked against P(T > t) written from the scenario's own
distributions (the product of every agent's chance of still being busy at t) and integrated finely."""
from __future__ import annotations

import math

from chalicelib.domain.estimator.agents import _Agents
from chalicelib.domain.estimator.events import BusyAgent
from chalicelib.domain.estimator.talk import TalkTime


def lognormal_sf(mean: float, cv: float):
    s2 = math.log(1.0 + cv * cv)
    mu, s = math.log(mean) - s2 / 2.0, math.sqrt(s2)
    return lambda x: 1.0 if x <= 0 else 0.5 * math.erfc((math.log(x) - mu) / (s * math.sqrt(2.0)))


def lognormal_limited(mean: float, cv: float):
    """E[min(X, t)] of the lognormal: mean * Phi((ln t - mu - s^2) / s) + t * S(t)."""
    s2 = math.log(1.0 + cv * cv)
    mu, s = math.log(mean) - s2 / 2.0, math.sqrt(s2)
    sf = lognormal_sf(mean, cv)
    return lambda t: 0.0 if t <= 0 else (
        mean * 0.5 * math.erfc(-(math.log(t) - mu - s2) / (s * math.sqrt(2.0))) + t * sf(t))


TALK_MEAN, TALK_CV = 300.0, 0.8  # calls: lognormal, mean 5 min
BREAK_MEAN, BREAK_CV = 900.0, 0.5  # breaks: lognormal, mean 15 min
talk_sf, break_sf = lognormal_sf(TALK_MEAN, TALK_CV), lognormal_sf(BREAK_MEAN, BREAK_CV)
talk_limited, break_limited = lognormal_limited(TALK_MEAN, TALK_CV), lognormal_limited(BREAK_MEAN, BREAK_CV)
DT = 0.1  # seconds: the scenario's integrals, on a grid far finer than the estimator's


def integral(f, upto: float) -> float:
    steps = int(upto / DT)
    return sum(f((i + 0.5) * DT) for i in range(steps)) * DT


def scenario_survival():
    """P(nobody has freed up by t) in a team of: calls 60 s, 200 s and 400 s in (the last one's agent
    signs off in 100 s: after that their call frees nobody), two calls 250 s in, a call of unknown
    age (anywhere in it: P(ended by t) = E[min(X, t)] / mean), breaks 120 s and 500 s old, and a
    break of unknown age (the same for the break's length)."""
    calls = [(60.0, math.inf), (200.0, math.inf), (400.0, 100.0), (250.0, math.inf), (250.0, math.inf)]
    breaks = [120.0, 500.0]

    def survival(t: float) -> float:
        alive = 1.0
        for e, h in calls:
            alive *= talk_sf(e + min(t, h)) / talk_sf(e)
        alive *= 1.0 - talk_limited(t) / TALK_MEAN
        for a in breaks:
            alive *= break_sf(a + t) / break_sf(a)
        alive *= 1.0 - break_limited(t) / BREAK_MEAN
        return alive
    return survival


def model() -> _Agents:
    talk = TalkTime(TALK_MEAN, TALK_CV ** 2)
    brk = TalkTime(BREAK_MEAN, BREAK_CV ** 2)
    busy = [BusyAgent(60.0), BusyAgent(200.0), BusyAgent(400.0, 100.0), BusyAgent(250.0), BusyAgent(250.0),
            BusyAgent(None)]
    return _Agents(talk, busy, returning=[(120.0, brk, math.inf), (500.0, brk, math.inf), (-1.0, brk, math.inf)])


def test_first_departure_mean_and_quantiles_match_the_scenarios_survival() -> None:
    survival = scenario_survival()
    # the scenario: mean = integral of P(T > t); quantile q where P(T > t) = 1 - q (survival is monotone)
    grid = [(i * 2.0, survival(i * 2.0)) for i in range(1, 600)]  # every 2 s up to 20 min
    assert grid[-1][1] < 1e-4  # (the first departure surely comes within the grid)
    expected_mean = integral(survival, 1200.0)

    def quantile(q: float) -> float:
        t_prev, s_prev = 0.0, 1.0
        for t, s in grid:
            if 1.0 - s >= q:
                return t_prev + (t - t_prev) * ((1.0 - q) - s_prev) / (s - s_prev)
            t_prev, s_prev = t, s
        raise AssertionError("quantile beyond the grid")

    mean, var, (q10, q90) = model().first_departure(expected_mean, levels=(0.1, 0.9))
    assert math.isclose(mean, expected_mean, rel_tol=5e-3)
    assert math.isclose(q10, quantile(0.1), rel_tol=2e-2)
    assert math.isclose(q90, quantile(0.9), rel_tol=2e-2)
    expected_second = 2.0 * integral(lambda t: t * survival(t), 1200.0)
    assert math.isclose(var, expected_second - expected_mean ** 2, rel_tol=2e-2)


def test_an_agent_who_signs_off_before_their_call_ends_frees_nobody() -> None:
    """Two calls 400 s in; one agent signs off in 30 s. After 30 s only the other can free up:
    P(T > t) = S(400 + t)/S(400) * S(430)/S(400) there; the mean as the scenario integrates it."""
    talk = TalkTime(TALK_MEAN, TALK_CV ** 2)
    both = _Agents(talk, [BusyAgent(400.0), BusyAgent(400.0, 30.0)])

    def survival(t: float) -> float:
        return talk_sf(400.0 + t) / talk_sf(400.0) * talk_sf(400.0 + min(t, 30.0)) / talk_sf(400.0)
    expected = integral(survival, 6000.0)
    mean, _, _ = both.first_departure(200.0)
    assert math.isclose(mean, expected, rel_tol=5e-3)


def test_first_departure_with_the_histogram_still_blended_with_the_lognormal() -> None:
    """Regular talk times, 480-600 s evenly (30 calls learned: the histogram weighs 30 / (30 + 20) =
    0.6 against a lognormal of the same mean and spread); two calls 500 s and 560 s in. A call's
    survival is 0.6 (600 - x) / 120 + 0.4 S_lognormal(x) in the range; the caller next in line
    waits for the first of them to end: P(T > t) = product of S(e + t) / S(e)."""
    from chalicelib.domain.estimator.talk import LearnedTalkTime, TalkHistogram

    calls = [480.0 + 120.0 * (i + 0.5) / 30 for i in range(30)]
    hist = TalkHistogram()
    for x in calls:
        hist.add(x)
    mean = sum(calls) / len(calls)
    cv2 = sum((x - mean) ** 2 for x in calls) / len(calls) / mean ** 2
    talk = LearnedTalkTime(hist.shape(), hist.weight, mean, cv2)
    assert talk.pure is None  # (the blended kind, not the histogram alone)
    logn_sf = lognormal_sf(mean, math.sqrt(cv2))

    def call_sf(x: float) -> float:
        uniform = 1.0 if x <= 480.0 else 0.0 if x >= 600.0 else (600.0 - x) / 120.0
        return 0.6 * uniform + 0.4 * logn_sf(x)

    def survival(t: float) -> float:
        return call_sf(500.0 + t) / call_sf(500.0) * call_sf(560.0 + t) / call_sf(560.0)
    expected = integral(survival, 3000.0)
    got, _, _ = _Agents(talk, [BusyAgent(500.0), BusyAgent(560.0)]).first_departure(30.0)
    assert math.isclose(got, expected, rel_tol=0.03)
