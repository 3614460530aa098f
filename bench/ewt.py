"""How good is Holdfast's wait estimate? A discrete-event simulation of multi-server queues.

Every caller who has to wait is told an estimate at arrival by each method; the estimate is scored
against the caller's *potential* wait (how long they would have waited had they stayed: an
abandoner keeps its place as a shadow caller that takes no agent, and its potential wait ends when
its place reaches a free agent). Agents are individuals: each busy agent's call has an elapsed time,
and on a roster an agent's sign-off is known in advance. Methods:

  holdfast   the production estimator (chalicelib.domain.estimator), fed the same events production
             feeds it, every busy agent's elapsed talk time and (on a roster) announced sign-offs
  v1         the previous estimator's model: queue-length predictor with abandonment, exponential
             talk times, mu and theta as holdfast learns them, no elapsed times
  asterisk   app_queue's holdtime: H <- (3H + w)/4 per answered caller, announced (H + 30)/60 minutes
  hol        head of line: how long the caller at the head of the queue has waited so far
  les        last to enter service: the wait of the caller who most recently reached an agent
  oracle     Monte Carlo conditional mean (400 paths) given everything: every elapsed talk time and
             wait of those ahead, the true talk-time and patience distributions (each call in progress
             from the distribution it started under) and the staffing schedule, sign-ins included

Figures per scenario: efficiency = oracle ASE / method ASE on the callers the oracle scored (a
random 25% of delayed callers, plus every caller who arrived within 15 minutes after a change);
RRASE = sqrt(ASE) / mean wait and bias over all delayed callers; 80%/90% coverage of holdfast's
ranges overall and per position band (callers ahead: 0, 1-4, 5-19, 20+), over runs that follow
one another as one queue's days (each starts from the range calibration the one before left, as the
queue's saved state carries it; a cold first run is shown apart and not scored); in scenarios with a
change, holdfast's ASE / oracle's ASE in the 15 minutes after each change and 80% coverage in the
15 minutes either side. Finally the time of one estimate at 2,000 ahead with 100 busy agents.

Usage: python bench/ewt.py [--quick] [--out docs]   (writes docs/ewt.md and PNG plots)
Needs numpy (the oracle); the estimator itself is pure Python.
"""
from __future__ import annotations

import argparse
import copy
import heapq
import math
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.domain.estimator import (BAND_EDGES, BusyAgent, Calibration, QueueEvent,  # noqa: E402
                                         QueueEventKind, WaitEstimator, band_of)
from chalicelib.domain.ewt import ACKLAM, queue_length_predictor  # noqa: E402

METHODS = ("holdfast", "v1", "asterisk", "hol", "les")
BANDS = ("0 ahead", "1-4", "5-19", "20+")
assert len(BANDS) == len(BAND_EDGES) + 1
ORACLE_PATHS = 400
ORACLE_SHARE = 0.25
# Coverage is scored on more runs than efficiency (the oracle is the costly part): the first seed is
# scored by the oracle, the others only for coverage, so that each position band has callers enough.
# Scenarios whose thinnest band would leave 2 points undecided get more runs (`Scenario.coverage_seeds`).
COVERAGE_SEEDS = (2, 3)
BATCHES = 20  # coverage intervals: batch means over this many stretches of consecutive callers
CHANGE_WINDOW = 900.0
HOUR = 3600.0


# --- distributions ---------------------------------------------------------------------------------

