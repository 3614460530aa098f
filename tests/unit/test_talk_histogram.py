"""The learned (empirical) talk-time distribution: a decaying histogram of finished talk times on a
log grid, kept in the estimator's state, used for the residual talk time of each busy agent."""
import json
import math
import random

import pytest

from chalicelib.domain.estimator import (HIST_BINS, BusyAgent, LearnedTalkTime, QueueEvent, QueueEventKind as K,
                                         TalkHistogram, WaitEstimator, mean_residual)


def learned(draw, calls: int = 5000, seed: int = 1, half_life: float = 1e12) -> WaitEstimator:
    rng = random.Random(seed)
    est = WaitEstimator(prior_service_seconds=300.0, prior_patience_seconds=1e12, half_life_seconds=half_life)
    for i in range(calls):
        est.observe(QueueEvent(K.SERVICE_END, float(i), draw(rng)))
    est.recent_w = est.recent_l = est.recent_w2 = 0.0  # (not the busy agents' own recent calls)
    return est


def uniform(rng: random.Random) -> float:
    return rng.uniform(480.0, 600.0)


def test_the_residual_of_a_uniform_call_is_known_once_learned() -> None:
    talk = learned(uniform).talk_time()
    assert isinstance(talk, LearnedTalkTime) and talk.w == 1.0
    assert talk.m == pytest.approx(540.0, rel=0.01)
    # uniform 480-600 at elapsed 500: (600 - 500) / 2 = 50 s; at 590: 5 s
    assert mean_residual(talk, 500.0) == pytest.approx(50.0, abs=1.5)
    assert mean_residual(talk, 590.0) == pytest.approx(5.0, abs=3.0)  # (within the 1% grid)
    assert mean_residual(talk, 0.0) == pytest.approx(540.0, rel=0.01)


def test_survival_follows_the_calls_seen() -> None:
    talk = learned(uniform).talk_time()
    assert talk.sf(470.0) == pytest.approx(1.0, abs=1e-9)
    assert talk.sf(510.0) == pytest.approx(0.75, abs=0.02)
    assert talk.sf(540.0) == pytest.approx(0.5, abs=0.02)
    assert talk.sf(620.0) == pytest.approx(0.0, abs=1e-9)
    # partial expectations agree with their definitions, E[min(X, x)] = integral of the survival
    for x in (490.0, 540.0, 595.0):
        grid = [x * k / 4000 for k in range(4001)]
        integral = sum((talk.sf(a) + talk.sf(b)) / 2 * (b - a) for a, b in zip(grid, grid[1:]))
        assert talk.lim_mean(x) == pytest.approx(integral, rel=1e-4)
        second = sum((a * talk.sf(a) + b * talk.sf(b)) * (b - a) for a, b in zip(grid, grid[1:]))
        assert talk.lim_second(x) == pytest.approx(second, rel=1e-3)


def test_the_caller_next_in_line_waits_for_the_first_call_to_end_as_the_calls_seen_say() -> None:
    est = learned(uniform)
    # one agent 500 s into a uniform 480-600 call: the next caller waits 50 s on average, 10-90 s
    # in 80% of cases (the range is a gamma fitted to those quantiles, widened by the model's error)
    got = est.estimate(0.0, 1, servers=1, busy=[BusyAgent(500.0)], coverage=0.8)
    assert got.mean == pytest.approx(50.0, abs=2.0)
    assert 5.0 < got.low < 15.0 and 85.0 < got.high < 110.0


def test_a_lognormal_stands_in_while_the_histogram_holds_few_calls() -> None:
    est = WaitEstimator(prior_service_seconds=300.0, prior_service_cv=0.1)
    assert not isinstance(est.talk_time(), LearnedTalkTime)  # nothing learned: the lognormal alone
    est.observe(QueueEvent(K.SERVICE_END, 1.0, 300.0))
    few = est.talk_time()
    assert isinstance(few, LearnedTalkTime) and few.w < 0.1  # one call: mostly the lognormal
    many = learned(uniform, calls=3000).talk_time()
    assert many.w == 1.0  # the histogram alone


