"""What a log says, in one pass: arrivals per half hour of the week, the talk-time and patience
distributions, staffing over time, what callers waited, what happened each day (DESIGN.md's measures),
the agents Erlang A would have advised; and from it the estimator's prior and a queue's starting state.

Patience is learned as the estimator learns it (chalicelib/domain/estimator.py): abandonments over
exposure per waiting-time bin, a caller who was answered (or put out, or left for a menu) counting as
exposure up to their wait and no abandonment: censored, not lost. The bins here are finer than the
estimator's (they include every one of its edges), so the replay can draw a censored caller's patience
beyond their wait."""
from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import learning, staffing
from chalicelib.domain.estimator import AGE_EDGES, QueueEvent, QueueEventKind
from chalicelib.domain.hours import DAYS
from chalicelib.domain.queues import QueueConfig
from chalicelib.domain.reports import DEFAULT_TARGET_SECONDS

from .load import DEFAULT_WRAP, ImportedLog
from .records import Call, Outcome, Presence

# The goals staffing is advised for: a new queue's defaults, as the console's staffing page uses them.
SERVICE_GOAL: float = QueueConfig.service_level_goal
ABANDON_GOAL: float = QueueConfig.abandon_goal

HALF_HOURS = 48 * 7
PATIENCE_EDGES = tuple(sorted(set(AGE_EDGES[:-1]) | {5.0, 10.0, 20.0, 45.0, 90.0, 180.0, 360.0, 720.0, 1440.0,
                                                       2880.0, 3600.0}))
RESERVOIR = 20_000  # talk times, waits and redial delays kept (uniform sample) for quantiles and draws
REDIAL_WINDOW = 24 * 3600.0  # a call within this of the same caller's missed call is them calling again
SHORT_ABANDON = 5.0  # DESIGN.md: hang-ups under this are short abandons (the day simulator's queue uses 5)
SEED_HISTORY = timedelta(hours=48)  # log the estimator is seeded with (its half-life is 4 h)


class Reservoir:
    """A uniform sample of at most `size` values (Vitter's algorithm R), seeded: the same log gives the
    same sample."""

    def __init__(self, size: int = RESERVOIR, seed: int = 1) -> None:
        self.size, self.n, self.values = size, 0, []
        self.rng = random.Random(seed)

    def add(self, x: float) -> None:
        self.n += 1
        if len(self.values) < self.size:
            self.values.append(x)
        else:
            k = self.rng.randrange(self.n)
            if k < self.size:
                self.values[k] = x

    def quantile(self, q: float) -> float:
        if not self.values:
            return float("nan")
        xs = sorted(self.values)
        return xs[min(len(xs) - 1, int(q * len(xs)))]


@dataclass
class Patience:
    """Piecewise-constant hazard of giving up, per waiting-time bin (abandonments / exposure)."""

    edges: tuple[float, ...] = PATIENCE_EDGES
    exposure: list[float] = field(default_factory=lambda: [0.0] * len(PATIENCE_EDGES))
    abandons: list[float] = field(default_factory=lambda: [0.0] * len(PATIENCE_EDGES))

    def add(self, wait: float, abandoned: bool) -> None:
        for b, lo in enumerate(self.edges):
            hi = self.edges[b + 1] if b + 1 < len(self.edges) else math.inf
            if wait <= lo:
                break
            self.exposure[b] += min(wait, hi) - lo
            if abandoned and wait <= hi:
                self.abandons[b] += 1.0

    @property
    def rate(self) -> float:
        """Abandonments per second of waiting, overall (the estimator's theta)."""
        exposure = sum(self.exposure)
        return sum(self.abandons) / exposure if exposure > 0 else 0.0

    def hazards(self) -> list[float]:
        """Per bin, shrunk toward the bin before (the first toward the overall rate) by the exposure in
        which the overall rate expects two abandonments, as the estimator's theta_until does: a bin few
        callers reached carries the last well-learned rate on, and the last bin's rate holds beyond it."""
        overall = self.rate
        if overall <= 0:
            return [0.0] * len(self.edges)
        prior = 2.0 / overall
        out, last = [], overall
        for e, a in zip(self.exposure, self.abandons):
            last = (a + prior * last) / (e + prior)
            out.append(last)
        return out

    def survival(self, t: float) -> float:
        """P(patience > t)."""
        h, cumulative = self.hazards(), 0.0
        for b, lo in enumerate(self.edges):
            hi = self.edges[b + 1] if b + 1 < len(self.edges) else math.inf
            if t <= lo:
                break
            cumulative += h[b] * (min(t, hi) - lo)
        return math.exp(-cumulative)

    def mean(self) -> float:
        """Mean patience: the integral of the survival curve."""
        h, total, alive = self.hazards(), 0.0, 1.0
        for b, lo in enumerate(self.edges):
            hi = self.edges[b + 1] if b + 1 < len(self.edges) else math.inf
            if h[b] <= 0:
                if math.isinf(hi):
                    return math.inf
                total += alive * (hi - lo)
                continue
            width = hi - lo
            total += alive * (1 - math.exp(-h[b] * width)) / h[b] if not math.isinf(width) else alive / h[b]
            alive *= math.exp(-h[b] * width) if not math.isinf(width) else 0.0
        return total

    def draw_beyond(self, wait: float, u: float) -> float:
        """A patience drawn given it exceeds `wait` (u uniform in (0, 1)): inverse of the conditional
        cumulative hazard."""
        target = -math.log(max(u, 1e-300))
        h = self.hazards()
        t = wait
        b = max(0, bisect.bisect_right(self.edges, wait) - 1)
        while True:
            hi = self.edges[b + 1] if b + 1 < len(self.edges) else math.inf
            if h[b] > 0:
                need = target / h[b]
                if t + need <= hi:
                    return t + need
                target -= h[b] * (hi - t)
            elif math.isinf(hi):
                return math.inf
            t, b = hi, b + 1