def _ndtri(u: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (Acklam; relative error < 1.2e-9), vectorised."""
    a, b, c, d = ACKLAM
    u = np.clip(u, 1e-15, 1 - 1e-15)
    q = np.minimum(u, 1 - u)
    r = np.sqrt(-2 * np.log(q))
    tail = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / \
        ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1)
    tail = np.where(u < 0.5, tail, -tail)
    qc = u - 0.5
    r2 = qc * qc
    central = (((((a[0] * r2 + a[1]) * r2 + a[2]) * r2 + a[3]) * r2 + a[4]) * r2 + a[5]) * qc / \
        (((((b[0] * r2 + b[1]) * r2 + b[2]) * r2 + b[3]) * r2 + b[4]) * r2 + 1)
    return np.where(q < 0.02425, tail, central)


class Dist:
    mean: float

    def draw(self, rng: random.Random) -> float: ...

    def sf(self, x: float) -> float: ...

    def above(self, g: np.random.Generator, a: float, size: int) -> np.ndarray:
        """Samples of X given X > a."""
        ...


class Exponential(Dist):
    def __init__(self, mean: float) -> None:
        self.mean = mean

    def draw(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    def sf(self, x: float) -> float:
        return math.exp(-max(0.0, x) / self.mean)

    def above(self, g: np.random.Generator, a: float, size: int) -> np.ndarray:
        return a + g.exponential(self.mean, size)


class LogNormal(Dist):
    def __init__(self, mean: float, cv: float) -> None:
        self.mean, self.cv = mean, cv
        s2 = math.log(1 + cv * cv)
        self.mu, self.sigma = math.log(mean) - s2 / 2, math.sqrt(s2)

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    def sf(self, x: float) -> float:
        if x <= 0:
            return 1.0
        return 0.5 * math.erfc((math.log(x) - self.mu) / (self.sigma * math.sqrt(2)))

    def above(self, g: np.random.Generator, a: float, size: int) -> np.ndarray:
        tail = self.sf(a)
        if tail < 1e-12:  # far in the tail: the hazard is nearly flat over the next seconds
            return a + g.exponential(max(1.0, a * self.sigma ** 2 / max(0.1, math.log(a) - self.mu)), size)
        u = (1 - tail) + tail * g.random(size)
        return np.maximum(a, np.exp(self.mu + self.sigma * _ndtri(u)))


class Uniform(Dist):
    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi, self.mean = lo, hi, (lo + hi) / 2

    def draw(self, rng: random.Random) -> float:
        return rng.uniform(self.lo, self.hi)

    def sf(self, x: float) -> float:
        return min(1.0, max(0.0, (self.hi - x) / (self.hi - self.lo)))

    def above(self, g: np.random.Generator, a: float, size: int) -> np.ndarray:
        if a >= self.hi:
            return a + g.exponential(1.0, size)  # cannot happen in the simulation; a second at most
        return g.uniform(max(a, self.lo), self.hi, size)


class Mixture(Dist):
    def __init__(self, parts: list[tuple[float, Dist]]) -> None:
        total = sum(w for w, _ in parts)
        self.parts = [(w / total, d) for w, d in parts]
        self.mean = sum(w * d.mean for w, d in self.parts)

    def draw(self, rng: random.Random) -> float:
        u = rng.random()
        for w, d in self.parts:
            u -= w
            if u <= 0:
                return d.draw(rng)
        return self.parts[-1][1].draw(rng)

    def sf(self, x: float) -> float:
        return sum(w * d.sf(x) for w, d in self.parts)

    def above(self, g: np.random.Generator, a: float, size: int) -> np.ndarray:
        post = np.array([w * d.sf(a) for w, d in self.parts])
        post = post / post.sum() if post.sum() > 0 else np.full(len(self.parts), 1 / len(self.parts))
        pick = g.choice(len(self.parts), size=size, p=post)
        out = np.empty(size)
        for k, (_, d) in enumerate(self.parts):
            idx = pick == k
            if idx.any():
                out[idx] = d.above(g, a, int(idx.sum()))
        return out


# --- scenarios -------------------------------------------------------------------------------------

@dataclass
class Scenario:
    name: str
    arrival_rate: Callable[[float], float]  # per second, at time t
    max_rate: float
    staffing: Callable[[float], int]  # agents 0..staffing(t)-1 are on shift at t
    service: Callable[[float], Dist]  # talk-time distribution of a call starting at t
    patience: Dist | None
    horizon: float  # seconds of arrivals
    warmup: float  # seconds not scored
    staffing_changes: list[float] = field(default_factory=list)
    changes: list[float] = field(default_factory=list)  # when something changed (scored separately)
    roster: bool = False  # sign-offs are announced in advance
    coverage_seeds: tuple[int, ...] = COVERAGE_SEEDS  # runs scored for coverage only


@dataclass
class Caller:
    arrival: float
    ahead: int
    deadline: float
    preds: dict[str, float]
    ranges: tuple[float, float, float, float]  # low80, high80, low90, high90
    told: object  # the WaitEstimate the caller heard (scores the outcome for calibration)
    scored: bool
    oracle: float | None = None
    ghost: bool = False
    done: bool = False
    potential: float | None = None


def shift_end(sc: Scenario, agent: int, t: float) -> float:
    """When `agent` next goes off shift after t (t if already off, inf if never within the schedule)."""
    if agent >= sc.staffing(t):
        return t
    for c in sc.staffing_changes:
        if c > t and sc.staffing(c) <= agent:
            return c
    return math.inf


def oracle_mean(sc: Scenario, g: np.random.Generator, now: float, busy: dict[int, tuple[float, Dist]],
                free: list[int], ahead_waits: list[float]) -> float | None:
    """Monte Carlo E[wait] of a caller with `ahead_waits` (elapsed waits of the live callers ahead)."""
    n, R = len(ahead_waits), ORACLE_PATHS
    fresh = sc.service(now)
    on = sc.staffing(now)
    joins = [(c, a) for c in sc.staffing_changes if c > now for a in range(sc.staffing(c - 1e-6), sc.staffing(c))]
    agents = len(busy) + len(free) + len(joins)
    if agents == 0:
        return None
    renewals = int(math.ceil((n + 1) / max(1, on))) + 4
    columns: list[np.ndarray] = []

    def chain(first: np.ndarray, leaves: float) -> None:
        times = np.cumsum(np.concatenate([first[:, None], np.stack(
            [fresh.above(g, 0.0, R) for _ in range(renewals)], axis=1)], axis=1), axis=1)
        times[times > leaves - now] = np.inf  # a slot after the shift ends frees nobody for the line
        columns.append(times)

    for agent, (start, dist) in busy.items():
        chain(dist.above(g, now - start, R) - (now - start), shift_end(sc, agent, now))
    for agent in free:
        chain(np.zeros(R), shift_end(sc, agent, now))
    for c, agent in joins:
        chain(np.full(R, c - now), shift_end(sc, agent, c))
    slots = np.sort(np.concatenate(columns, axis=1), axis=1)[:, :n + 1]
    rows = np.arange(R)
    p = np.zeros(R, dtype=np.int64)
    for w in ahead_waits:
        left = (sc.patience.above(g, w, R) - w) if sc.patience is not None else np.full(R, np.inf)
        p += left >= slots[rows, p]  # present at their turn: takes that slot
        np.minimum(p, n, out=p)
    wait = slots[rows, p]
    if not np.all(np.isfinite(wait)):
        return None
    return float(wait.mean())


Calibrations = tuple[Calibration, list[Calibration]]  # pooled, per band


def simulate(sc: Scenario, seed: int, oracle_everywhere: bool = False, oracle: bool = True,
             calibration: Calibrations | None = None) -> tuple[list[Caller], Calibrations]:
    """One run; returns every delayed caller with the methods' estimates and their potential wait, and
    holdfast's range calibration at its end. `calibration`: where that calibration starts (a copy is
    used), as a queue's saved state carries it from one stretch of days to the next; None: cold."""
    rng = random.Random(seed)
    g = np.random.default_rng(seed)
    est = WaitEstimator(prior_service_seconds=300.0, prior_patience_seconds=600.0, staffed=sc.staffing(0.0))
    if calibration is not None:
        est.calibration, est.bands = copy.deepcopy(calibration[0]), copy.deepcopy(calibration[1])
    queue: deque[Caller] = deque()
    waiting = 0  # callers in queue who have not abandoned
    busy: dict[int, tuple[float, Dist]] = {}  # agent -> (call start, its talk-time distribution)
    events: list[tuple[float, int, str, object]] = []
    seq = 0
    holdtime = 0.0  # Asterisk's smoothed hold time
    last_entered = 0.0  # LES
    scored: list[Caller] = []

    def push(t: float, kind: str, payload: object = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, payload))

    def free_agents(t: float) -> list[int]:
        return [a for a in range(sc.staffing(t)) if a not in busy]

    def begin(agent: int, t: float) -> None:
        dist = sc.service(t)
        busy[agent] = (t, dist)
        push(t + dist.draw(rng), "end", agent)

    def start_service(t: float) -> None:
        nonlocal waiting, holdtime, last_entered
        for agent in free_agents(t):
            while queue and queue[0].ghost:  # a shadow's place reached a free agent: its potential wait
                ghost = queue.popleft()
                ghost.done, ghost.potential = True, t - ghost.arrival
            if not queue:
                return
            caller = queue.popleft()
            caller.done = True
            wait = t - caller.arrival
            caller.potential = wait
            waiting -= 1
            est.observe(QueueEvent(QueueEventKind.SERVICE_START, t, wait, pit=caller.told.pit(wait),  # type: ignore[attr-defined]
                                   ahead=caller.ahead))
            holdtime = (3 * holdtime + wait) / 4
            last_entered = wait
            begin(agent, t)

    t = 0.0
    while True:  # arrivals by thinning a rate-max_rate Poisson process
        t += rng.expovariate(sc.max_rate)
        if t > sc.horizon:
            break
        if rng.random() * sc.max_rate <= sc.arrival_rate(t):
            push(t, "arrive")
    for change in sc.staffing_changes:
        push(change, "staff")

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "arrive":
            s = sc.staffing(now)
            idle = free_agents(now)
            if idle and not waiting:
                est.observe(QueueEvent(QueueEventKind.SERVICE_START, now, 0.0))
                last_entered = 0.0
                begin(idle[0], now)
                continue
            n = waiting  # callers ahead who are still there (the queue a system can see)
            known = [BusyAgent(now - start, (shift_end(sc, a, now) - now) if sc.roster else None)
                     for a, (start, _) in busy.items()]
            joining = [c - now for c in sc.staffing_changes if sc.roster and 0 < c - now < 2 * HOUR
                       for _ in range(sc.staffing(c - 1e-6), sc.staffing(c))]
            head = next((c for c in queue if not c.ghost), None)
            line = {"busy": known, "joining": joining, "head_wait": now - head.arrival if head else None}
            e80 = est.estimate(now, n + 1, idle=len(idle), servers=s, coverage=0.8, **line)  # type: ignore[arg-type]
            low90, high90 = est.range_at(e80, 0.9)  # the same estimate's 90% range
            preds = {
                "holdfast": e80.mean,
                "v1": queue_length_predictor(n, max(1, s), est.mu, est.theta).mean,
                "asterisk": float(int((holdtime + 30) // 60) * 60),
                "hol": now - head.arrival if head else 0.0,
                "les": last_entered,
            }
            caller = Caller(now, n, now + (sc.patience.draw(rng) if sc.patience else math.inf), preds,
                            (e80.low, e80.high, low90, high90), e80, scored=now >= sc.warmup)
            near_change = any(0 <= now - c < CHANGE_WINDOW for c in sc.changes)
            if caller.scored and oracle and (oracle_everywhere or near_change or rng.random() < ORACLE_SHARE):
                caller.oracle = oracle_mean(sc, g, now, busy, idle, [now - c.arrival for c in queue if not c.ghost])
            queue.append(caller)
            waiting += 1
            if caller.deadline < math.inf:
                push(caller.deadline, "abandon", caller)
            if caller.scored:
                scored.append(caller)
        elif kind == "end":
            agent = int(payload)  # type: ignore[arg-type]
            start, _ = busy.pop(agent)
            est.observe(QueueEvent(QueueEventKind.SERVICE_END, now, now - start))
            start_service(now)
        elif kind == "abandon":
            caller = payload  # type: ignore[assignment]
            if not caller.done and not caller.ghost:
                caller.ghost = True
                waiting -= 1
                waited = now - caller.arrival
                est.observe(QueueEvent(QueueEventKind.ABANDON, now, waited, pit=caller.told.pit(waited),  # type: ignore[attr-defined]
                                       ahead=caller.ahead))
        elif kind == "staff":
            est.observe(QueueEvent(QueueEventKind.STAFFING, now, sc.staffing(now)))
            start_service(now)
    return [c for c in scored if c.potential is not None], (est.calibration, est.bands)


# --- scoring ---------------------------------------------------------------------------------------

@dataclass
class Result:
    scenario: Scenario
    callers: list[Caller]
    seconds: float
    cold: list[Caller] = field(default_factory=list)  # the unscored first run, from a cold calibration

    def waits(self, cs: list[Caller]) -> list[float]:
        return [c.potential for c in cs]  # type: ignore[misc]

    @staticmethod
    def ase(cs: list[Caller], method: str) -> float:
        if not cs:
            return math.nan
        if method == "oracle":
            return sum((c.oracle - c.potential) ** 2 for c in cs) / len(cs)  # type: ignore[operator]
        return sum((c.preds[method] - c.potential) ** 2 for c in cs) / len(cs)  # type: ignore[operator]

    @property
    def with_oracle(self) -> list[Caller]:
        return [c for c in self.callers if c.oracle is not None]

    def efficiency(self, method: str) -> float:
        cs = self.with_oracle
        return self.ase(cs, "oracle") / self.ase(cs, method) if cs else math.nan

    @staticmethod
    def coverage(cs: list[Caller], level: int) -> float:
        if not cs:
            return math.nan
        lo, hi = (0, 1) if level == 80 else (2, 3)
        return sum(c.ranges[lo] <= c.potential <= c.ranges[hi] for c in cs) / len(cs)  # type: ignore[operator]

    @classmethod
    def interval(cls, cs: list[Caller], level: int) -> tuple[float, float]:
        """95% interval of the coverage by batch means: callers close in time share the line's state,
        so they are not independent draws; stretches of consecutive callers nearly are."""
        k = min(BATCHES, len(cs) // 10)
        if k < 4:
            return math.nan, math.nan
        size = len(cs) / k
        means = [cls.coverage(cs[int(i * size):int((i + 1) * size)], level) for i in range(k)]
        mean = sum(means) / k
        half = 1.96 * math.sqrt(sum((m - mean) ** 2 for m in means) / (k - 1) / k)
        return cls.coverage(cs, level) - half, cls.coverage(cs, level) + half

    def covers(self, cs: list[Caller], level: int) -> str:
        """The coverage, its 95% interval and how many callers it counts."""
        if not cs:
            return "- (n=0)"
        lo, hi = self.interval(cs, level)
        ci = f" [{lo:.1%}, {hi:.1%}]" if not math.isnan(lo) else ""
        return f"{self.coverage(cs, level):.1%}{ci} (n={len(cs)})"

    def band(self, b: int, callers: list[Caller] | None = None) -> list[Caller]:
        return [c for c in (self.callers if callers is None else callers) if band_of(c.ahead) == b]

    def after_change(self) -> list[Caller]:
        return [c for c in self.with_oracle if any(0 <= c.arrival - ch < CHANGE_WINDOW for ch in self.scenario.changes)]

    def since_change(self, lo: float, hi: float) -> list[Caller]:
        return [c for c in self.with_oracle if any(lo <= c.arrival - ch < hi for ch in self.scenario.changes)]

    def around_change(self) -> list[Caller]:
        return [c for c in self.callers if any(abs(c.arrival - ch) < CHANGE_WINDOW for ch in self.scenario.changes)]


COLD_SEED = 0  # the run before the scored ones: a new queue, its ranges calibrated from nothing


def run(sc: Scenario, seeds: list[int], coverage_seeds: tuple[int, ...] | None = None) -> Result:
    """A queue's consecutive stretches of days: a first run from a cold calibration (reported apart,
    not scored against the targets), then the scored runs, each starting from the calibration the
    one before left, as the queue's saved estimator state carries it in production. Only the range
    calibration carries over: every run learns talk times, patience and all else from its prior."""
    t0 = time.perf_counter()
    cold, calibration = simulate(sc, COLD_SEED, oracle=False)
    callers: list[Caller] = []
    coverage_only = sc.coverage_seeds if coverage_seeds is None else coverage_seeds
    for seed, oracle in [(seed, True) for seed in seeds] + [(seed, False) for seed in coverage_only]:
        scored, calibration = simulate(sc, seed, oracle=oracle, calibration=calibration)
        callers += scored
    return Result(sc, callers, time.perf_counter() - t0, cold)


def table(r: Result) -> str:
    cs = r.callers
    waits = r.waits(cs)
    mean_wait = sum(waits) / len(waits)
    orc = r.with_oracle
    lines = [f"### {r.scenario.name}", "",
             f"{len(cs)} delayed callers in {1 + len(r.scenario.coverage_seeds)} runs after a cold first run of "
             f"{len(r.cold)} (mean potential wait {mean_wait:.0f} s), "
             f"{len(orc)} of the first run's scored by the oracle; simulated in {r.seconds:.0f} s", "",
             "| method | efficiency vs oracle | RRASE | bias (s) |", "| --- | ---: | ---: | ---: |"]
    for m in METHODS:
        ase = r.ase(cs, m)
        bias = sum(c.preds[m] - c.potential for c in cs) / len(cs)  # type: ignore[operator]
        lines.append(f"| {m} | {r.efficiency(m):.3f} | {math.sqrt(ase) / mean_wait:.3f} | {bias:+.1f} |")
    oase = r.ase(orc, "oracle")
    lines.append(f"| oracle | 1.000 | {math.sqrt(oase) / mean_wait:.3f} (its callers) | "
                 f"{sum(c.oracle - c.potential for c in orc) / len(orc):+.1f} |")  # type: ignore[operator]
    lines += ["", "| holdfast range [95% interval] | overall | " + " | ".join(BANDS) + " |",
              "| --- | ---: |" + " ---: |" * len(BANDS)]
    for level in (80, 90):
        cells = [r.covers(r.band(b), level) for b in range(len(BANDS))]
        lines.append(f"| {level}% covers | {r.covers(cs, level)} | " + " | ".join(cells) + " |")
    for level in (80, 90):  # the new queue's first run, calibrated from nothing (not in the targets)
        cells = [r.covers(r.band(b, r.cold), level) for b in range(len(BANDS))]
        lines.append(f"| {level}% covers, first run (cold) | {r.covers(r.cold, level)} | " + " | ".join(cells) + " |")
    if r.scenario.changes:
        after = r.after_change()
        ratio = r.ase(after, "holdfast") / r.ase(after, "oracle") if after else math.nan
        lines += ["", f"15 min after each change ({len(after)} callers): holdfast ASE / oracle ASE = {ratio:.2f} "
                      f"(v1: {r.ase(after, 'v1') / r.ase(after, 'oracle'):.2f}); 80% range covers "
                      f"{r.coverage(r.around_change(), 80):.1%} within 15 min either side", "",
                  "| minutes after a change | callers | holdfast ASE / oracle ASE | holdfast bias (s) | oracle bias (s) |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for lo, hi in ((0, 15), (15, 30), (30, 60), (60, 120), (120, 240)):
            cs = r.since_change(lo * 60.0, hi * 60.0)
            if cs:
                lines.append(f"| {lo}-{hi} | {len(cs)} | {r.ase(cs, 'holdfast') / r.ase(cs, 'oracle'):.2f} | "
                             f"{sum(c.preds['holdfast'] - c.potential for c in cs) / len(cs):+.1f} | "  # type: ignore[operator]
                             f"{sum(c.oracle - c.potential for c in cs) / len(cs):+.1f} |")  # type: ignore[operator]
    return "\n".join(lines) + "\n"


def targets(results: list[Result], timing_us: float) -> list[str]:
    out = []

    def verdict(ok: bool, text: str) -> None:
        out.append(f"{'PASS' if ok else 'MISS'} {text}")

    def coverage_verdict(r: Result, cs: list[Caller], level: int, what: str) -> None:
        cov, (lo, hi) = r.coverage(cs, level), r.interval(cs, level)
        ok = abs(cov - level / 100) <= 0.02
        # a miss whose interval reaches the target band may be the run's noise; one beyond it is not
        noise = not ok and lo <= level / 100 + 0.02 and hi >= level / 100 - 0.02
        verdict(ok, f"{level}% coverage within 2 points: {what}: {r.covers(cs, level)}" +
                (" (interval reaches the band: may be noise)" if noise else ""))

    for r in results:
        name = r.scenario.name
        eff = r.efficiency("holdfast")
        verdict(eff >= 0.90, f"efficiency >= 0.90 of the oracle: {name}: {eff:.3f}")
        for level in (80, 90):
            coverage_verdict(r, r.callers, level, name)
            for b in range(len(BANDS)):
                cs = r.band(b)
                if len(cs) < 200:
                    continue  # too few to judge 2 points
                coverage_verdict(r, cs, level, f"{name}, {BANDS[b]}")
        if r.scenario.changes:
            after = r.after_change()
            ratio = r.ase(after, "holdfast") / r.ase(after, "oracle")
            verdict(ratio <= 1.25, f"error 15 min after a change <= 1.25x the oracle's: {name}: {ratio:.2f}x")
    verdict(timing_us < 1000, f"one estimate at 2,000 ahead (100 busy agents) under 1 ms: {timing_us:.0f} us")
    return out


def time_one_estimate() -> float:
    rng = random.Random(9)
    est = WaitEstimator(prior_service_seconds=300.0)
    for i in range(2000):
        est.observe(QueueEvent(QueueEventKind.SERVICE_END, float(i), rng.lognormvariate(5.5, 0.6)))
    busy = [BusyAgent(rng.uniform(0, 900)) for _ in range(100)]
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(50):
            est.estimate(3000.0, 2001, servers=100, busy=busy)
        best = min(best, (time.perf_counter() - t0) / 50)
    return best * 1e6


def scenarios(scale: float) -> list[Scenario]:
    def flat(rate: float) -> Callable[[float], float]:
        return lambda t: rate

    def fixed(s: int) -> Callable[[float], int]:
        return lambda t: s

    def same(d: Dist) -> Callable[[float], Dist]:
        return lambda t: d

    h = lambda hours: max(2.0, hours * scale) * HOUR  # noqa: E731
    out = []
    regular = Uniform(480, 600)
    out.append(Scenario("regular long talks (uniform 8-10 min), 40 agents, load 0.97", flat(0.97 * 40 / 540),
                        0.97 * 40 / 540, fixed(40), same(regular), LogNormal(900, 1.0), h(40), HOUR,
                        coverage_seeds=(2, 3, 4, 5, 6, 7)))
    out.append(Scenario("heavy-tailed talks (lognormal cv 2), 60 agents, load 0.95", flat(0.95 * 60 / 300),
                        0.95 * 60 / 300, fixed(60), same(LogNormal(300, 2.0)), Exponential(900), h(24), HOUR,
                        coverage_seeds=(2, 3, 4, 5)))
    out.append(Scenario("patience mixture (30% ~1 min, 70% ~20 min), 50 agents, load 1.05",
                        flat(1.05 * 50 / 300), 1.05 * 50 / 300, fixed(50), same(LogNormal(300, 0.5)),
                        Mixture([(0.3, Exponential(60)), (0.7, LogNormal(1200, 0.8))]), h(24), HOUR))
    cycle = 9 * HOUR
    cycles = max(2, int(round(5 * scale)))
    shift_at = [k * cycle + x * HOUR for k in range(cycles) for x in (3, 6, 9)]

    def roster(t: float) -> int:  # sign-offs (40 -> 26, 45 -> 40) and sign-ins (26 -> 45) are known 2 h ahead
        x = (t % cycle) / HOUR
        return 40 if x < 3 else 26 if x < 6 else 45

    out.append(Scenario("shift changes on a roster (40 -> 26 -> 45 agents), lognormal talks cv 0.6", flat(0.1), 0.1,
                        roster, same(LogNormal(360, 0.6)), LogNormal(600, 1.0), cycles * cycle, HOUR,
                        staffing_changes=shift_at, changes=shift_at, roster=True))
    out.append(Scenario("very small team (3 agents), lognormal talks cv 0.7, load 0.85", flat(0.85 * 3 / 400),
                        0.85 * 3 / 400, fixed(3), same(LogNormal(400, 0.7)), LogNormal(600, 1.0), h(150), 2 * HOUR))
    period = 8 * HOUR

    def surge(t: float) -> float:
        x = (t % period) / HOUR
        return (0.8 + 0.6 * math.exp(-((x - 4) / 0.8) ** 2)) * 40 / 540

    out.append(Scenario("surge to 1.4x load, regular long talks (uniform 8-10 min), 40 agents", surge,
                        1.4 * 40 / 540, fixed(40), same(regular), LogNormal(900, 1.0), h(40), HOUR,
                        coverage_seeds=(2, 3, 4, 5, 6, 7, 8, 9)))
    change = 5 * HOUR
    out.append(Scenario("talk times change 300 -> 450 s (lognormal cv 1), 50 agents", flat(0.85 * 50 / 300),
                        0.85 * 50 / 300, fixed(50),
                        lambda t: LogNormal(300, 1.0) if (t % (10 * HOUR)) < change else LogNormal(450, 1.0),
                        Exponential(600), 10 * HOUR * max(1, int(round(3 * scale))), HOUR,
                        changes=[k * 10 * HOUR + change for k in range(max(1, int(round(3 * scale))))],
                        coverage_seeds=(2, 3, 4, 5)))
    out.append(Scenario("M/M/100+M load 1.05, patience 300 s", flat(1.05 * 100 / 300), 1.05 * 100 / 300, fixed(100),
                        same(Exponential(300)), Exponential(300), h(12), HOUR, coverage_seeds=tuple(range(2, 16))))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test of the bench)")
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where ewt.md and the plots go")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = []
    for sc in scenarios(0.15 if args.quick else 1.0):
        if args.only and args.only not in sc.name:
            continue
        results.append(run(sc, seeds=[1]))
        print(table(results[-1]), flush=True)
    timing = time_one_estimate()
    print(f"one estimate at 2,000 ahead with 100 busy agents: {timing:.0f} us")
    verdicts = targets(results, timing)
    for line in verdicts:
        print(line)
    total = time.perf_counter() - started
    print(f"total {total:.0f} s")
    if not args.only:
        write_report(Path(args.out), results, verdicts, args.quick, total)
    return 0


METHOD = [
    "- Talk times are learned two ways over a 4 h half-life: a lognormal (mean from the arithmetic mean, "
    "spread from the second moment) and a histogram of finished talk times on a 1% log grid (bounded: "
    "bins up to a day, only occupied ones kept in the state). For regular talk times (cv^2 <= 0.1) the "
    "estimate uses the histogram, its shape scaled to the learned mean (so that a change the windows follow moves it at once) "
    "and blended with the lognormal while it holds few calls (weight w/(w+20)); wider-spread talk times "
    "keep the lognormal, whose tail is smooth and reaches past the longest call seen. A two-sided CUSUM of each "
    "finished call's standardised log talk time raises an alarm on a lasting shift and the long window "
    "then adopts a 10-minute one (counted as 10 calls; the histogram's old shape as 30).",
    "- Before any of the new calls ends: the calls begun lately (weighted by exp(-age / 8 min) by when "
    "they began) estimate a shift of the log talk time by a censored lognormal likelihood, a finished "
    "call by its talk time, a call in progress by having lasted its elapsed time (calls lasting longer "
    "than the learned distribution says are evidence of a change). The shift counts as far as it "
    "stands out of its noise (soft threshold at 2 standard errors, sandwich variance), so a steady "
    "queue keeps its long memory.",
    "- Each busy agent's call has lasted `elapsed` seconds: its end is the talk-time distribution "
    "conditioned on lasting longer. After it, fresh calls: for regular talk times (cv^2 <= 0.1) the "
    "j-th call after the current one ends at the residual plus j talk times, normal with their summed "
    "variance (the count's variance from the nested events, not a straight line); otherwise the next "
    "one exactly and the later ones at rate 1/m with offset (cv^2-1)/2 (reached slowly for heavy "
    "tails). Agents with an announced sign-off free nobody after it; agents expected to sign in free a "
    "place when they do. M(t) = expected departures within t, summed over agents grouped by elapsed time.",
    "- Elapsed times are trusted as far as the talk times look lognormal (their log-spread against "
    "ln(1 + cv^2)); memoryless-like talk times (many very short calls) make elapsed times nearly "
    "worthless, and the agents are then counted as anywhere in their calls.",
    "- Patience: abandonments over waiting exposure per waiting-time bin, each bin shrunk toward the bin "
    "before it (long waits few callers reach keep the last well-learned hazard); those ahead, taken as "
    "having waited evenly from 0 to the head of the line's wait, abandon at the hazard of their own waits.",
    "- The caller next in line waits for the first call to end: its distribution exactly (the product "
    "of the busy agents' conditional survivals), its range a gamma with that mean fitted to its 10% and "
    "90% quantiles (the shortest of many bounded residuals piles up near 0, which a gamma matched by "
    "moments misses). With 1-60 ahead and regular talk times (cv^2 <= 0.1): P(wait > t) = "
    "P(N(t) + A(t) <= n), departures N (mean M(t), variance from the count) and abandonments among those "
    "ahead A, normal with continuity correction, integrated for the mean and variance. Further down the "
    "line, or with Poisson-like departures: departure n+1 less those ahead who abandon as a "
    "hypoexponential count in departure time, mapped to seconds through M^-1 (half a step earlier "
    "where departures are regular, a second-order term), its variance from the departures' index of dispersion.",
    "- Ranges: a gamma (mean and variance, or fitted as above), at quantile levels calibrated online "
    "per position band (0, 1-4, 5-19, 20+ ahead) by Kaplan-Meier over where past outcomes fell "
    "(abandoners censored, 24 h half-life); each band is shrunk toward the nominal levels (weight "
    "w/(w+25)), not toward the pooled calibration (mostly the largest band's error: it narrowed the surge's "
    "next-in-line ranges to 76% for 80%), and each tail is clamped within a factor 3 of nominal. "
    "The 80% and 90% ranges come from the same estimate (`range_at`).",
    "- Production: `CallFlow.estimate` passes the store's busy agents with the time each went busy "
    "(elapsed) and their announced sign-off (the agents API's `until`); a ticket keeps how many were "
    "ahead when told, so outcomes are calibrated per position band there as here. The estimator's state "
    "(one store item per queue) carries the histogram; states saved before it load with an empty one.",
]


LIMITS = [
    "- A change in talk times cannot be seen in the first minutes: the calls that end then mostly began "
    "before the change, and the oracle is given the new distribution at once. The table of minutes after "
    "the change shows how fast holdfast catches up (CUSUM alarm after some 70 calls).",
    "- The shift scenario tells holdfast of every sign-off and sign-in 2 h ahead. In production agents "
    "announce their sign-off (`until`), and a queue's `roster` (chalicelib/domain/roster.py, "
    "docs/queues.md) announces its step-ups: `CallFlow.estimate` passes `queue.roster.sign_ins(...)`, "
    "the sign-ins within 2 hours, as `joining`. What remains: a roster is the admin's plan, not who "
    "actually signs in (late, absent or extra agents are learned only once they take calls), and only "
    "busy agents' sign-offs reach the estimate (an idle agent takes the next caller at once).",
    "- The recent-shift estimate trusts that every call begun on a Holdfast bridge is either among the "
    "busy agents' calls or has reported its end (a lost end drops that call from the evidence); an "
    "estimator state saved before it has no recent finished calls, and calls in progress then read long "
    "for the first minutes (the prior of 3 calls and the soft threshold hold that back).",
    "- Callers ahead are known by the head of the line's wait only (what the store's snapshot gives), "
    "not each one's wait: the oracle knows them all, which is most of what holdfast still lacks in the "
    "surge's 20+ band. The histogram stands for talk times only up to cv^2 0.1: with it the "
    "lognormal scenarios lost efficiency (heavy tails 0.98 -> 0.93, patience mixture 0.99 -> 0.89, "
    "shift 1.03 -> 0.93 in shorter runs: its thin, jagged tail sets the residual of long calls in "
    "progress), so there the lognormal stays; the regular ones gained (surge 0.89 -> 0.96).",
    "- Some position bands are thin (the caller next in line: some 14 an hour with 40 agents); their "
    "scenarios get more coverage-only runs so that 2 points can be decided, and a miss whose interval "
    "still reaches the band is marked as such.",
    "- A new queue's ranges are calibrated from nothing: each table's 'first run (cold)' rows show "
    "its first run, which the targets do not score. There the 20+ band under-covers where it comes in "
    "a few large bursts (80%: heavy tails 76.7%, M/M/100+M 74.9%, the patience mixture 72.5% of 138 "
    "callers; the talk-time change's is within 2 points): over a whole run the band's "
    "Kaplan-Meier levels agree with the potential waits' PITs within a point (censoring is not the "
    "cause), but the levels in force during the first bursts come from the one or two before, and "
    "callers in one burst share the line's state, so a few hundred outcomes are a handful of "
    "independent ones. The scored runs start from the calibration the run before left, as a queue's "
    "saved state carries it in production (only the calibration: talk times and patience are learned "
    "afresh each run). Learning the band more slowly instead fixed some bands and broke others "
    "(ranges too wide where the raw ranges need their correction early), so it is not in.",
]


def write_report(out: Path, results: list[Result], verdicts: list[str], quick: bool, total: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    parts = ["# Wait-time estimates: benchmark", "",
             "Produced by `python bench/ewt.py`" + (" --quick (short runs)" if quick else "") +
             f" in {total:.0f} s; the method is described in `bench/ewt.py` and `chalicelib/domain/estimator.py`.",
             "", "## Targets", ""]
    parts += [f"- {v}" for v in verdicts] + ["", "## The estimator in brief", "", *METHOD, "", "## Reading the numbers", "",
              "- Scored are callers who had to wait, against their *potential* wait (an abandoner keeps its "
              "place as a shadow caller that takes no agent), so abandonment does not flatter any method.",
              "- The oracle is the Monte Carlo conditional mean given everything the system could know and "
              "the true distributions; efficiency is its squared error over the method's on the same callers. "
              "Sampling noise of a finite run (callers in one run are strongly correlated) is several percent.",
              f"- Coverage is counted over {1 + len(COVERAGE_SEEDS)} runs of each scenario, more where a "
              "position band is thin (each table says how many; the oracle scores "
              "the first). The runs follow one another as one queue's days: an unscored cold first run, "
              "then each run starting from the range calibration the run before left (the queue's saved "
              f"state in production); the cold run's coverage is shown apart. Its 95% interval comes from batch means over {BATCHES} stretches of consecutive "
              "callers (neighbours in time share the line's state, so a binomial interval would be too narrow). "
              "A miss whose interval reaches the target band is marked: it may be noise.",
              "- Coverage per band counts callers by how many were ahead of them when told (after idle agents).",
              "", "## Known limits", "", *LIMITS, "", "## Results", ""]
    parts += [table(r) for r in results]
    try:
        plots = plot(out, results)
        parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    except ImportError:
        parts += ["(plots need matplotlib: `make bench` installs it)"]
    (out / "ewt.md").write_text("\n".join(parts) + "\n", encoding="utf-8")


def plot(out: Path, results: list[Result]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.scenario.name.split(" (")[0].split(",")[0] for r in results]
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.16
    for i, m in enumerate(METHODS):
        ax.bar([x + i * width for x in range(len(results))], [r.efficiency(m) for r in results], width, label=m)
    ax.axhline(0.9, color="k", lw=0.8, ls="--")
    ax.set_xticks([x + 2 * width for x in range(len(results))], names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("efficiency vs the oracle (higher is better)")
    ax.legend()
    ax.set_title("Wait estimate efficiency by method (dashed: target 0.90)")
    fig.tight_layout()
    eff = out / "ewt-efficiency.png"
    fig.savefig(eff, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 4))
    for level, marker in ((80, "o"), (90, "s")):
        ax.plot(names, [r.coverage(r.callers, level) for r in results], marker + "-", label=f"{level}% overall")
        for b in range(len(BANDS)):
            ax.plot(names, [r.coverage(r.band(b), level) if len(r.band(b)) >= 200 else math.nan for r in results],
                    marker, alpha=0.5, ms=4)
        ax.axhspan(level / 100 - 0.02, level / 100 + 0.02, alpha=0.15)
    ax.set_ylabel("share of waits inside the range")
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.legend()
    ax.set_title("Coverage of holdfast's ranges, overall (lines) and per position band (dots); bands: +/- 2 points")
    fig.tight_layout()
    coverage = out / "ewt-coverage.png"
    fig.savefig(coverage, dpi=110)
    plt.close(fig)
    return [eff, coverage]


if __name__ == "__main__":
    sys.exit(main())
