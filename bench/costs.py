"""The whole AWS bill of a call, counted (issue 24): every step's own work, the table stream consumer's
work it causes, the callback workflow's state transitions (the real ASL, run by moto), queue messages,
Lambda invocations and their estimated duration, API Gateway requests and log bytes; per step, per
call outcome, and per 1,000 calls of a stated mix, priced at stated us-east-1 list prices.

How: one moto account with Holdfast's resources (`execute_state_machine` on: the workflow really
runs), the app behind the Chalice test client, one meter (devstack/dynamo_meter.py) on every thread.
Each step is one invocation (a webhook, the agents API, the dial worker, the sweep); then the world
*settles*: the table's stream is drained through the deployed event filter into the real consumer
(`workers.on_table_change`), the dial and notify queues into their workers, until nothing moves and the
workflows wait for a token or have ended. Everything that happened from the step until then is the
step's cost: its own calls (the metering thread, tagged by invocation), the consumer's, the workflow's
own service calls (Step Functions calls DynamoDB and SQS from moto's threads), state transitions (state
entries in the executions' histories), messages sent, records written, filtered and delivered.

Duration: Lambda bills the wall time of an invocation. Here AWS is in process, so the duration is
estimated as the thread's CPU time outside AWS calls (scaled to the function's share of a vCPU) plus a
stated latency per AWS call and per provider REST request (`LATENCY_MS`): a model, said as one.

Not counted per call (fixed, printed apart): the minute sweep, Lambda's own polling of empty queues and
the stream, CloudWatch custom metrics (per metric per month), storage."""
from __future__ import annotations

import io
import json
import logging
import math
import os
import sys
import time
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.dynamo_meter import OTHER_THREAD, Call, Calls, DynamoMeter  # noqa: E402

from bench.onmoto import AGENT, QUEUE, START, AppOnMoto, queues_file, seed_lost  # noqa: E402

# --- prices and the model around them ------------------------------------------------------------

PRICES_AS_OF = "2026-12-07"
PRICE_SOURCES = (
    "DynamoDB on-demand (Standard table class): https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "Step Functions Standard: https://aws.amazon.com/step-functions/pricing/",
    "Lambda (x86): https://aws.amazon.com/lambda/pricing/",
    "API Gateway REST API (first 333 million a month): https://aws.amazon.com/api-gateway/pricing/",
    "SQS standard queues: https://aws.amazon.com/sqs/pricing/",
    "CloudWatch Logs ingestion (standard): https://aws.amazon.com/cloudwatch/pricing/",
)


@dataclass(frozen=True)
class Prices:
    """us-east-1 list prices in dollars (PRICES_AS_OF), free tiers left out."""

    read_unit: float = 0.125 / 1e6           # per read request unit (4 KB strongly consistent, 2 x eventual)
    write_unit: float = 0.625 / 1e6          # per write request unit (1 KB)
    transition: float = 0.025 / 1_000        # per state transition
    lambda_request: float = 0.20 / 1e6
    lambda_gb_second: float = 0.0000166667
    api_request: float = 3.50 / 1e6
    sqs_request: float = 0.40 / 1e6
    log_gb: float = 0.50


PRICES = Prices()
# Stated latencies (ms) inside an invocation, in-region: a model of what the duration is made of.
LATENCY_MS = {"dynamodb": 6.0, "stepfunctions": 30.0, "sqs": 12.0, "ssm": 10.0, "provider": 250.0}
FULL_CPU_MB = 1_769  # Lambda gives a function one vCPU at 1,769 MB, a share of one below
PLATFORM_LOG_BYTES = 350  # Lambda's START, END and REPORT lines per invocation, about
SQS_REQUESTS_PER_MESSAGE = 3  # sent, received (batch of 1), deleted
MIX = {"answered live": 0.70, "pressed 1": 0.20, "hung up, recovered": 0.10}
TARGET_PER_1000 = 0.08
# Each step's own DynamoDB calls, at most (issue 24).
STEP_TARGETS = {"incoming": 3, "wait poll": 2, "confirm (press 1: booked)": 5, "agent -> live head": 4,
                "agent -> parked callback": 5, "bridge result (served)": 5, "callback status (ended)": 5,
                "hang-up in queue": 5, "dial message": 5, "minute sweep": 5}


