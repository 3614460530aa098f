import math
import random

import pytest

from chalicelib.domain.ewt import gamma_quantile, queue_length_predictor


def test_mean_is_the_sum_of_stage_means() -> None:
    est = queue_length_predictor(ahead=3, servers=2, mu=1 / 300, theta=1 / 600)
    rates = [2 / 300 + k / 600 for k in range(4)]
    assert est.mean == pytest.approx(sum(1 / r for r in rates))
    assert est.low < est.mean < est.high


def test_without_abandonment_the_range_is_erlang_exact() -> None:
    # theta = 0: Erlang(n+1, s*mu); Erlang(10, 2/300) 10% / 90% quantiles
    est = queue_length_predictor(ahead=9, servers=2, mu=1 / 300, theta=0)
    assert est.mean == pytest.approx(1500)
    assert est.low == pytest.approx(gamma_quantile(10, 150, 0.1), rel=1e-4)
    assert est.high == pytest.approx(gamma_quantile(10, 150, 0.9), rel=1e-4)
    assert est.p_served == 1.0


def test_range_covers_eighty_percent_of_simulated_waits() -> None:
    rng = random.Random(7)
    rates = [5 / 300 + k / 600 for k in range(21)]
    est = queue_length_predictor(ahead=20, servers=5, mu=1 / 300, theta=1 / 600)
    waits = [sum(rng.expovariate(r) for r in rates) for _ in range(20000)]
    inside = sum(est.low <= w <= est.high for w in waits) / len(waits)
    assert inside == pytest.approx(0.80, abs=0.02)
    assert sum(waits) / len(waits) == pytest.approx(est.mean, rel=0.02)


def test_probability_served_falls_with_position() -> None:
    near = queue_length_predictor(1, 2, 1 / 300, 1 / 600).p_served
    far = queue_length_predictor(30, 2, 1 / 300, 1 / 600).p_served
    assert 0 < far < near < 1


def test_parameter_uncertainty_widens_the_range_not_the_mean() -> None:
    sure = queue_length_predictor(10, 5, 1 / 300, 1 / 600)
    unsure = queue_length_predictor(10, 5, 1 / 300, 1 / 600, mu_cv=0.3, theta_cv=0.3)
    assert unsure.mean == sure.mean
    assert unsure.low < sure.low and unsure.high > sure.high


def test_gamma_quantile_known_values() -> None:
    # Exponential(1): quantile q is -ln(1-q)
    assert gamma_quantile(1, 1, 0.9) == pytest.approx(-math.log(0.1), rel=1e-5)
    assert gamma_quantile(1, 1, 0.1) == pytest.approx(-math.log(0.9), rel=1e-5)