def test_the_histogram_is_rescaled_when_the_mean_moves() -> None:
    est = learned(uniform)
    talk = est.talk_time(shift=math.log(2.0))  # every call twice as long: 960-1200
    assert talk.m == pytest.approx(1080.0, rel=0.01)
    assert mean_residual(talk, 1000.0) == pytest.approx(100.0, abs=3.0)


def test_the_state_round_trips_with_the_histogram() -> None:
    est = learned(lambda rng: rng.uniform(200.0, 300.0), calls=2000, half_life=3600.0)
    state = json.loads(json.dumps(est.state()))  # (a store keeps it as JSON)
    again = WaitEstimator.from_state(state)
    assert again.hist.weight == pytest.approx(est.hist.weight, rel=1e-5)
    a, b = est.talk_time(), again.talk_time()
    assert isinstance(a, LearnedTalkTime) and isinstance(b, LearnedTalkTime)
    for x in (50.0, 220.0, 250.0, 290.0, 1500.0):
        assert b.sf(x) == pytest.approx(a.sf(x), rel=1e-5, abs=1e-9)
        assert b.lim_mean(x) == pytest.approx(a.lim_mean(x), rel=1e-5)
    busy = [BusyAgent(e) for e in (10.0, 100.0, 300.0)]
    assert again.estimate(2000.0, 5, servers=3, busy=busy).mean == pytest.approx(
        est.estimate(2000.0, 5, servers=3, busy=busy).mean, rel=1e-5)


def test_the_histogram_stays_bounded() -> None:
    # talk times from a tenth of a second to days: every call lands in one of HIST_BINS bins
    hist, rng = TalkHistogram(), random.Random(1)
    for _ in range(20000):
        hist.add(math.exp(rng.uniform(-3.0, 13.0)))
    saved = hist.as_state()
    assert len(saved["w"]) <= HIST_BINS
    assert sum(saved["w"]) == pytest.approx(20000, rel=1e-3)
    # calls that stopped coming fade out of the state: after days of 30 s calls the old range is gone
    rng = random.Random(2)
    est = WaitEstimator(half_life_seconds=3600.0)
    for i in range(2000):
        est.observe(QueueEvent(K.SERVICE_END, float(i), rng.uniform(480.0, 600.0)))
    for i in range(2000):
        est.observe(QueueEvent(K.SERVICE_END, 3 * 86400.0 + i, rng.uniform(28.0, 32.0)))
    saved = est.state()["hist"]
    assert len(saved["w"]) <= 16  # only the bins of the 28-32 s calls (1% each)
    assert est.talk_time().sf(100.0) == pytest.approx(0.0, abs=1e-9)


def test_spread_out_talk_times_keep_the_lognormal() -> None:
    est = learned(lambda rng: rng.lognormvariate(5.5, 0.6), calls=3000)
    assert est.hist.weight > 2000  # learned all the same (a queue's talk times may become regular)
    assert not isinstance(est.talk_time(), LearnedTalkTime)


def test_a_change_in_talk_times_keeps_only_a_few_calls_of_the_old_shape() -> None:
    rng = random.Random(5)
    est = WaitEstimator(prior_service_seconds=300.0)
    t = 0.0
    for _ in range(3000):
        t += 1.0
        est.observe(QueueEvent(K.SERVICE_END, t, rng.lognormvariate(math.log(300.0), 0.5)))
    before = est.hist.weight
    for _ in range(300):
        t += 1.0
        est.observe(QueueEvent(K.SERVICE_END, t, rng.lognormvariate(math.log(900.0), 0.5)))
    assert est.changes >= 1
    assert est.hist.weight < before / 4


def test_a_histogram_is_empty_before_any_call_and_reads_nothing_from_an_empty_state() -> None:
    assert TalkHistogram().shape() is None
    assert TalkHistogram.from_state({"lo": 0, "w": []}).shape() is None


