"""The single table's schema (PynamoDB models, indexes, key helpers) and a new ticket's item.

Keys:
  QUEUE#{queue} / COUNTER             the queue's ticket counter (atomic ADD) and its line's counts, per
                                      priority class: n{class} in the line now, monotone d{class} (left it)
                                      and r{class} (came back into it), moved in the same transaction as
                                      each ticket that enters or leaves the line (issue 20)
  QUEUE#{queue} / TICKET#{number:012} a ticket
  CALL#{call_id} / CALL               which ticket a provider call opened (one per call)
  AGENT#{agent_id} / AGENT            an agent: status, contact, queues, reservation (the authority)
  AGENTS#{queue} / AGENT#{agent_id}   the agent's presence in a queue (kept in step, same transactions)
  EVENT#{event_id} / EVENT            an agent event seen (duplicates are dropped)
  DIAL#{dial_id} / DIAL               a dial attempt begun (a redelivered dial request finds it)
  OPEN#{queue}#{number} / OPEN        which ticket is the number's open callback in the queue
  OPTOUT#{number} / OPTOUT            the number asked not to be called back automatically
  RATE#{number}#{day}, BUDGET#{day}   callbacks counted per number and per day (toll-fraud guard)
  SLOT#{queue}#{slot key} / SLOT      callbacks booked into a chosen-time slot (count < capacity, conditional)
  QUEUE#{queue} / SNAPSHOT            the queue's team and head in one item, kept by the table's stream
                                      (derived views): agent:{id} presence, head_at (docs/architecture.md)
  LOSTBY#{queue}#{number} / LOSTCALL#{number:012}  an unrecovered lost call by number (the stream too)
  REPLAY#{provider}#{digest} / REPLAY a provider's signature over a time, spent (TTL: the end of its window)
  SESSION#{sha256 of the id} / SESSION  an open console session (TTL: its expiry; deleted on sign-out)
  THROTTLE#{key}#{window start} / THROTTLE  attempts counted in a window (console sign-in; TTL)
The sparse index `lost` holds unrecovered lost calls: lost_pk = LOST#{queue}, lost_sk = when.
The sparse index `line` holds the tickets in the line: WAITING ones, and a callback holding its place
while its workflow parks it (SCHEDULED); line_pk = LINE#{queue}, line_sk orders by priority, then
number. Its order is dispatch order, so `ahead_of` is one COUNT query (exact; read only while the line
is short: the counter item's counts answer otherwise). The sparse index `live` holds only WAITING
live callers, in the same order: the live-service guard's first live caller is one item."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from pynamodb.attributes import (BooleanAttribute, ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ...domain.model import Agent, AgentStatus, JoinedLine, Ticket, TicketKind, TicketStatus, split_ticket_id
from ...ports import LineCounts


TICKET_TTL = timedelta(days=400)  # a year of reports, then DynamoDB drops the ticket


def queue_pk(queue_id: str) -> str:
    return f"QUEUE#{queue_id}"


def ticket_sk(number: int) -> str:
    return f"TICKET#{number:012d}"


def lost_marker_sk(number: int) -> str:
    return f"LOSTCALL#{number:012d}"


def line_keys(queue_id: str, number: int, priority: int = 0) -> tuple[str, str]:
    # Higher priority sorts first; within a priority class, the ticket number.
    return f"LINE#{queue_id}", f"{9 - priority}#{number:012d}"


def live_keys(queue_id: str, number: int, priority: int = 0) -> tuple[str, str]:
    return f"LIVE#{queue_id}", line_keys(queue_id, number, priority)[1]


def ticket_keys(ticket_id: str, priority: int = 0) -> dict[str, dict[str, str]]:
    """The item and line keys of a ticket, the queue's counter item and the names of the ticket's class's
    counts in it, for the workflow's own DynamoDB steps (Park puts the ticket back into the line, and
    GiveUp takes it out, each moving the counts in the same transaction)."""
    queue_id, number = split_ticket_id(ticket_id)
    line_pk, line_sk = line_keys(queue_id, number, priority)
    return {"key": {"pk": queue_pk(queue_id), "sk": ticket_sk(number)},
            "line": {"pk": line_pk, "sk": line_sk, "class": f"{9 - priority}#"},
            "counter": {"pk": queue_pk(queue_id), "sk": "COUNTER",
                        "n": f"n{priority}", "d": f"d{priority}", "r": f"r{priority}"}}


class _Base(Model):
    class Meta:
        table_name = "holdfast"
        region = "us-east-1"
        host: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class LineIndex(GlobalSecondaryIndex["TicketItem"]):
    class Meta:
        index_name = "line"
        projection = AllProjection()

    line_pk = UnicodeAttribute(hash_key=True)
    line_sk = UnicodeAttribute(range_key=True)


class LiveIndex(GlobalSecondaryIndex["TicketItem"]):
    class Meta:
        index_name = "live"
        projection = AllProjection()

    live_pk = UnicodeAttribute(hash_key=True)
    live_sk = UnicodeAttribute(range_key=True)


class CounterItem(_Base):
    """QUEUE#{queue} / COUNTER: the ticket counter, and the line's counts (n0, d0, r0, ...: set and read
    by name, one per priority class, so not declared here)."""

    next_number = NumberAttribute(default=0)


_COUNT = re.compile(r"^([ndr])([0-9])$")


def line_counts(raw: Mapping[str, Any] | None) -> LineCounts:
    """The line's counts in a counter item as DynamoDB returns it (no item: an empty line)."""
    by: dict[str, dict[int, int]] = {"n": {}, "d": {}, "r": {}}
    for name, value in (raw or {}).items():
        match = _COUNT.match(name)
        if match:
            by[match.group(1)][int(match.group(2))] = int(value["N"])
    return LineCounts(by["n"], by["d"], by["r"])


