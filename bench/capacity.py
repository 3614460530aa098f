"""Capacity, from the counted figures (issue 24): a contact center's peak load on each AWS limit Holdfast
meets, and which one binds first.

The load comes from bench/costs.py: each step's counted work (its own, the stream consumer's it causes,
the workflow's), times how often the step happens at the center's peak. Each step happens as often as the
call outcomes that contain it (the mix, at the peak arrival rate), except the wait poll, which every
waiting caller makes once a minute. Partition keys are named generically ({queue}, {agent}, {day}), and
the whole center is one queue: the worst case for a queue's keys (more queues divide that load).

Limits (checked against the documents named; quotas are per account and region, and most can be raised):
- DynamoDB, per partition: 3,000 read units/s, 1,000 write units/s
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html);
  per on-demand table: 40,000 read and 40,000 write request units/s by default
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
- Step Functions Standard (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html):
  StateTransition refill 1,500/s in us-east-1, us-west-2, eu-west-1 (bucket 5,000) and 500/s elsewhere
  (bucket 800); StartExecution 300/s (1,300) and 150/s (800); SendTaskSuccess 500/s (3,000) and 300/s (1,500).
- Lambda: 1,000 concurrent executions per region by default
  (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); the dial worker's
  reserved concurrency (.chalice/config.json).
- The dialing provider account's calls per second (Holdfast's pace, HOLDFAST_DIAL_CALLS_PER_SECOND:
  1 by default, Twilio's default; Twilio raises it to 30 on request): every agent leg of a holding
  caller and every callback attempt is a dial.
- API Gateway: 10,000 requests/s per account and region (burst 5,000)
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
- The table stream: a shard's records are consumed one batch at a time (ParallelizationFactor 1, as
  deployed); up to 10 batches at once with a higher factor, in order per item
  (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html). Every ticket of a queue lives under the
  queue's partition key, so one queue's ticket records come through one shard."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from bench.costs import AGENT, MIX, QUEUE, Costs, StepCost, function_memory
from chalicelib.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Center:
    agents: int = 10_000
    calls_per_second: float = 28.0  # at peak
    calls_per_day: int = 1_000_000
    waiting: int = 50_000  # in an overload hour, each polling once a minute
    callbacks_per_day: int = 150_000
    poll_seconds: float = 60.0


@dataclass(frozen=True)
class Limit:
    name: str
    load: float
    limit: float
    unit: str
    note: str = ""

    @property
    def use(self) -> float:
        return self.load / self.limit if self.limit else float("inf")


PARTITION_READS, PARTITION_WRITES = 3_000.0, 1_000.0
TABLE_UNITS = 40_000.0
LARGE, SMALL = "us-east-1 / us-west-2 / eu-west-1", "other regions"
SFN = {"StateTransition": (1_500.0, 500.0), "StartExecution": (300.0, 150.0), "SendTaskSuccess": (500.0, 300.0)}
LAMBDA_CONCURRENCY = 1_000.0
API_RPS = 10_000.0
# What Holdfast does about each limit, once it binds (said plainly: done, or not yet).
ANSWERS = {
    "partition reads": "Each waiting caller's poll reads its queue's partition; a queue's line is capped by "
                       "this key. Planned (issue 24, after issue 20's counters): eventually consistent reads "
                       "and a per-container snapshot cached for a second; meanwhile, split a center into queues.",
    "partition writes": "Counters on one item (the queue's counter, snapshot, report row) take every "
                        "arrival; split a center into queues, or shard the counter item.",
    "table units": "Ask for a higher on-demand table quota (a soft quota).",
    "StateTransition": "One Standard execution per callback, 6 transitions when it works first time: ask for "
                       "a higher quota in a small region, or deploy in a large one.",
    "StartExecution": "Callbacks start one execution each; bookings beyond the quota are retried by the caller "
                      "flow's StartExecution retry and the booking reverts if it cannot start.",
    "SendTaskSuccess": "One per resumed callback and one per outcome.",
    "Lambda concurrency": "Ask for more concurrency; the API handler's share is set by webhook latency.",
    "dial worker reserved concurrency": "Raise reserved_concurrency for dial_worker; the provider's pace "
                                        "(calls per second) is the real bound on dials.",
    "API Gateway": "Ask for a higher account throttle; the wait poll dominates requests.",
    "provider calls per second": "Every dial waits its turn at the account's pace (promised callbacks first, "
                                 "none dropped): set HOLDFAST_DIAL_CALLS_PER_SECOND to what the provider grants "
                                 "(Twilio: up to 30 on request); beyond one account's rate, agents wait for their legs.",
    "stream consumer": "Not solved yet. Every ticket of a queue is under QUEUE#{queue}, so its records come "
                       "through one shard, consumed one batch at a time as deployed (up to 10 at once with a "
                       "ParallelizationFactor, in order per ticket; not enough for one queue at this rate). "
                       "The consumer's work per record (the snapshot's counters with a SEEN marker, the head's "
                       "refresh, reports, the board) bounds a queue's call rate: issue 20 moves the counters "
                       "into the writes themselves; until then, split a center into queues.",
}


def generic(key: str) -> str:
    key = re.sub(r"\d{4}-\d{2}-\d{2}(T[\d:]+)?", "{day}", key)
    key = key.replace(f"#{QUEUE}", "#{queue}").replace(f"#{AGENT}", "#{agent}")
    return re.sub(r"(SEEN|FACT|DIAL|EVENT|CALL)#[^/]+", r"\1#{id}", key)


def rates(costs: Costs, center: Center) -> dict[str, float]:
    """How often each step happens per second at the center's peak."""
    out: dict[str, float] = {}
    for name, share in MIX.items():
        for step in costs.outcomes[name].steps:
            out[step.name] = out.get(step.name, 0.0) + center.calls_per_second * share
    out["wait poll"] = center.waiting / center.poll_seconds
    out[costs.sweep.name] = 1 / 60
    return out


