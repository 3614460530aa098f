import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import learning
from chalicelib.domain.estimator import BusyAgent, QueueEvent, QueueEventKind as K, WaitEstimator, band_of
from chalicelib.domain.queues import parse_queue
from chalicelib.adapters.memory import memory_stores


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
    # talk times with cv 1 and nothing known about the calls in progress: departures at rate s/m
    est = WaitEstimator(prior_service_seconds=300, prior_patience_seconds=1e12,
                        prior_weight=1e6)
    assert est.estimate(0, position=3, idle=3).mean == 0
    assert est.estimate(0, position=10, servers=2).mean == pytest.approx(10 * 150, rel=0.05)
    est.observe(QueueEvent(K.STAFFING, 1, 5))
    assert est.estimate(1, position=10).mean == pytest.approx(10 * 60, rel=0.05)


def test_state_round_trips() -> None:
    est = WaitEstimator()
    est.observe(QueueEvent(K.SERVICE_END, 5, 200))
    est.observe(QueueEvent(K.ABANDON, 6, 30))
    again = WaitEstimator.from_state(est.state())
    assert again.state() == est.state()
    # (the learned talk-time histogram is kept to 6 significant digits)
    assert again.estimate(7, 4).mean == pytest.approx(est.estimate(7, 4).mean, rel=1e-6)


def test_production_learning_goes_through_the_store() -> None:
    stores, queue = memory_stores(), parse_queue({"id": "q", "average_handle_seconds": 300})
    assert 1 / learning.current(stores.stats, queue).mu == pytest.approx(300)
    now = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)
    for i in range(2000):  # the configured 300 s counts as 20 calls: 2000 real ones outweigh it
        learning.learn(stores.stats, queue, K.SERVICE_END, now + timedelta(seconds=i), 120)
    assert 1 / learning.current(stores.stats, queue).mu == pytest.approx(120, rel=0.02)


def test_production_scores_what_the_caller_was_told() -> None:
    from chalicelib.domain.model import Ticket, TicketKind, TicketStatus

    t = Ticket("q", 1, TicketKind.LIVE, TicketStatus.WAITING, datetime(2026, 11, 23, 18, tzinfo=timezone.utc),
               told_shape=4, told_scale=30)
    assert learning.told_pit(t, 120) == pytest.approx(0.5665, abs=1e-3)  # the median of Gamma(4, 30) is ~110 s
    assert learning.told_pit(t.evolve(told_shape=0.0), 120) is None


# --- calibration: Kaplan-Meier, per position band, shrunk and clamped (issue 9 item 20) ---------------

def test_calibration_is_nominal_when_ranges_are_honest_and_corrects_them_when_not() -> None:
    from chalicelib.domain.estimator import Calibration

    assert Calibration().raw_levels(0.8) == (None, None)
    rng = random.Random(2)
    cal = Calibration()
    for _ in range(5000):
        cal.add(rng.random(), observed=True)
    lo, hi = cal.raw_levels(0.8)
    assert lo == pytest.approx(0.1, abs=0.02) and hi == pytest.approx(0.9, abs=0.02)
    narrow = Calibration()  # outcomes bunch in the middle: the model's ranges are too wide
    for _ in range(5000):
        narrow.add(0.25 + 0.5 * rng.random(), observed=True)
    lo, hi = narrow.raw_levels(0.8)
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
    assert cal.raw_levels(0.8)[1] == pytest.approx(0.9, abs=0.03)  # Kaplan-Meier recovers the truth
    assert naive.raw_levels(0.8)[1] < 0.8  # served callers alone would shrink every range