class CallItem(_Base):
    ticket_id = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)
    done = BooleanAttribute(null=True)  # the ticket no longer holds this call (set by the stream)


class AgentItem(_Base):
    agent_id = UnicodeAttribute()
    status = UnicodeAttribute(default="offline")
    contact = UnicodeAttribute(null=True)
    queues = ListAttribute(of=UnicodeAttribute, default=list)
    ticket_id = UnicodeAttribute(null=True)
    changed_at = UTCDateTimeAttribute(null=True)
    until = UTCDateTimeAttribute(null=True)  # announced sign-off
    reason = UnicodeAttribute(null=True)  # why away (AWAY_REASONS)

    def to_agent(self) -> Agent:
        return Agent(id=self.agent_id, status=AgentStatus(self.status), queues=tuple(self.queues or ()),
                     contact=self.contact, ticket_id=self.ticket_id, changed_at=self.changed_at, until=self.until,
                     reason=self.reason)


class PresenceItem(_Base):
    agent_id = UnicodeAttribute()
    status = UnicodeAttribute()
    changed_at = UTCDateTimeAttribute(null=True)  # when the status began (a busy agent's call: the estimator)
    ticket_id = UnicodeAttribute(null=True)  # the Holdfast call a busy agent is on (elapsed = talk time)
    until = UTCDateTimeAttribute(null=True)  # the agent's announced sign-off (the estimator)
    reason = UnicodeAttribute(null=True)  # why away (the console)


class MarkerItem(_Base):
    """Seen-once markers (agent events, dial attempts), opt-outs and open-callback pointers."""

    ticket_id = UnicodeAttribute(null=True)
    count = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class StatsItem(_Base):
    """QUEUE#{queue} / STATS: the queue's wait-estimator state (a few numbers, as JSON)."""

    state = UnicodeAttribute()
    version = NumberAttribute(default=0)


class LostIndex(GlobalSecondaryIndex["TicketItem"]):
    class Meta:
        index_name = "lost"
        projection = AllProjection()

    lost_pk = UnicodeAttribute(hash_key=True)
    lost_sk = UnicodeAttribute(range_key=True)


class WorkflowDateTimeAttribute(UTCDateTimeAttribute):
    """A time the workflow may write too: its own steps can only write Step Functions' timestamps
    (`$$.State.EnteredTime`, ISO 8601 with 'Z'), read here as well as the store's own format."""

    def deserialize(self, value: str) -> datetime:  # type: ignore[override]
        try:
            return super().deserialize(value)
        except ValueError:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


