"""Replaying a log through Holdfast's own code (replay/sim.py over bench/daysim.py): the log's arrivals,
its callers calling again as they did, its staffing, its callers' patience; the expected outcomes worked
out by hand from the log's timeline and the simulator's stated agent times (3 s to pick up, the talk, a
30 s wrap-up)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bench.replay import Model, generate
from replay.analysis import profile
from replay.load import load
from replay.run import TOLERANCES, Options, replay
from replay.sim import Setup, base_queue, run_segment, segments
from replay.analysis import queue_settings

T0 = 1767621600  # Monday 2026-01-05 09:00 in New York
MONDAY = date(2026, 1, 5)
X, Y, W = "+14155550101", "+14155550102", "+14155550109"
LOG = f"""\
{T0}|NONE|support|SIP/A|ADDMEMBER|
{T0 + 10}|c1|support|NONE|ENTERQUEUE||+14155550100|1
{T0 + 10}|c1|support|SIP/A|CONNECT|0|x|1
{T0 + 110}|c1|support|SIP/A|COMPLETECALLER|0|100|1
{T0 + 50}|c2|support|NONE|ENTERQUEUE||{X}|1
{T0 + 110}|c2|support|NONE|ABANDON|1|1|60
{T0 + 200}|c3|support|NONE|ENTERQUEUE||+14155550103|1
{T0 + 205}|c3|support|SIP/A|CONNECT|5|x|1
{T0 + 255}|c3|support|SIP/A|COMPLETECALLER|5|50|1
{T0 + 250}|c4|support|NONE|ENTERQUEUE||{Y}|1
{T0 + 260}|c4|support|NONE|ABANDON|1|1|10
{T0 + 300}|c5|support|NONE|ENTERQUEUE||{Y}|1
{T0 + 300}|c5|support|SIP/A|CONNECT|0|x|1
{T0 + 400}|c5|support|SIP/A|COMPLETECALLER|0|100|1
{T0 + 1000}|c6|support|NONE|ENTERQUEUE||{X}|1
{T0 + 1000}|c6|support|SIP/A|CONNECT|0|x|1
{T0 + 1100}|c6|support|SIP/A|COMPLETECALLER|0|100|1
{T0 + 2000}|c7|support|NONE|ENTERQUEUE||{W}|1
{T0 + 2030}|c7|support|NONE|ABANDON|1|1|30
{T0 + 2300}|c8|support|NONE|ENTERQUEUE||{W}|1
{T0 + 2300}|c8|support|SIP/A|CONNECT|0|x|1
{T0 + 2400}|c8|support|SIP/A|COMPLETECALLER|0|100|1
"""


@pytest.fixture
def small(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "queue_log"
    path.write_text(LOG, encoding="utf-8")
    log = load(path, "queue_log", tz="America/New_York")
    prof = profile(log)
    base, holdfast = base_queue(queue_settings(prof), None)
    yield Setup(log, prof, base, holdfast)
    log.close()


def test_no_callback_replays_the_timeline(small: Setup) -> None:
    (segment,) = segments(MONDAY, MONDAY, 14, 1, 2)
    results, skipped = run_segment(small, "none", 1, segment)
    ((day, m),) = results
    assert day == MONDAY
    # c1 put through at once (one agent, idle): busy 3 + 100 + 30 s, to 09:02:23. c2 (patience 60 s, the
    # log's) hangs up at 09:01:50. c3 at 09:03:20 finds the agent free: busy to 09:04:43. c4 (patience
    # 10 s) hangs up at 09:04:20; Y calls again at 09:05 (the log's c5): put through. c6 is X calling
    # again: put through. W's first call (c7) finds the agent free and is put through, so W's second
    # call (c8), which the log has because c7 hung up, is never made.
    assert skipped == 1
    assert m["offered"] == 7
    assert m["answered_live"] == pytest.approx(5 / 7) and m["service_level"] == pytest.approx(5 / 7)
    assert m["abandoned_long"] == pytest.approx(2 / 7) and m["abandoned_short"] == 0
    assert m["recovered_call_again"] == pytest.approx(2 / 7) and m["unrecovered"] == 0
    assert m["asa"] == 0


def test_every_policy_meets_the_same_callers_and_only_holdfast_books_callbacks(small: Setup) -> None:
    (segment,) = segments(MONDAY, MONDAY, 14, 1, 2)
    from replay.sim import ReplaySim

    sims = {p: ReplaySim(small, p, 3, segment).run() for p in ("none", "unitalk", "holdfast")}
    first = {(r.start, r.caller.patience, r.caller.talk) for r in sims["none"].records if not r.repeat}
    for policy, sim in sims.items():
        assert {(r.start, r.caller.patience, r.caller.talk) for r in sim.records if not r.repeat} == first, policy
    assert not sims["none"].w.orchestrator.executions and not sims["unitalk"].w.orchestrator.executions


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("synthetic") / "queue_log"
    generate(path, 900, seed=5, model=Model(calls_per_day=300.0))  # three days
    log = load(path, "queue_log", tz="America/New_York")
    yield log, profile(log)
    log.close()


def test_segments_count_each_day_once_and_agree_with_one_run(synthetic) -> None:  # type: ignore[no-untyped-def]
    log, prof = synthetic
    base, holdfast = base_queue(queue_settings(prof), None)
    setup = Setup(log, prof, base, holdfast)
    # a day's recoveries count up to its segment's cool-down's end: two days on, past the log's end either way
    whole = dict(run_segment(setup, "none", 1, segments(log.first_day, log.last_day, 14, 1, 2)[0])[0])
    split: dict = {}
    for segment in segments(log.first_day, log.last_day, 1, 1, 2):
        for day, m in run_segment(setup, "none", 1, segment)[0]:
            assert day not in split
            split[day] = m
    assert sorted(split) == sorted(whole) == [d for d, _ in log.days]
    for day in whole:  # nights empty the line: with no callback, a day's calls do not depend on the segment
        assert {k: v for k, v in split[day].items() if k != "_ttc"} == pytest.approx(
            {k: v for k, v in whole[day].items() if k != "_ttc"}, nan_ok=True), day


def test_no_callback_replay_matches_the_log_within_tolerance(synthetic) -> None:  # type: ignore[no-untyped-def]
    log, prof = synthetic
    result = replay(log, prof, Options(policies=("none", "holdfast"), reps=2, workers=1), progress=False)
    assert [v[0] for v in result.validation] == list(TOLERANCES)
    failed = [(tol.label, mean, ref) for tol, mean, _, ref, ok in result.validation if not ok]
    assert not failed
    hf, none = result.overall["holdfast"], result.overall["none"]
    assert hf["offered"][0] > 0 and hf["chose_callback"][0] > 0  # Holdfast offered and booked callbacks
    assert hf["unrecovered"][0] < none["unrecovered"][0]
    assert set(result.per_day["none"]) == {d for d, _ in log.days}
