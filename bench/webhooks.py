"""What a call costs on AWS, counted: per webhook step as the line grows (issue 11), the whole bill of a
call (issue 24: bench/costs.py), and a contact center's load on each AWS limit (bench/capacity.py).

Part 1, per step as the line grows. For each depth of waiting callers (10, 1,000, 10,000, 100,000; a
queue that also has 10,000 lost calls), the real app (the Chalice test client, real Twilio signatures,
the composition root over in-process moto) answers each step several times, and the meter
(devstack/dynamo_meter.py, which wraps every botocore call and bills as DynamoDB does) reports per step,
side by side:
  - DynamoDB calls by operation, items read, read and write units;
  - in-process latency outside moto: the median over the timed runs of the step's wall time minus the
    time spent inside AWS calls (moto's own work is not Holdfast's);
and, per depth, the read units per second on the hottest partition key when every waiting caller's
wait URL polls once a minute (the wait-poll step's per-key reads x depth / 60).
Targets: items read and calls per webhook flat from the smallest depth to the largest (ratio <= 1.2),
DynamoDB calls per webhook within issue 11's numbers (`CALL_TARGETS`), and the hottest key below
1,000 read units/s at 100,000 waiting (issue 24; computed from the deepest line measured past
`SHORT_LINE` when 100,000 itself is not: a poll's reads are flat there).

The line and the lost calls are written straight into the table as the store holds them once the
table's stream has applied them (bench/onmoto.py: `seed_line`, `seed_lost`, the one place that knows
the store's item layout, the line's counts and the snapshot included); everything measured goes through the app. Before every
measured run the table's stream is drained into its real consumer (`workers.on_table_change`), outside
the meter, so the per-queue snapshot is what production reads.

Part 2 (bench/costs.py): each call outcome of the issue's mix driven through the app with the workflow
running, every step's whole cost, the cost per 1,000 calls at stated prices, and their targets.
Part 3 (bench/capacity.py): the load on each limit at 10,000 agents, and which binds first.

Usage: python bench/webhooks.py [--depths 10,1000,10000,100000] [--lost 10000] [--reps 20]
                                [--budget 15] [--no-costs] [--no-capacity]
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.onmoto import AGENT, QUEUE, START, AppOnMoto, queues_file, seed_line, seed_lost  # noqa: E402,F401

DEPTHS = (10, 1_000, 10_000, 100_000)
LOST = 10_000
REPS = 20
POLL_SECONDS = 60  # every waiting caller's wait URL, once a minute
FLAT_RATIO = 1.2
HOT_KEY_TARGET = 1_000.0  # read units/s on one partition key (issue 24)
HOT_KEY_DEPTH = 100_000
STEPS = ("incoming, short wait", "incoming, long wait", "wait poll", "confirm press-1 (book)",
         "agent available -> claim head", "bridge answered (served)", "status callback after caller left",
         "GET admin lost calls")
# DynamoDB calls per webhook, at most (issue 11; the confirmation's StartExecution comes on top)
CALL_TARGETS = {STEPS[0]: 3, STEPS[1]: 3, STEPS[2]: 2, STEPS[3]: 5, STEPS[4]: 4, STEPS[6]: 1}


# --- the app on moto ------------------------------------------------------------------------------

class World(AppOnMoto):
    """One moto account with Holdfast's resources; two compositions of the app over it that differ only
    in the queue's callback threshold (every caller has a short wait / every caller is offered one)."""

    def __init__(self, stack: ExitStack) -> None:
        super().__init__(stack)  # workflows are started, not run: only the webhook's own work counts
        from chalicelib import bootstrap
        from chalicelib.adapters.memory import FakeDialer, FixedClock

        self.clock = FixedClock(START)
        self.short = bootstrap.build_aws(replace(self.settings, queues_file=queues_file(self.workdir, 10 ** 9)),
                                         clock=self.clock, dialer=FakeDialer())
        self.long = bootstrap.build_aws(replace(self.settings, queues_file=queues_file(self.workdir, 0)),
                                        clock=self.clock, dialer=FakeDialer())
        self.stores = self.short.stores
        self.current = self.short
        from tests.helpers import Stream

        self.stream = Stream(self.aws.table_name)  # drained into the real consumer before every measured run