class TicketItem(_Base):
    line = LineIndex()
    lost = LostIndex()
    live = LiveIndex()
    live_pk = UnicodeAttribute(null=True)
    live_sk = UnicodeAttribute(null=True)
    # The line as the ticket joined it (JoinedLine), from the counter item its joining moved. (Tickets of
    # the stream-kept snapshot's days kept j_ahead/j_departed/j_returned instead: read as nothing.)
    joined_ahead = NumberAttribute(null=True)
    joined_departed = NumberAttribute(null=True)
    joined_returned = NumberAttribute(null=True)
    answered_at = UTCDateTimeAttribute(null=True)
    dials = NumberAttribute(null=True)  # callback calls placed
    dialed = UnicodeAttribute(null=True)  # the attempt counted last in `dials`
    lost_pk = UnicodeAttribute(null=True)
    lost_sk = UnicodeAttribute(null=True)
    lost_cause = UnicodeAttribute(null=True)
    lost_at = WorkflowDateTimeAttribute(null=True)  # the workflow's GiveUp sets it for a failed callback
    recovered_at = UTCDateTimeAttribute(null=True)
    leg = UnicodeAttribute(null=True)
    leg_at = UTCDateTimeAttribute(null=True)
    hung_up_at = UTCDateTimeAttribute(null=True)  # the caller's call ended while being put through
    bookings = NumberAttribute(default=0)
    slot = UnicodeAttribute(null=True)
    wants_time = BooleanAttribute(null=True)
    first_dial_at = UTCDateTimeAttribute(null=True)
    cancelled_by = UnicodeAttribute(null=True)
    origin = UnicodeAttribute(null=True)
    told_shape = NumberAttribute(null=True)
    told_scale = NumberAttribute(null=True)
    told_ahead = NumberAttribute(null=True)
    line_pk = UnicodeAttribute(null=True)
    line_sk = UnicodeAttribute(null=True)
    queue_id = UnicodeAttribute()
    number = NumberAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    call_id = UnicodeAttribute(null=True)
    caller = UnicodeAttribute(null=True)
    language = UnicodeAttribute(default="en")
    priority = NumberAttribute(default=0)
    callback_number = UnicodeAttribute(null=True)
    pending_number = UnicodeAttribute(null=True)
    not_before = UTCDateTimeAttribute(null=True)
    execution_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    ended_at = UTCDateTimeAttribute(null=True)
    wait_seconds = NumberAttribute(null=True)
    wants_callback = BooleanAttribute(default=False)
    task_token = UnicodeAttribute(null=True)
    agent_id = UnicodeAttribute(null=True)
    dial_id = UnicodeAttribute(null=True)
    dial_token = UnicodeAttribute(null=True)
    ended_dial = UnicodeAttribute(null=True)
    next_attempt_at = UTCDateTimeAttribute(null=True)
    last_outcome = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    def to_ticket(self) -> Ticket:
        return Ticket(
            queue_id=self.queue_id, number=int(self.number), kind=TicketKind(self.kind),
            status=TicketStatus(self.status), created_at=self.created_at, call_id=self.call_id,
            caller=self.caller, language=self.language, priority=int(self.priority or 0),
            callback_number=self.callback_number, pending_number=self.pending_number,
            not_before=self.not_before, execution_id=self.execution_id, attempts=int(self.attempts or 0),
            ended_at=self.ended_at, wait_seconds=None if self.wait_seconds is None else float(self.wait_seconds),
            wants_callback=bool(self.wants_callback), agent_id=self.agent_id, task_token=self.task_token,
            dial_id=self.dial_id, ended_dial=self.ended_dial, next_attempt_at=self.next_attempt_at, last_outcome=self.last_outcome,
            lost_cause=self.lost_cause, lost_at=self.lost_at, recovered_at=self.recovered_at,
            leg=self.leg, leg_at=self.leg_at, hung_up_at=self.hung_up_at,
            told_shape=float(self.told_shape or 0), told_scale=float(self.told_scale or 0),
            bookings=int(self.bookings or 0), slot=self.slot, wants_time=bool(self.wants_time),
            first_dial_at=self.first_dial_at, cancelled_by=self.cancelled_by, origin=self.origin,
            joined=None if self.joined_ahead is None else JoinedLine(
                int(self.joined_ahead), int(self.joined_departed or 0), int(self.joined_returned or 0)),
            told_ahead=None if self.told_ahead is None else int(self.told_ahead),
            held=self.status == TicketStatus.SCHEDULED.value and self.line_pk is not None,
            answered_at=self.answered_at, dials=int(self.dials or 0))


MODELS: tuple[type[_Base], ...] = (CounterItem, CallItem, AgentItem, PresenceItem, MarkerItem, StatsItem,
                                   TicketItem)


def bind(table_name: str, region: str, host: str | None) -> None:
    """Point every model at the table (PynamoDB keeps this on the classes)."""
    for model in (_Base, *MODELS):
        model.Meta.table_name = table_name
        model.Meta.region = region
        model.Meta.host = host
        model._connection = None  # type: ignore[attr-defined]
    LineIndex.Meta.model = TicketItem  # type: ignore[attr-defined]
    LostIndex.Meta.model = TicketItem  # type: ignore[attr-defined]
    LiveIndex.Meta.model = TicketItem  # type: ignore[attr-defined]


def ticket_item(ticket: Ticket) -> TicketItem:
    """A new ticket's item (in the line's indexes when it waits)."""
    item = TicketItem(
        queue_pk(ticket.queue_id), ticket_sk(ticket.number), queue_id=ticket.queue_id,
        number=ticket.number, kind=ticket.kind.value, status=ticket.status.value,
        created_at=ticket.created_at, call_id=ticket.call_id, caller=ticket.caller,
        language=ticket.language, priority=ticket.priority, expires_at=ticket.created_at + TICKET_TTL)
    if ticket.status is TicketStatus.WAITING:
        item.line_pk, item.line_sk = line_keys(ticket.queue_id, ticket.number, ticket.priority)
        if ticket.kind is TicketKind.LIVE:
            item.live_pk, item.live_sk = live_keys(ticket.queue_id, ticket.number, ticket.priority)
    if ticket.joined is not None:
        item.joined_ahead, item.joined_departed, item.joined_returned = (
            ticket.joined.ahead, ticket.joined.departed, ticket.joined.returned)
    if ticket.told_shape > 0:
        item.told_shape, item.told_scale = round(ticket.told_shape, 6), round(ticket.told_scale, 6)
        item.told_ahead = ticket.told_ahead
    item.slot, item.origin = ticket.slot, ticket.origin
    return item


def open_pk(queue_id: str, number: str) -> str:
    return f"OPEN#{queue_id}#{number}"


def slot_pk(queue_id: str, key: str) -> str:
    return f"SLOT#{queue_id}#{key}"
