"""What the local stack (`make run`: moto server + `chalice local`'s server, devstack/) takes at once,
and what it does with the rest (issue 21 item 7).

Starts `python -m devstack` in a process of its own (the load does not share its interpreter), then
fires bursts of agent events (POST /agents/{id}/status, each a few DynamoDB writes through moto) at
rising concurrency, several rounds each, and records every request's status and time to answer.
Run twice: as the stack comes (its front door, devstack/admission.py) and, for comparison, with every
request let in at once (`--max-concurrent 0`, `chalice local` as it comes).

Printed per concurrency: answered (200), refused (503 with Retry-After), anything else (other status,
connection error, client timeout), time to answer p50/p95/max (95% bootstrap interval on p95), and
throughput (200s a second, mean and 95% t-interval over rounds). Then the targets, MET or NOT MET:
- no request waits longer than --target-seconds (default 10) for its answer, whatever it is;
- every refusal is a clear 503 with Retry-After (no timeout, no connection error, no other status);
and the figures: the highest concurrency answered without a refusal, the sustained throughput.

Usage: python bench/local_capacity.py [--levels 1,5,10,20,50,100,200] [--rounds 3] [--quick]
       [--compare] (also the unguarded server) [--target-seconds 10]
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.launch import StackFailedError, launched  # noqa: E402 - after the path is set

CLIENT_TIMEOUT = 60.0  # long enough to see how long an unguarded server really takes
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}  # t(0.975, df)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_stack(*extra: str) -> Iterator[str]:
    """`python -m devstack` on free ports with an empty state directory; its base URL."""
    port = free_port()
    try:
        with launched(port, free_port(), "--network-port", str(free_port()), "--fresh", *extra,
                      env={"LOG_LEVEL": "WARNING"}, prefix="holdfast-capacity-", up_within=120):
            yield f"http://127.0.0.1:{port}"
    except StackFailedError as exc:
        raise SystemExit(str(exc)) from exc


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer (timeout, connection error)
    seconds: float
    retry_after: bool = False
    error: str = ""


@dataclass
class Level:
    concurrency: int
    answers: list[Answer] = field(default_factory=list)
    throughputs: list[float] = field(default_factory=list)  # 200s a second, per round

    def count(self, status: int | None) -> int:
        return sum(1 for a in self.answers if a.status == status)

    @property
    def other(self) -> list[Answer]:
        return [a for a in self.answers if a.status not in (200, 503) or (a.status == 503 and not a.retry_after)]


def event(base: str, token: str, agent: str, status: str) -> Answer:
    started = time.perf_counter()
    try:
        reply = requests.post(f"{base}/agents/{agent}/status", timeout=CLIENT_TIMEOUT,
                              headers={"Authorization": f"Bearer {token}"},
                              json={"status": status, "contact": f"client:{agent}", "queues": ["support"]})
    except requests.RequestException as exc:
        return Answer(None, time.perf_counter() - started, error=f"{type(exc).__name__}: {str(exc)[-60:]}")
    return Answer(reply.status_code, time.perf_counter() - started, "Retry-After" in reply.headers)


def burst(base: str, token: str, concurrency: int, round_no: int) -> tuple[list[Answer], float]:
    """`concurrency` agent events at once (released together); their answers and the burst's length."""
    answers: list[Answer] = [Answer(None, 0.0)] * concurrency
    gate = threading.Barrier(concurrency + 1)

    def one(i: int) -> None:
        gate.wait()
        answers[i] = event(base, token, f"agent-{concurrency}-{round_no}-{i}", "available" if i % 2 else "offline")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return answers, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def p95_interval(values: list[float], seed: int = 7, draws: int = 400) -> tuple[float, float]:
    rng = random.Random(seed)
    estimates = sorted(percentile([rng.choice(values) for _ in values], 0.95) for _ in range(draws))
    return estimates[int(0.025 * draws)], estimates[int(0.975 * draws) - 1]


