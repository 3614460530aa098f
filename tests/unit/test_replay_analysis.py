"""What a log says (replay/analysis.py), on a log written here; every expected value read off its timeline
by hand."""
from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from chalicelib.domain import staffing
from chalicelib.domain.estimator import WaitEstimator
from chalicelib.domain.queues import parse_queue
from replay.analysis import advice, advised_agents, profile, queue_settings, seed_state
from replay.load import load

T0 = 1767621600  # Monday 2026-01-05 09:00 in New York
MONDAY = date(2026, 1, 5)
LOG = f"""\
{T0}|NONE|support|SIP/A|ADDMEMBER|
{T0}|NONE|support|SIP/B|ADDMEMBER|
{T0 + 10}|c1|support|NONE|ENTERQUEUE||+14155550101|1
{T0 + 20}|c1|support|SIP/A|CONNECT|10|x|1
{T0 + 320}|c1|support|SIP/A|COMPLETECALLER|10|300|1
{T0 + 600}|c2|support|NONE|ENTERQUEUE||+14155550102|1
{T0 + 640}|c2|support|NONE|ABANDON|1|1|40
{T0 + 2400}|c3|support|NONE|ENTERQUEUE||+14155550102|1
{T0 + 2420}|c3|support|SIP/B|CONNECT|20|x|1
{T0 + 2620}|c3|support|SIP/B|COMPLETEAGENT|20|200|1
{T0 + 2700}|c4|support|NONE|ENTERQUEUE||+14155550104|1
{T0 + 3000}|c4|support|NONE|EXITWITHTIMEOUT|1|1|300
{T0 + 3600}|NONE|support|SIP/A|REMOVEMEMBER|
"""


@pytest.fixture
def prof(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "queue_log"
    path.write_text(LOG, encoding="utf-8")
    log = load(path, "queue_log", tz="America/New_York")
    yield log, profile(log)
    log.close()


def test_arrivals_per_half_hour_of_the_week(prof) -> None:  # type: ignore[no-untyped-def]
    _, p = prof
    assert p.arrivals_week[18] == 2 and p.arrivals_week[19] == 2  # Monday 09:00 and 09:30
    assert sum(p.arrivals_week) == 4


def test_patience_is_censored_by_service_as_the_estimator_learns_it(prof) -> None:  # type: ignore[no-untyped-def]
    _, p = prof
    # waits 10 (answered), 40 (abandoned), 20 (answered), 300 (timed out): 370 s of waiting, one abandonment
    assert p.patience.rate == pytest.approx(1 / 370)
    assert p.patience_mean == pytest.approx(370)
    edges = list(p.patience.edges)
    assert p.patience.exposure[edges.index(0.0)] == 20  # 5 s from each of the four
    assert p.patience.exposure[edges.index(10.0)] == 30  # c2, c3 and c4 each waited through 10-20 s
    assert p.patience.exposure[edges.index(30.0)] == 25  # c2 10 s, c4 15 s
    assert p.patience.abandons[edges.index(30.0)] == 1 and sum(p.patience.abandons) == 1
    assert p.patience.survival(0) == 1.0 and 0 < p.patience.survival(600) < p.patience.survival(60) < 1


def test_a_censored_patience_is_drawn_beyond_the_wait(prof) -> None:  # type: ignore[no-untyped-def]
    _, p = prof
    draws = [p.patience.draw_beyond(100.0, u / 100) for u in range(1, 100)]
    assert min(draws) > 100.0
    # the median of the draws beyond 100 s is where survival halves from S(100)
    median = sorted(draws)[49]
    assert p.patience.survival(median) == pytest.approx(p.patience.survival(100) / 2, rel=0.02)


def test_talk_waits_and_what_the_day_says(prof) -> None:  # type: ignore[no-untyped-def]
    _, p = prof
    assert p.talk_mean == 250 and sorted(p.waits_answered.values) == [10, 20]
    day = p.days[MONDAY].measures()
    assert day["offered"] == 4 and day["answered_live"] == 0.5
    assert day["service_level"] == 0.5  # c1 at 10 s and c3 at 20 s, both within 20 s
    assert day["asa"] == 15 and day["abandoned_long"] == 0.25 and day["abandoned_short"] == 0
    assert day["recovered_call_again"] == 0.25  # Y hung up at 09:10:40 and was answered at 09:40
    assert day["unrecovered"] == 0.25  # Z, timed out, never back
    assert p.redial_share == 0.5 and p.redial_delays.values == [2400 - 640]


def test_staffing_over_time(prof) -> None:  # type: ignore[no-untyped-def]
    _, p = prof
    truth = p.days[MONDAY]
    assert truth.staffed_seconds == 3600 + 15 * 3600  # A 09:00-10:00, B 09:00 to midnight
    assert truth.staffed[18] == 2 * 1800 and truth.staffed[20] == 1800 and truth.staffed[17] == 0
    assert p.staffed_week[18] == 2 and p.staffed_week[47] == 1
    assert truth.measures()["occupancy"] == pytest.approx((300 + 30 + 200 + 30) / (16 * 3600))  # wrap-up 30 s


def test_the_queue_the_log_suggests(prof) -> None:  # type: ignore[no-untyped-def]
    _, p = prof
    settings = queue_settings(p)
    assert settings["hours"] == {"timezone": "America/New_York", "mon": ["09:00-00:00"]}
    assert settings["roster"]["mon"] == {"00:00": 0, "09:00": 2, "10:00": 1}
    assert settings["roster"]["tue"] == {"00:00": 0}
    assert settings["average_handle_seconds"] == 280 and settings["average_patience_seconds"] == 370
    queue = parse_queue({"id": "q", **settings})  # the product reads it as it is
    assert queue.roster is not None and queue.hours.is_open(__import__("datetime").datetime.fromtimestamp(T0 + 60).astimezone())


def test_the_estimator_seeded_from_the_log(prof) -> None:  # type: ignore[no-untyped-def]
    log, p = prof
    queue = parse_queue({"id": "q", "average_handle_seconds": 600, "average_patience_seconds": 900})
    state = seed_state(log, queue, T0 + 7200)
    est = WaitEstimator.from_state(state)
    prior = WaitEstimator.from_state(seed_state(log, queue, T0))  # nothing before the log: the prior alone
    assert prior.talk_long.mean == pytest.approx(600)
    assert 250 < est.talk_long.mean < 600  # two calls of 300 and 200 s pull it down from the prior
    # one abandonment in 370 s of waiting raises the rate from the prior's 1/900 s
    assert est.theta > prior.theta and est.staffed == 1  # one agent signed in at the end


def test_erlang_a_advice_matches_the_products_search() -> None:
    for arrivals in (1, 4, 9, 20):
        assert advised_agents(arrivals, 330.0, 160.0) == staffing.agents_needed(
            arrivals / 1800, 330.0, 160.0, 20, 0.8, 0.05)[1]
    assert advised_agents(0, 330.0, 160.0) == 0 and advised_agents(3, 330.0, math.inf) >= 1


def test_advice_per_day_and_per_half_hour(prof) -> None:  # type: ignore[no-untyped-def]
    _, p = prof
    per_day, week = advice(p)
    handle = p.talk_mean + p.wrap
    expected = advised_agents(2, handle, p.patience_mean)
    assert week[18] == week[19] == expected and week[20] == 0
    assert per_day[MONDAY]["advised_agent_hours"] == expected  # two half hours of `expected` agents
    assert per_day[MONDAY]["staffed_agent_hours"] == 16
