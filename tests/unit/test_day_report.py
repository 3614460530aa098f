"""bench/day.py's reading of the simulated days: the closing backlog's trend and the targets."""
from __future__ import annotations

import pytest

from bench.day import day_verdicts, no_upward_trend, trend


def test_the_trend_is_the_slope_after_the_warm_up_with_its_interval() -> None:
    # the first three days (the backlog filling from empty) are left out; then +5 a day exactly
    slope, half = trend([0, 40, 80, 100, 105, 110, 115, 120])
    assert slope == pytest.approx(5.0) and half == pytest.approx(0.0, abs=1e-9)
    assert no_upward_trend([0, 40, 80, 100, 105, 110, 115, 120])[0] is False


def test_a_flat_backlog_with_noise_has_no_upward_trend() -> None:
    # after the warm-up: 100, 120, 90, 110, 100, 95, 115, 105: slope +0.18 a day, its interval ± 4.0
    ok, how = no_upward_trend([10, 50, 80, 100, 120, 90, 110, 100, 95, 115, 105])
    assert ok and "over days 4-11" in how
    assert no_upward_trend([1, 2, 3])[0]  # too few days to say


def test_the_targets_compare_holdfast_with_no_callback_on_the_same_days() -> None:
    def measures(unrec: float, sl: float, kept: float) -> dict[str, tuple[float, float]]:
        return {"unrecovered": (unrec, 0.0), "service_level": (sl, 0.0), "promise_kept": (kept, 0.0)}
    flat = [100.0] * 8
    met = day_verdicts("x", measures(0.05, 0.535, 0.95), measures(0.25, 0.54, float("nan")), flat, ten=True)
    assert [ok for ok, _ in met] == [True, True, True, True, True]  # 0.5 point below: within 1
    missed = day_verdicts("x", measures(0.06, 0.52, 0.89), measures(0.25, 0.54, float("nan")), flat, ten=True)
    assert [ok for ok, _ in missed] == [True, False, False, True, False]


def test_each_scenario_prints_its_targets_and_the_trade_off_where_one_is_missed() -> None:
    from bench.day import CASE, UNTUNED, Outcome, scenario_verdicts

    def measures(unrec: float, sl: float) -> dict[str, tuple[float, float]]:
        return {"unrecovered": (unrec, 0.0), "service_level": (sl, 0.0), "promise_kept": (0.95, 0.0),
                "ttc_p90": (600.0, 0.0), "backlog_at_closing": (50.0, 0.0)}
    two = UNTUNED[2][1]  # two surges: its service level 3 points below no callback's
    result = {"case/holdfast": measures(0.03, 0.60), "case/none": measures(0.22, 0.55),
              f"{two.name}/holdfast": measures(0.05, 0.50), f"{two.name}/none": measures(0.21, 0.53)}
    done = {k: Outcome(v, [], [50.0] * 8) for k, v in result.items()}
    lines = scenario_verdicts([("case", CASE), ("two surges", two)], result, done)
    assert sum(line.startswith("MET ") for line in lines) == 7
    assert [line for line in lines if line.startswith("NOT MET")] == [
        "NOT MET two surges: service level 50.0% >= no callback's 53.0% - 1 point"]
    assert lines[-1] == ("trade-off, two surges: +16.0 points fewer unrecovered, -3.0 points of service level, "
                         "promise kept 95.0%, p90 time to callback 600 min, 50 callbacks open at closing")
