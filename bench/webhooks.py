"""DynamoDB work per webhook as the line grows: is each webhook's cost flat in the queue's depth?

For each depth of waiting callers (10, 1,000, 10,000, 100,000; a queue that also has 10,000 lost
calls), the real app (the Chalice test client, real Twilio signatures, the composition root over
in-process moto) answers each step several times, and the meter (devstack/dynamo_meter.py, which
wraps every botocore call) reports per step, side by side:
  - DynamoDB calls by operation, items read, estimated read and write units (DynamoDB's sizing rules);
  - in-process latency outside moto: the median over the timed runs of the step's wall time minus the
    time spent inside AWS calls (moto's own work is not Holdfast's);
and, per depth, the read units per second on the hottest partition key when every waiting caller's
wait URL polls once a minute (the wait-poll step's per-key reads x depth / 60).
Targets (issue 11): items read and calls per webhook flat from the smallest depth to the largest
(ratio <= 1.2), and the hottest key below 1,000 RCU/s at 10,000 waiting.

The line and the lost calls are written straight into the table as the store holds them once the
table's stream has applied them (`seed_line`, `seed_lost`: the one place that knows the store's item
layout, snapshot included); everything measured goes through the app. Before every measured run the
table's stream is drained into its real consumer (`workers.on_table_change`), outside the meter, so the
per-queue snapshot is what production reads. Also checked: DynamoDB calls per webhook against issue 11's
numbers (`CALL_TARGETS`).

Usage: python bench/webhooks.py [--depths 10,1000,10000,100000] [--lost 10000] [--reps 20]
                                [--budget 40]   (seconds of timed runs per step and depth, at most)
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEPTHS = (10, 1_000, 10_000, 100_000)
LOST = 10_000
REPS = 20
POLL_SECONDS = 60  # every waiting caller's wait URL, once a minute
QUEUE = "bench"
QUEUE_NUMBER = "+18005550100"
START = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
AUTH_TOKEN = "bench-auth-token-0123456789abcdef0123"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef0123"
AGENT_TOKEN = "bench-agent-token-0123456789abcdef0123"
PUBLIC_URL = "https://bench.example.com/api"
AGENT = "ann"
FLAT_RATIO = 1.2
HOT_KEY_TARGET = 1_000.0  # RCU/s on one partition key, at 10,000 waiting
HOT_KEY_DEPTH = 10_000
STEPS = ("incoming, short wait", "incoming, long wait", "wait poll", "confirm press-1 (book)",
         "agent available -> claim head", "bridge answered (served)", "status callback after caller left",
         "GET admin lost calls")
# DynamoDB calls per webhook, at most (issue 11; the confirmation's StartExecution comes on top)
CALL_TARGETS = {STEPS[0]: 3, STEPS[1]: 3, STEPS[2]: 2, STEPS[3]: 5, STEPS[4]: 4, STEPS[6]: 1}


# --- seeding: the ONE place that writes the store's items directly ------------------------------------
# What the store holds once the table's stream has applied those callers: the ticket items (with the line
# they joined, the `line` and `live` index keys), their `CALL#` pointers, the lost-call markers and the
# queue's `SNAPSHOT` counters, built from the store's own model classes and key helpers and written in
# batches of 25 (BatchWriteItem) with moto's stream detached (`unstreamed`): the consumer must not count
# them twice. `by_consumer` writes the same callers the way production does instead (stream attached, the
# records drained into the real consumer): the bench test checks that both leave the same table.

@contextmanager
def unstreamed(table_name: str) -> Iterator[None]:
    """moto records no stream record for this table while inside (nor keeps 100,000 of them in memory)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")].get_table(
        table_name)
    shard, table.stream_shard = table.stream_shard, None
    try:
        yield
    finally:
        table.stream_shard = shard


def _numbers(queue_id: str, count: int) -> range:
    """The next `count` ticket numbers of the queue; its counter moves past them."""
    from chalicelib.adapters.dynamo import CounterItem, queue_pk

    counter = CounterItem(queue_pk(queue_id), "COUNTER")
    counter.update(actions=[CounterItem.next_number.add(count)])
    return range(int(counter.next_number) - count + 1, int(counter.next_number) + 1)