def test_mostly_abandonments_never_push_the_upper_level_to_one() -> None:
    """Issue 9 item 20: with most outcomes censored the Kaplan-Meier CDF never reaches 0.9 and the
    upper level used to become 1 - 1e-6 ("between 1 and 15 minutes")."""
    rng = random.Random(6)
    est = WaitEstimator()
    for i in range(3000):
        pit = rng.random()
        est.observe(QueueEvent(K.ABANDON if pit > 0.3 else K.SERVICE_START, float(i), 10, pit=pit * 0.6, ahead=3))
    lo, hi = est.levels(0.8, ahead=3)
    assert hi <= 1 - 0.1 / 3 + 1e-9  # clamped: at most three times narrower a tail than nominal
    assert hi == pytest.approx(0.9, abs=0.02)  # unresolved by the outcomes: the nominal level
    for coverage in (0.8, 0.9):
        tail = (1 - coverage) / 2
        lo, hi = est.levels(coverage, ahead=3)
        assert tail / 3 - 1e-9 <= lo <= 3 * tail + 1e-9 and 1 - 3 * tail - 1e-9 <= hi <= 1 - tail / 3 + 1e-9


def test_a_small_queue_gets_part_of_the_correction_and_a_large_one_all_of_it() -> None:
    """Issue 9 item 20: calibration used to be off below 200 weighted outcomes (small queues)."""
    rng = random.Random(8)

    def levels_after(outcomes: int) -> tuple[float, float]:
        est = WaitEstimator(half_life_seconds=1e12)
        for i in range(outcomes):  # ranges too wide: outcomes fall in the middle half
            est.observe(QueueEvent(K.SERVICE_START, float(i), 10, pit=0.25 + 0.5 * rng.random(), ahead=2))
        return est.levels(0.8, ahead=2)

    small, large = levels_after(40), levels_after(20000)
    assert 0.1 < small[0] < large[0] and large[1] < small[1] < 0.9  # part of the way from nominal
    assert large[0] == pytest.approx(0.3, abs=0.03) and large[1] == pytest.approx(0.7, abs=0.03)
    assert WaitEstimator().levels(0.8, ahead=2) == pytest.approx((0.1, 0.9))  # nothing seen: nominal


def test_each_position_band_is_calibrated_on_its_own() -> None:
    rng = random.Random(10)
    est = WaitEstimator(half_life_seconds=1e12)
    for i in range(20000):
        est.observe(QueueEvent(K.SERVICE_START, float(i), 10, pit=rng.random() ** 0.7, ahead=0))  # too short
        est.observe(QueueEvent(K.SERVICE_START, float(i), 10, pit=rng.random(), ahead=30))  # honest
    lo0, hi0 = est.levels(0.8, ahead=0)
    lo30, hi30 = est.levels(0.8, ahead=30)
    assert lo0 == pytest.approx(0.1 ** 0.7, abs=0.03) and hi0 == pytest.approx(0.9 ** 0.7, abs=0.02)
    assert lo30 == pytest.approx(0.1, abs=0.03) and hi30 == pytest.approx(0.9, abs=0.03)
    assert band_of(0) != band_of(4) != band_of(19) != band_of(20) and band_of(1) == band_of(4)


def test_a_band_is_not_pulled_toward_another_bands_error() -> None:
    """Issue 14: each band used to be shrunk toward the pooled calibration, which is mostly the largest
    band's: ranges too wide far down the line narrowed the next caller's ranges too (surge: 76% for 80%)."""
    rng = random.Random(12)
    est = WaitEstimator(half_life_seconds=1e12)
    for i in range(20000):  # 20+ ahead: ranges too wide, outcomes fall in the middle half
        est.observe(QueueEvent(K.SERVICE_START, float(i), 10, pit=0.25 + 0.5 * rng.random(), ahead=30))
    assert est.levels(0.8, ahead=30) == pytest.approx((0.3, 0.7), abs=0.03)
    # nothing seen next in line: the nominal levels, not the 20+ band's correction
    assert est.levels(0.8, ahead=0) == pytest.approx((0.1, 0.9))
    for i in range(10):  # a few honest outcomes next in line move it only part of the way, from nominal
        est.observe(QueueEvent(K.SERVICE_START, 20000.0 + i, 10, pit=(i + 0.5) / 10, ahead=0))
    lo0, hi0 = est.levels(0.8, ahead=0)
    assert lo0 == pytest.approx(0.1, abs=0.02) and hi0 == pytest.approx(0.9, abs=0.02)


# --- talk times: residuals from elapsed times, sign-offs, sign-ins, changes -----------------------------

