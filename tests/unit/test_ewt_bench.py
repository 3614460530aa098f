"""bench/ewt.py's runs follow one another as one queue's days: the range calibration carries over."""
from __future__ import annotations

from bench.ewt import Exponential, Scenario, run, simulate

SMALL = Scenario("small M/M/5+M", lambda t: 5 * 1.05 / 120, 5 * 1.05 / 120, lambda t: 5, lambda t: Exponential(120),
                 Exponential(300), horizon=2 * 3600.0, warmup=600.0, coverage_seeds=(2,))


def test_a_run_starts_from_the_calibration_it_is_given_and_leaves_it_untouched() -> None:
    _, cold = simulate(SMALL, 0, oracle=False)
    before = [list(band.events) for band in cold[1]]
    assert sum(band.weight for band in cold[1]) > 0  # the cold run learned something
    _, after = simulate(SMALL, 1, oracle=False, calibration=cold)
    assert [list(band.events) for band in cold[1]] == before  # a copy was used
    _, alone = simulate(SMALL, 1, oracle=False)  # the same run from a cold calibration
    carried = [(was, now, fresh) for was, now, fresh in zip(cold[1], after[1], alone[1]) if was.weight > 0]
    assert carried  # the cold run's calibration has bands with weight to carry
    for was, now, fresh in carried:  # it added to what it was given
        assert now is not was
        assert now.weight > fresh.weight


def test_the_scored_runs_follow_a_cold_first_run_that_is_reported_apart() -> None:
    result = run(SMALL, seeds=[1])
    cold, _ = simulate(SMALL, 0, oracle=False)
    assert [c.arrival for c in result.cold] == [c.arrival for c in cold]
    assert result.callers and not set(map(id, result.callers)) & set(map(id, result.cold))
    assert any(c.oracle is not None for c in result.callers)  # the first scored run has the oracle