def _joining(stores: Any, queue_id: str, numbers: range, at: datetime, area: str) -> list[Any]:
    """LIVE WAITING tickets joining the end of the line a second apart from `at`, each remembering the
    line as it joined (the snapshot as the stream left it, plus those seeded before it)."""
    from chalicelib.domain.model import JoinedLine, Ticket, TicketKind, TicketStatus

    before = stores.line.snapshot(queue_id)
    return [Ticket(queue_id, number, TicketKind.LIVE, TicketStatus.WAITING, at + timedelta(seconds=i),
                   call_id=f"CA{uuid.uuid4().hex}", caller=f"+1{area}{number % 10_000_000:07d}",
                   joined=JoinedLine(before.ahead_for(0) + i, before.departed, before.returned))
            for i, number in enumerate(numbers)]


def _write(tickets: list[Any], done: bool = False, calls: bool = True) -> None:
    """The tickets' items and (`calls`) their `CALL#` pointers (`done`: the ticket no longer holds its call)."""
    from chalicelib.adapters.dynamo import TICKET_TTL, CallItem, TicketItem, ticket_item

    with TicketItem.batch_write() as batch:
        for ticket in tickets:
            batch.save(ticket_item(ticket) if not ticket.lost_at else _lost_item(ticket))
    with CallItem.batch_write() as batch:
        for ticket in tickets if calls else ():
            batch.save(CallItem(f"CALL#{ticket.call_id}", "CALL", ticket_id=ticket.id, done=done or None,
                                expires_at=ticket.created_at + TICKET_TTL))


def _lost_item(ticket: Any) -> Any:
    """A caller who hung up, on the queue's lost-call list (as `DynamoLostCalls.mark_lost` keys it)."""
    from chalicelib.adapters.dynamo import ticket_item

    item = ticket_item(ticket)
    item.lost_cause, item.lost_at, item.ended_at, item.wait_seconds = (ticket.lost_cause, ticket.lost_at,
                                                                       ticket.ended_at, ticket.wait_seconds)
    item.lost_pk = f"LOST#{ticket.queue_id}"
    item.lost_sk = f"{ticket.lost_at.strftime('%Y-%m-%dT%H:%M:%S')}#{ticket.number:012d}"
    return item


def seed_line(stores: Any, stream: Any, queue_id: str, count: int, at: datetime, by_consumer: bool = False) -> list[str]:
    """`count` LIVE WAITING callers joining the end of the queue's line, a second apart from `at`, as the
    store holds them once the stream has applied them (`stream` is drained first: the snapshot they join
    by is the table's). Their ticket ids, in line order."""
    from chalicelib.adapters.dynamo import TicketItem

    stream.drain()
    tickets = _joining(stores, queue_id, _numbers(queue_id, count), at, "212")
    if by_consumer:
        _write(tickets)
        stream.drain()
    elif tickets:
        with unstreamed(TicketItem.Meta.table_name):
            _write(tickets)
            head = TicketItem.created_at.serialize(tickets[0].created_at)  # if the line had no live head
            stores.stream._add_to_snapshot(queue_id, {"w:0": count}, None, head)
    return [t.id for t in tickets]


def seed_lost(stores: Any, stream: Any, queue_id: str, count: int, at: datetime, by_consumer: bool = False) -> None:
    """`count` unrecovered lost calls in the queue (callers who waited two minutes and hung up, a second
    apart from `at`): departed from the line, on the lost-call list, a `LOSTBY#` marker per number."""
    from chalicelib.adapters.dynamo import TICKET_TTL, MarkerItem, TicketItem, lost_marker_sk
    from chalicelib.domain.model import TicketStatus

    stream.drain()
    waiting = _joining(stores, queue_id, _numbers(queue_id, count), at - timedelta(minutes=2), "646")
    lost = [t.evolve(status=TicketStatus.ABANDONED, ended_at=t.created_at + timedelta(minutes=2), wait_seconds=120.0,
                     lost_cause="abandoned", lost_at=t.created_at + timedelta(minutes=2)) for t in waiting]
    if by_consumer:  # as it happened: they joined, then hung up
        _write(waiting)
        stream.drain()
        _write(lost, calls=False)
        stream.drain()
        return
    with unstreamed(TicketItem.Meta.table_name):
        _write(lost, done=True)
        with MarkerItem.batch_write() as batch:
            for ticket in lost:
                batch.save(MarkerItem(f"LOSTBY#{queue_id}#{ticket.caller}", lost_marker_sk(ticket.number),
                                      expires_at=ticket.created_at + TICKET_TTL))
        if lost:
            stores.stream._add_to_snapshot(queue_id, {"departed": count}, None)