def regular(mean: float = 540.0, cv: float = 0.1, calls: int = 4000) -> WaitEstimator:
    rng = random.Random(1)
    sigma = math.sqrt(math.log(1 + cv * cv))
    est = WaitEstimator(prior_service_seconds=mean, prior_patience_seconds=1e12, prior_weight=5,
                        half_life_seconds=1e12)
    for i in range(calls):
        est.observe(QueueEvent(K.SERVICE_END, float(i), rng.lognormvariate(math.log(mean) - sigma ** 2 / 2, sigma)))
    # these calls ended one a second, on agents other than those the tests put on calls: not the
    # recent calls of the same agents (whose shift `recent_shift` estimates)
    est.recent_w = est.recent_l = est.recent_w2 = 0.0
    return est


def simulated_wait(elapsed: list[float], ahead: int, mean: float, cv: float, runs: int = 4000) -> float:
    """Monte Carlo: the (ahead+1)-th departure among agents whose calls have lasted `elapsed`."""
    rng = random.Random(3)
    sigma = math.sqrt(math.log(1 + cv * cv))
    mu = math.log(mean) - sigma ** 2 / 2
    total = 0.0
    for _ in range(runs):
        ends = []
        for e in elapsed:
            x = rng.lognormvariate(mu, sigma)
            while x <= e:
                x = rng.lognormvariate(mu, sigma)
            t = x - e
            for _ in range(ahead // len(elapsed) + 3):
                ends.append(t)
                t += rng.lognormvariate(mu, sigma)
        total += sorted(ends)[ahead]
    return total / runs


def test_long_regular_calls_use_how_long_each_call_has_lasted() -> None:
    est = regular()
    near_end = est.estimate(0, 1, servers=1, busy=[BusyAgent(500.0)]).mean
    just_began = est.estimate(0, 1, servers=1, busy=[BusyAgent(20.0)]).mean
    assert near_end == pytest.approx(simulated_wait([500.0], 0, 540, 0.1), rel=0.05)
    assert just_began == pytest.approx(simulated_wait([20.0], 0, 540, 0.1), rel=0.05)
    elapsed = [30.0, 120.0, 250.0, 400.0, 520.0]
    for ahead in (0, 3, 12):
        got = est.estimate(0, ahead + 1, servers=5, busy=[BusyAgent(e) for e in elapsed]).mean
        assert got == pytest.approx(simulated_wait(elapsed, ahead, 540, 0.1), rel=0.06), ahead


def test_heavy_tailed_calls_are_not_taken_as_regular_or_memoryless() -> None:
    est = regular(mean=300, cv=2.0, calls=20000)
    assert 2.0 < est.talk_time().c2 < 5.0  # cv 2 (the moment estimate of a lognormal's spread runs low)
    elapsed = [5.0, 40.0, 90.0, 200.0, 600.0, 1500.0]
    for ahead in (0, 6, 20):
        got = est.estimate(0, ahead + 1, servers=6, busy=[BusyAgent(e) for e in elapsed]).mean
        assert got == pytest.approx(simulated_wait(elapsed, ahead, 300, 2.0), rel=0.2), ahead


def test_announced_sign_offs_and_sign_ins_move_the_estimate() -> None:
    est = regular()
    busy = [BusyAgent(100.0 * k) for k in range(5)]
    staying = est.estimate(0, 12, servers=5, busy=busy).mean
    leaving = est.estimate(0, 12, servers=5, busy=[BusyAgent(a.elapsed, 60.0) if k < 3 else a
                                                   for k, a in enumerate(busy)]).mean
    arriving = est.estimate(0, 12, servers=5, busy=busy, joining=[60.0, 60.0, 60.0]).mean
    assert leaving > staying * 1.5
    assert arriving < staying * 0.8


def test_a_change_in_talk_times_is_followed_within_tens_of_calls_and_a_steady_queue_keeps_its_memory() -> None:
    rng = random.Random(5)
    sigma = math.sqrt(math.log(2.0))  # lognormal, cv 1
    est = WaitEstimator(prior_service_seconds=300, prior_weight=5)
    t = 0.0
    for mean, calls in ((300, 6000), (450, 200)):  # a call ends every 6 s (a 50-agent queue)
        for _ in range(calls):
            t += 6
            est.observe(QueueEvent(K.SERVICE_END, t, rng.lognormvariate(math.log(mean) - sigma ** 2 / 2, sigma)))
        if mean == 300:
            assert est.changes == 0  # no false alarm in 6,000 steady calls (10 hours)
            assert 1 / est.mu == pytest.approx(300, rel=0.1)
    assert est.changes >= 1  # (once the first alarm adopts a window still holding old calls, more may follow)
    assert 1 / est.mu == pytest.approx(450, rel=0.15)  # within 20 minutes; the 4 h window alone: ~330 s


def test_the_line_state_sums_agree_with_their_closed_form() -> None:
    from chalicelib.domain.estimator.linewait import _stages

    for theta in (0.0, 0.005, 0.05):  # abandonment per departure: theta / (agents / talk time)
        n, th = 2000, theta
        loop = (sum(1 / (1 + k * th) for k in range(n + 1)), sum(1 / (1 + k * th) ** 2 for k in range(n + 1)),
                sum(k * th / (1 + k * th) ** 2 for k in range(n + 1)), sum(k * th / (1 + k * th) ** 3 for k in range(n + 1)))
        fast = _stages(n, th)
        for got, want in zip(fast, loop):
            assert got == pytest.approx(want, rel=5e-3, abs=1e-9)


def test_old_states_still_load() -> None:
    old = {"service_sum": 3000.0, "service_n": 10.0, "exposure": 6000.0, "abandons": 10.0, "staffed": 3,
           "updated_at": 5.0, "decay_rate": math.log(2) / 14400, "cal_events": [0.0] * 40, "cal_censored": [0.0] * 40}
    est = WaitEstimator.from_state(old)
    assert 1 / est.mu == pytest.approx(300) and est.staffed == 3
    assert WaitEstimator.from_state(est.state()).state() == est.state()


# --- production: the estimate sees the busy agents' elapsed talk times ----------------------------------

def test_the_call_flow_estimate_uses_how_long_the_busy_agents_have_been_talking() -> None:
    from chalicelib.domain.callflow import CallFlow
    from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
    from chalicelib.domain.queues import QueueDirectory
    from chalicelib.adapters.memory import FakeBus, FixedClock
    from tests.fakes import FakeOrchestrator

    now = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)
    config = {"default": "q", "queues": [{"id": "q", "average_handle_seconds": 540}]}
    stores = memory_stores()
    queue = QueueDirectory.from_config(config).get("q")
    state = regular().state()
    state["updated_at"] = now.timestamp()
    stores.table.stats["q"] = state
    flow = CallFlow(stores, FakeOrchestrator(), FixedClock(now), QueueDirectory.from_config(config), FakeBus())
    ticket = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, now, call_id="CA1"))

    calls = iter(range(10, 20))

    def wait_with_call_begun(seconds_ago: float) -> float:
        """Ann is put on another caller's call (by Holdfast) `seconds_ago`."""
        begun = now - timedelta(seconds=seconds_ago)
        current = stores.agents.get_agent("ann").ticket_id if "ann" in stores.table.agents else None
        if current:
            stores.agents.release_agent("ann", current, AgentStatus.AVAILABLE, begun - timedelta(seconds=1))
        else:
            stores.agents.record_agent_status("ann", AgentStatus.AVAILABLE, begun - timedelta(seconds=1), "client:ann",
                                      ("q",), None)
        other = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, begun,
                                         call_id=f"CA{next(calls)}"))
        assert stores.agents.claim(other.id, "ann", begun)
        return flow.estimate(queue, ticket)[0].mean

    assert learning.busy_agents(stores.agents, queue, now) == []
    assert wait_with_call_begun(500) < 80 < 400 < wait_with_call_begun(30)
    assert learning.busy_agents(stores.agents, queue, now)[0].elapsed == pytest.approx(30)
    # an agent who says they are busy is on no call of ours: how long is unknown, not a talk time
    stores.agents.record_agent_status("bob", AgentStatus.BUSY, now - timedelta(hours=8), "client:bob", ("q",), None)
    elapsed = sorted(learning.busy_agents(stores.agents, queue, now), key=lambda a: a.elapsed is None)
    assert elapsed[0].elapsed == pytest.approx(30) and elapsed[1].elapsed is None