def function_memory() -> dict[str, int]:
    """Each Lambda function's memory (MB), as .chalice/config.json deploys it."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    return {name: int(f.get("lambda_memory_size", 128)) for name, f in config["lambda_functions"].items()}


# --- what one invocation and one step cost ----------------------------------------------------------

@dataclass
class Invocation:
    """One Lambda invocation: its function, CPU outside AWS calls, its calls, provider requests, logs."""

    function: str
    cpu: float = 0.0
    calls: list[Call] = field(default_factory=list)
    provider_requests: int = 0
    log_bytes: int = 0
    lane: str = ""  # a stream record's partition key: one batch at a time per key, whatever the shards

    def duration_ms(self, memory_mb: int) -> float:
        waiting = sum(LATENCY_MS.get(c.service, 10.0) for c in self.calls if c.service != "dynamodbstreams")
        return self.cpu * 1000 * max(1.0, FULL_CPU_MB / memory_mb) + waiting + \
            self.provider_requests * LATENCY_MS["provider"]


@dataclass
class StepCost(Calls):
    name: str
    invocations: list[Invocation] = field(default_factory=list)
    workflow_calls: list[Call] = field(default_factory=list)  # made by Step Functions (moto's threads)
    transitions: int = 0
    records: int = 0  # stream records written (DynamoDB's count: items changed)
    delivered: int = 0  # records the mapping's filter handed to the consumer
    filtered: int = 0  # records the filter dropped
    ticket_writes: int = 0  # changes of a ticket item
    api_requests: int = 0

    @property
    def own(self) -> Invocation:
        return self.invocations[0]

    def own_dynamodb(self) -> list[Call]:
        return [c for c in self.own.calls if c.service == "dynamodb"]

    def consumer(self) -> list[Invocation]:
        return [i for i in self.invocations if i.function == "table_stream"]

    def all_calls(self) -> list[Call]:
        return [c for i in self.invocations for c in i.calls] + self.workflow_calls

    def dollars(self, prices: Prices = PRICES, memory: Mapping[str, int] | None = None) -> dict[str, float]:
        memory = memory or function_memory()
        gb_seconds = sum(math.ceil(i.duration_ms(memory[i.function])) / 1000 * memory[i.function] / 1024
                         for i in self.invocations)
        log_bytes = sum(i.log_bytes + PLATFORM_LOG_BYTES for i in self.invocations)
        return {"DynamoDB": self.read_units * prices.read_unit + self.write_units * prices.write_unit,
                "Step Functions": self.transitions * prices.transition,
                "Lambda": len(self.invocations) * prices.lambda_request + gb_seconds * prices.lambda_gb_second,
                "API Gateway": self.api_requests * prices.api_request,
                "SQS": self.messages * SQS_REQUESTS_PER_MESSAGE * prices.sqs_request,
                "Logs": log_bytes / 1e9 * prices.log_gb}

def ops(calls: list[Call]) -> str:
    short = {"GetItem": "Get", "Query": "Q", "UpdateItem": "Upd", "PutItem": "Put", "DeleteItem": "Del",
             "TransactWriteItems": "TxW", "TransactGetItems": "TxG", "BatchGetItem": "BGet", "BatchWriteItem": "BW"}
    counts: dict[str, int] = {}
    for c in calls:
        counts[short.get(c.operation, c.operation)] = counts.get(short.get(c.operation, c.operation), 0) + 1
    return " ".join(f"{op}{n}" for op, n in sorted(counts.items()))


# --- the world --------------------------------------------------------------------------------------

class _Bytes(io.TextIOBase):
    """A stream that counts what is written to it (log lines, EMF metrics) and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, text: str) -> int:
        self.count += len(text.encode("utf-8"))
        return len(text)

    def getvalue(self) -> str:
        """What it holds: nothing (a stream read back as a StringIO would be, by whoever set it up)."""
        return ""


