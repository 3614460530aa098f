"""A day in a contact center that has too few agents, four ways: what happens to lost calls?

Discrete-event simulation in virtual time of one working day like the seed case: calls arrive from
07:00 (the queue opens at 08:00) surging to 4x around midday, too few agents, callers with limited
patience, about 3% hanging up at the first ring. The same callers (common random numbers) meet four
policies:

  none      no callbacks: whoever hangs up is lost
  unitalk   a caller who hung up is called back once, only if an agent frees up within 5 minutes
            (that agent calls them back before taking the next caller in the queue)
  comagic   automatic callback attempts 0, 5, 10 and 15 minutes after the hang-up, each needing an
            agent free at that moment
  holdfast  Holdfast's own domain code: the estimator announces the wait and the offer policy offers
            "press 1" when it is long; callbacks keep the caller's ticket number and are dialed when
            that number is at the head of the line; lost calls past the short-abandon threshold and
            after-hours calls are recovered; retries follow plan_next (0/5/10/15 min, inside business
            hours and the callee's calling window)

Printed per policy: lost-call rate, unrecovered lost rate, service level (20 s), ASA, time to
callback, agent occupancy. Target: unrecovered lost < 3% where no-callback loses > 20%.

Usage: python bench/day.py [--seed N] [--out docs]
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.domain.estimator import QueueEvent, QueueEventKind, WaitEstimator  # noqa: E402
from chalicelib.domain.model import Outcome  # noqa: E402
from chalicelib.domain.queues import parse_queue  # noqa: E402
from chalicelib.domain.retry import plan_next  # noqa: E402

POLICIES = ("none", "unitalk", "comagic", "holdfast")
DAY = datetime(2026, 11, 23, tzinfo=timezone.utc)  # a Monday; the queue and callers are in New York
QUEUE = parse_queue({
    "id": "seed", "hours": {"timezone": "America/New_York", "mon": ["08:00-20:00"], "tue": ["08:00-20:00"]},
    "offer_callback_after_seconds": 120, "short_abandon_seconds": 10, "average_handle_seconds": 300,
    "average_patience_seconds": 240, "retry_delays_seconds": [0, 300, 600, 900]})
NY = -5 * 3600  # New York is UTC-5 on this day
RING_SECONDS, NO_ANSWER_SECONDS = 20.0, 25.0
OFFER_SECONDS = 15.0


def local(hours: float) -> float:
    """Virtual time (seconds since DAY 00:00 UTC) of a New York wall-clock hour."""
    return hours * 3600 - NY


def wall(t: float) -> datetime:
    return DAY + timedelta(seconds=t)


@dataclass
class Caller:
    id: int
    arrival: float
    patience: float
    presses_one: float  # uniform: compared with the offer's appeal
    answers: list[float]  # uniform per callback attempt: answers if below the answer probability
    number: str
    # outcome
    served_at: float | None = None
    waited: float | None = None
    lost_at: float | None = None
    first_ring: bool = False
    recovered_at: float | None = None
    booked: bool = False


def arrivals(seed: int) -> list[Caller]:
    rng = random.Random(seed)
    out: list[Caller] = []

    def rate(h: float) -> float:  # calls per hour at New York hour h
        if h < 7 or h >= 21:
            return 0.0
        if h < 8 or h >= 20:
            return 15.0  # after hours
        return 45.0 * (1 + 3 * math.exp(-((h - 12.5) / 1.7) ** 2))  # 4x at midday

    t, peak = local(7), 180.0
    while t < local(21):
        t += rng.expovariate(peak / 3600)
        h = (t + NY) / 3600
        if rng.random() * peak < rate(h):
            first_ring = rng.random() < 0.03
            patience = rng.uniform(1, 5) if first_ring else rng.lognormvariate(math.log(150), 0.9)
            out.append(Caller(len(out), t, patience, rng.random(), [rng.random() for _ in range(8)],
                              f"+1212{rng.randrange(2_000_000, 9_999_999)}"))
    return out


def staffing(t: float) -> int:
    h = (t + NY) / 3600
    if h < 8 or h >= 20:
        return 0
    if h < 11:
        return 7
    if h < 16:
        return 9  # the midday surge needs ~17 busy agents: far too few
    return 13  # the evening shift is there to clear the backlog


@dataclass(order=True)
class Event:
    at: float
    seq: int
    kind: str = field(compare=False)
    data: object = field(compare=False, default=None)


class Day:
    def __init__(self, policy: str, callers: list[Caller], answer_p: float = 0.75) -> None:
        self.policy = policy
        self.callers = [Caller(c.id, c.arrival, c.patience, c.presses_one, list(c.answers), c.number)
                        for c in callers]
        self.answer_p = answer_p
        self.events: list[Event] = []
        self.seq = 0
        self.free = 0
        self.busy_time = 0.0
        self.staffed_time = 0.0
        self.last_t = 0.0
        self.staff = 0
        # the line: (ticket number, kind, caller); live callers and callbacks due, by ticket number
        self.line: list[tuple[int, str, int]] = []
        self.waiting: set[int] = set()  # live callers still holding
        self.due: dict[int, int] = {}  # caller -> callback attempt number (holdfast) in line
        self.pending: list[tuple[float, int]] = []  # unitalk: (deadline, caller)
        self.estimator = WaitEstimator(prior_service_seconds=300, prior_patience_seconds=240, staffed=1)
        self.queue_samples: list[tuple[float, int]] = []

    def push(self, at: float, kind: str, data: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, Event(at, self.seq, kind, data))

    def account(self, t: float) -> None:
        dt = t - self.last_t
        self.staffed_time += self.staff * dt
        self.busy_time += (self.staff - self.free) * dt if self.staff >= self.free else 0
        self.last_t = t

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> "Day":
        for c in self.callers:
            self.push(c.arrival, "arrive", c.id)
        for h in range(7, 23):
            self.push(local(h), "staff")
        for h in (11, 16):
            self.push(local(h), "staff")
        while self.events:
            ev = heapq.heappop(self.events)
            if ev.at > local(23):
                break
            self.account(ev.at)
            getattr(self, "on_" + ev.kind)(ev.at, ev.data)
            self.queue_samples.append((ev.at, len(self.waiting)))
        return self

    def on_staff(self, t: float, _: object) -> None:
        new = staffing(t)
        self.free += new - self.staff  # may go negative while busy agents finish (they then leave)
        self.staff = new
        self.estimator.observe(QueueEvent(QueueEventKind.STAFFING, t, new))
        self.dispatch(t)

    def is_open(self, t: float) -> bool:
        return QUEUE.hours.is_open(wall(t))

    def on_arrive(self, t: float, cid: int) -> None:
        c = self.callers[cid]
        if not self.is_open(t):
            c.lost_at = t  # after hours
            if self.policy == "holdfast":
                self.book(t, c, attempt=1)
            return
        ahead = len(self.waiting) + sum(1 for n, kind, _ in self.line if kind == "callback")
        if self.policy == "holdfast" and self.free <= 0:
            est = self.estimator.estimate(t, ahead + 1, servers=max(1, self.staff))
            # the offer policy (CallFlow): offer press 1 when the wait is long; the caller decides
            hears_offer = c.patience > OFFER_SECONDS  # the offer takes this long to say
            if (hears_offer and est.mean >= QUEUE.offer_callback_after_seconds
                    and c.presses_one < min(0.8, 0.3 + est.mean / 1200)):
                c.booked = True
                self.line.append((c.id, "callback", c.id))  # same ticket number: same place
                self.due[c.id] = 1
                self.dispatch(t)
                return
        self.waiting.add(c.id)
        self.line.append((c.id, "live", c.id))
        self.push(t + c.patience, "abandon", c.id)
        self.dispatch(t)

    def on_abandon(self, t: float, cid: int) -> None:
        if cid not in self.waiting:
            return
        self.waiting.discard(cid)
        c = self.callers[cid]
        c.lost_at = t
        c.first_ring = t - c.arrival < QUEUE.short_abandon_seconds
        self.estimator.observe(QueueEvent(QueueEventKind.ABANDON, t, t - c.arrival))
        if c.first_ring:
            return
        if self.policy == "unitalk":
            self.pending.append((t + 300, cid))
        elif self.policy == "comagic":
            for k, offset in enumerate((0, 300, 600, 900)):
                self.push(t + offset, "comagic", (cid, k))
        elif self.policy == "holdfast":
            self.book(t, c, attempt=1, keep_place=True)

    def book(self, t: float, c: Caller, attempt: int, keep_place: bool = True) -> None:
        slot = plan_next(QUEUE, c.number, wall(t), 0, Outcome.NOT_NOW) if attempt == 1 else None
        when = (slot[0] - DAY).total_seconds() if slot else t
        self.push(max(t, when), "park", (c.id, attempt))

    def on_park(self, t: float, data: tuple[int, int]) -> None:
        cid, attempt = data
        self.line.append((cid, "callback", cid))  # its own ticket number: its place
        self.due[cid] = attempt
        self.dispatch(t)

    def on_comagic(self, t: float, data: tuple[int, int]) -> None:
        cid, k = data
        c = self.callers[cid]
        if c.recovered_at is not None or self.free <= 0 or not self.is_open(t):
            return
        self.free -= 1
        self.callback_attempt(t, c, k)

    def dispatch(self, t: float) -> None:
        while self.free > 0:
            if self.policy == "unitalk":
                self.pending = [(d, cid) for d, cid in self.pending if d >= t]
                if self.pending:
                    _, cid = self.pending.pop(0)
                    self.free -= 1
                    self.callback_attempt(t, self.callers[cid], 0)
                    continue
            self.line.sort()
            while self.line and self.line[0][1] == "live" and self.line[0][2] not in self.waiting:
                self.line.pop(0)  # gone
            if not self.line:
                return
            _, kind, cid = self.line.pop(0)
            self.free -= 1
            c = self.callers[cid]
            if kind == "live":
                self.waiting.discard(cid)
                c.served_at, c.waited = t, t - c.arrival
                self.estimator.observe(QueueEvent(QueueEventKind.SERVICE_START, t, c.waited))
                talk = random.Random(cid * 7 + 1).lognormvariate(math.log(270), 0.6)
                self.push(t + talk, "done", talk)
            else:
                attempt = self.due.pop(cid)
                self.callback_attempt(t, c, attempt)

    def callback_attempt(self, t: float, c: Caller, attempt: int) -> None:
        answered = c.answers[min(attempt, len(c.answers) - 1)] < self.answer_p
        if answered:
            talk = random.Random(c.id * 7 + 2).lognormvariate(math.log(270), 0.6)
            c.recovered_at = t + RING_SECONDS
            self.push(t + RING_SECONDS + talk, "done", talk)
            return
        self.push(t + NO_ANSWER_SECONDS, "done", 0.0)
        if self.policy == "holdfast":
            plan = plan_next(QUEUE, c.number, wall(t), max(1, attempt), Outcome.NO_ANSWER)
            if plan is not None:
                self.push(max(t, (plan[0] - DAY).total_seconds()), "park", (c.id, plan[1]))

    def on_done(self, t: float, talk: float) -> None:
        self.free += 1
        if talk:
            self.estimator.observe(QueueEvent(QueueEventKind.SERVICE_END, t, talk))
        self.dispatch(t)

    # --- metrics ---------------------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        offered = len(self.callers)
        real = [c for c in self.callers if not c.first_ring]
        lost = [c for c in self.callers if c.lost_at is not None]
        reached = [c for c in real if c.served_at is not None or c.recovered_at is not None]
        unrecovered = len(real) - len(reached)
        answered = [c for c in self.callers if c.waited is not None]
        recovered = [c for c in self.callers if c.recovered_at is not None]
        waits_to_cb = [c.recovered_at - (c.lost_at if c.lost_at is not None else c.arrival) for c in recovered]
        return {
            "offered": offered,
            "lost_rate": len(lost) / offered,
            "unrecovered_rate": unrecovered / offered,
            "first_ring_rate": sum(c.first_ring for c in self.callers) / offered,
            "service_level_20s": sum(1 for c in answered if c.waited <= 20) / max(1, len(real)),
            "asa": sum(c.waited for c in answered) / max(1, len(answered)),
            "callbacks_connected": len(recovered),
            "time_to_callback": sum(waits_to_cb) / max(1, len(waits_to_cb)),
            "occupancy": self.busy_time / max(1.0, self.staffed_time),
        }


def progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<10}", end="", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=5, help="independent days to average")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    totals: dict[str, dict[str, float]] = {p: {} for p in POLICIES}
    samples: dict[str, list[tuple[float, int]]] = {}
    steps, step = args.days * len(POLICIES), 0
    for d in range(args.days):
        callers = arrivals(args.seed + d)
        for policy in POLICIES:
            progress(step, steps, policy)
            day = Day(policy, callers).run()
            for k, v in day.metrics().items():
                totals[policy][k] = totals[policy].get(k, 0.0) + v / args.days
            if d == 0:
                samples[policy] = day.queue_samples
            step += 1
    progress(steps, steps, "done")
    print()
    rows = [("offered calls", "offered", "{:.0f}"), ("lost-call rate", "lost_rate", "{:.1%}"),
            ("unrecovered lost rate", "unrecovered_rate", "{:.1%}"),
            ("first-ring hang-ups", "first_ring_rate", "{:.1%}"),
            ("service level (20 s)", "service_level_20s", "{:.1%}"), ("ASA (s)", "asa", "{:.0f}"),
            ("callbacks connected", "callbacks_connected", "{:.0f}"),
            ("time to callback (s)", "time_to_callback", "{:.0f}"), ("agent occupancy", "occupancy", "{:.1%}")]
    header = "| metric | " + " | ".join(POLICIES) + " |"
    lines = [header, "| --- |" + " ---: |" * len(POLICIES)]
    for label, key, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(fmt.format(totals[p][key]) for p in POLICIES) + " |")
    table = "\n".join(lines)
    print(table)
    none_lost, hf_unrec = totals["none"]["lost_rate"], totals["holdfast"]["unrecovered_rate"]
    verdict = (f"{'PASS' if hf_unrec < 0.03 and none_lost > 0.20 else 'FAIL'} unrecovered lost {hf_unrec:.1%} "
               f"(< 3%) where no-callback loses {none_lost:.1%} (> 20%)")
    print(verdict)
    print(f"({time.perf_counter() - started:.1f} s, {args.days} simulated days per policy)")
    write_report(Path(args.out), table, verdict, samples, args)
    return 0


def write_report(out: Path, table: str, verdict: str, samples, args) -> None:  # type: ignore[no-untyped-def]
    out.mkdir(parents=True, exist_ok=True)
    parts = ["# A day of lost calls: benchmark", "",
             f"Produced by `python bench/day.py --seed {args.seed} --days {args.days}` (averages over the days). "
             "The scenario and the policies are described at the top of `bench/day.py`. Unrecovered lost "
             "rate: callers (first-ring hang-ups aside) who never talked to an agent that day, by their "
             "call or a callback, over all offered calls.", "", f"**{verdict}**", "", table, ""]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 4))
        for policy, points in samples.items():
            xs = [(t + NY) / 3600 for t, _ in points]
            ax.plot(xs, [n for _, n in points], label=policy, linewidth=0.8)
        ax.set_xlabel("hour (New York)")
        ax.set_ylabel("callers holding")
        ax.set_title("Callers holding on the phone through the day (first simulated day)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "day-holding.png", dpi=110)
        plt.close(fig)
        parts += ["![callers holding](day-holding.png)"]
    except ImportError:
        parts += ["(plots need matplotlib: `make bench` installs it)"]
    (out / "day.md").write_text("\n".join(parts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