def mean_interval(values: list[float]) -> str:
    """"mean ± half-width of the 95% t-interval"; one round has no interval, and says so."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return f"{mean:.1f} (1 round: no interval)"
    return f"{mean:.1f} ± {T95.get(len(values) - 1, 2.0) * statistics.stdev(values) / len(values) ** 0.5:.1f}"


def run(base: str, token: str, levels: list[int], rounds: int) -> list[Level]:
    for i in range(5):  # warm up: the app's first requests build it
        event(base, token, f"warm-{i}", "available")
    results = []
    for c in levels:
        level = Level(c)
        for r in range(rounds):
            answers, seconds = burst(base, token, c, r)
            level.answers += answers
            level.throughputs.append(sum(1 for a in answers if a.status == 200) / seconds)
            time.sleep(1.0)  # let the stack's own workers (stream, sweep) catch up between bursts
        results.append(level)
        print(f"  {c:>4} at once: {level.count(200)} answered, {level.count(503)} refused, {len(level.other)} other",
              flush=True)
    return results


def report(title: str, results: list[Level], target: float) -> list[str]:
    lines = [f"## {title}", "",
             "| at once | answered | refused 503 | other | p50 s | p95 s [95% interval] | max s | 200s/s (mean ± 95%) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for lv in results:
        times = [a.seconds for a in lv.answers]
        lo, hi = p95_interval(times)
        lines.append(f"| {lv.concurrency} | {lv.count(200)} | {lv.count(503)} | {len(lv.other)} | "
                     f"{percentile(times, 0.5):.2f} | {percentile(times, 0.95):.2f} [{lo:.2f}, {hi:.2f}] | "
                     f"{max(times):.2f} | {mean_interval(lv.throughputs)} |")
    for name, status in (("answered", 200), ("refused", 503)):
        times = [a.seconds for lv in results for a in lv.answers if a.status == status]
        if times:
            lines.append(f"\n{name}: {len(times)}, time to answer p50 {percentile(times, 0.5):.2f} s, "
                         f"p95 {percentile(times, 0.95):.2f} s, max {max(times):.2f} s")
    slowest = max(a.seconds for lv in results for a in lv.answers)
    unclear = sum(len(lv.other) for lv in results)
    clean = [lv.concurrency for lv in results if lv.count(200) == len(lv.answers)]
    top = max(results, key=lambda lv: statistics.mean(lv.throughputs))
    errors = sorted({a.error or str(a.status) for lv in results for a in lv.other})
    lines += ["",
              f"- {'MET' if slowest <= target else 'NOT MET'}: no request waits longer than {target:g} s "
              f"(the slowest answer took {slowest:.1f} s)",
              f"- {'MET' if unclear == 0 else 'NOT MET'}: every refusal is a clear 503 with Retry-After "
              f"({unclear} requests ended otherwise{': ' + ', '.join(errors) if errors else ''})",
              f"- answered without a refusal up to {max(clean) if clean else 0} at once; "
              f"at most {mean_interval(top.throughputs)} answers a second (at {top.concurrency} at once)", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,5,10,20,50,100,200")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target-seconds", type=float, default=10.0)
    parser.add_argument("--compare", action="store_true", help="also run the server with every request let in at once")
    parser.add_argument("--quick", action="store_true", help="levels 1,10,50 and 1 round (while developing)")
    args = parser.parse_args(argv)
    levels = [1, 10, 50] if args.quick else [int(x) for x in args.levels.split(",")]
    rounds = 1 if args.quick else args.rounds
    sys.path.insert(0, str(ROOT))
    from devstack.stack import LOCAL_AGENT_TOKEN

    out = [f"# Local stack capacity ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start)", "",
           f"`python bench/local_capacity.py {' '.join(argv if argv is not None else sys.argv[1:])}`".replace("  ", " "),
           ""]
    configs = [("as it comes: the front door (4 at once, 16 waiting, 3 s wait, per lane)", ())]
    if args.compare:
        configs.append(("for comparison: every request let in at once (--max-concurrent 0)", ("--max-concurrent", "0")))
    for title, extra in configs:
        print(f"{title} ...", flush=True)
        with local_stack(*extra) as base:
            out += report(title, run(base, LOCAL_AGENT_TOKEN, levels, rounds), args.target_seconds)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
