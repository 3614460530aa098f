"""Staffing math against published Erlang C values and exact identities of Erlang A."""
from __future__ import annotations

import math

import pytest

from chalicelib.domain.staffing import ErlangA, agents_needed, erlang_c, erlang_c_asa, erlang_c_service_level

# Call Centre Helper's worked Erlang C example ("Erlang C formula - made simple"): 100 calls in
# 30 minutes, 180 s handle time (A = 10 erlangs), 20 s target. Published: with 11 agents the
# probability of waiting is 68.21%, service level 39.0% and ASA 122.8 s; 14 agents reach 88.8%.
PER_S = 100 / 1800


@pytest.mark.parametrize("agents, p_wait, service_level, asa", [
    (11, 0.6821, 0.3896, 122.8), (12, 0.4494, 0.6402, 40.4), (13, 0.2853, 0.7956, 17.1),
    (14, 0.1741, 0.8884, 7.8)])
def test_erlang_c_matches_the_published_table(agents: int, p_wait: float, service_level: float, asa: float) -> None:
    assert erlang_c(agents, 10.0) == pytest.approx(p_wait, abs=5e-5)
    assert erlang_c_service_level(agents, PER_S, 180, 20) == pytest.approx(service_level, abs=5e-4)
    assert erlang_c_asa(agents, PER_S, 180) == pytest.approx(asa, abs=0.05)


def test_erlang_c_exact_small_cases_and_limits() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # (1/2 * 2) / (1 + 1 + 1)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(5, 5.0) == 1.0 and erlang_c(5, 0.0) == 0.0
    assert erlang_c(400, 380.0) < 1  # large centres stay finite (no factorials)


def test_erlang_a_without_abandonment_is_erlang_c() -> None:
    m = ErlangA(13, PER_S, 180, 1e9).measures(20)
    assert m["p_wait"] == pytest.approx(erlang_c(13, 10.0), abs=1e-4)
    assert m["service_level"] == pytest.approx(erlang_c_service_level(13, PER_S, 180, 20), abs=1e-3)
    assert m["p_abandon"] < 1e-5


def test_erlang_a_abandonment_obeys_littles_law() -> None:
    """P(abandon) = theta * E[queue length] / lambda, computed independently from the states."""
    model = ErlangA(11, PER_S, 180, 120)
    below, queue = model._states()
    total = sum(below) + sum(queue)
    mean_queue = sum(j * w for j, w in enumerate(queue)) / total
    assert model.measures(20)["p_abandon"] == pytest.approx(mean_queue / 120 / PER_S, rel=1e-9)


def test_erlang_a_mm1_plus_m_matches_its_closed_form_wait_probability() -> None:
    """M/M/1+M: P(wait) = 1 - p0, with p0 = 1 / (1 + sum_j prod lambda/(mu + i theta))."""
    lam, mu, theta = 0.5, 1.0, 0.25
    terms, product = [], 1.0
    for j in range(200):
        product *= lam / (mu + j * theta)
        terms.append(product)
    p0 = 1 / (1 + sum(terms))
    assert ErlangA(1, lam, 1 / mu, 1 / theta).measures(1)["p_wait"] == pytest.approx(1 - p0, rel=1e-9)


def test_patience_lowers_the_staff_needed_for_service_but_abandonment_goal_binds() -> None:
    c_agents, a_agents = agents_needed(PER_S, 180, 600, 20, 0.8, 0.05)
    assert c_agents == 14  # the published example: 14 agents for 80/20
    assert a_agents == 13 and a_agents < c_agents
    assert agents_needed(0.0, 180, 600, 20, 0.8, 0.05) == (0, 0)
    assert math.isinf(erlang_c_asa(10, PER_S, 180))


def test_erlang_c_matches_the_westbay_worked_example() -> None:
    """Westbay Engineers' "The Erlang-C formula" walk-through: 360 calls per half hour, 4 minutes
    each (48 erlangs), 55 agents, 15 s target: P(wait) 0.2387, ASA 8.2 s, service level 84.6%."""
    rate = 360 / 1800
    assert erlang_c(55, 48.0) == pytest.approx(0.2387, abs=5e-5)
    assert erlang_c_asa(55, rate, 240) == pytest.approx(8.2, abs=0.05)
    assert erlang_c_service_level(55, rate, 240, 15) == pytest.approx(0.846, abs=5e-4)