class CostWorld(AppOnMoto):
    """Holdfast on one moto account, its workflow running, every AWS call metered and tagged; every
    caller is offered a callback (the mix decides who takes it)."""

    SETTLE_TIMEOUT = 60.0

    def __init__(self, stack: ExitStack, lost: int = 0) -> None:
        super().__init__(stack, workflows=True)
        import boto3

        from chalicelib import bootstrap
        from chalicelib.adapters.memory import FakeDialer, FixedClock
        from chalicelib.edges import workers
        from devstack.pollers import SqsPoller, StreamPoller, deployed_filters

        self.clock = FixedClock(START)
        self.dialer = FakeDialer()
        self.c = self.current = bootstrap.build_aws(
            replace(self.settings, metrics_enabled=True, log_level="INFO", queues_file=queues_file(self.workdir, 0)),
            clock=self.clock, dialer=self.dialer)
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.logs = _Bytes()
        for name in ("chalicelib", "holdfast"):
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, logging.StreamHandler):
                    was = handler.setStream(self.logs)  # type: ignore[arg-type]
                    if was is not None:  # the process's logging as it was, once this world is done
                        stack.callback(handler.setStream, was)
        self.meter = DynamoMeter(all_threads=True)
        stack.enter_context(self.meter.metering())
        self.meter.tag = "setup"
        self.stream = StreamPoller(self.aws.table_name, self._consume, with_event_id=True, filters=deployed_filters())
        self.dial_queue = SqsPoller(self.aws.dial_queue_url, lambda body: self.invoke(
            "dial_worker", lambda: workers.on_dial_message(body)))
        self.notify_queue = SqsPoller(self.aws.notify_queue_url, lambda body: self.invoke(
            "notify_worker", lambda: workers.on_notify_message(body)))
        self._step: StepCost | None = None
        self._serial = 0
        if lost:
            seed_lost(self.c.stores, _Drain(self), QUEUE, lost, START - timedelta(days=1))
        self.settle()

    def agent_status(self, status: str, **more: Any) -> Any:
        return super().agent_status(status, contact=f"client:{AGENT}", queues=[QUEUE], **more)

    # --- invocations ------------------------------------------------------------------------------

    def invoke(self, function: str, work: Callable[[], Any], lane: str = "") -> Any:
        """Run `work` as one invocation of `function`: its calls tagged, its CPU and logs counted."""
        self._serial += 1
        tag = f"{function}#{self._serial}"
        outer, self.meter.tag = self.meter.tag, tag
        dialed = len(self.dialer.calls) + len(self.dialer.redirects)
        logged = self.logs.count
        emitted = _Bytes()
        cpu = time.thread_time()
        try:
            with redirect_stdout(emitted):
                return work()
        finally:
            spent = time.thread_time() - cpu
            self.meter.tag = outer
            calls = [c for c in self.meter.calls if c.tag == tag]
            inv = Invocation(function, max(0.0, spent - sum(c.cpu for c in calls)), calls,
                             len(self.dialer.calls) + len(self.dialer.redirects) - dialed,
                             self.logs.count - logged + emitted.count, lane)
            if self._step is not None:
                self._step.invocations.append(inv)

    def _consume(self, new: Any, old: Any, event_id: str) -> None:
        from chalicelib.edges import workers

        if self._step is not None:
            self._step.delivered += 1
        self.invoke("table_stream", lambda: workers.on_table_change(new, old, event_id),
                    lane=(new or old or {}).get("pk", {}).get("S", ""))

    # --- settling ---------------------------------------------------------------------------------

    def history(self) -> tuple[int, int, bool]:
        """(state entries, events) over every execution, and whether each waits for a token or ended."""
        entered = events = 0
        waiting = True
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.aws.state_machine_arn):
            for execution in page["executions"]:
                history = self.sfn.get_execution_history(executionArn=execution["executionArn"],
                                                         maxResults=1000)["events"]
                events += len(history)
                entered += sum(1 for e in history if e["type"].endswith("StateEntered"))
                # a RUNNING execution with no event yet has only just started: it has not settled either
                if execution["status"] == "RUNNING" and (not history or history[-1]["type"] not in (
                        "TaskSubmitted", "TaskStarted")):
                    waiting = False
        return entered, events, waiting

    def settle(self, until: Callable[[], bool] = lambda: True, dial: bool = True) -> None:
        """Drain the stream, the queues and the workflows until nothing moves and `until()` holds."""
        outer, self.meter.tag = self.meter.tag, "poll"
        deadline = time.monotonic() + self.SETTLE_TIMEOUT
        try:
            quiet, last = 0, -1
            while quiet < 3 or not until():
                if time.monotonic() > deadline:
                    raise RuntimeError("the world did not settle")
                moved = self.stream.poll_once() + self.notify_queue.poll_once()
                if dial:
                    moved += self.dial_queue.poll_once()
                _, events, waiting = self.history()
                if events != last or not waiting:
                    moved += 1
                    last = events
                quiet = 0 if moved else quiet + 1
                if not moved:
                    time.sleep(0.05)
        finally:
            self.meter.tag = outer

    def step(self, name: str, function: str | None, act: Callable[[], Any], until: Callable[[], bool] = lambda: True,
             dial: bool = True, api: bool = True) -> StepCost:
        """One measured step: the invocation, then everything it set off, until the world settles.
        `function` None: `act` is an event source (a queue's poll) whose handler is the invocation."""
        entered = self.history()[0]
        filtered = self.stream.filtered
        first = len(self.meter.calls)
        self._step = cost = StepCost(name, api_requests=int(api))
        try:
            if function is None:
                outer, self.meter.tag = self.meter.tag, "poll"
                try:
                    act()
                finally:
                    self.meter.tag = outer
            else:
                self.invoke(function, act)
            self.settle(until, dial)
        finally:
            self._step = None
        calls = self.meter.calls[first:]
        cost.workflow_calls = [c for c in calls if c.tag == OTHER_THREAD]
        cost.transitions = self.history()[0] - entered
        cost.filtered = self.stream.filtered - filtered
        mine = [c for c in calls if c.tag != "poll" and c.tag != "setup" and c.service == "dynamodb"]
        cost.records = sum(c.stream_records for c in mine)
        cost.ticket_writes = sum(1 for c in mine for key in c.changed if key[-1].startswith("TICKET#"))
        return cost

    def unmeasured(self, act: Callable[[], Any]) -> None:
        """Set the scene (an agent's state, the clock): done and settled, counted nowhere."""
        outer, self.meter.tag = self.meter.tag, "setup"
        try:
            with redirect_stdout(_Bytes()):  # its metrics are nobody's cost, nor the bench's output
                act()
        finally:
            self.meter.tag = outer
        self.settle()