# A state saved by the estimator before the histogram existed (as a deployed table holds them):
# 300 uniform 480-600 s calls, outcomes and abandonments, saved by the code of main at 96bd282.
OLD_STATE = json.loads(
    '{"talk_long":[264.4264515247591,141740.6452937867,76846653.31099746,1659.324190855029,10419.472820242385'
    '],"talk_short":[43.69151519369917,23523.40786973436,12715846.070748972,274.670088801221,1726.91246969233'
    '95],"exposure":20439.318385157057,"abandons":55.78932229978564,"staffed":4,"age_exposure":[8113.563,5314'
    '.266,3802.232,959.74,0.0,0.0,0.0,0.0],"age_abandons":[7.4441,9.9073,11.217,23.4718,0.0,0.0,0.0,0.0],"upd'
    'ated_at":6001.0,"decay_rate":4.813522087221842e-05,"changes":0,"cusum":[0.2576690836886706,0.18734684870'
    '008173],"recent":[7.976401428958702,50.11422601248397,1.3199197220091092],"cal_events":[2.9083,4.8636,8.'
    '7604,8.7313,3.908,7.8787,12.6539,8.7117,5.8392,4.8763,5.898,4.8412,6.7984,8.8086,11.6777,5.8751,6.8172,6'
    '.8426,2.9416,7.8623,3.9269,8.7951,9.8024,8.8203,6.8082,7.8167,1.9579,9.792,7.852,8.8009,8.7812,7.8424,6.'
    '7952,7.8572,13.6845,11.6879,2.9523,10.7013,4.8743,5.8748],"cal_censored":[3.9044,1.9852,1.9891,0.9709,0.'
    '957,2.9066,1.9757,0.0,0.0,2.9434,3.9395,1.931,0.9701,1.9396,0.9986,0.9585,2.9365,1.9623,1.9429,2.9388,0.'
    '0,2.9151,0.0,0.9562,1.9163,1.9302,1.9883,0.9787,1.9568,0.0,0.0,1.963,0.9593,0.0,0.0,1.9481,0.0,1.9397,0.'
    '0,0.9632],"bands":[[[0.0,0.0,0.0,0.9933,1.947,0.0,2.916,0.0,0.9884,0.9669,0.0,0.0,1.9374,0.9811,0.0,0.99'
    '07,0.9573,0.0,0.0,0.0,0.992,0.9767,0.0,1.9513,0.9739,1.9852,0.0,0.9717,0.9711,0.9722,0.9715,0.0,0.0,0.98'
    '98,2.8986,3.8628,0.0,1.9358,0.9737,2.912],[3.9044,1.9852,1.9891,0.9709,0.957,2.9066,1.9757,0.0,0.0,2.943'
    '4,3.9395,1.931,0.9701,1.9396,0.9986,0.9585,2.9365,1.9623,1.9429,2.9388,0.0,2.9151,0.0,0.9562,1.9163,1.93'
    '02,1.9883,0.9787,1.9568,0.0,0.0,1.963,0.9593,0.0,0.0,1.9481,0.0,1.9397,0.0,0.9632]],[[2.9083,3.8986,4.86'
    '17,5.8016,0.0,4.9206,4.8514,2.9203,3.8804,0.9555,4.9057,2.8823,0.9695,3.916,5.8191,3.886,4.871,5.8623,0.'
    '9602,4.9239,2.9349,4.8813,6.9097,4.9244,2.9078,3.9193,0.9585,3.9058,5.8964,3.9262,4.8726,3.9516,4.8625,3'
    '.9381,3.9326,5.8803,1.9709,4.8748,1.9534,1.9686],[0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.'
    '0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.'
    '0]],[[0.0,0.965,3.8987,1.9364,1.9609,2.9581,4.8865,5.7914,0.9704,2.954,0.9923,1.959,3.8916,3.9116,5.8586'
    ',0.9984,0.989,0.9803,1.9813,2.9383,0.0,2.9371,2.8927,1.9446,2.9265,1.9123,0.9994,4.9145,0.9846,3.9026,2.'
    '937,3.8908,1.9327,2.9294,6.8534,1.9447,0.9814,3.8908,1.9471,0.9942],[0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0'
    ',0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0'
    ',0.0,0.0,0.0,0.0,0.0]],[[0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0'
    ',0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0],[0.0,0.0,0.0,0.0,0.0,0'
    '.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0'
    '.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0]]]}')