def samples(costs: Costs) -> dict[str, StepCost]:
    """One sample per step name: each step's mean is what the outcomes measured; the first stands for it."""
    return {name: steps[0] for name, steps in costs.steps().items()}


def load(costs: Costs, center: Center = Center()) -> list[Limit]:
    rate, steps = rates(costs, center), samples(costs)
    memory = function_memory()
    limits: list[Limit] = []
    for kind, cap in (("read", PARTITION_READS), ("write", PARTITION_WRITES)):
        keys: dict[str, float] = {}
        for name, step in steps.items():
            units_by_key = step.partition_read_units() if kind == "read" else step.partition_write_units()
            for (where, key), units in units_by_key.items():
                label = generic(f"{where.split('/', 1)[1] + ' index: ' if '/' in where else ''}{key}")
                keys[label] = keys.get(label, 0.0) + rate[name] * units
        if keys:
            hot = max(keys, key=lambda k: keys[k])
            limits.append(Limit(f"partition {kind}s", keys[hot], cap, f"{kind} units/s", hot))
    for kind, attr in (("read", "read_units"), ("write", "write_units")):
        total = sum(rate[n] * getattr(s, attr) for n, s in steps.items())
        limits.append(Limit("table units", total, TABLE_UNITS, f"{kind} request units/s", f"{kind}s, whole table"))
    per_op: dict[str, float] = {}
    transitions = 0.0
    for name, step in steps.items():
        transitions += rate[name] * step.transitions
        for call in step.all_calls():
            if call.service == "stepfunctions":
                per_op[call.operation] = per_op.get(call.operation, 0.0) + rate[name]
    for quota, (large, small) in SFN.items():
        used = transitions if quota == "StateTransition" else per_op.get(quota, 0.0)
        limits.append(Limit(quota, used, large, "per second", LARGE))
        limits.append(Limit(quota, used, small, "per second", SMALL))
    concurrency: dict[str, float] = {}
    for name, step in steps.items():
        for inv in step.invocations:
            concurrency[inv.function] = concurrency.get(inv.function, 0.0) + \
                rate[name] * inv.duration_ms(memory[inv.function]) / 1000
    limits.append(Limit("Lambda concurrency", sum(concurrency.values()), LAMBDA_CONCURRENCY, "concurrent",
                        ", ".join(f"{f} {c:,.1f}" for f, c in sorted(concurrency.items(), key=lambda kv: -kv[1]))))
    reserved = json.loads((ROOT / ".chalice" / "config.json").read_text())["lambda_functions"]["dial_worker"]
    limits.append(Limit("dial worker reserved concurrency", concurrency.get("dial_worker", 0.0),
                        float(reserved.get("reserved_concurrency", LAMBDA_CONCURRENCY)), "concurrent"))
    lanes: dict[str, float] = {}
    for name, step in steps.items():
        for inv in step.consumer():
            lane = generic(inv.lane)
            lanes[lane] = lanes.get(lane, 0.0) + rate[name] * inv.duration_ms(memory[inv.function]) / 1000
    if lanes:
        busiest = max(lanes, key=lambda k: lanes[k])
        limits.append(Limit("stream consumer", lanes[busiest], 1.0, "batches at once",
                            f"{busiest}'s shard, ParallelizationFactor 1"))
    dials = sum(rate[n] * sum(i.provider_requests for i in s.invocations) for n, s in steps.items())
    limits.append(Limit("provider calls per second", dials, Settings().dial_calls_per_second, "dials/s",
                        "the dialing account's pace (default)"))
    api = sum(rate[n] * s.api_requests for n, s in steps.items())
    limits.append(Limit("API Gateway", api, API_RPS, "requests/s"))
    return limits


def report(costs: Costs, center: Center = Center(), out: Callable[[str], None] = print) -> list[Limit]:
    limits = sorted(load(costs, center), key=lambda lim: -lim.use)
    out("")
    out(f"Capacity: {center.agents:,} agents, {center.calls_per_second:g} calls/s at peak "
        f"({center.calls_per_day:,} a day), {center.waiting:,} waiting (each polling every "
        f"{center.poll_seconds:g} s), {center.callbacks_per_day:,} callbacks a day; one queue (the worst case)")
    out(f"{'limit':<36}{'load':>12}{'limit':>10}  {'unit':<22}{'use':>7}  where")
    for lim in limits:
        out(f"{lim.name:<36}{lim.load:>12,.1f}{lim.limit:>10,.0f}  {lim.unit:<22}{lim.use:>7.0%}  {lim.note}")
    first = limits[0]
    out(f"Binds first: {first.name} ({first.use:.0%} of {first.limit:,.0f} {first.unit}"
        f"{', ' + first.note if first.note else ''}).")
    out(f"  What Holdfast does about it: {ANSWERS.get(first.name, '-')}")
    callbacks = center.callbacks_per_day / 86_400
    out(f"  (callbacks: {center.callbacks_per_day:,} a day is {callbacks:.1f}/s on average; at peak the mix "
        f"books {center.calls_per_second * (1 - MIX['answered live']):.1f}/s)")
    return limits


def as_dict(limits: list[Limit]) -> Mapping[str, float]:
    return {f"{lim.name} ({lim.note})" if lim.note else lim.name: lim.use for lim in limits}