@pytest.mark.parametrize("kind", ["fake", "dynamo"])
def test_busy_agents_say_when_they_went_busy(kind: str, request: pytest.FixtureRequest) -> None:
    from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus

    if kind == "fake":
        stores = memory_stores()
    else:
        from chalicelib.adapters.dynamo import dynamo_stores

        stores = dynamo_stores(request.getfixturevalue("aws").table_name, "us-east-1")
    at = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)
    stores.agents.record_agent_status("bob", AgentStatus.BUSY, at, "client:bob", ("q",), None)
    stores.agents.record_agent_status("ann", AgentStatus.AVAILABLE, at, "client:ann", ("q",), None)
    assert [(a.id, a.changed_at) for a in stores.agents.busy_agents("q")] == [("bob", at)]
    ticket = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, at, call_id="CA9"))
    claimed_at = at + timedelta(seconds=42)
    assert stores.agents.claim(ticket.id, "ann", claimed_at)
    assert {a.id: (a.changed_at, a.ticket_id) for a in stores.agents.busy_agents("q")} == {
        "bob": (at, None), "ann": (claimed_at, ticket.id)}


def test_callers_ahead_abandon_at_the_rate_of_their_own_waits() -> None:
    """The line's own state: patience learned per waiting time; a long line of long waiters loses
    more (or fewer) of them than the average rate says."""
    est = WaitEstimator(prior_service_seconds=300, prior_patience_seconds=600, prior_weight=5, half_life_seconds=1e12)
    for i in range(3000):  # nobody gives up in the first 8 minutes; then half of those still there do
        est.observe(QueueEvent(K.SERVICE_START, float(i), 100.0))
        est.observe(QueueEvent(K.ABANDON if i % 2 else K.SERVICE_START, float(i), 900.0))
    assert est.theta_until(100) < est.theta < est.theta_until(900)
    fresh_line = est.estimate(0, 30, servers=40, head_wait=20).mean  # nobody ahead near 8 minutes
    old_line = est.estimate(0, 30, servers=40, head_wait=600).mean  # the front of the line is past it
    assert old_line < 0.97 * fresh_line