def test_states_saved_before_the_histogram_still_load() -> None:
    est = WaitEstimator.from_state(OLD_STATE)
    assert est.hist.weight == 0.0
    # what was learned is all there: talk times (a lognormal until the histogram has calls), patience, calibration
    assert est.talk_long.as_list() == OLD_STATE["talk_long"]
    assert (est.exposure, est.abandons) == (OLD_STATE["exposure"], OLD_STATE["abandons"])
    assert [b.events for b in est.bands] == [saved[0] for saved in OLD_STATE["bands"]]
    talk = est.talk_time()
    assert not isinstance(talk, LearnedTalkTime) and talk.m == pytest.approx(est.talk_long.mean)
    busy = [BusyAgent(500.0), BusyAgent(100.0), BusyAgent(300.0), BusyAgent(20.0)]
    got = est.estimate(6010.0, 3, servers=4, busy=busy)
    assert 0 < got.low < got.mean < got.high
    # it learns the histogram from the next calls on, and saves it
    est.observe(QueueEvent(K.SERVICE_END, 6020.0, 530.0))
    assert WaitEstimator.from_state(est.state()).hist.weight == pytest.approx(1.0)


@pytest.mark.parametrize("position", [1, 4, 30, 200])
def test_a_second_coverage_reads_the_same_estimates_range(position: int) -> None:
    est = learned(uniform, calls=500)
    busy = [BusyAgent(e) for e in (20.0, 150.0, 300.0, 450.0, 590.0)]
    e80 = est.estimate(600.0, position, servers=5, busy=busy, coverage=0.8)
    e90 = est.estimate(600.0, position, servers=5, busy=busy, coverage=0.9)
    assert est.range_at(e80, 0.9) == pytest.approx((e90.low, e90.high), rel=1e-9)
    assert (e90.shape, e90.scale) == (e80.shape, e80.scale)
    assert e90.low < e80.low < e80.mean < e80.high < e90.high


def simulated_uniform_wait(elapsed: list[float], ahead: int, runs: int = 3000) -> float:
    """Monte Carlo: the (ahead+1)-th departure among agents on uniform 480-600 s calls that have
    lasted `elapsed` (nobody abandons)."""
    rng = random.Random(3)
    total = 0.0
    for _ in range(runs):
        ends = []
        for e in elapsed:
            t = rng.uniform(max(480.0, e), 600.0) - e
            for _ in range(ahead // len(elapsed) + 3):
                ends.append(t)
                t += rng.uniform(480.0, 600.0)
        total += sorted(ends)[ahead]
    return total / runs


@pytest.mark.parametrize("ahead", [0, 3, 10, 30, 45, 80])
def test_regular_calls_after_the_current_ones_end_a_whole_talk_time_later(ahead: int) -> None:
    """With 40 agents, the 46th departure is some agent's second call: it ends a whole talk time
    after that agent's current one, not on the straight line of a renewal rate (which said ~515 s
    where the answer is ~587 s before calls after the current one were counted as sums)."""
    est = learned(uniform, calls=3000)
    rng = random.Random(11)
    elapsed = [rng.uniform(0.0, 600.0) for _ in range(40)]
    got = est.estimate(3000.0, ahead + 1, servers=40, busy=[BusyAgent(e) for e in elapsed]).mean
    want = simulated_uniform_wait(elapsed, ahead)
    assert got == pytest.approx(want, rel=0.03, abs=1.5)