@dataclass
class DayTruth:
    """What the log says happened on one day, counted (DESIGN.md's measures)."""

    offered: int = 0
    answered: int = 0
    within_target: int = 0
    wait_answered: float = 0.0
    abandoned_short: int = 0
    abandoned_long: int = 0
    put_out: int = 0  # timed out, put out with nobody there, left by a key
    chose_callback: int = 0
    recovered_callback: int = 0
    recovered_call_again: int = 0
    busy_seconds: float = 0.0  # agents on calls (talk + wrap-up)
    staffed_seconds: float = 0.0
    arrivals: list[int] = field(default_factory=lambda: [0] * 48)  # per half hour
    staffed: list[float] = field(default_factory=lambda: [0.0] * 48)  # agent-seconds per half hour

    def measures(self) -> dict[str, float]:
        n = max(1, self.offered)
        not_live = self.offered - self.answered
        recovered = self.recovered_callback + self.recovered_call_again
        return {
            "offered": float(self.offered),
            "answered_live": self.answered / n,
            "service_level": self.within_target / n,
            "asa": self.wait_answered / self.answered if self.answered else 0.0,
            "abandoned_short": self.abandoned_short / n,
            "abandoned_long": self.abandoned_long / n,
            "chose_callback": self.chose_callback / n,
            "not_answered_live": not_live / n,
            "recovered_callback": self.recovered_callback / n,
            "recovered_call_again": self.recovered_call_again / n,
            "unrecovered": (not_live - recovered) / n,
            "occupancy": self.busy_seconds / self.staffed_seconds if self.staffed_seconds else float("nan"),
        }


@dataclass
class Profile:
    """Everything the report shows about the log itself, and what the replay's callers are drawn from."""

    tz: str
    first_day: date
    last_day: date
    calls: int = 0
    arrivals_week: list[float] = field(default_factory=lambda: [0.0] * HALF_HOURS)  # calls per half hour
    staffed_week: list[float] = field(default_factory=lambda: [0.0] * HALF_HOURS)  # mean agents signed in
    talk: Reservoir = field(default_factory=lambda: Reservoir(seed=11))
    talk_n: int = 0
    talk_sum: float = 0.0
    talk_sum2: float = 0.0
    wrap_n: int = 0
    wrap_sum: float = 0.0
    waits_answered: Reservoir = field(default_factory=lambda: Reservoir(seed=12))
    waits_abandoned: Reservoir = field(default_factory=lambda: Reservoir(seed=13))
    patience: Patience = field(default_factory=Patience)
    redial_delays: Reservoir = field(default_factory=lambda: Reservoir(seed=14))
    missed: int = 0  # not answered live
    redialed: int = 0  # ... and the caller called again within the window
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    days: dict[date, DayTruth] = field(default_factory=dict)
    max_talk: float = 0.0

    @property
    def talk_mean(self) -> float:
        return self.talk_sum / self.talk_n if self.talk_n else float("nan")

    @property
    def talk_cv(self) -> float:
        if self.talk_n < 2:
            return float("nan")
        var = max(0.0, self.talk_sum2 / self.talk_n - self.talk_mean ** 2)
        return math.sqrt(var) / self.talk_mean

    @property
    def wrap(self) -> float:
        return self.wrap_sum / self.wrap_n if self.wrap_n else DEFAULT_WRAP

    @property
    def wrap_recorded(self) -> bool:
        return self.wrap_n > 0

    @property
    def redial_share(self) -> float:
        return self.redialed / self.missed if self.missed else 0.0

    @property
    def patience_mean(self) -> float:
        return 1 / self.patience.rate if self.patience.rate > 0 else math.inf

    def day_list(self) -> list[date]:
        return sorted(self.days)


