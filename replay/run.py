"""A replay: the log's segments, for each policy and each repetition of the unknowns, in worker
processes; per day and overall, the mean and 95% interval over the repetitions; and the check of the
no-callback replay against what the log says happened."""
from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable

from bench.daysim import POLICIES, summarize

from .analysis import Profile, advice, queue_settings, seed_state
from .load import ImportedLog
from .sim import CallerModel, Segment, Setup, base_queue, run_segment, segments

# measures whose overall value weighs each day by what its ratio is of (DESIGN.md's measures)
SHARES = ("answered_live", "service_level", "abandoned_short", "abandoned_long", "not_answered_live",
          "chose_callback", "recovered_callback", "recovered_call_again", "unrecovered", "unrecovered_long")


@dataclass(frozen=True)
class Tolerance:
    """How close the no-callback replay must come to what the log says (and why it may differ: the
    log's ACD picks agents and rings them its own way, callers the log saw answered have drawn patience,
    callers it never saw answered drawn talk times)."""

    measure: str
    label: str
    absolute: float  # in the measure's unit
    relative: float = 0.0  # or this share of the log's value, whichever is larger

    def within(self, replay: float, log: float) -> bool:
        return abs(replay - log) <= max(self.absolute, self.relative * abs(log))


TOLERANCES = (Tolerance("answered_live", "answered live", 0.03), Tolerance("not_answered_live", "lost (not answered live)", 0.03),
              Tolerance("service_level", "service level (20 s)", 0.05), Tolerance("asa", "ASA (s)", 10.0, 0.25))


@dataclass
class Options:
    policies: tuple[str, ...] = POLICIES
    reps: int = 5
    seed: int = 1
    segment_days: int = 14
    warm_days: int = 1
    cool_days: int = 2
    workers: int = max(1, os.cpu_count() or 1)
    model: CallerModel = field(default_factory=CallerModel)
    queue: dict[str, Any] | None = None  # the queue file's fields (Holdfast's settings)


@dataclass
class Result:
    per_day: dict[str, dict[date, dict[str, tuple[float, float]]]]  # policy -> day -> measure -> (mean, half)
    overall: dict[str, dict[str, tuple[float, float]]]  # policy -> measure -> (mean, half)
    runs: dict[str, list[dict[str, float]]]  # policy -> overall measures per repetition
    log_days: dict[date, dict[str, float]]
    log_overall: dict[str, float]
    advice_days: dict[date, dict[str, float]]
    advice_week: list[int]
    validation: list[tuple[Tolerance, float, float, float, bool]]  # tolerance, replay, its half-width, log, ok
    skipped_repeats: dict[str, float]
    settings: dict[str, Any]
    base_queue: dict[str, Any]
    holdfast: dict[str, Any]
    options: Options
    seconds: float
    calls_replayed: int  # calls simulated, warm-ups and cool-downs included
    tasks: int  # segment runs (policies x repetitions x segments)


_SETUP: Setup | None = None
_PROGRESS: Any = None  # calls replayed so far, shared by the worker processes (a multiprocessing Value)
_TICK: Callable[[], None] | None = None  # in one process: redraw the bar as each day ends


def _init(setup: Setup, progress: Any) -> None:
    global _SETUP, _PROGRESS
    _SETUP, _PROGRESS = setup, progress


def _task(job: tuple[str, int, int, Segment]) -> tuple[str, int, int, list[tuple[date, dict[str, Any]]], int]:
    policy, rep, index, segment = job
    assert _SETUP is not None
    counted = [0]

    def day_done(sim: Any) -> None:  # each simulated day: the calls it took, for the progress bar
        if _PROGRESS is not None:
            with _PROGRESS.get_lock():
                _PROGRESS.value += len(sim.records) - counted[0]
        counted[0] = len(sim.records)
        if _TICK is not None:
            _TICK()

    results, skipped = run_segment(_SETUP, policy, rep, segment, day_done)
    return policy, rep, index, results, skipped


