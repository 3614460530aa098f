"""Replaying a million calls: a synthetic Asterisk queue_log from a known model, imported, read and
replayed with no callback through Holdfast's own code (replay/, bench/daysim.py), timed, its memory
measured, and checked: the no-callback replay against what the log says happened, and what the
analysis reads from the log against the model that wrote it. Each target MET or NOT MET.

The log is written by a plain ACD (first come first served, any free agent, wrap-up after each call),
not by Holdfast: it stands where Asterisk stands.

Usage: python bench/replay.py [--calls 1000000] [--workers 2] [--reps 1] [--quick]
"""
from __future__ import annotations

import argparse
import heapq
import math
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from replay.analysis import profile  # noqa: E402
from replay.load import load  # noqa: E402
from replay.run import Options, replay  # noqa: E402

TARGET_SECONDS = 600.0  # 1 million calls in under 10 minutes
TARGET_MEMORY_MB = 2048.0  # any process's peak resident memory
TZ = "America/New_York"


@dataclass(frozen=True)
class Model:
    """The known model the synthetic log is written from."""

    calls_per_day: float = 2740.0  # a million calls in a year
    open_h: int = 8
    close_h: int = 20
    weekend: float = 0.4  # Saturday and Sunday's arrivals against a weekday's
    surge: float = 2.0  # midday peak over the morning's rate
    talk_mean: float = 300.0  # lognormal
    talk_sigma: float = 0.5
    wrap: float = 30.0
    short: float = 0.03  # hang up within 5 s
    patience_mean: float = 150.0  # lognormal, the others
    patience_sigma: float = 1.0
    redial: float = 0.3  # a missed caller calls again ...
    redial_mean: float = 1800.0  # ... after this long on average (exponential), if still open
    occupancy: float = 1.05  # agents rostered: offered load / this, per half hour (rounded up): ~13% not answered live
    pause: float = 0.1  # share of agents who pause for a quarter of an hour in a half hour

    def shape(self, weekday: int, hour: float) -> float:
        """Relative arrival rate at a local time (0 outside hours)."""
        if not self.open_h <= hour < self.close_h:
            return 0.0
        bump = 1 + (self.surge - 1) * math.exp(-((hour - 13.0) / 2.0) ** 2)
        return bump * (self.weekend if weekday >= 5 else 1.0)

    def rate(self, weekday: int, hour: float) -> float:
        """Calls per second."""
        return self.calls_per_day / 86400.0 * self.shape(weekday, hour) / self.mean_shape

    @property
    def mean_shape(self) -> float:
        return _mean_shape(self)

    @property
    def patience_true_mean(self) -> float:
        return (1 - self.short) * self.patience_mean + self.short * 2.95


@lru_cache(maxsize=8)
def _mean_shape(model: Model) -> float:
    return sum(model.shape(d, h / 10) for d in range(7) for h in range(240)) / (7 * 240)