def profile(log: ImportedLog, target: float = DEFAULT_TARGET_SECONDS, short_abandon: float = SHORT_ABANDON) -> Profile:
    zone = ZoneInfo(log.tz)
    p = Profile(log.tz, log.first_day, log.last_day)
    day = log.first_day
    while day <= log.last_day:
        p.days[day] = DayTruth()
        day += timedelta(days=1)
    missed: dict[str, tuple[float, date]] = {}  # caller -> (their missed call's end, its day), within the window
    on: dict[str, float] = {}  # agents signed in -> since
    wrap_default = DEFAULT_WRAP

    def staffed_until(until: float) -> None:
        for agent, since in list(on.items()):
            _spread(p, zone, since, until)
            on[agent] = until

    for record in log.records():
        if isinstance(record, Presence):
            staffed_until(record.at)
            if record.on:
                on.setdefault(record.agent, record.at)
            else:
                on.pop(record.agent, None)
            continue
        call: Call = record
        local = datetime.fromtimestamp(call.arrived, zone)
        truth = p.days[local.date()]
        slot = local.hour * 2 + local.minute // 30
        truth.arrivals[slot] += 1
        truth.offered += 1
        p.calls += 1
        p.outcomes[call.outcome.value] += 1
        previous = missed.pop(call.caller, None) if call.caller else None
        if previous is not None and call.arrived - previous[0] <= REDIAL_WINDOW:
            p.redialed += 1
            p.redial_delays.add(max(0.0, call.arrived - previous[0]))
            if call.outcome.served and previous[1] in p.days:
                p.days[previous[1]].recovered_call_again += 1
        p.patience.add(call.wait, call.outcome.exact_patience)
        if call.outcome.served:
            truth.answered += 1
            truth.wait_answered += call.wait
            truth.within_target += call.wait <= target
            p.waits_answered.add(call.wait)
            p.talk.add(call.talk)
            p.talk_n += 1
            p.talk_sum += call.talk
            p.talk_sum2 += call.talk ** 2
            p.max_talk = max(p.max_talk, call.talk)
            if call.wrap >= 0:
                p.wrap_n += 1
                p.wrap_sum += call.wrap
            truth.busy_seconds += call.talk + (call.wrap if call.wrap >= 0 else wrap_default)
            continue
        p.missed += 1
        if call.outcome is Outcome.ABANDONED:
            p.waits_abandoned.add(call.wait)
            if call.wait < short_abandon:
                truth.abandoned_short += 1
            else:
                truth.abandoned_long += 1
        elif call.outcome is Outcome.CALLBACK:
            truth.chose_callback += 1
        else:
            truth.put_out += 1
        if call.callback_at >= 0:
            truth.recovered_callback += 1
        elif call.caller:
            missed[call.caller] = (call.left, local.date())
    if on:
        end = log.midnight(log.last_day + timedelta(days=1))
        staffed_until(end)
    weeks = _occurrences(log.first_day, log.last_day)
    for d, truth in p.days.items():
        for slot in range(48):
            k = d.weekday() * 48 + slot
            p.arrivals_week[k] += truth.arrivals[slot] / weeks[d.weekday()]
            p.staffed_week[k] += truth.staffed[slot] / 1800.0 / weeks[d.weekday()]
    return p