class _Drain:
    """What `seed_lost` asks of a stream: drained (here, into the world's consumer)."""

    def __init__(self, world: CostWorld) -> None:
        self.world = world

    def drain(self) -> None:
        self.world.settle()


# --- what was measured --------------------------------------------------------------------------

@dataclass
class Outcome:
    name: str
    steps: list[StepCost]

    def total(self) -> StepCost:
        whole = StepCost(self.name)
        for s in self.steps:
            whole.invocations += s.invocations
            whole.workflow_calls += s.workflow_calls
            for name in ("transitions", "records", "delivered", "filtered", "ticket_writes", "api_requests"):
                setattr(whole, name, getattr(whole, name) + getattr(s, name))
        return whole


@dataclass
class Costs:
    outcomes: dict[str, Outcome]
    sweep: StepCost

    def steps(self) -> dict[str, list[StepCost]]:
        out: dict[str, list[StepCost]] = {}
        for outcome in self.outcomes.values():
            for s in outcome.steps:
                out.setdefault(s.name, []).append(s)
        out.setdefault(self.sweep.name, []).append(self.sweep)
        return out

    def per_1000(self, prices: Prices = PRICES) -> dict[str, float]:
        memory = function_memory()
        out: dict[str, float] = {}
        for name, share in MIX.items():
            for category, dollars in self.outcomes[name].total().dollars(prices, memory).items():
                out[category] = out.get(category, 0.0) + 1000 * share * dollars
        return out


def measure(lost: int = 0, progress: Callable[[str], None] = lambda _: None) -> Costs:
    """Each outcome once, then the sweep, on one moto account (its queue with `lost` lost calls)."""
    from bench.outcomes import OUTCOMES, sweep

    with ExitStack() as stack:
        w = CostWorld(stack, lost)
        progress(f"cost world ready ({lost:,} lost calls)")
        outcomes = {}
        for n, (name, run) in enumerate(OUTCOMES.items(), start=1):
            outcomes[name] = run(w, n)
            progress(f"  {name}: {len(outcomes[name].steps)} steps")
        return Costs(outcomes, sweep(w))


# --- printing ----------------------------------------------------------------------------------------