class Bar:
    """A progress bar on stderr: done/total, elapsed, and the time left at the pace so far."""

    def __init__(self, total: float, what: str, stream: Any = None) -> None:
        self.total, self.what, self.done = total, what, 0.0
        self.started = time.perf_counter()
        self.stream = stream if stream is not None else sys.stderr

    def update(self, done: float, note: str = "") -> None:
        self.done = done
        elapsed = time.perf_counter() - self.started
        if not self.total:  # a count whose end is not known yet
            print(f"\r{done:,.0f} {self.what}  {elapsed:5.0f} s", end="", file=self.stream, flush=True)
            return
        width = 30
        frac = min(1.0, done / self.total)
        left = elapsed / frac - elapsed if frac > 0 else float("nan")
        eta = f"{left:5.0f} s left" if math.isfinite(left) else "      "
        print(f"\r[{'#' * int(width * frac)}{'.' * (width - int(width * frac))}] {done:,.0f}/{self.total:,.0f} "
              f"{self.what}  {elapsed:5.0f} s  {eta}  {note[:30]:<30}", end="", file=self.stream, flush=True)

    def close(self) -> None:
        print(file=self.stream, flush=True)


def prepare(log: ImportedLog, prof: Profile, options: Options) -> Setup:
    settings = queue_settings(prof)
    base, holdfast = base_queue(settings, options.queue)
    setup = Setup(log, prof, base, holdfast, options.model)
    from chalicelib.domain.queues import parse_queue

    queue = parse_queue({**base})
    for seg in segments(log.first_day, log.last_day, options.segment_days, options.warm_days, options.cool_days):
        setup.seeds[seg.start] = seed_state(log, queue, log.midnight(seg.start))
    return setup


def replay(log: ImportedLog, prof: Profile, options: Options, progress: bool = True,
           on_task: Callable[[int, int], None] | None = None) -> Result:
    started = time.perf_counter()
    setup = prepare(log, prof, options)
    segs = segments(log.first_day, log.last_day, options.segment_days, options.warm_days, options.cool_days)
    jobs = [(policy, rep, k, seg) for rep in range(options.seed, options.seed + options.reps)
            for policy in options.policies for k, seg in enumerate(segs)]
    calls_per_seg = [sum(1 for _ in log.calls_only(log.midnight(s.start), log.midnight(s.end))) for s in segs]
    total = sum(calls_per_seg[k] for _, _, k, _ in jobs)
    bar = Bar(total, "calls replayed") if progress else None
    collected: dict[tuple[str, int], dict[date, dict[str, Any]]] = {}
    skipped: dict[str, list[int]] = {}
    done = 0
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("q", 0)
    note = ""

    def tick() -> None:
        if bar is not None:
            bar.update(min(total, max(done, counter.value)), note)

    for item in _map(setup, jobs, options.workers, counter, tick):
        if item is None:  # no segment finished this second: the bar moves with the days simulated
            tick()
            continue
        policy, rep, k, results, n_skipped = item
        collected.setdefault((policy, rep), {}).update(dict(results))
        skipped.setdefault(policy, []).append(n_skipped)
        done += calls_per_seg[k]
        note = f"{policy} run {rep - options.seed + 1}/{options.reps}"
        tick()
        if on_task is not None:
            on_task(done, total)
    if bar is not None:
        bar.close()
    return _summarise(log, prof, setup, options, collected, skipped, time.perf_counter() - started, done, len(jobs))


def _map(setup: Setup, jobs: list[tuple[str, int, int, Segment]], workers: int, counter: Any,
         tick: Callable[[], None]) -> Iterable[Any]:
    """The jobs' results as they finish, in worker processes (None while none finished in a second)."""
    global _TICK
    if workers <= 1 or len(jobs) == 1:
        _init(setup, counter)
        _TICK = tick
        try:
            for job in jobs:
                yield _task(job)
        finally:
            _TICK = None
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_init, initargs=(setup, counter)) as pool:
        results = pool.imap_unordered(_task, jobs)
        left = len(jobs)
        while left:
            try:
                item = results.next(timeout=1.0)
            except multiprocessing.TimeoutError:
                yield None
                continue
            left -= 1
            yield item


