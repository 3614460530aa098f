"""Holdfast's app on in-process moto, shared by the webhook benches (bench/webhooks.py: per step as the
line grows; bench/costs.py: the whole bill of a call): the environment, moto's transactions spared their
whole-table copy (devstack.atomic), the one place that writes the store's items directly (seeding), and the app behind the
Chalice test client with real Twilio signatures."""
from __future__ import annotations

import json
import os
import tempfile
import uuid
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

QUEUE = "bench"
QUEUE_NUMBER = "+18005550100"
START = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # Monday 10:00 in San Francisco, in the past
AUTH_TOKEN = "bench-auth-token-0123456789abcdef0123"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef0123"
AGENT_TOKEN = "bench-agent-token-0123456789abcdef0123"
PUBLIC_URL = "https://bench.example.com/api"
AGENT = "ann"


# --- seeding: the ONE place that writes the store's items directly ------------------------------------
# What the store holds once those callers have joined (each counted into the line's counts as it took its
# number) and the table's stream has applied them: the ticket items (with the line they joined, the
# `line` and `live` index keys), their `CALL#` pointers, the lost-call markers, the counter item's counts
# and the queue's `SNAPSHOT` head, built from the store's own model classes and key helpers and written
# in batches of 25 (BatchWriteItem) with moto's stream detached (`unstreamed`: nor keeps 100,000 records
# in memory). `by_app` writes the same callers the way production does instead (each takes its place and
# opens its ticket through the store, the lost ones hang up through it, the stream drained into the real
# consumer): the bench test checks that both leave the same table.

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
    line as it joined (the line's counts, plus those seeded before it)."""
    from chalicelib.domain.model import JoinedLine, Ticket, TicketKind, TicketStatus

    before = stores.line.snapshot(queue_id).line
    return [Ticket(queue_id, number, TicketKind.LIVE, TicketStatus.WAITING, at + timedelta(seconds=i),
                   call_id=f"CA{uuid.uuid4().hex}", caller=f"+1{area}{number % 10_000_000:07d}",
                   joined=JoinedLine(before.of(0) + i, before.departed.get(0, 0), before.returned.get(0, 0)))
            for i, number in enumerate(numbers)]


def _by_app(stores: Any, tickets: list[Any], area: str) -> list[Any]:
    """The same callers, each taking its place and opening its ticket through the store."""
    opened = []
    for ticket in tickets:
        number, line = stores.tickets.take_place(ticket.queue_id)
        opened.append(stores.tickets.open_ticket(ticket.evolve(
            number=number, caller=f"+1{area}{number % 10_000_000:07d}", joined=line.joined(0))))
    return opened


def _count(queue_id: str, waiting: int, departed: int) -> None:
    """The counter item's line counts, as the callers' own writes would have moved them."""
    from chalicelib.adapters.dynamo import TicketItem, queue_pk

    TicketItem._get_connection().connection.client.update_item(
        TableName=TicketItem.Meta.table_name, Key={"pk": {"S": queue_pk(queue_id)}, "sk": {"S": "COUNTER"}},
        UpdateExpression="ADD n0 :n, d0 :d", ExpressionAttributeValues={":n": {"N": str(waiting)},
                                                                        ":d": {"N": str(departed)}})


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


def seed_line(stores: Any, stream: Any, queue_id: str, count: int, at: datetime, by_app: bool = False) -> list[str]:
    """`count` LIVE WAITING callers joining the end of the queue's line, a second apart from `at`, as the
    store holds them once they joined and the stream has applied them (`stream` is drained first). Their
    ticket ids, in line order."""
    from chalicelib.adapters.dynamo import TicketItem

    stream.drain()
    if by_app:
        tickets = _by_app(stores, _joining(stores, queue_id, range(count), at, "212"), "212")
        stream.drain()
    else:
        tickets = _joining(stores, queue_id, _numbers(queue_id, count), at, "212")
        with unstreamed(TicketItem.Meta.table_name):
            _write(tickets)
            _count(queue_id, count, 0)
            if tickets:  # heads the line if it had no live head, as the stream's consumer does
                stores.stream._head_if_none(queue_id, TicketItem.created_at.serialize(tickets[0].created_at))
    return [t.id for t in tickets]


def seed_lost(stores: Any, stream: Any, queue_id: str, count: int, at: datetime, by_app: bool = False) -> None:
    """`count` unrecovered lost calls in the queue (callers who waited two minutes and hung up, a second
    apart from `at`): departed from the line, on the lost-call list, a `LOSTBY#` marker per number."""
    from chalicelib.adapters.dynamo import TICKET_TTL, MarkerItem, TicketItem, lost_marker_sk
    from chalicelib.domain.model import TicketStatus

    stream.drain()
    if by_app:  # as it happened: they joined, then hung up
        for ticket in _by_app(stores, _joining(stores, queue_id, range(count), at - timedelta(minutes=2), "646"), "646"):
            gone = ticket.created_at + timedelta(minutes=2)
            stores.tickets.abandon(ticket.id, gone, 120.0, ticket.call_id)
            stores.lost.mark_lost(ticket.id, "abandoned", gone)
        stream.drain()
        return
    waiting = _joining(stores, queue_id, _numbers(queue_id, count), at - timedelta(minutes=2), "646")
    lost = [t.evolve(status=TicketStatus.ABANDONED, ended_at=t.created_at + timedelta(minutes=2), wait_seconds=120.0,
                     lost_cause="abandoned", lost_at=t.created_at + timedelta(minutes=2)) for t in waiting]
    with unstreamed(TicketItem.Meta.table_name):
        _write(lost, done=True)
        with MarkerItem.batch_write() as batch:
            for ticket in lost:
                batch.save(MarkerItem(f"LOSTBY#{queue_id}#{ticket.caller}", lost_marker_sk(ticket.number),
                                      expires_at=ticket.created_at + TICKET_TTL))
        _count(queue_id, 0, count)  # each joined, then left


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


def queues_file(directory: str, offer_after: int) -> str:
    """The bench's queue: one agent's staffing assumed; `offer_after` decides who is offered a callback."""
    path = Path(directory) / f"queues-{offer_after}.json"
    path.write_text(json.dumps({"default": QUEUE, "queues": [{
        "id": QUEUE, "name": "Bench", "numbers": [QUEUE_NUMBER], "offer_callback_after_seconds": offer_after,
        "assumed_agents": 1, "average_handle_seconds": 240, "average_patience_seconds": 600,
        "max_callbacks_per_number_per_day": 100}]}))
    return str(path)


class AppOnMoto:
    """One moto account with Holdfast's resources (the workflow run by moto's interpreter when
    `workflows`), and the app's routes served by the Chalice test client over `self.current`."""

    def __init__(self, stack: ExitStack, workflows: bool = False) -> None:
        stack.enter_context(environment({
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "HOLDFAST_ADMIN_TOKEN": ADMIN_TOKEN, "HOLDFAST_AGENT_TOKEN": AGENT_TOKEN,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": None, "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None, "AWS_SECURITY_TOKEN": None}))
        from chalice.test import Client
        from moto import mock_aws

        from app import app
        from chalicelib import bootstrap
        from chalicelib.settings import Settings
        from devstack.atomic import lean_transactions
        from devstack.resources import create_resources

        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": workflows}}))
        stack.enter_context(lean_transactions())
        self.aws = create_resources(prefix=f"bench-{uuid.uuid4().hex[:8]}")
        self.workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="holdfast-bench-"))
        self.settings = Settings(
            table_name=self.aws.table_name, state_machine_arn=self.aws.state_machine_arn,
            dial_queue_url=self.aws.dial_queue_url, notify_queue_url=self.aws.notify_queue_url,
            public_base_url=PUBLIC_URL, twilio_auth_token=AUTH_TOKEN, admin_token=ADMIN_TOKEN,
            agent_token=AGENT_TOKEN, metrics_enabled=False)
        self.current: Any = None
        stack.callback(setattr, bootstrap, "container", bootstrap.container)
        bootstrap.container = lambda: self.current  # type: ignore[assignment]  # the app's routes use this one
        self.client = stack.enter_context(Client(app, stage_name="local"))

    def post(self, step: str, params: dict[str, str], query: dict[str, str] | None = None) -> Any:
        from urllib.parse import urlencode

        from tests.helpers import signed

        path = f"/voice/twilio/{step}" + (f"?{urlencode(query)}" if query else "")
        body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, params)
        reply = self.client.http.post(path, headers=headers, body=body)
        if reply.status_code != 200:
            raise RuntimeError(f"{step}: HTTP {reply.status_code} {reply.body[:200]!r}")
        return reply

    def agent_status(self, status: str, **more: Any) -> Any:
        reply = self.client.http.post(f"/agents/{AGENT}/status", body=json.dumps({"status": status, **more}), headers={
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