def test_the_call_flow_estimate_reads_the_head_of_the_line() -> None:
    from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
    from chalicelib.domain.queues import QueueDirectory

    now = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)
    stores = memory_stores()
    queue = QueueDirectory.from_config({"default": "q", "queues": [{"id": "q"}]}).get("q")
    assert learning.head_wait(stores.line, queue, now) is None
    stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, now - timedelta(seconds=75), call_id="A"))
    assert learning.head_wait(stores.line, queue, now) == pytest.approx(75)


def test_the_call_after_the_current_one_rarely_ends_in_its_first_minutes() -> None:
    """Lognormal talk times (cv 1): a fresh call seldom ends early, so departures after each agent's
    current call come slower than the long-run rate for a talk time or two (the count was ~10% high)."""
    est = regular(mean=450, cv=1.0, calls=20000)
    elapsed = [20.0, 60.0, 110.0, 170.0, 240.0, 330.0, 450.0, 600.0, 800.0, 1100.0]
    for ahead in (10, 25):
        got = est.estimate(0, ahead + 1, servers=10, busy=[BusyAgent(e) for e in elapsed]).mean
        assert got == pytest.approx(simulated_wait(elapsed, ahead, 450, 1.0, runs=3000), rel=0.05), ahead


def renewals(agents: int, mean: float, cv: float, change_at: float, new_mean: float, until: float,
             seed: int = 5, memoryless: bool = False) -> tuple[WaitEstimator, list[BusyAgent]]:
    """`agents` agents on back-to-back lognormal calls; calls begun from `change_at` on last `new_mean`
    on average. The estimator hears every end; returns it and the calls in progress at `until`."""
    rng = random.Random(seed)
    sigma = math.sqrt(math.log(1 + cv * cv))

    def draw(start: float) -> float:
        m = new_mean if start >= change_at else mean
        return rng.expovariate(1.0 / m) if memoryless else rng.lognormvariate(math.log(m) - sigma ** 2 / 2, sigma)

    est = WaitEstimator(prior_service_seconds=mean, prior_patience_seconds=600, prior_weight=5)
    starts = [-rng.uniform(0, mean) for _ in range(agents)]
    ends = [(s + draw(s), i) for i, s in enumerate(starts)]
    while True:
        ends.sort()
        end, i = ends[0]
        if end > until:
            break
        est.observe(QueueEvent(K.SERVICE_END, end, end - starts[i]))
        starts[i] = end
        ends[0] = (end + draw(end), i)
    return est, [BusyAgent(until - s) for s in starts]