def _spread(p: Profile, zone: ZoneInfo, start: float, end: float) -> None:
    """One agent signed in from start to end: agent-seconds into each half hour and day."""
    t = start
    while t < end:
        local = datetime.fromtimestamp(t, zone)
        top = local.replace(minute=0, second=0, microsecond=0)
        boundary = top + timedelta(minutes=30 if local.minute < 30 else 60)
        stop = min(end, boundary.timestamp())
        if stop <= t:  # a local time that repeats (the end of summer time): move on by the clock
            stop = min(end, t + 60.0)
        truth = p.days.get(local.date())
        if truth is not None:
            truth.staffed[local.hour * 2 + local.minute // 30] += stop - t
            truth.staffed_seconds += stop - t
        t = stop


def _occurrences(first: date, last: date) -> list[int]:
    """How many of each weekday the log spans (at least 1, so a rate is defined)."""
    out = [0] * 7
    d = first
    while d <= last:
        out[d.weekday()] += 1
        d += timedelta(days=1)
    return [max(1, n) for n in out]


# --- Erlang A's advice ----------------------------------------------------------------------------

def advised_agents(arrivals: int, handle: float, patience: float, target: float = DEFAULT_TARGET_SECONDS) -> int:
    """The agents Erlang A advises for `arrivals` in a half hour: the fewest meeting SERVICE_GOAL answered
    within the target and at most ABANDON_GOAL abandoning (the console's staffing page's goals), by
    staffing.ErlangA. The search starts where the goal can first be met: agents serve at most n/handle
    calls a second, so fewer than (1 - ABANDON_GOAL) x the offered load leave more than ABANDON_GOAL
    unserved (staffing.agents_needed, which starts from one agent, gives the same answer, slower)."""
    if arrivals <= 0:
        return 0
    rate = arrivals / 1800.0
    patience = patience if math.isfinite(patience) else 1e9
    n = max(1, math.ceil(rate * handle * (1 - ABANDON_GOAL)))
    while n < 500:
        m = staffing.ErlangA(n, rate, handle, patience).measures(target)
        if m["service_level"] >= SERVICE_GOAL and m["p_abandon"] <= ABANDON_GOAL:
            return n
        n += 1
    return n


def _advised(job: tuple[int, float, float]) -> tuple[int, int]:
    return job[0], advised_agents(*job)


def advice(p: Profile, workers: int = 1) -> tuple[dict[date, dict[str, float]], list[int]]:
    """Per day: the agent-hours and peak Erlang A advises against those signed in; per half hour of the
    week: the agents it advises for the mean arrivals (rounded to whole calls). Each distinct number of
    arrivals is worked out once, in `workers` processes."""
    handle, patience = p.talk_mean + p.wrap, p.patience_mean
    counts = {a for truth in p.days.values() for a in truth.arrivals} | {round(a) for a in p.arrivals_week}
    jobs = [(a, handle, patience) for a in sorted(counts)]
    if workers > 1 and len(jobs) > 8:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            agents = dict(pool.imap_unordered(_advised, jobs))
    else:
        agents = dict(map(_advised, jobs))
    per_day: dict[date, dict[str, float]] = {}
    for d, truth in p.days.items():
        advised = [agents[a] for a in truth.arrivals]
        per_day[d] = {"advised_agent_hours": sum(advised) / 2, "advised_peak": float(max(advised)),
                      "staffed_agent_hours": truth.staffed_seconds / 3600,
                      "staffed_peak": max(truth.staffed) / 1800.0}
    week = [agents[round(a)] for a in p.arrivals_week]
    return per_day, week


# --- seeding a queue from the log -----------------------------------------------------------------

def queue_settings(p: Profile) -> dict[str, Any]:
    """Queue fields (docs/queues.md) the log suggests: the estimator's prior (handle time and patience),
    business hours (each weekday, from the first to the last half hour anyone was signed in) and the
    roster (agents signed in, on average, per half hour)."""
    hours: dict[str, Any] = {"timezone": p.tz}
    roster: dict[str, Any] = {}
    for d, name in enumerate(DAYS):
        staffed = p.staffed_week[d * 48:(d + 1) * 48]
        slots = [k for k, s in enumerate(staffed) if s > 0]
        if slots:
            hours[name] = [f"{_hhmm(slots[0])}-{_hhmm(slots[-1] + 1)}"]
        steps, last = {}, None
        for k, s in enumerate(staffed):
            n = int(round(s))
            if n != last:
                steps[_hhmm(k)] = n
                last = n
        roster[name] = steps
    out: dict[str, Any] = {"hours": hours, "roster": {"timezone": p.tz, **roster}}
    if p.talk_n:
        out["average_handle_seconds"] = round(p.talk_mean + p.wrap, 1)
    if math.isfinite(p.patience_mean):
        out["average_patience_seconds"] = round(p.patience_mean, 1)
    return out


def _hhmm(slot: int) -> str:
    return "00:00" if slot >= 48 else f"{slot // 2:02d}:{30 * (slot % 2):02d}"


def seed_state(log: ImportedLog, queue: QueueConfig, at: float, history: timedelta = SEED_HISTORY) -> dict[str, Any]:
    """The queue's estimator as it would stand at `at` had Holdfast watched the log: its prior (the
    queue's configured handle time and patience), then the log's events of the `history` before."""
    events: list[QueueEvent] = []
    staffed: dict[str, bool] = {}
    for record in log.records(at - history.total_seconds(), at):
        if isinstance(record, Presence):
            staffed[record.agent] = record.on
            events.append(QueueEvent(QueueEventKind.STAFFING, record.at, float(sum(staffed.values()))))
            continue
        if record.outcome.served:
            events.append(QueueEvent(QueueEventKind.SERVICE_START, record.left, record.wait))
            if record.left + record.talk < at:
                events.append(QueueEvent(QueueEventKind.SERVICE_END, record.left + record.talk, record.talk))
        elif record.outcome.exact_patience:
            events.append(QueueEvent(QueueEventKind.ABANDON, record.left, record.wait))
    estimator = learning.prior(queue)
    for event in sorted((e for e in events if e.at < at), key=lambda e: e.at):
        estimator.observe(event)
    return estimator.state()