# --- measuring ---------------------------------------------------------------------------------------

@dataclass
class Figures:
    """One step at one depth."""

    calls: dict[str, int]
    items_read: int
    read_units: float
    write_units: float
    latency_ms: float  # median outside AWS calls
    reps: int
    partitions: dict[tuple[str, str], float] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)  # calls to other AWS services (StartExecution)
    seconds: float = 0.0  # wall time of the sized run, moto and the meter included (to plan deeper lines)

    @property
    def count(self) -> int:
        return sum(self.calls.values())


@dataclass
class Depth:
    depth: int
    steps: dict[str, Figures]
    hottest_key: str
    hottest_rcu_per_second: float


def _run(prepare: Callable[[], Any], act: Callable[[Any], None], cleanup: Callable[[Any], None],
         reps: int, budget: float | None, settle: Callable[[], None] = lambda: None) -> Figures:
    """`reps` timed runs (the meter counting and timing calls only), then one run sized by the meter.
    Timed runs stop early once `budget` seconds have gone (a slow step at a deep line). `settle` runs
    after each `prepare`, outside the meter (the table's stream drained into its consumer)."""
    from devstack.dynamo_meter import metered

    outside: list[float] = []
    began = time.perf_counter()
    for _ in range(reps):
        arg = prepare()
        settle()
        with metered(sizing=False) as meter:
            started = time.perf_counter()
            act(arg)
            outside.append(time.perf_counter() - started - meter.seconds_in_calls)
        cleanup(arg)
        if budget is not None and time.perf_counter() - began > budget:
            break
    arg = prepare()
    settle()
    started = time.perf_counter()
    with metered() as meter:
        act(arg)
    cleanup(arg)
    seconds = time.perf_counter() - started
    return Figures(meter.by_operation(), meter.items_read, meter.read_units, meter.write_units,
                   statistics.median(outside) * 1000 if outside else float("nan"), len(outside),
                   meter.partition_read_units(),
                   {c.operation: sum(1 for x in meter.calls if x.operation == c.operation)
                    for c in meter.calls if c.service != "dynamodb"}, seconds)


def seeded_world(stack: ExitStack, depth: int, lost: int, by_app: bool = False) -> tuple[World, list[str]]:
    """A fresh moto account whose queue has `lost` lost calls and `depth` callers waiting (their ticket
    ids, in line order), and one agent signed in and busy: estimates come from real staffing, and nobody
    takes a caller unless a step says so. `by_app`: seeded through the store's own writes (slow)."""
    from chalicelib.domain.model import AgentStatus

    w = World(stack)
    seed_lost(w.stores, w.stream, QUEUE, lost, START - timedelta(days=1), by_app)
    line = seed_line(w.stores, w.stream, QUEUE, depth, START - timedelta(hours=1), by_app)
    w.stores.agents.record_agent_status(AGENT, AgentStatus.BUSY, START, "client:ann", (QUEUE,), None)
    w.stream.drain()
    return w, line