class Generator:
    """A plain ACD in event time, writing queue_log lines in time order as it goes."""

    def __init__(self, model: Model, days: int, seed: int, out: TextIO) -> None:
        self.m, self.days, self.rng, self.out = model, days, random.Random(seed), out
        self.zone = ZoneInfo(TZ)
        self.start = datetime(2026, 1, 5, tzinfo=self.zone)  # a Monday
        self.lines: list[tuple[float, int, str]] = []  # to write, by time
        self.seq = 0
        self.calls = 0
        self.numbers = [f"+1212{self.rng.randrange(2_000_000, 9_999_999)}" for _ in range(int(model.calls_per_day * 40))]

    def emit(self, at: float, text: str) -> None:
        self.seq += 1
        heapq.heappush(self.lines, (at, self.seq, f"{int(at)}|{text}\n"))

    def flush(self, until: float) -> None:
        while self.lines and self.lines[0][0] <= until:
            self.out.write(heapq.heappop(self.lines)[2])

    def run(self) -> int:
        m, rng = self.m, self.rng
        events: list[tuple[float, int, str, object]] = []
        seq = 0

        def at(t: float, kind: str, data: object = None) -> None:
            nonlocal seq
            seq += 1
            heapq.heappush(events, (t, seq, kind, data))

        t0 = self.start.timestamp()
        end = (self.start + timedelta(days=self.days)).timestamp()
        # arrivals by thinning a Poisson process at the peak rate
        peak = max(m.rate(d, h / 10) for d in range(7) for h in range(240))
        t = t0
        while True:
            t += rng.expovariate(peak)
            if t >= end:
                break
            local = datetime.fromtimestamp(t, self.zone)
            if rng.random() * peak < m.rate(local.weekday(), local.hour + local.minute / 60):
                at(t, "arrive", None)
        # the roster: per half hour, the offered load over the occupancy, rounded up
        for day in range(self.days):
            date = (self.start + timedelta(days=day)).date()
            for slot in range(48):
                when = datetime(date.year, date.month, date.day, slot // 2, 30 * (slot % 2), tzinfo=self.zone)
                load = m.rate(date.weekday(), slot / 2 + 0.25) * (m.talk_mean + m.wrap)
                at(when.timestamp(), "roster", math.ceil(load / m.occupancy) if load > 0 else 0)
        waiting: deque = deque()  # [call id, arrived, caller, patience, talk, live?]
        idle: list[str] = []
        on: set[str] = set()
        busy: set[str] = set()
        leaving: set[str] = set()
        paused: set[str] = set()
        agents = 0
        while events:
            t, _, kind, data = heapq.heappop(events)
            self.flush(t)
            if kind == "arrive" or kind == "redial":
                self.calls += 1
                caller = data if kind == "redial" else rng.choice(self.numbers)
                cid = f"{t:.1f}.{self.calls}"
                short = rng.random() < m.short
                patience = rng.uniform(1, 4.9) if short else rng.lognormvariate(
                    math.log(m.patience_mean) - m.patience_sigma ** 2 / 2, m.patience_sigma)
                talk = rng.lognormvariate(math.log(m.talk_mean) - m.talk_sigma ** 2 / 2, m.talk_sigma)
                entry = [cid, t, caller, patience, talk, True]
                self.emit(t, f"{cid}|support|NONE|ENTERQUEUE||{caller}|1")
                waiting.append(entry)
                at(t + patience, "abandon", entry)
            elif kind == "abandon":
                entry = data
                if entry[5]:  # still waiting
                    entry[5] = False
                    waiting.remove(entry)
                    self.emit(t, f"{entry[0]}|support|NONE|ABANDON|1|1|{int(t - entry[1])}")
                    local = datetime.fromtimestamp(t, self.zone)
                    again = t + rng.expovariate(1 / m.redial_mean)
                    if rng.random() < m.redial and m.shape(local.weekday(), datetime.fromtimestamp(
                            again, self.zone).hour) > 0 and again < end:
                        at(again, "redial", entry[2])
            elif kind == "free":
                agent = data
                busy.discard(agent)
                if agent in leaving:
                    leaving.discard(agent)
                    on.discard(agent)
                    self.emit(t, f"NONE|support|{agent}|REMOVEMEMBER|")
                elif agent in on and agent not in paused:
                    idle.append(agent)
            elif kind == "roster":
                want = data
                while len(on) - len(leaving) < want:
                    agent = next((a for a in leaving), None)
                    if agent is not None:
                        leaving.discard(agent)
                        continue
                    agents += 1
                    agent = next(f"SIP/{n}" for n in range(100, 100 + agents + len(on) + 1)
                                 if f"SIP/{n}" not in on)
                    on.add(agent)
                    idle.append(agent)
                    self.emit(t, f"NONE|support|{agent}|ADDMEMBER|")
                while len(on) - len(leaving) > want:
                    agent = idle.pop() if idle else next(a for a in sorted(on) if a not in leaving)
                    if agent in busy:
                        leaving.add(agent)
                    else:
                        on.discard(agent)
                        paused.discard(agent)
                        self.emit(t, f"NONE|support|{agent}|REMOVEMEMBER|")
                for agent in sorted(on - busy - paused - leaving):
                    if rng.random() < m.pause and agent in idle:
                        idle.remove(agent)
                        paused.add(agent)
                        self.emit(t, f"NONE|support|{agent}|PAUSE|break")
                        at(t + 900, "unpause", agent)
            elif kind == "unpause":
                agent = data
                if agent in paused:
                    paused.discard(agent)
                    self.emit(t, f"NONE|support|{agent}|UNPAUSE|")
                    if agent in on and agent not in busy:
                        idle.append(agent)
            while idle and waiting:  # first come, first served
                agent = idle.pop(0)
                if agent not in on or agent in paused:
                    continue
                entry = waiting.popleft()
                entry[5] = False
                wait = int(t - entry[1])
                self.emit(t, f"{entry[0]}|support|{agent}|CONNECT|{wait}|{entry[0]}.1|0")
                self.emit(t + entry[4], f"{entry[0]}|support|{agent}|COMPLETECALLER|{wait}|{int(entry[4])}|1")
                busy.add(agent)
                at(t + entry[4] + m.wrap, "free", agent)
        self.flush(math.inf)
        return self.calls


def generate(path: Path, calls: int, seed: int = 7, model: Model | None = None) -> tuple[int, Model]:
    """A queue_log of about `calls` calls (the model's daily rate, over as many days as that takes)."""
    model = model or Model()
    days = max(1, round(calls / (model.calls_per_day * (1 + model.redial * 0.2))))
    with open(path, "w", encoding="utf-8") as out:
        n = Generator(model, days, seed, out).run()
    return n, model


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children: what the work cost, whoever
    else shares the machine."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its largest finished child."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20,000 calls: a smoke run")
    parser.add_argument("--profile", action="store_true",
                        help="instead: where a replay's time goes (cProfile over two days of the log, by module)")
    args = parser.parse_args(argv)
    calls = 20_000 if args.quick else args.calls
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    path = work / "queue_log"
    started = time.perf_counter()
    n, model = generate(path, calls, args.seed)
    generated = time.perf_counter() - started
    print(f"synthetic queue_log: {n:,} calls, {path.stat().st_size / 1e6:.0f} MB, written in {generated:.0f} s "
          "(not timed)", file=sys.stderr)
    if args.profile:
        return where_time_goes(path)
    tracemalloc.start()
    t0 = time.perf_counter()
    log = load(path, "queue_log", tz=TZ)
    prof = profile(log)
    imported = time.perf_counter() - t0
    _, import_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t1, cpu1 = time.perf_counter(), cpu_seconds()
    result = replay(log, prof, Options(policies=("none",), reps=args.reps, workers=args.workers, seed=args.seed))
    replayed = time.perf_counter() - t1
    cpu = cpu_seconds() - cpu1
    total = imported + replayed
    self_mb, child_mb = peak_mb()
    rate = result.calls_replayed / replayed if replayed else float("nan")
    processes = min(args.workers, result.tasks)
    lines = [f"Replay of {n:,} calls ({log.first_day} to {log.last_day}, {len(log.days)} days; "
             f"{processes} worker process(es), {args.reps} run(s) of the unknowns, policy none; "
             f"{result.calls_replayed:,} calls simulated with the segments' warm-ups and cool-downs; "
             f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):",
             f"  import and analysis: {imported:.0f} s ({n / imported:,.0f} calls/s), traced peak {import_peak / 1e6:.0f} MB",
             f"  replay: {replayed:.0f} s, {rate:,.0f} calls/s ({rate / processes:,.0f} per process); "
             f"CPU {cpu:.0f} s, {cpu / result.calls_replayed * 1000:.1f} ms a call: a million calls on "
             f"{os.cpu_count()} idle cores would take {cpu / result.calls_replayed * 1e6 * result.calls_replayed / n / max(1, os.cpu_count() or 1):,.0f} s",
             f"  total {total:.0f} s; peak resident memory: main {self_mb:.0f} MB, largest worker {child_mb:.0f} MB",
             "", "Validation: no callback replayed vs what the log says (mean ± 95% interval over runs; tolerance)",
             "| measure | replay | log | tolerance | |", "| --- | ---: | ---: | ---: | --- |"]
    checks: list[tuple[bool, str]] = []
    for tol, mean, half, ref, ok in result.validation:
        scale, unit = (100, "%") if tol.measure != "asa" else (1, " s")
        width = f"± {tol.absolute * scale:g}{unit}" + (f" or {tol.relative:.0%}" if tol.relative else "")
        half_text = "" if math.isnan(half) else f" ± {half * scale:.1f}"
        lines.append(f"| {tol.label} | {mean * scale:.1f}{unit}{half_text} | {ref * scale:.1f}{unit} | {width} | "
                     f"{'MET' if ok else 'NOT MET'} |")
        checks.append((ok, f"no callback vs log: {tol.label} {mean * scale:.1f}{unit} vs {ref * scale:.1f}{unit} ({width})"))
    lines += ["", "What the analysis read from the log vs the model that wrote it:",
              "| parameter | from the log | model | tolerance | |", "| --- | ---: | ---: | ---: | --- |"]
    arrivals_week = sum(prof.arrivals_week)
    model_week = sum(model.rate(d, h / 120) * 30 for d in range(7) for h in range(48 * 60)) * (1 + 0.0)
    known = [("talk time mean (s)", prof.talk_mean, model.talk_mean, 0.03),
             ("patience mean (s, censored)", prof.patience_mean, model.patience_true_mean, 0.15),
             ("first calls per week", arrivals_week * (1 - prof.redialed / max(1, prof.calls)), model_week, 0.03),
             ("missed callers who call again", prof.redial_share, model.redial, 0.15)]
    for name, got, want, rel in known:
        ok = abs(got - want) <= rel * abs(want)
        lines.append(f"| {name} | {got:,.3g} | {want:,.3g} | ± {rel:.0%} | {'MET' if ok else 'NOT MET'} |")
        checks.append((ok, f"log vs model: {name} {got:,.3g} vs {want:,.3g} (± {rel:.0%})"))
    scale = 1_000_000 / n
    checks.append((total * scale <= TARGET_SECONDS,
                   f"{n:,} calls imported and replayed in {total:.0f} s: {total * scale:.0f} s per million "
                   f"<= {TARGET_SECONDS:.0f} s"))
    checks.append((max(self_mb, child_mb) <= TARGET_MEMORY_MB,
                   f"peak resident memory {max(self_mb, child_mb):.0f} MB <= {TARGET_MEMORY_MB:.0f} MB"))
    lines += [""] + [f"{'MET    ' if ok else 'NOT MET'} {text}" for ok, text in checks]
    print("\n".join(lines))
    log.close()
    path.unlink()
    work.rmdir()
    return 0