def overall(days: list[tuple[dict[str, Any], float]]) -> dict[str, float]:
    """One repetition's measures over all its days: each share weighed by the calls it is of, ASA by
    the calls answered live, occupancy by the staffed time, times to callback pooled."""
    offered = sum(m["offered"] for m, _ in days)
    out: dict[str, float] = {"offered": float(offered)}
    for key in SHARES:
        out[key] = sum(m[key] * m["offered"] for m, _ in days) / offered if offered else float("nan")
    answered = sum(m["answered_live"] * m["offered"] for m, _ in days)
    out["asa"] = sum(m["asa"] * m["answered_live"] * m["offered"] for m, _ in days) / answered if answered else 0.0
    staffed = sum(s for _, s in days)
    out["occupancy"] = sum(m["occupancy"] * s for m, s in days if math.isfinite(m["occupancy"])) / staffed \
        if staffed else float("nan")
    ttc = sorted(x for m, _ in days for x in m.get("_ttc", ()))
    out["ttc_p50"] = ttc[int(0.5 * len(ttc))] / 60 if ttc else float("nan")
    out["ttc_p90"] = ttc[min(len(ttc) - 1, int(0.9 * len(ttc)))] / 60 if ttc else float("nan")
    recovered = [(m["dials_per_recovered"], m["recovered_callback"] * m["offered"]) for m, _ in days
                 if math.isfinite(m["dials_per_recovered"])]
    weight = sum(w for _, w in recovered)
    out["dials_per_recovered"] = sum(d * w for d, w in recovered) / weight if weight else float("nan")
    kept = [(m["promise_kept"], m["chose_callback"] * m["offered"]) for m, _ in days
            if math.isfinite(m["promise_kept"])]
    weight = sum(w for _, w in kept)
    out["promise_kept"] = sum(k * w for k, w in kept) / weight if weight else float("nan")
    return out


def _summarise(log: ImportedLog, prof: Profile, setup: Setup, options: Options,
               collected: dict[tuple[str, int], dict[date, dict[str, Any]]], skipped: dict[str, list[int]],
               seconds: float, calls: int, tasks: int) -> Result:
    per_day: dict[str, dict[date, dict[str, tuple[float, float]]]] = {}
    overall_s: dict[str, dict[str, tuple[float, float]]] = {}
    runs: dict[str, list[dict[str, float]]] = {}
    reps = range(options.seed, options.seed + options.reps)
    for policy in options.policies:
        days = sorted({d for rep in reps for d in collected.get((policy, rep), {})})
        per_day[policy] = {d: summarize([collected[(policy, rep)][d] for rep in reps
                                         if d in collected.get((policy, rep), {})]) for d in days}
        runs[policy] = [overall([(m, prof.days[d].staffed_seconds) for d, m in sorted(collected[(policy, rep)].items())])
                        for rep in reps if (policy, rep) in collected]
        overall_s[policy] = summarize(runs[policy]) if runs[policy] else {}
    log_days = {d: t.measures() for d, t in prof.days.items() if t.offered}
    log_overall = overall([({**m, "_ttc": [], "dials_per_recovered": float("nan"), "promise_kept": float("nan"),
                             "unrecovered_long": float("nan")}, prof.days[d].staffed_seconds)
                           for d, m in log_days.items()])
    advice_days, advice_week = advice(prof, options.workers)
    validation = []
    if "none" in overall_s:
        for tol in TOLERANCES:
            mean, half = overall_s["none"][tol.measure]
            ref = log_overall[tol.measure]
            validation.append((tol, mean, half, ref, tol.within(mean, ref)))
    return Result(per_day, overall_s, runs, log_days, log_overall, advice_days, advice_week, validation,
                  {p: sum(v) / max(1, options.reps) for p, v in skipped.items()},
                  queue_settings(prof), setup.base_queue, setup.holdfast, options, seconds, calls, tasks)