def measure(depth: int, lost: int = LOST, reps: int = REPS, budget: float | None = None,
            progress: Callable[[str], None] = lambda _: None) -> Depth:
    """Every step at this depth, on a fresh moto account: the line held at `depth` waiting callers."""
    from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus

    with ExitStack() as stack:
        w, line = seeded_world(stack, depth, lost)
        stores = w.stores
        progress(f"seeded {depth:,} waiting and {lost:,} lost")
        serial = iter(range(10 ** 9))
        gone = [0]  # tickets that left the line during a step: topped up after it

        def tick() -> int:
            w.clock.advance(1)
            return next(serial)

        def top_up() -> None:
            if gone[0]:
                seed_line(stores, w.stream, QUEUE, gone[0], w.clock.now())
                gone[0] = 0

        def incoming(container: Any) -> Callable[[Any], None]:
            def act(sid: str) -> None:
                w.current = container
                from tests.helpers import event
                w.post("incoming", event("incoming", CallSid=sid, From=f"+1415556{int(sid[-6:]) % 10_000:04d}"))
                w.current = w.short
            return act

        def hang_up(sid: str) -> None:  # the caller leaves: the line is as deep as before
            ticket = stores.tickets.find_by_call(sid)
            if ticket is not None:
                stores.tickets.abandon(ticket.id, w.clock.now(), 30)

        def new_call() -> str:
            return f"CA{uuid.uuid4().hex[:26]}{tick():06d}"

        steps: dict[str, Figures] = {}

        def step(name: str, prepare: Callable[[], Any], act: Callable[[Any], None],
                 cleanup: Callable[[Any], None] = lambda _: None) -> None:
            def then(arg: Any) -> None:
                cleanup(arg)
                top_up()

            steps[name] = _run(prepare, act, then, reps, budget, w.stream.drain)
            f = steps[name]
            progress(f"  {name}: {f.count} calls, {f.items_read:,} items read ({f.reps} timed runs, "
                     f"one sized run {f.seconds:.1f} s)")

        from tests.helpers import event

        step(STEPS[0], new_call, incoming(w.short), hang_up)
        step(STEPS[1], new_call, incoming(w.long), hang_up)
        deepest = line[-1]
        deepest_call = stores.tickets.get(deepest).call_id or ""
        step(STEPS[2], tick, lambda _: w.post("wait", event("enqueue_wait", CallSid=deepest_call, QueueTime="200"),
                                              {"t": deepest}))

        def pending() -> tuple[str, str]:  # a caller at the end of the line typed a number; pressing 1 books it
            n = tick()
            ticket = stores.tickets.get(seed_line(stores, w.stream, QUEUE, 1, w.clock.now())[0])
            stores.tickets.set_pending_number(ticket.id, f"+1415557{n % 10_000:04d}")
            return ticket.id, ticket.call_id or ""

        def confirm(arg: tuple[str, str]) -> None:  # the booked caller leaves the line: as deep as before
            w.post("confirm", event("gather_digits_1", CallSid=arg[1]), {"t": arg[0]})

        step(STEPS[3], pending, confirm)

        def busy() -> None:  # the agent finished whatever it was given: busy elsewhere, holding nothing
            tick()
            agent = stores.agents.get_agent(AGENT)
            if agent.ticket_id:
                stores.agents.release_agent(AGENT, agent.ticket_id, AgentStatus.BUSY, w.clock.now())
            else:
                stores.agents.record_agent_status(AGENT, AgentStatus.BUSY, w.clock.now(), None, None, None)

        def claim(_: Any) -> None:
            w.agent_status("available")
            gone[0] += 1

        step(STEPS[4], busy, claim)

        def claimed() -> str:  # the agent takes the head (not measured); its bridge ends answered
            busy()
            tick()
            w.short.dispatcher.agent_event(AGENT, AgentStatus.AVAILABLE)
            gone[0] += 1
            w.clock.advance(60)  # they talk a minute (the dial pace's next slot has come by the bridge's end)
            return stores.agents.get_agent(AGENT).ticket_id or ""

        def answered(ticket_id: str) -> None:  # served: the agent is freed and takes the next head
            call = stores.tickets.get(ticket_id).call_id or ""
            w.post("bridge-result", event("incoming", CallSid=call, DialCallStatus="completed",
                                          DialCallDuration="60"), {"t": ticket_id, "agent": AGENT})
            gone[0] += 1

        step(STEPS[5], claimed, answered, lambda _: busy())
        def left_the_line() -> str:  # a caller who joined and hung up (abandoned); their status callback comes after
            sid = new_call()
            ticket = stores.tickets.open_ticket(Ticket(QUEUE, 0, TicketKind.LIVE, TicketStatus.WAITING, w.clock.now(),
                                                       call_id=sid, caller=f"+1415558{int(sid[-6:]) % 10_000:04d}"))
            stores.tickets.abandon(ticket.id, w.clock.now(), 30)
            return sid

        step(STEPS[6], left_the_line, lambda sid: w.post("incoming", event("status_completed", CallSid=sid)))
        step(STEPS[7], tick, lambda _: w.lost_calls())

        poll = steps[STEPS[2]].partitions
        (where, key), units = max(poll.items(), key=lambda kv: kv[1]) if poll else (("", ""), 0.0)
        where = f"index {where.split('/', 1)[1]}" if "/" in where else "table"
        return Depth(depth, steps, f"{where}: {key}", units * depth / POLL_SECONDS)


