"""bench/ewt.py's runs: the discrete-event simulation of a queue told estimates by each method, and a
queue's consecutive runs (the range calibration carried from one to the next)."""
from __future__ import annotations

import copy
import heapq
import math
import random
import time
from collections import deque

import numpy as np
from chalicelib.domain.estimator import AWAY, BusyAgent, Calibration, QueueEvent, QueueEventKind, WaitEstimator
from chalicelib.domain.ewt import queue_length_predictor

from bench.ewt_oracle import oracle_mean
from bench.ewt_report import Result
from bench.ewt_scenarios import CHANGE_WINDOW, Caller, Dist, HOUR, Scenario, shift_end


ORACLE_SHARE = 0.25


Calibrations = tuple[Calibration, list[Calibration], dict[int, list[Calibration]]]  # pooled, per band, per class


def simulate(sc: Scenario, seed: int, oracle_everywhere: bool = False, oracle: bool = True,
             calibration: Calibrations | None = None,
             next_times: list[float] | None = None) -> tuple[list[Caller], Calibrations]:
    """One run; returns every delayed caller with the methods' estimates and their potential wait, and
    holdfast's range calibration at its end. `calibration`: where that calibration starts (a copy is
    used), as a queue's saved state carries it from one stretch of days to the next; None: cold.
    `next_times`: where the CPU time of each estimate for a caller next in line is appended (seconds)."""
    rng = random.Random(seed)
    g = np.random.default_rng(seed)
    est = WaitEstimator(prior_service_seconds=300.0, prior_patience_seconds=600.0, staffed=sc.staffing(0.0))
    if calibration is not None:
        est.calibration, est.bands, est.class_bands = (copy.deepcopy(c) for c in calibration)
    queue: deque[Caller] = deque()
    waiting = 0  # callers in queue who have not abandoned
    busy: dict[int, tuple[float, Dist]] = {}  # agent -> (call start, its talk-time distribution)
    away: dict[int, float] = {}  # agent -> when their (unannounced) break began
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
        return [a for a in range(sc.staffing(t)) if a not in busy and a not in away]

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
                                   ahead=caller.ahead, klass=klass_of(caller)))
            holdtime = (3 * holdtime + wait) / 4
            last_entered = wait
            begin(agent, t)

    def klass_of(caller: Caller) -> int | None:
        return caller.klass if sc.classes else None

    def draw_class() -> int:
        if not sc.classes:
            return 0
        u = rng.random()
        for k, share in enumerate(sc.classes):
            u -= share
            if u <= 0:
                return k
        return len(sc.classes) - 1

    def ahead_of(klass: int) -> tuple[int, int]:
        """Live callers ahead of a newcomer of `klass` (its class and those above), and where it goes in line."""
        if not sc.classes:
            return waiting, len(queue)
        place = len(queue)
        while place > 0 and queue[place - 1].klass < klass:
            place -= 1
        return sum(1 for c in list(queue)[:place] if not c.ghost), place

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
            klass = draw_class()
            if idle and not waiting:
                est.observe(QueueEvent(QueueEventKind.SERVICE_START, now, 0.0, klass=klass if sc.classes else None))
                last_entered = 0.0
                begin(idle[0], now)
                continue
            n, place = ahead_of(klass)  # callers ahead who are still there (the line a system can see)
            known = [BusyAgent(now - start, (shift_end(sc, a, now) - now) if sc.roster else None)
                     for a, (start, _) in busy.items()]
            known += [BusyAgent(now - since, (shift_end(sc, a, now) - now) if sc.roster else None, AWAY, "break")
                      for a, since in away.items() if a < s]
            s -= sum(1 for a in away if a < s)  # (the staffing production counts: away agents serve nobody)
            joining = [c - now for c in sc.staffing_changes if sc.roster and 0 < c - now < 2 * HOUR
                       for _ in range(sc.staffing(c - 1e-6), sc.staffing(c))]
            head = next((c for c in queue if not c.ghost), None)
            line = {"busy": known, "joining": joining, "head_wait": now - head.arrival if head else None}
            started = time.thread_time()
            e80 = est.estimate(now, n + 1, idle=len(idle), servers=s, coverage=0.8,  # type: ignore[arg-type]
                               klass=klass if sc.classes else None, **line)
            if next_times is not None and n == len(idle):  # the caller next in line
                next_times.append(time.thread_time() - started)
            low90, high90 = est.range_at(e80, 0.9)  # the same estimate's 90% range
            preds = {
                "holdfast": e80.mean,
                "v1": queue_length_predictor(n, max(1, s), est.mu, est.theta).mean,
                "asterisk": float(int((holdtime + 30) // 60) * 60),
                "hol": now - head.arrival if head else 0.0,
                "les": last_entered,
            }
            caller = Caller(now, n, now + (sc.patience.draw(rng) if sc.patience else math.inf), preds,
                            (e80.low, e80.high, low90, high90), e80, scored=now >= sc.warmup, klass=klass)
            near_change = any(0 <= now - c < CHANGE_WINDOW for c in sc.changes)
            # (with priority classes only the first class has an oracle: later arrivals never go ahead of it)
            exact = not sc.classes or klass == len(sc.classes) - 1
            if caller.scored and oracle and exact and (oracle_everywhere or near_change or rng.random() < ORACLE_SHARE):
                caller.oracle = oracle_mean(sc, g, now, busy, idle, [now - c.arrival for c in list(queue)[:place]
                                                                     if not c.ghost], away)
            queue.insert(place, caller)
            waiting += 1
            if caller.deadline < math.inf:
                push(caller.deadline, "abandon", caller)
            if caller.scored:
                scored.append(caller)
        elif kind == "end":
            agent = int(payload)  # type: ignore[arg-type]
            start, _ = busy.pop(agent)
            est.observe(QueueEvent(QueueEventKind.SERVICE_END, now, now - start))
            if sc.breaks and rng.random() < sc.breaks[0]:  # a break nobody announced
                away[agent] = now
                push(now + sc.breaks[1].draw(rng), "back", agent)
            start_service(now)
        elif kind == "back":
            agent = int(payload)  # type: ignore[arg-type]
            est.observe(QueueEvent(QueueEventKind.STATE_END, now, now - away.pop(agent), state=AWAY, reason="break"))
            start_service(now)
        elif kind == "abandon":
            caller = payload  # type: ignore[assignment]
            if not caller.done and not caller.ghost:
                caller.ghost = True
                waiting -= 1
                waited = now - caller.arrival
                est.observe(QueueEvent(QueueEventKind.ABANDON, now, waited, pit=caller.told.pit(waited),  # type: ignore[attr-defined]
                                       ahead=caller.ahead, klass=klass_of(caller)))
        elif kind == "staff":
            est.observe(QueueEvent(QueueEventKind.STAFFING, now, sc.staffing(now)))
            start_service(now)
    return [c for c in scored if c.potential is not None], (est.calibration, est.bands, est.class_bands)


COLD_SEED = 0  # the run before the scored ones: a new queue, its ranges calibrated from nothing


def run(sc: Scenario, seeds: list[int], coverage_seeds: tuple[int, ...] | None = None) -> Result:
    """A queue's consecutive stretches of days: a first run from a cold calibration (reported apart,
    not scored against the targets), then the scored runs, each starting from the calibration the
    one before left, as the queue's saved estimator state carries it in production. Only the range
    calibration carries over: every run learns talk times, patience and all else from its prior."""
    t0 = time.perf_counter()
    cold, calibration = simulate(sc, COLD_SEED, oracle=False)
    callers: list[Caller] = []
    next_times: list[float] = []
    coverage_only = sc.coverage_seeds if coverage_seeds is None else coverage_seeds
    for seed, oracle in [(seed, True) for seed in seeds] + [(seed, False) for seed in coverage_only]:
        scored, calibration = simulate(sc, seed, oracle=oracle, calibration=calibration,
                                       next_times=next_times if oracle else None)
        callers += scored
    return Result(sc, callers, time.perf_counter() - t0, cold, next_times)