# --- the app on moto ------------------------------------------------------------------------------

def queues_file(directory: str, offer_after: int) -> str:
    """The bench's queue: one agent's staffing assumed; `offer_after` decides short or long wait."""
    path = Path(directory) / f"queues-{offer_after}.json"
    path.write_text(json.dumps({"default": QUEUE, "queues": [{
        "id": QUEUE, "name": "Bench", "numbers": [QUEUE_NUMBER], "offer_callback_after_seconds": offer_after,
        "assumed_agents": 1, "average_handle_seconds": 240, "average_patience_seconds": 600,
        "max_callbacks_per_number_per_day": 100}]}))
    return str(path)


@contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """These environment variables (None: unset) while inside; as they were afterwards."""
    saved = {key: os.environ.get(key) for key in values}

    def apply(pairs: dict[str, str | None]) -> None:
        for key, value in pairs.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    apply(values)
    try:
        yield
    finally:
        apply(saved)


@contextmanager
def lean_transactions() -> Iterator[None]:
    """moto backs up every table a transaction writes by deep-copying the whole table (seconds per
    transaction at 100,000 items: it would swamp the wall time and make deep lines unmeasurable). Here a
    transaction backs up only the items it names and puts them back if it is cancelled: the same outcome."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = models.DynamoDBBackend.transact_write_items

    class NoTableCopy:  # what moto's module calls `copy` while a transaction runs
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, models.Table) else copy.deepcopy(value, memo)

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr) if k}
            h, r = DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
            backups.append((table, h, r, copy.deepcopy(table.items.get(h, {}).get(r))))
        models.copy = NoTableCopy  # type: ignore[attr-defined]
        try:
            original(self, transact_items)
        except Exception:
            for table, h, r, before in reversed(backups):
                if before is None:
                    table.items.get(h, {}).pop(r, None)
                else:
                    table.items[h][r] = before
            raise
        finally:
            models.copy = copy  # type: ignore[attr-defined]

    models.DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]


class World:
    """One moto account with Holdfast's resources; two compositions of the app over it that differ only
    in the queue's callback threshold (every caller has a short wait / every caller is offered one)."""

    def __init__(self, stack: ExitStack) -> None:
        stack.enter_context(environment({
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "HOLDFAST_ADMIN_TOKEN": ADMIN_TOKEN, "HOLDFAST_AGENT_TOKEN": AGENT_TOKEN,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": None, "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None, "AWS_SECURITY_TOKEN": None}))
        from chalice.test import Client
        from moto import mock_aws

        from app import app
        from chalicelib import bootstrap
        from chalicelib.adapters.memory import FakeDialer, FixedClock
        from chalicelib.settings import Settings
        from devstack.resources import create_resources

        stack.enter_context(mock_aws())  # workflows are started, not run: only the webhook's own work counts
        stack.enter_context(lean_transactions())
        aws = create_resources(prefix=f"bench-{uuid.uuid4().hex[:8]}")
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="holdfast-bench-"))
        settings = Settings(table_name=aws.table_name, state_machine_arn=aws.state_machine_arn,
                            dial_queue_url=aws.dial_queue_url, notify_queue_url=aws.notify_queue_url,
                            public_base_url=PUBLIC_URL, twilio_auth_token=AUTH_TOKEN, admin_token=ADMIN_TOKEN,
                            agent_token=AGENT_TOKEN, metrics_enabled=False)
        self.clock = FixedClock(START)
        self.short = bootstrap.build_aws(replace(settings, queues_file=queues_file(workdir, 10 ** 9)), clock=self.clock,
                                     dialer=FakeDialer())
        self.long = bootstrap.build_aws(replace(settings, queues_file=queues_file(workdir, 0)), clock=self.clock,
                                    dialer=FakeDialer())
        self.stores = self.short.stores
        self.current = self.short
        stack.callback(setattr, bootstrap, "container", bootstrap.container)
        bootstrap.container = lambda: self.current  # type: ignore[assignment]  # the app's routes use this one
        self.client = stack.enter_context(Client(app, stage_name="local"))
        from tests.helpers import Stream

        self.stream = Stream(aws.table_name)  # drained into the real consumer before every measured run

    def post(self, step: str, params: dict[str, str], query: dict[str, str] | None = None) -> Any:
        from urllib.parse import urlencode

        from tests.helpers import signed

        path = f"/voice/twilio/{step}" + (f"?{urlencode(query)}" if query else "")
        body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, params)
        reply = self.client.http.post(path, headers=headers, body=body)
        if reply.status_code != 200:
            raise RuntimeError(f"{step}: HTTP {reply.status_code} {reply.body[:200]!r}")
        return reply

    def agent_status(self, status: str) -> Any:
        reply = self.client.http.post(f"/agents/{AGENT}/status", body=json.dumps({"status": status}), headers={
            "Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"})
        if reply.status_code != 200:
            raise RuntimeError(f"agent status: HTTP {reply.status_code} {reply.body[:200]!r}")
        return reply

    def lost_calls(self) -> Any:
        reply = self.client.http.get(f"/admin/lost-calls?queue={QUEUE}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        if reply.status_code != 200:
            raise RuntimeError(f"lost calls: HTTP {reply.status_code} {reply.body[:200]!r}")
        return reply


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


def seeded_world(stack: ExitStack, depth: int, lost: int, by_consumer: bool = False) -> tuple[World, list[str]]:
    """A fresh moto account whose queue has `lost` lost calls and `depth` callers waiting (their ticket
    ids, in line order), and one agent signed in and busy: estimates come from real staffing, and nobody
    takes a caller unless a step says so. `by_consumer`: seeded through the stream's consumer (slow)."""
    from chalicelib.domain.model import AgentStatus

    w = World(stack)
    seed_lost(w.stores, w.stream, QUEUE, lost, START - timedelta(days=1), by_consumer)
    line = seed_line(w.stores, w.stream, QUEUE, depth, START - timedelta(hours=1), by_consumer)
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
    hot = next((r for r in results if r.depth == HOT_KEY_DEPTH), None)
    if hot is not None:
        ok = hot.hottest_rcu_per_second < HOT_KEY_TARGET
        met &= ok
        out(f"  hottest key at {HOT_KEY_DEPTH:,} waiting: {hot.hottest_rcu_per_second:,.0f} RCU/s "
            f"(target < {HOT_KEY_TARGET:,.0f}) {'MET' if ok else 'NOT MET'}")
    for line in skipped or ():
        met = False
        out(f"  {line}: NOT MET (not measured)")
    return met


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
    parser.add_argument("--depths", default=",".join(str(d) for d in DEPTHS))
    parser.add_argument("--lost", type=int, default=LOST)
    parser.add_argument("--reps", type=int, default=REPS)
    parser.add_argument("--budget", type=float, default=15.0,
                        help="seconds of timed runs per step and depth, at most (then fewer runs)")
    parser.add_argument("--max-run", type=float, default=180.0,
                        help="skip a depth where one run of a step is expected to take longer in moto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    results: list[Depth] = []
    skipped: list[str] = []
    began = time.monotonic()
    for depth in [int(d) for d in args.depths.split(",")]:
        guess = estimated_seconds(results, depth)
        if guess > args.max_run:
            skipped.append(f"{depth:,} waiting: not measured; one run of its slowest step would take about "
                           f"{guess / 60:,.0f} min in moto (above --max-run {args.max_run:.0f} s)")
            print(f"[{time.monotonic() - began:6.0f} s] {skipped[-1]}", flush=True)
            continue
        t0 = time.monotonic()
        results.append(measure(depth, args.lost, args.reps, args.budget,
                               progress=lambda s: print(f"[{time.monotonic() - began:6.0f} s] {s}", flush=True)))
        print(f"[{time.monotonic() - began:6.0f} s] depth {depth:,} done in {time.monotonic() - t0:.0f} s", flush=True)
    report(results, skipped)
    print(f"\n(in-process moto; {args.lost:,} lost calls in the queue; latency is the median over the runs "
          f"shown, wall time minus time inside AWS calls; total {time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