# --- printing ---------------------------------------------------------------------------------------

def _ops(calls: dict[str, int]) -> str:
    short = {"GetItem": "Get", "Query": "Q", "UpdateItem": "Upd", "PutItem": "Put", "DeleteItem": "Del",
             "TransactWriteItems": "TxW", "TransactGetItems": "TxG", "BatchGetItem": "BGet",
             "BatchWriteItem": "BW", "StartExecution": "StartExec"}
    return " ".join(f"{short.get(op, op)}{n}" for op, n in sorted(calls.items()))


def report(results: list[Depth], skipped: list[str] | None = None, out: Callable[[str], None] = print) -> bool:
    """The table, side by side, and the targets. True if every target is met."""
    width = 38
    out("")
    out(f"{'':<34}" + "".join(f"{f'{r.depth:,} waiting':>{width}}" for r in results))
    rows: list[tuple[str, Callable[[Figures], str]]] = [
        ("DynamoDB calls", lambda f: f"{f.count} ({_ops(f.calls)})" + (f" +{_ops(f.other)}" if f.other else "")),
        ("items read", lambda f: f"{f.items_read:,}"),
        ("read / write units", lambda f: f"{f.read_units:,.1f} / {f.write_units:,.1f}"),
        ("ms outside moto (runs)", lambda f: f"{f.latency_ms:.1f} ({f.reps})"),
    ]
    for name in STEPS:
        out(name)
        for label, cell in rows:
            out(f"  {label:<32}" + "".join(f"{cell(r.steps[name]):>{width}}" for r in results))
    out("")
    out(f"{'hottest key, all polling each 60 s':<34}" + "".join(
        f"{f'{r.hottest_rcu_per_second:,.1f} RCU/s':>{width}}" for r in results))
    out(f"{'  (its key)':<34}" + "".join(f"{r.hottest_key[-width + 2:]:>{width}}" for r in results))
    out("")
    met = True
    first, last = results[0], results[-1]
    out(f"Targets (flat: {last.depth:,} vs {first.depth:,} waiting, ratio <= {FLAT_RATIO}):")
    for name in STEPS:
        a, b = first.steps[name], last.steps[name]
        calls = b.count / max(a.count, 1)
        items = b.items_read / max(a.items_read, 1)
        ok = calls <= FLAT_RATIO and items <= FLAT_RATIO
        met &= ok
        out(f"  {name:<36} calls x{calls:<8.2f} items read x{items:<10.2f} {'MET' if ok else 'NOT MET'}")
    out("Targets (DynamoDB calls per webhook, the most at any depth):")
    for name, most in CALL_TARGETS.items():
        worst = max(r.steps[name].count for r in results)
        ok = worst <= most
        met &= ok
        out(f"  {name:<36} {worst} calls (target <= {most}){'':<13} {'MET' if ok else 'NOT MET'}")
    hot = hot_key_at(results, HOT_KEY_DEPTH)
    if hot is not None:
        rcu, key, measured = hot
        ok = rcu < HOT_KEY_TARGET
        met &= ok
        how = "measured" if measured == HOT_KEY_DEPTH else f"its poll measured at {measured:,} waiting"
        out(f"  hottest key at {HOT_KEY_DEPTH:,} waiting, each polling every {POLL_SECONDS} s: {rcu:,.0f} "
            f"read units/s on {key} ({how}; target < {HOT_KEY_TARGET:,.0f}) {'MET' if ok else 'NOT MET'}")
    for line in skipped or ():
        met = False
        out(f"  {line}: NOT MET (not measured)")
    return met