def report(costs: Costs, out: Callable[[str], None] = print, prices: Prices = PRICES) -> bool:
    """Per step, per outcome, per 1,000 calls, and the targets. True if every target here is met."""
    memory = function_memory()
    out("")
    out("Whole cost per step (one sample; 'own' = the step's invocation; consumer = the stream's worker it set off)")
    out(f"{'step':<30}{'own DynamoDB calls':<34}{'own R/W units':>14}{'consumer calls':>15}{'R/W units all':>15}"
        f"{'rec/dlv/tkt':>12}{'trans':>6}{'msgs':>5}{'inv':>4}{'$ per 1M':>10}")
    for name, samples in costs.steps().items():
        s = samples[0]
        own = s.own_dynamodb()
        consumer = [c for i in s.consumer() for c in i.calls if c.service == "dynamodb"]
        other = [c for c in s.own.calls if c.service not in ("dynamodb", "dynamodbstreams")]
        calls = f"{len(own)} ({ops(own)})" + (f" +{ops(other)}" if other else "")
        dollars = sum(s.dollars(prices, memory).values())
        out(f"{name:<30}{calls:<34}{sum(c.read_units for c in own):>6.1f} / {sum(c.write_units for c in own):<5.1f}"
            f"{len(consumer):>15}{s.read_units:>7.1f} / {s.write_units:<5.1f}"
            f"{f'{s.records}/{s.delivered}/{s.ticket_writes}':>12}{s.transitions:>6}{s.messages:>5}"
            f"{len(s.invocations):>4}{dollars * 1e6:>10,.0f}")
    out("")
    out("Whole cost per call outcome")
    categories = list(StepCost("x").dollars(prices, memory))
    out(f"{'outcome':<22}{'steps':>6}{'DynamoDB calls':>15}{'RRU':>7}{'WRU':>7}{'records':>8}{'delivered':>10}"
        f"{'ticket writes':>14}{'transitions':>12}{'msgs':>5}{'inv':>5}" + "".join(f"{c:>15}" for c in categories)
        + f"{'total':>10}")
    met = True
    for name, outcome in costs.outcomes.items():
        t = outcome.total()
        d = t.dollars(prices, memory)
        out(f"{name:<22}{len(outcome.steps):>6}{len(t.dynamodb()):>15}{t.read_units:>7.1f}{t.write_units:>7.1f}"
            f"{t.records:>8}{t.delivered:>10}{t.ticket_writes:>14}{t.transitions:>12}{t.messages:>5}"
            f"{len(t.invocations):>5}" + "".join(f"{d[c] * 1e6:>13,.0f}u" for c in categories)
            + f"{sum(d.values()) * 1e6:>9,.0f}u")
    out("  (u: millionths of a dollar, i.e. dollars per million such calls)")
    per = costs.per_1000(prices)
    out("")
    out(f"Cost per 1,000 inbound calls, mix {', '.join(f'{int(v * 100)}% {k}' for k, v in MIX.items())}; "
        f"us-east-1 list prices as of {PRICES_AS_OF}:")
    for category, dollars in per.items():
        out(f"  {category:<16} ${dollars:.4f}")
    total = sum(per.values())
    out(f"  {'total':<16} ${total:.4f}")
    out(f"  prices: DynamoDB ${prices.read_unit * 1e6:.3f}/M read units, ${prices.write_unit * 1e6:.3f}/M write units; "
        f"Step Functions ${prices.transition * 1e3:.3f}/1,000 transitions; Lambda ${prices.lambda_request * 1e6:.2f}/M "
        f"requests + ${prices.lambda_gb_second:.10f}/GB-s; API Gateway ${prices.api_request * 1e6:.2f}/M; "
        f"SQS ${prices.sqs_request * 1e6:.2f}/M requests ({SQS_REQUESTS_PER_MESSAGE} per message); "
        f"logs ${prices.log_gb:.2f}/GB")
    for source in PRICE_SOURCES:
        out(f"    {source}")
    out(f"  durations: CPU outside AWS calls x max(1, {FULL_CPU_MB} MB / memory) + per call "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in LATENCY_MS.items()) + " (a model, not a measurement)")
    fixed = sum(costs.sweep.dollars(prices, memory).values()) * 60 * 24 * 30
    out(f"  fixed, not per call: the minute sweep ${fixed:.2f} a month (one queue, nothing to do)")
    out("")
    out("Targets:")
    for name, most in STEP_TARGETS.items():
        samples = costs.steps().get(name, [])
        worst = max((len(s.own_dynamodb()) for s in samples), default=None)
        ok = worst is not None and worst <= most
        met &= ok
        out(f"  {name:<34} own DynamoDB calls {worst if worst is not None else '-'} (target <= {most})"
            f"{'':<6}{'MET' if ok else 'NOT MET'}")
    for name, outcome in costs.outcomes.items():
        t = outcome.total()
        ok = t.delivered <= t.ticket_writes
        met &= ok
        out(f"  {name:<34} stream records delivered {t.delivered} (target <= ticket writes {t.ticket_writes})"
            f"{'':<2}{'MET' if ok else 'NOT MET'}")
    ok = total <= TARGET_PER_1000
    met &= ok
    out(f"  {'cost per 1,000 calls':<34} ${total:.4f} (target <= ${TARGET_PER_1000:.2f}){'':<14}"
        f"{'MET' if ok else 'NOT MET'}")
    return met


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lost", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOG_LEVEL", "INFO")
    began = time.monotonic()
    costs = measure(args.lost, lambda s: print(f"[{time.monotonic() - began:6.0f} s] {s}", flush=True))
    report(costs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