def where_time_goes(path: Path) -> int:
    """Replays two days with no callback under cProfile and sums the time spent in each module."""
    import cProfile
    import pstats
    from collections import defaultdict

    from replay.run import prepare
    from replay.sim import ReplaySim, segments

    log = load(path, "queue_log", tz=TZ)
    prof = profile(log)
    setup = prepare(log, prof, Options())
    segment = segments(log.first_day, log.last_day, 2, 0, 0)[0]
    calls = sum(1 for _ in log.calls_only(log.midnight(segment.start), log.midnight(segment.end)))
    profiler = cProfile.Profile()
    profiler.enable()
    ReplaySim(setup, "none", 1, segment).run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_module: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = filename.replace(str(ROOT) + "/", "")
        key = name if name.startswith(("chalicelib/", "replay/", "bench/")) else (
            "phonenumbers (the product's number checks)" if "phonenumbers" in name else "Python and its library")
        by_module[key] += tottime
    total = sum(by_module.values())
    print(f"Where a replay's time goes: {calls:,} calls over two days, no callback, one process, under cProfile "
          f"({total:.0f} s, {total / calls * 1000:.1f} ms a call):")
    print("| module | share | ms a call |\n| --- | ---: | ---: |")
    for key, seconds in sorted(by_module.items(), key=lambda kv: -kv[1])[:12]:
        print(f"| {key} | {seconds / total:.1%} | {seconds / calls * 1000:.2f} |")
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