def hot_key_at(results: list[Depth], depth: int) -> tuple[float, str, int] | None:
    """The hottest key's read units/s with `depth` callers polling: measured there, or from the poll at
    the deepest line measured past SHORT_LINE (a poll reads the same past it). (units/s, key, depth used)."""
    from chalicelib.domain.line import SHORT_LINE

    deep = [r for r in results if r.depth == depth] or [r for r in results if r.depth > SHORT_LINE]
    if not deep:
        return None
    r = deep[-1]
    return r.hottest_rcu_per_second * depth / r.depth, r.hottest_key, r.depth


def estimated_seconds(done: list[Depth], depth: int) -> float:
    """The slowest step's one sized run at `depth`, extrapolated from the two deepest depths measured
    (each step's growth between them, as a power of the depth between linear and quadratic: moto reads
    its whole index for every page of a query)."""
    if len(done) < 2:
        return 0.0
    prev, last = done[-2], done[-1]
    worst = 0.0
    for name, f in last.steps.items():
        before = max(prev.steps[name].seconds, 1e-3)
        power = min(2.0, max(0.0, math.log(max(f.seconds, 1e-3) / before) / math.log(last.depth / prev.depth)))
        worst = max(worst, f.seconds * (depth / last.depth) ** power)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default=",".join(str(d) for d in DEPTHS),
                        help="waiting callers per depth measured ('' for none)")
    parser.add_argument("--lost", type=int, default=LOST)
    parser.add_argument("--reps", type=int, default=REPS)
    parser.add_argument("--budget", type=float, default=15.0,
                        help="seconds of timed runs per step and depth, at most (then fewer runs)")
    parser.add_argument("--max-run", type=float, default=180.0,
                        help="skip a depth where one run of a step is expected to take longer in moto")
    parser.add_argument("--no-costs", action="store_true", help="leave out the whole cost of a call (part 2)")
    parser.add_argument("--no-capacity", action="store_true", help="leave out the capacity table (part 3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    printed: list[str] = []

    def out(line: str) -> None:
        printed.append(line)
        print(line, flush=True)

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - began:6.0f} s] {line}", flush=True)

    results: list[Depth] = []
    skipped: list[str] = []
    began = time.monotonic()
    for depth in [int(d) for d in args.depths.split(",") if d.strip()]:
        guess = estimated_seconds(results, depth)
        if guess > args.max_run:
            skipped.append(f"{depth:,} waiting: not measured; one run of its slowest step would take about "
                           f"{guess / 60:,.0f} min in moto (above --max-run {args.max_run:.0f} s)")
            progress(skipped[-1])
            continue
        t0 = time.monotonic()
        results.append(measure(depth, args.lost, args.reps, args.budget, progress=progress))
        progress(f"depth {depth:,} done in {time.monotonic() - t0:.0f} s")
    if results:
        out("Part 1: DynamoDB work per webhook step as the line grows")
        report(results, skipped, out)
        out(f"(in-process moto; {args.lost:,} lost calls in the queue; latency is the median over the runs "
            f"shown, wall time minus time inside AWS calls)")
    if not args.no_costs:
        from bench import capacity, costs

        measured = costs.measure(progress=progress)
        out("")
        out("Part 2: the whole AWS bill of a call (bench/costs.py)")
        costs.report(measured, out)
        if not args.no_capacity:
            out("")
            out("Part 3: capacity (bench/capacity.py)")
            capacity.report(measured, out=out)
    missed = [line.strip() for line in printed if line.endswith("NOT MET") or line.endswith("(not measured)")]
    out("")
    out(f"Summary: {len(missed)} target(s) NOT MET" + (":" if missed else "."))
    for line in missed:
        out(f"  {line}")
    print(f"(total {time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