def test_calls_in_progress_show_longer_talk_times_before_any_of_them_ends() -> None:
    # talk times go from 300 to 450 s at 6 h; 10 minutes later few of the new calls have ended
    now = 6 * 3600 + 600
    changed, busy = renewals(50, 300, 1.0, change_at=6 * 3600, new_mean=450, until=now, seed=0)
    assert changed.talk_long.mean < 310  # the finished calls have not moved the learned talk time
    shift, se = changed.recent_shift(now, busy)
    assert shift > 2.5 * se and 0.15 < shift < 0.6  # ln(450 / 300) = 0.41
    finished_only, _ = changed.recent_shift(now, [])
    assert finished_only < 0  # the new calls that ended so far are the short ones
    # what the next callers hear: longer than the long window alone says
    steady, same_busy = renewals(50, 300, 1.0, change_at=math.inf, new_mean=300, until=now, seed=0)
    assert changed.estimate(now, 31, servers=50, busy=busy).mean > 1.1 * steady.estimate(
        now, 31, servers=50, busy=same_busy).mean


def test_a_steady_queue_reads_no_shift_into_its_calls_in_progress() -> None:
    for seed in range(4):
        steady, busy = renewals(50, 300, 1.0, change_at=math.inf, new_mean=300, until=6 * 3600, seed=seed)
        shift, se = steady.recent_shift(6 * 3600, busy)
        assert abs(shift) < 2.5 * se, seed


def test_memoryless_talk_times_read_no_shift_into_calls_in_progress() -> None:
    """Exponential talk times fit no lognormal: neither elapsed times nor the shift measured against
    one count, and the estimate is the one that knows no elapsed times."""
    now = 6 * 3600 + 600
    est, busy = renewals(50, 300, 1.0, change_at=6 * 3600, new_mean=450, until=now, seed=0, memoryless=True)
    assert est.estimate(now, 31, servers=50, busy=busy).mean == pytest.approx(
        est.estimate(now, 31, servers=50, busy=[BusyAgent(None)] * 50).mean)


def test_a_long_wait_few_callers_reach_keeps_the_hazard_learned_just_before_it() -> None:
    """Patience whose hazard rises with the wait: callers rarely wait past 8 minutes, so the bin
    beyond holds little exposure; it carries the 4-8 minute rate on rather than falling back to the
    (lower) overall rate, which made a long line's abandonments too few."""
    est = WaitEstimator(prior_service_seconds=300, prior_patience_seconds=600, prior_weight=5, half_life_seconds=1e12)
    for i in range(2000):  # nobody gives up in the first 4 minutes, then 1 in 4 before 8
        est.observe(QueueEvent(K.ABANDON if i % 4 == 0 else K.SERVICE_START, float(i), 470.0))
    est.observe(QueueEvent(K.SERVICE_START, 2001.0, 500.0))  # one caller waited past 8 minutes
    late = est.theta_until(960.0) * 960.0 - est.theta_until(480.0) * 480.0  # cumulative hazard 8-16 min
    assert late / 480.0 == pytest.approx(est.theta_until(480.0) * 480.0 / 240.0, rel=0.2)
    assert late / 480.0 > 1.5 * est.theta
