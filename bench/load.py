"""Load through the local stack over HTTP (issue 20): are callers told their true place, and how fast
is each step, when calls pour in and the table's stream lags?

Starts the local stack (moto server, the Chalice app over HTTP, the stream and queue pollers, the
simulated phone network standing in for Twilio), signs agents in, then lets `--callers` simulated
callers ring in evenly over `--minutes`. The network sends each webhook as Twilio does (signed, the
wait URL polled while a caller holds); callers hang up when their patience runs out, some press 1
for a callback, callbacks are answered or not; agents take callers and go available again.

Printed, each with its target MET or NOT MET:
- per step (incoming, wait poll, offer, confirm, ...): webhooks, throughput, latency p50/p99 as the
  network measured it, and how much of it was spent inside AWS calls (moto over local HTTP) against
  Holdfast's own code (measured in the app's request thread);
- stream lag p50/p99: from a record's write (its ApproximateCreationDateTime) to the stream consumer
  having applied it (the snapshot's head and team, the console's board and report rows);
- announced places against the true line: every "number K in line" the network heard is checked,
  one check at a time (announcements arriving meanwhile are counted unchecked), against the line read
  from the table just before the webhook was sent, just after its reply and a moment later (the truth
  at the reply lies between: `Truth`). The documented bound (docs/architecture.md "A caller's place"): a place told is never worse
  than the true one and better by at most the departures behind that caller (of their class) since
  they joined; here those are the departures seen behind them by the checks' reads (a caller who joined
  and left between two reads is not seen, which can only make the bound look tighter).

Target (issue 20; the machine otherwise idle): 500 callers at 20 webhooks/s for 5 minutes, p99 under
1 s, every announced place within the bound, stream lag p99 under 2 s. The machine may be shared:
the load average is printed, and figures taken on a loaded machine say so.

Usage: python bench/load.py [--callers 500] [--minutes 5] [--agents 12] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.smoke import free_port, percentile  # noqa: E402

QUEUE = "support"
PLACE = re.compile(r"number (\d+) in line")
TICKET = re.compile(r"[?&]t=([A-Za-z0-9_-]+-\d+)")
TARGET_P99 = 1.0
TARGET_LAG_P99 = 2.0
TARGET_RATE = 20.0  # webhooks per second


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


# --- the truth: the line as the table holds it --------------------------------------------------

@dataclass
class Check:
    step: str
    ticket: str
    said: int
    low: int  # the true place when Holdfast counted it was at least this (ahead both before and after)...
    high: int  # ...and at most this (everyone seen ahead around it: before, just after, a moment later)
    behind: int  # departures behind this caller, of their class, since they joined (as the reads saw)
    came: int = 0  # tickets that entered the line ahead of this caller while the webhook ran (returns)

    @property
    def within(self) -> bool:
        return self.low - self.behind <= self.said <= self.high

    @property
    def exact(self) -> bool:
        return self.low <= self.said <= self.high

    @property
    def error(self) -> int:
        """How far outside [low, high] the place told was (0: exact as far as the reads can say)."""
        return max(self.low - self.said, self.said - self.high, 0)


Line = list[tuple[str, int, int]]  # (ticket, priority, number), in dispatch order


@dataclass
class Truth:
    """Reads the queue's line (the `line` index, dispatch order) and keeps, per caller seen in it, the
    departures of their class behind them since they were first seen (tests/place_scenario.py's rule).

    Holdfast counts a place at one moment inside the webhook, between the read before it is sent and
    the read just after its reply. A caller joining takes its number and its place in one write, then
    writes its ticket: for that moment the line's counts know a caller the index does not show yet; and a
    callback coming back ahead while the webhook runs (a return) is in the line after it but was not
    when the place was counted. So the truth at the count is bracketed by reads: at least one more than
    those seen ahead both before and just after (ahead throughout), at most one more than everyone seen
    ahead in the reads before, just after and a moment (`settle`) after it."""

    read_line: Callable[[], Line]
    settle: float = 0.3
    last: dict[str, tuple[int, int]] = field(default_factory=dict)
    behind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)
    checks: list[Check] = field(default_factory=list)
    unchecked: int = 0
    left_first: int = 0  # announcements whose caller had left the line by the check's second read

    def observe(self) -> Line:
        line = self.read_line()
        now = {t: (p, n) for t, p, n in line}
        for gone, (gp, gn) in self.last.items():
            if gone not in now:
                for tid, (p, n) in now.items():
                    if p == gp and n < gn:
                        self.behind[tid] += 1
        self.last = now
        return line

    def around(self, post: Callable[[], str], step: str, known: str | None) -> str:
        """Send a webhook between reads of the line if no other check runs (else just send it)."""
        if not self.lock.acquire(blocking=False):
            reply = post()
            if PLACE.search(reply):
                self.unchecked += 1
            return reply
        try:
            before = self.observe()
            reply = post()
            said = PLACE.search(reply)
            if said is None:
                return reply
            ticket = known or _ticket_in(reply)
            after = self.observe()
            me = next(((p, n) for t, p, n in after if t == ticket), None)
            if me is None:
                self.left_first += 1
                return reply
            time.sleep(self.settle)
            later = self.observe()

            def ahead(line: Line) -> set[str]:
                return {t for t, p, n in line if p > me[0] or (p == me[0] and n < me[1])}

            throughout, came = ahead(before) & ahead(after), ahead(after) - ahead(before)
            self.checks.append(Check(step, ticket, int(said.group(1)), 1 + len(throughout),
                                     1 + len(ahead(before) | ahead(after) | ahead(later)), self.behind[ticket],
                                     len(came)))
            return reply
        finally:
            self.lock.release()


def _timed(fn: Callable[[], int], into: dict[str, float], name: str) -> Callable[[], int]:
    def timed() -> int:
        began = time.perf_counter()
        try:
            return fn()
        finally:
            into[name] += time.perf_counter() - began
    return timed


def _ticket_in(text: str) -> str | None:
    found = TICKET.search(text.replace("&amp;", "&"))
    return found.group(1) if found else None


# --- timing inside the app: AWS calls against Holdfast's own code ---------------------------------

class AppTimer:
    """Per request path, the request's wall time in the app's thread and the part of it spent inside
    AWS calls (botocore's `_make_api_call`: moto over local HTTP, serialization included)."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.by_step: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def install(self) -> None:
        import botocore.client
        from chalice import local

        timer = self
        make_call = botocore.client.BaseClient._make_api_call
        handle = local.LocalGateway.handle_request

        def timed_call(client: Any, operation: str, params: Any) -> Any:
            started = time.perf_counter()
            try:
                return make_call(client, operation, params)
            finally:
                timer.local.aws = getattr(timer.local, "aws", 0.0) + time.perf_counter() - started

        def timed_request(gateway: Any, method: str, path: str, headers: Any, body: Any) -> Any:
            timer.local.aws = 0.0
            started = time.perf_counter()
            try:
                return handle(gateway, method, path, headers, body)
            finally:
                step = path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
                if "/voice/" in path or "/agents/" in path:
                    timer.by_step["agent status" if "/agents/" in path else step].append(
                        (time.perf_counter() - started, timer.local.aws))

        botocore.client.BaseClient._make_api_call = timed_call  # type: ignore[method-assign]
        local.LocalGateway.handle_request = timed_request  # type: ignore[method-assign]


# --- the run ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--agents", type=int, default=12)
    parser.add_argument("--handle", type=float, default=60.0, help="agents' seconds a call (talk and wrap)")
    parser.add_argument("--patience", type=float, default=150.0, help="callers' median patience, seconds")
    parser.add_argument("--press-one", type=float, default=0.3)
    parser.add_argument("--drain", type=float, default=20.0, help="seconds after the last arrival")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="60 callers over 45 s, 4 agents (about a minute)")
    args = parser.parse_args(argv)
    if args.quick:
        args.callers, args.minutes, args.agents, args.handle, args.patience, args.drain = 60, 0.75, 4, 20.0, 40.0, 10.0

    workdir = tempfile.mkdtemp(prefix="holdfast-load-")
    queues = Path(workdir) / "queues.json"
    queues.write_text(json.dumps({"queues": [{
        "id": QUEUE, "name": "Holdfast support", "numbers": ["+18005550100"], "assumed_agents": args.agents,
        "allowed_countries": ["US"], "retry_delays_seconds": [0, 10, 10], "offer_callback_after_seconds": 20,
        "average_handle_seconds": args.handle, "average_patience_seconds": args.patience,
        "short_abandon_seconds": 1}]}))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["HOLDFAST_QUEUES_FILE"] = str(queues)
    for key in [k for k in os.environ if k.startswith("TWILIO_")]:
        del os.environ[key]  # the simulated network stands in for Twilio

    import boto3

    from devstack.clock import offset_to, parse_clock
    from devstack.network import CallerModel
    from devstack.stack import LocalStack

    timer = AppTimer()
    timer.install()
    # The stack's clock at 10:00 in San Francisco (the callers' zone): the same run at any hour.
    stack = LocalStack(port=free_port(), moto_port=free_port(), network_port=free_port(), pace=1.0,
                       clock_offset_seconds=offset_to(parse_clock("2026-11-24T18:00:00Z")),
                       state_dir=Path(workdir) / "state", fresh=True)
    stack.start()
    net = stack.network
    assert net is not None and stack.resources is not None
    ddb = boto3.client("dynamodb", endpoint_url=stack.moto_url, region_name=stack.region)
    table = stack.resources.table_name

    def read_line() -> Line:
        out = []
        for page in ddb.get_paginator("query").paginate(
                TableName=table, IndexName="line", KeyConditionExpression="line_pk = :q",
                ExpressionAttributeValues={":q": {"S": f"LINE#{QUEUE}"}},
                ProjectionExpression="queue_id, #n, priority", ExpressionAttributeNames={"#n": "number"}):
            for item in page["Items"]:
                n = int(item["number"]["N"])
                out.append((f"{item['queue_id']['S']}-{n}", int(item.get("priority", {}).get("N", "0")), n))
        return out

    truth = Truth(read_line)

    # The network's webhooks, timed per step; the places it hears, checked against the line.
    sent: list[tuple[str, float, float]] = []  # (step, sent at, seconds)
    post = net._post

    def checked_post(url: str, params: dict[str, Any]) -> str:
        step = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        started = time.perf_counter()

        def send() -> str:
            return post(url, params)

        try:
            if step in ("incoming", "wait", "confirm"):
                return truth.around(send, step, _ticket_in(url))
            return send()
        finally:
            sent.append((step, started, time.perf_counter() - started))

    net._post = checked_post  # type: ignore[method-assign]

    # The stream consumer's lag: from the record's write to its having been applied.
    lags: list[float] = []
    poller = stack.stream
    handle = poller._handle

    consumer = {"records": 0, "seconds": 0.0}

    def timed_handle(record: dict[str, Any]) -> bool:
        began = time.perf_counter()
        done = handle(record)
        consumer["records"] += 1
        consumer["seconds"] += time.perf_counter() - began
        written = record["dynamodb"].get("ApproximateCreationDateTime")
        if done and written is not None:
            at = written.timestamp() if hasattr(written, "timestamp") else float(written)
            lags.append(max(0.0, time.time() - at))
        return done

    poller._handle = timed_handle  # type: ignore[method-assign]

    # Where the pump threads' time goes (the stream poller's own; the queue pollers', the sweep's and the
    # state saving's on the other): what the stream's lag is made of.
    pump: dict[str, float] = defaultdict(float)
    for member in (m for thread in stack.pumps for m in thread.pollers):
        name = type(member).__name__ if not hasattr(member, "fn") else getattr(member.fn, "__name__", "every")
        member.poll_once = _timed(member.poll_once, pump, name)  # type: ignore[method-assign]

    for n in range(args.agents):
        net.set_agent(f"agent{n}", "available", handle_seconds=args.handle)
    rng = random.Random(args.seed)
    prefix = "+1415867"  # San Francisco callers, inside their calling window on the stack's clock
    span = args.minutes * 60
    print(f"{args.callers} callers over {span:.0f} s, {args.agents} agents (handle {args.handle:.0f} s); "
          f"load average before: {load_average()}", flush=True)
    started = time.perf_counter()
    calls = []
    for i in range(args.callers):
        time.sleep(max(0.0, started + span * i / args.callers - time.perf_counter()))
        model = CallerModel(patience=args.patience * rng.lognormvariate(0, 0.5), press_one=args.press_one,
                            answer=0.8)
        calls.append(net.dial_in(f"{prefix}{1000 + i:04d}", model=model))
        if i and i % max(1, args.callers // 10) == 0:
            print(f"  {i}/{args.callers} callers in, {len(sent)} webhooks, {len(truth.last)} in line (last read)",
                  flush=True)
    time.sleep(args.drain)
    elapsed = time.perf_counter() - started
    report(args, sent, timer, lags, truth, elapsed, load_average(), len(calls), consumer, pump)
    import logging

    logging.disable(logging.CRITICAL)  # callers still on the line meet a stack going away: not the run's
    stack.stop()
    return 0


def report(args: Any, sent: list[tuple[str, float, float]], timer: AppTimer, lags: list[float], truth: Truth,
           elapsed: float, load_after: str, callers: int, consumer: dict[str, float],
           pump: dict[str, float] | None = None) -> None:
    out = print
    out("")
    cores = os.cpu_count() or 1
    loaded = float(load_after.split()[0]) > 1.5 * cores if load_after != "unknown" else False
    out(f"{callers} callers in {elapsed:.0f} s; load average after: {load_after} on {cores} cores"
        + (" -- a LOADED machine (shared with other work): latencies and lag are worse than an idle one's" if loaded
           else ""))
    by_step: dict[str, list[float]] = defaultdict(list)
    for step, _, seconds in sent:
        by_step[step].append(seconds)
    every = [s for _, _, s in sent]
    rate = len(every) / elapsed if elapsed else 0.0
    out(f"{'step':<16}{'webhooks':>9}{'per s':>7}{'p50 ms':>8}{'p99 ms':>8}{'in AWS':>8}{'Holdfast':>9}")
    for step, values in sorted(by_step.items(), key=lambda kv: -len(kv[1])):
        inside = timer.by_step.get(step, [])
        total = sum(w for w, _ in inside)
        aws = sum(a for _, a in inside)
        out(f"{step:<16}{len(values):>9}{len(values) / elapsed:>7.2f}{percentile(values, 0.5) * 1000:>8.0f}"
            f"{percentile(values, 0.99) * 1000:>8.0f}"
            + (f"{aws / total:>8.0%}{1 - aws / total:>9.0%}" if total else f"{'-':>8}{'-':>9}"))
    if every:
        p50, p99 = percentile(every, 0.5), percentile(every, 0.99)
        out(f"all webhooks: {len(every)}, {rate:.1f}/s; p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
        out(f"  target {TARGET_RATE:.0f} webhooks/s sustained: {rate:.1f}/s -- {verdict(rate >= TARGET_RATE)}")
        out(f"  target p99 under {TARGET_P99:.0f} s: {p99:.2f} s -- {verdict(p99 < TARGET_P99)}")
        app = [pair for pairs in timer.by_step.values() for pair in pairs]
        wall, aws = sum(w for w, _ in app), sum(a for _, a in app)
        if wall:
            out(f"  inside the app: {wall / len(app) * 1000:.0f} ms a request, {aws / wall:.0%} of it in AWS calls "
                f"(moto over local HTTP), {1 - aws / wall:.0%} in Holdfast's code and Chalice local; the rest of "
                f"the round trip ({max(0.0, sum(every) - wall) / max(1, len(every)) * 1000:.0f} ms a webhook) is "
                "the network's and Chalice local's HTTP. moto's server, the app, the pollers and the callers' "
                "threads share one Python process: time in AWS calls includes waiting for its interpreter lock")
            own = (wall - aws) / len(app)
            out(f"  so the limit is the local stack's: Holdfast's code and Chalice local take {own * 1000:.1f} ms a request "
                f"(interpreter-lock waits included), {TARGET_RATE * own:.0%} of one core at {TARGET_RATE:.0f} webhooks/s; "
                f"the calls into moto take {aws / len(app) * 1000:.0f} ms a request")
    if lags:
        l50, l99 = percentile(lags, 0.5), percentile(lags, 0.99)
        out(f"stream lag (write to applied), {len(lags)} records: p50 {l50:.2f} s, p99 {l99:.2f} s -- "
            f"target p99 under {TARGET_LAG_P99:.0f} s: {verdict(l99 < TARGET_LAG_P99)}")
    if consumer["records"]:
        each = consumer["seconds"] / consumer["records"]
        out(f"  the one stream poller: {consumer['records']:.0f} records handled ({consumer['records'] / elapsed:.1f}/s "
            f"written), {each * 1000:.0f} ms each in the consumer (its moto calls included): at most "
            f"{1 / each:.1f} records/s through one poller")
    if pump:
        busy = sum(pump.values())
        out(f"  the pump threads were busy {busy:.0f} s in {elapsed:.0f} s: " + ", ".join(
            f"{name} {seconds:.0f} s" for name, seconds in sorted(pump.items(), key=lambda kv: -kv[1]))
            + " (the stream poller on a thread of its own; all share one interpreter with moto and the app)")
    checks = truth.checks
    if checks:
        exact = sum(c.exact for c in checks)
        outside = [c for c in checks if not c.within]
        worst = max(checks, key=lambda c: c.error)
        out(f"announced places checked against the line: {len(checks)} ({truth.unchecked} heard while another "
            f"check ran, {truth.left_first} whose caller had left the line by the check's second read)")
        out(f"  exact: {exact / len(checks):.1%}; worst error {worst.error} ({worst.step}, {worst.ticket}: said "
            f"{worst.said}, true {worst.low}..{worst.high}, departures behind {worst.behind})")
        out(f"  {sum(1 for c in checks if c.came)} checks saw tickets enter the line ahead while the webhook ran "
            f"({sum(c.came for c in checks)} in all: returns, or joiners ahead whose ticket was not yet written; not "
            "counted against the place told)")
        out(f"  target every place within the bound: {len(outside)} outside -- {verdict(not outside)}")
        for c in outside[:5]:
            out(f"    {c.step} {c.ticket}: said {c.said}, true {c.low}..{c.high}, behind {c.behind}, "
                f"entered ahead meanwhile {c.came}")
    else:
        out("announced places: none checked")


if __name__ == "__main__":
    sys.exit(main())
