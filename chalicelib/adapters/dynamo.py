"""The store roles on DynamoDB (single table, PynamoDB): one class per role port (DynamoTickets,
DynamoLine, DynamoLostCalls, DynamoQueueStats, DynamoBookings, DynamoAgents, DynamoDialing) over one
shared DynamoTable (client, transactions, batched reads), the stream consumer (DynamoStream), and
`dynamo_stores()`, which builds them all over one table.

Keys:
  QUEUE#{queue} / COUNTER             the queue's ticket counter (atomic ADD)
  QUEUE#{queue} / TICKET#{number:012} a ticket
  CALL#{call_id} / CALL               which ticket a provider call opened (one per call)
  AGENT#{agent_id} / AGENT            an agent: status, contact, queues, reservation (the authority)
  AGENTS#{queue} / AGENT#{agent_id}   the agent's presence in a queue (kept in step, same transactions)
  EVENT#{event_id} / EVENT            an agent event seen (duplicates are dropped)
  DIAL#{dial_id} / DIAL               a dial attempt begun (a redelivered dial request finds it)
  OPEN#{queue}#{number} / OPEN        which ticket is the number's open callback in the queue
  OPTOUT#{number} / OPTOUT            the number asked not to be called back automatically
  RATE#{number}#{day}, BUDGET#{day}   callbacks counted per number and per day (toll-fraud guard)
  QUEUE#{queue} / SNAPSHOT            the queue's line and team in one item, kept by the table's stream:
                                      w{class} waiting per priority class, monotone departed/returned,
                                      agent:{id} presence, head_at (issue 11; docs/architecture.md)
  SEEN#{stream event id} / SEEN       a stream record applied to a snapshot (applied once)
  LOSTBY#{queue}#{number} / LOSTCALL#{number:012}  an unrecovered lost call by number (the stream too)
The sparse index `lost` holds unrecovered lost calls: lost_pk = LOST#{queue}, lost_sk = when.
The sparse index `line` holds only WAITING tickets: line_pk = LINE#{queue}, line_sk orders by
priority, then number. Its order is dispatch order, so `ahead_of` is one COUNT query (exact; read only
while the line is short: the snapshot answers otherwise). The sparse index `live` holds only WAITING
live callers, in the same order: the live-service guard's first live caller is one item."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
import json
import random
import time
from typing import Any, Callable, Mapping

from pynamodb.attributes import (BooleanAttribute, ListAttribute, NumberAttribute, TTLAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ..domain.errors import BadPageError, StoreUnavailableError, TicketNotFoundError, UnknownAgentError
from ..domain.model import (HOLDING, Agent, AgentStatus, JoinedLine, Ticket, TicketKind, TicketStatus, is_stale,
                            split_ticket_id, ticket_id)
from ..ports import (BOOKING_MOVED, BOOKING_TAKEN, DEFAULT_PAGE, MAX_PAGE, Agents, Arrival, Bookings, CallbackGuard,
                     Dialing, Line, LostCalls, Page, QueueSnapshot, QueueStats, Staffing, Stores, Tickets)
from ..domain.pages import decode_cursor, encode_cursor

PREFETCH_SECONDS = 2.0  # how long statistics read with an agent's item stand in for a fresh read
PREFETCH_QUEUES = 20  # a BatchGetItem takes 100 keys; an agent in more queues reads the rest when needed
TICKET_TTL = timedelta(days=400)  # a year of reports, then DynamoDB drops the ticket
CONDITION_FAILED = "ConditionalCheckFailed"
# Cancellation reasons (and error codes) that say "try again", not "someone else got there first".
TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                       "RequestLimitExceeded", "InternalServerError", "TransactionInProgressException",
                       "TransactionConflictException", "ThrottlingException",
                       "ProvisionedThroughputExceededException", "InternalServerErrorException"})
TX_ATTEMPTS = 5
TX_BACKOFF_SECONDS = 0.05


def cancellation_codes(exc: TransactWriteError) -> list[str]:
    """The per-item codes of a cancelled transaction ('None' for items that were not the reason)."""
    return [reason.code if reason is not None else "None" for reason in exc.cancellation_reasons]


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


def ticket_keys(ticket_id: str) -> dict[str, dict[str, str]]:
    """The item and line keys of a ticket, for the workflow's own DynamoDB steps."""
    queue_id, number = split_ticket_id(ticket_id)
    line_pk, line_sk = line_keys(queue_id, number)
    return {"key": {"pk": queue_pk(queue_id), "sk": ticket_sk(number)},
            "line": {"pk": line_pk, "sk": line_sk}}


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
    next_number = NumberAttribute(default=0)


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

    def to_agent(self) -> Agent:
        return Agent(id=self.agent_id, status=AgentStatus(self.status), queues=tuple(self.queues or ()),
                     contact=self.contact, ticket_id=self.ticket_id, changed_at=self.changed_at, until=self.until)


class PresenceItem(_Base):
    agent_id = UnicodeAttribute()
    status = UnicodeAttribute()
    changed_at = UTCDateTimeAttribute(null=True)  # when the status began (a busy agent's call: the estimator)
    ticket_id = UnicodeAttribute(null=True)  # the Holdfast call a busy agent is on (elapsed = talk time)
    until = UTCDateTimeAttribute(null=True)  # the agent's announced sign-off (the estimator)


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


class TicketItem(_Base):
    line = LineIndex()
    lost = LostIndex()
    live = LiveIndex()
    live_pk = UnicodeAttribute(null=True)
    live_sk = UnicodeAttribute(null=True)
    j_ahead = NumberAttribute(null=True)  # the line as the ticket joined it (JoinedLine)
    j_departed = NumberAttribute(null=True)
    j_returned = NumberAttribute(null=True)
    lost_pk = UnicodeAttribute(null=True)
    lost_sk = UnicodeAttribute(null=True)
    lost_cause = UnicodeAttribute(null=True)
    lost_at = UTCDateTimeAttribute(null=True)
    recovered_at = UTCDateTimeAttribute(null=True)
    leg = UnicodeAttribute(null=True)
    leg_at = UTCDateTimeAttribute(null=True)
    bookings = NumberAttribute(default=0)
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
            leg=self.leg, leg_at=self.leg_at,
            told_shape=float(self.told_shape or 0), told_scale=float(self.told_scale or 0),
            bookings=int(self.bookings or 0),
            joined=None if self.j_ahead is None else JoinedLine(int(self.j_ahead), int(self.j_departed or 0),
                                                                int(self.j_returned or 0)),
            told_ahead=None if self.told_ahead is None else int(self.told_ahead))


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


def _enter_line(queue_id: str, number: int, live: bool) -> list[Any]:
    """Update actions that put a ticket into the line (and, a live caller, into the `live` index)."""
    line_pk, line_sk = line_keys(queue_id, number)
    actions = [TicketItem.line_pk.set(line_pk), TicketItem.line_sk.set(line_sk)]
    if live:
        live_pk, live_sk = live_keys(queue_id, number)
        actions += [TicketItem.live_pk.set(live_pk), TicketItem.live_sk.set(live_sk)]
    return actions


def _leave_line() -> list[Any]:
    return [TicketItem.line_pk.remove(), TicketItem.line_sk.remove(), TicketItem.live_pk.remove(),
            TicketItem.live_sk.remove()]


def _to_callback(number: str, not_before: datetime) -> list[Any]:
    """A live ticket becomes a SCHEDULED callback: out of the line until its workflow parks it (with
    its task token) at the same place."""
    return [TicketItem.kind.set(TicketKind.CALLBACK.value), TicketItem.status.set(TicketStatus.SCHEDULED.value),
            TicketItem.callback_number.set(number), TicketItem.not_before.set(not_before),
            TicketItem.pending_number.remove(), *_leave_line(), TicketItem.execution_id.remove()]


def _may_convert(recovering: bool) -> Any:
    allowed = (TicketItem.status == TicketStatus.ABANDONED.value) if recovering else _holding()
    return (TicketItem.kind == TicketKind.LIVE.value) & allowed


def _count_allowance(tx: TransactWrite, number: str, day: str, per_number: int, daily_budget: int) -> None:
    """Count one callback against the number's day and the day's budget (in the caller's transaction)."""
    expires = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc) + timedelta(days=2)
    tx.update(MarkerItem(f"RATE#{number}#{day}", "RATE"),
              actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(expires)],
              condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < per_number))
    tx.update(MarkerItem(f"BUDGET#{day}", "BUDGET"),
              actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(expires)],
              condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < daily_budget))


def _holding() -> Any:
    return TicketItem.status.is_in(*(s.value for s in HOLDING))


def _call_done(tx: TransactWrite, call_id: str) -> None:
    """The call's item says its ticket let it go (in the change's transaction: a status callback arriving
    before the stream does reads one item); a call with no item fails only this condition."""
    tx.update(CallItem(f"CALL#{call_id}", "CALL"), actions=[CallItem.done.set(True)], condition=CallItem.pk.exists())


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
        item.j_ahead, item.j_departed, item.j_returned = (ticket.joined.ahead, ticket.joined.departed,
                                                          ticket.joined.returned)
    if ticket.told_shape > 0:
        item.told_shape, item.told_scale = round(ticket.told_shape, 6), round(ticket.told_scale, 6)
        item.told_ahead = ticket.told_ahead
    return item


def open_pk(queue_id: str, number: str) -> str:
    return f"OPEN#{queue_id}#{number}"


def line_head(queue_id: str) -> Ticket | None:
    """The first WAITING ticket in dispatch order (one item of the `line` index)."""
    for item in TicketItem.line.query(line_keys(queue_id, 0)[0], limit=1):
        return item.to_ticket()
    return None


def put_lost_markers(queue_id: str, sk: str, numbers: set[str | None], expires: datetime) -> None:
    """The markers that find a lost call by number; they expire with their ticket."""
    with MarkerItem.batch_write() as batch:
        for number in numbers - {None}:
            batch.save(MarkerItem(f"LOSTBY#{queue_id}#{number}", sk, expires_at=expires))


class DynamoTable:
    """The one table every role adapter shares: its models bound, one client, transactions (retried on
    conflicts and throttling), batched reads and conditional ticket updates."""

    def __init__(self, table_name: str, region: str, host: str | None = None, client: Any = None,
                 pause: Callable[[float], None] = time.sleep) -> None:
        """`client`: a botocore DynamoDB client (the composition root's one session) that every model
        and transaction uses; without it PynamoDB opens a botocore session per model (~0.1 s each)."""
        bind(table_name, region, host)
        self._connection = Connection(region=region, host=host)
        if client is not None:
            for model in MODELS:
                model._get_connection().connection._client = client  # type: ignore[attr-defined]
            self._connection._client = client  # type: ignore[attr-defined]
        self.pause = pause  # between retries of a transaction that conflicted or was throttled
        # Queue statistics read along with an agent's item (one BatchGetItem): the next queue_stats read
        # of that queue within PREFETCH_SECONDS takes them instead of reading again (once).
        self.prefetched: dict[str, tuple[float, dict[str, Any] | None]] = {}

    @property
    def client(self) -> Any:
        return self._connection.client

    def transact(self, build: Callable[[TransactWrite], None]) -> list[str] | None:
        """Run one transaction. None when it was written; the per-item cancellation codes when a
        condition failed (a race lost, a duplicate). Conflicts and throttling are retried with backoff
        and full jitter; any other failure, or one that outlasts the retries, is StoreUnavailableError."""
        for attempt in range(TX_ATTEMPTS):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    build(tx)
                return None
            except TransactWriteError as exc:
                codes = cancellation_codes(exc)
                if CONDITION_FAILED in codes:
                    return codes
                transient = exc.cause_response_code in TRANSIENT or (
                    any(c in TRANSIENT for c in codes) and all(c in TRANSIENT or c == "None" for c in codes))
                if not transient:
                    raise StoreUnavailableError(f"transaction failed: {exc.cause_response_code} {codes}") from exc
                if attempt + 1 < TX_ATTEMPTS:
                    self.pause(random.uniform(0, TX_BACKOFF_SECONDS * 2 ** attempt))
        raise StoreUnavailableError("transaction kept conflicting or being throttled")

    def batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk), in one BatchGetItem (again only for keys DynamoDB left unprocessed)."""
        table = TicketItem.Meta.table_name
        request: dict[str, Any] = {table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
                                           "ConsistentRead": True}}
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for attempt in range(TX_ATTEMPTS):
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            self.pause(random.uniform(0, TX_BACKOFF_SECONDS * 2 ** attempt))
        raise StoreUnavailableError("batch read kept being throttled")

    def update(self, ticket_id: str, actions: list[Any], condition: Any = None) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def let_go(self, ticket_id: str, actions: list[Any], condition: Any, call_id: str | None) -> bool:
        """A ticket change after which the ticket no longer holds its call: with `call_id`, the call's item
        says so in the same transaction (a status callback arriving before the stream does reads one item)."""
        if not call_id:
            return self.update(ticket_id, actions, condition)
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=actions, condition=condition)
            _call_done(tx, call_id)

        codes = self.transact(write)
        if codes is not None and codes[0] != CONDITION_FAILED:  # no such call item: the change alone
            return self.update(ticket_id, actions, condition)
        return codes is None

    def get_item(self, ticket_id: str) -> TicketItem:
        queue_id, number = split_ticket_id(ticket_id)
        try:
            return TicketItem.get(queue_pk(queue_id), ticket_sk(number), consistent_read=True)
        except DoesNotExist:
            raise TicketNotFoundError(ticket_id) from None

    def get(self, ticket_id: str) -> Ticket:
        return self.get_item(ticket_id).to_ticket()


class _OnTable:
    """A role over the shared table."""

    def __init__(self, table: DynamoTable) -> None:
        self.table = table


class DynamoTickets(_OnTable, Tickets):
    """Tickets: numbered from the queue's counter, indexed by call, moved by conditional writes."""

    def next_number(self, queue_id: str) -> int:
        counter = CounterItem(queue_pk(queue_id), "COUNTER")
        counter.update(actions=[CounterItem.next_number.add(1)])
        return int(counter.next_number)

    def open_ticket(self, ticket: Ticket) -> Ticket:
        if not ticket.number:  # else the caller took the number (after it looked the call up itself)
            existing = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if existing is not None:
                return existing
            ticket = ticket.evolve(number=self.next_number(ticket.queue_id))
        item = ticket_item(ticket)

        def write(tx: TransactWrite) -> None:
            if ticket.call_id:
                tx.save(CallItem(f"CALL#{ticket.call_id}", "CALL", ticket_id=ticket.id,
                                 expires_at=ticket.created_at + TICKET_TTL),
                        condition=CallItem.pk.does_not_exist())
            tx.save(item, condition=TicketItem.pk.does_not_exist())

        if self.table.transact(write) is not None:
            # A concurrent retry of the same webhook won the call index: use its ticket.
            winner = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if winner is None:
                raise StoreUnavailableError(f"ticket {ticket.id} could not be opened")
            return winner
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        return self.table.get(ticket_id)

    def find_by_call(self, call_id: str, open_only: bool = False) -> Ticket | None:
        try:
            ref = CallItem.get(f"CALL#{call_id}", "CALL", consistent_read=True)
        except DoesNotExist:
            return None
        if open_only and ref.done:
            return None  # the stream saw its ticket stop holding this call: nothing left to read
        return self.table.get(ref.ticket_id)

    def set_pending_number(self, ticket_id: str, number: str | None) -> None:
        action = TicketItem.pending_number.set(number) if number else TicketItem.pending_number.remove()
        if not self.table.update(ticket_id, [action], TicketItem.pk.exists()):
            raise TicketNotFoundError(ticket_id)

    def mark_wants_callback(self, ticket_id: str) -> None:
        if not self.table.update(ticket_id, [TicketItem.wants_callback.set(True)], TicketItem.pk.exists()):
            raise TicketNotFoundError(ticket_id)

    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                            recovering: bool = False) -> int | None:
        # Out of the line until the workflow parks it (with its task token) at the same place.
        queue_id, num = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(num))
        try:
            item.update(actions=[*_to_callback(number, not_before), TicketItem.bookings.add(1)],
                        condition=_may_convert(recovering))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return int(item.bookings)

    def create_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                        language: str) -> Ticket:
        queue_id, num = split_ticket_id(ticket_id)
        ticket = Ticket(queue_id=queue_id, number=num, kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED,
                        created_at=now, caller=number, language=language, callback_number=number,
                        not_before=not_before)
        item = ticket_item(ticket)
        item.callback_number, item.not_before, item.bookings = number, not_before, 1
        item.save(condition=TicketItem.pk.does_not_exist())
        return ticket

    def revert_to_live(self, ticket_id: str, waiting: bool = True) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        back = ([TicketItem.status.set(TicketStatus.WAITING.value), *_enter_line(queue_id, number, live=True)]
                if waiting
                else [TicketItem.status.set(TicketStatus.ABANDONED.value)])
        self.table.update(ticket_id, [
            TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.callback_number.remove(),
            TicketItem.not_before.remove(), *back,
        ], (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.execution_id.does_not_exist())

    def rejoin(self, ticket_id: str, call_id: str, now: datetime) -> bool:
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.save(CallItem(f"CALL#{call_id}", "CALL", ticket_id=ticket_id, expires_at=now + TICKET_TTL),
                    condition=CallItem.pk.does_not_exist())
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.status.set(TicketStatus.WAITING.value),
                TicketItem.call_id.set(call_id), *_enter_line(queue_id, number, live=True),
                TicketItem.task_token.remove(),
                TicketItem.wants_callback.set(False), TicketItem.execution_id.remove(),
            ], condition=(TicketItem.kind == TicketKind.CALLBACK.value)
                & TicketItem.status.is_in(TicketStatus.SCHEDULED.value, TicketStatus.WAITING.value))

        return self.table.transact(write) is None

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self.table.update(ticket_id, [TicketItem.execution_id.set(execution_id)])

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float, call_id: str | None = None) -> bool:
        return self.table.let_go(ticket_id, [
            TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
            TicketItem.wait_seconds.set(round(wait_seconds, 3)),
            *_leave_line(),
        ], (TicketItem.kind == TicketKind.LIVE.value) & _holding(), call_id)


class DynamoLine(_OnTable, Line):
    """The line in one read: the queue's SNAPSHOT item, counted on the `line` index only while no
    stream record has made one."""

    def _snapshot_keys(self, queue_id: str) -> list[tuple[str, str]]:
        return [(queue_pk(queue_id), SNAPSHOT), (queue_pk(queue_id), "STATS")]

    def _snapshot_of(self, queue_id: str, found: Mapping[tuple[str, str], Mapping[str, Any]]) -> QueueSnapshot:
        stats = found.get((queue_pk(queue_id), "STATS"))
        estimator = json.loads(stats["state"]["S"]) if stats else None
        raw = found.get((queue_pk(queue_id), SNAPSHOT))
        if raw is None:  # no stream record applied for this queue yet: count instead (a new queue)
            return self._counted(queue_id, estimator)
        return snapshot_from_item(queue_id, raw, estimator)

    def _counted(self, queue_id: str, estimator: Mapping[str, Any] | None) -> QueueSnapshot:
        agents = tuple(Agent(p.agent_id, AgentStatus(p.status), (queue_id,), ticket_id=p.ticket_id,
                             changed_at=p.changed_at, until=p.until) for p in PresenceItem.query(f"AGENTS#{queue_id}"))
        head = line_head(queue_id)
        head_since = head.created_at if head is not None and head.kind is TicketKind.LIVE else None
        # One class for all: a count does not say who is in which (every class stands behind it).
        return QueueSnapshot({9: self.waiting_count(queue_id)}, 0, 0, agents, head_since, estimator, exact=True)

    def arrival(self, queue_id: str, call_id: str, open_for: str | None) -> Arrival:
        call_key, open_key = (f"CALL#{call_id}", "CALL"), (open_pk(queue_id, open_for or ""), "OPEN")
        found = self.table.batch_get([call_key, *([open_key] if open_for else []), *self._snapshot_keys(queue_id)])
        call, pointer = found.get(call_key), found.get(open_key) if open_for else None
        return Arrival(self._snapshot_of(queue_id, found),
                       ticket_id=call["ticket_id"]["S"] if call else None,
                       open_callback_id=pointer["ticket_id"]["S"] if pointer and "ticket_id" in pointer else None)

    def view(self, ticket_id: str) -> tuple[Ticket, QueueSnapshot]:
        queue_id, number = split_ticket_id(ticket_id)
        key = (queue_pk(queue_id), ticket_sk(number))
        found = self.table.batch_get([key, *self._snapshot_keys(queue_id)])
        if key not in found:
            raise TicketNotFoundError(ticket_id)
        return TicketItem.from_raw_data(found[key]).to_ticket(), self._snapshot_of(queue_id, found)

    def snapshot(self, queue_id: str) -> QueueSnapshot:
        return self._snapshot_of(queue_id, self.table.batch_get(self._snapshot_keys(queue_id)))

    def ahead_of(self, ticket: Ticket) -> int:
        line_pk, line_sk = line_keys(ticket.queue_id, ticket.number, ticket.priority)
        return TicketItem.line.count(line_pk, TicketItem.line_sk < line_sk)

    def waiting_count(self, queue_id: str) -> int:
        return TicketItem.line.count(line_keys(queue_id, 0)[0])

    def head(self, queue_id: str) -> Ticket | None:
        return line_head(queue_id)

    def first_live(self, queue_id: str) -> Ticket | None:
        for item in TicketItem.live.query(f"LIVE#{queue_id}", limit=1):
            return item.to_ticket()
        return None


class DynamoLostCalls(_OnTable, LostCalls):
    """The lost-call list (the sparse `lost` index) and its by-number markers."""

    def mark_lost(self, ticket_id: str, cause: str, at: datetime) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        item.update(actions=[
            TicketItem.lost_cause.set(cause), TicketItem.lost_at.set(at),
            TicketItem.lost_pk.set(f"LOST#{queue_id}"),
            TicketItem.lost_sk.set(f"{at.strftime('%Y-%m-%dT%H:%M:%S')}#{number:012d}"),
        ])  # the item comes back: its numbers name the markers (the stream puts the same ones again)
        put_lost_markers(queue_id, lost_marker_sk(number), {item.caller, item.callback_number},
                         item.expires_at or at + TICKET_TTL)

    def lost_calls(self, queue_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> Page[Ticket]:
        # One item more than asked says whether a next page exists (so the last page has no `next`).
        keys = ("pk", "sk", "lost_pk", "lost_sk")
        start = decode_cursor(cursor) if cursor else None
        if start is not None and not (isinstance(start, dict) and sorted(start) == sorted(keys)
                                      and all(isinstance(v, str) for v in start.values())
                                      and start["lost_pk"] == f"LOST#{queue_id}"):
            raise BadPageError("the cursor is not one of this list's")
        items = list(TicketItem.lost.query(f"LOST#{queue_id}", limit=limit + 1, page_size=limit + 1,
                                           last_evaluated_key={k: {"S": v} for k, v in start.items()} if start else None))
        more, last = len(items) > limit, items[:limit][-1:]
        return Page([item.to_ticket() for item in items[:limit]],
                    encode_cursor({k: getattr(last[0], k) for k in keys}) if more else None)

    def clear_lost(self, queue_id: str, number: str, at: datetime) -> int:
        cleared = 0
        for marker in MarkerItem.query(f"LOSTBY#{queue_id}#{number}", limit=MAX_PAGE, consistent_read=True):
            cleared += self.table.update(ticket_id(queue_id, int(marker.sk[len("LOSTCALL#"):])), [
                TicketItem.recovered_at.set(at), TicketItem.lost_pk.remove(), TicketItem.lost_sk.remove()],
                TicketItem.lost_pk.exists())
            marker.delete()
        return cleared


class DynamoQueueStats(_OnTable, QueueStats):
    """Each queue's estimator state (QUEUE#/STATS), and the estimate each caller was told."""

    def record_told(self, ticket_id: str, shape: float, scale: float, ahead: int | None = None) -> None:
        self.table.update(ticket_id, [TicketItem.told_shape.set(round(shape, 6)), TicketItem.told_scale.set(round(scale, 6)),
                                      TicketItem.told_ahead.set(ahead) if ahead is not None
                                      else TicketItem.told_ahead.remove()])

    def queue_stats(self, queue_id: str) -> dict[str, Any] | None:
        read = self.table.prefetched.pop(queue_id, None)
        if read is not None and time.monotonic() - read[0] <= PREFETCH_SECONDS:
            return read[1]
        try:
            return json.loads(StatsItem.get(queue_pk(queue_id), "STATS", consistent_read=True).state)
        except DoesNotExist:
            return None

    def update_queue_stats(self, queue_id: str, apply: Callable[[dict[str, Any] | None], dict[str, Any]]) -> None:
        for _ in range(5):  # optimistic: on a concurrent update, read again and re-apply
            try:
                item = StatsItem.get(queue_pk(queue_id), "STATS", consistent_read=True)
                state, version = json.loads(item.state), int(item.version)
            except DoesNotExist:
                state, version = None, 0
            condition = StatsItem.pk.does_not_exist() if version == 0 else StatsItem.version == version
            try:
                StatsItem(queue_pk(queue_id), "STATS", state=json.dumps(apply(state)), version=version + 1).save(
                    condition=condition)
                return
            except PutError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError("queue statistics kept changing")


class DynamoBookings(_OnTable, Bookings):
    """Opt-outs, the open-callback pointer per number and queue, the allowance; the booking transaction."""

    def _is_open_callback(self, ticket_id: str | None) -> Ticket | None:
        if not ticket_id:
            return None
        try:
            ticket = self.table.get(ticket_id)
        except TicketNotFoundError:
            return None
        open_statuses = (TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING)
        return ticket if ticket.kind is TicketKind.CALLBACK and ticket.status in open_statuses else None

    def reserve_open_callback(self, queue_id: str, number: str, ticket_id: str) -> str:
        key = open_pk(queue_id, number)
        for _ in range(5):
            try:
                current = MarkerItem.get(key, "OPEN", consistent_read=True)
            except DoesNotExist:
                current = None
            if current is not None and current.ticket_id == ticket_id:
                return ticket_id
            if current is not None and self._is_open_callback(current.ticket_id):
                return str(current.ticket_id)
            condition = (MarkerItem.pk.does_not_exist() if current is None
                         else MarkerItem.ticket_id == current.ticket_id)
            try:
                MarkerItem(key, "OPEN", ticket_id=ticket_id).save(condition=condition)
                return ticket_id
            except PutError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError("open-callback pointer kept changing")  # pragma: no cover

    def open_callback_for(self, queue_id: str, number: str) -> Ticket | None:
        try:
            marker = MarkerItem.get(open_pk(queue_id, number), "OPEN", consistent_read=True)
        except DoesNotExist:
            return None
        return self._is_open_callback(marker.ticket_id)

    def set_opt_out(self, number: str, opted_out: bool, at: datetime) -> None:
        marker = MarkerItem(f"OPTOUT#{number}", "OPTOUT")
        if opted_out:
            marker.save()
        else:
            marker.delete()

    def is_opted_out(self, number: str) -> bool:
        try:
            MarkerItem.get(f"OPTOUT#{number}", "OPTOUT", consistent_read=True)
            return True
        except DoesNotExist:
            return False

    def take_allowance(self, number: str, day: str, per_number: int, daily_budget: int) -> str | None:
        codes = self.table.transact(lambda tx: _count_allowance(tx, number, day, per_number, daily_budget))
        if codes is None:
            return None
        return "rate_limited" if codes[0] == CONDITION_FAILED else "budget_spent"

    def callback_guard(self, queue_id: str, number: str) -> CallbackGuard:
        opt_out, pointer_key = (f"OPTOUT#{number}", "OPTOUT"), (open_pk(queue_id, number), "OPEN")
        found = self.table.batch_get([opt_out, pointer_key])
        pointer = found.get(pointer_key)
        return CallbackGuard(opt_out in found, pointer["ticket_id"]["S"] if pointer and "ticket_id" in pointer else None)

    def book_callback(self, ticket: Ticket, number: str, not_before: datetime, now: datetime, recovering: bool,
                      holder: str | None, day: str, per_number: int, daily_budget: int,
                      told: tuple[float, float] | None = None) -> int | str:
        queue_id, num = split_ticket_id(ticket.id)
        promise = [] if told is None else [TicketItem.told_shape.set(round(told[0], 6)),
                                           TicketItem.told_scale.set(round(told[1], 6))]
        booking = ticket.bookings + 1
        same_booking = TicketItem.bookings == ticket.bookings
        if not ticket.bookings:
            same_booking |= TicketItem.bookings.does_not_exist()

        def write(tx: TransactWrite) -> None:
            tx.save(MarkerItem(open_pk(queue_id, number), "OPEN", ticket_id=ticket.id),
                    condition=MarkerItem.pk.does_not_exist() if holder is None else MarkerItem.ticket_id == holder)
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(num)),
                      actions=[*_to_callback(number, not_before), TicketItem.bookings.set(booking), *promise],
                      condition=_may_convert(recovering) & same_booking)
            _count_allowance(tx, number, day, per_number, daily_budget)
            if holds:  # the caller's call ends with the booking (its status callback reads one item)
                _call_done(tx, str(ticket.call_id))

        holds = not recovering and bool(ticket.call_id)
        codes = self.table.transact(write)
        if codes is not None and holds and codes[-1] == CONDITION_FAILED and codes.count(CONDITION_FAILED) == 1:
            holds = False  # no call item to mark: the booking alone
            codes = self.table.transact(write)
        if codes is None:
            return booking
        for code, answer in zip(codes, (BOOKING_TAKEN, BOOKING_MOVED, "rate_limited", "budget_spent")):
            if code == CONDITION_FAILED:
                return answer
        raise StoreUnavailableError(f"booking {ticket.id} failed: {codes}")  # pragma: no cover


class DynamoAgents(_OnTable, Agents):
    """Agents (AGENT#, the authority) and their presence per queue (AGENTS#), kept in step in the same
    transactions; claims that tie an agent to a ticket, and what ends them."""

    def staffing(self, queue_id: str) -> Staffing:
        staffed = idle = 0
        for presence in PresenceItem.query(f"AGENTS#{queue_id}"):
            if presence.status != AgentStatus.OFFLINE.value:
                staffed += 1
                idle += presence.status == AgentStatus.AVAILABLE.value
        return Staffing(staffed=staffed, idle=idle)

    @staticmethod
    def _agent_item(agent_id: str) -> AgentItem | None:
        try:
            return AgentItem.get(f"AGENT#{agent_id}", "AGENT", consistent_read=True)
        except DoesNotExist:
            return None

    def _agent_with_stats(self, agent_id: str, queues: tuple[str, ...]) -> AgentItem | None:
        """The agent's item and its queues' statistics (the promise book the dispatcher reads first) in
        one BatchGetItem; the statistics wait for the next queue_stats read."""
        keys = [(f"AGENT#{agent_id}", "AGENT"), *((queue_pk(q), "STATS") for q in queues[:PREFETCH_QUEUES])]
        found = self.table.batch_get(keys)
        now = time.monotonic()
        for queue_id in queues[:PREFETCH_QUEUES]:
            raw = found.get((queue_pk(queue_id), "STATS"))
            self.table.prefetched[queue_id] = (now, json.loads(raw["state"]["S"]) if raw else None)
        raw = found.get(keys[0])
        return AgentItem.from_raw_data(raw) if raw else None

    def get_agent(self, agent_id: str) -> Agent:
        item = self._agent_item(agent_id)
        if item is None:
            raise UnknownAgentError(agent_id)
        return item.to_agent()

    def _present(self, queue_id: str, status: AgentStatus) -> list[Agent]:
        return [Agent(p.agent_id, status, (queue_id,), ticket_id=p.ticket_id, changed_at=p.changed_at, until=p.until)
                for p in PresenceItem.query(f"AGENTS#{queue_id}", filter_condition=PresenceItem.status == status.value)]

    def idle_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.AVAILABLE)

    def busy_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.BUSY)

    def record_agent_status(self, agent_id: str, status: AgentStatus, at: datetime, contact: str | None,
                            queues: tuple[str, ...] | None, event_id: str | None,
                            until: datetime | None = None, read_along: tuple[str, ...] = ()) -> Agent | None:
        marker = MarkerItem(f"EVENT#{event_id}", "EVENT", expires_at=at + timedelta(days=7)) if event_id else None
        for attempt in range(5):  # optimistic: retried when another change lands between read and write
            if attempt == 0 and read_along:
                current = self._agent_with_stats(agent_id, read_along)  # what dispatching will read next
            else:
                current = self._agent_item(agent_id)
            if current is not None and is_stale(current.changed_at, bool(current.ticket_id), at):
                return None
            if current is not None and current.ticket_id and status is AgentStatus.AVAILABLE:
                return current.to_agent()  # already reserved: 'available' again changes nothing
            old_queues = tuple(current.queues or ()) if current else ()
            new_queues = tuple(queues) if queues is not None else old_queues
            item = AgentItem(f"AGENT#{agent_id}", "AGENT", agent_id=agent_id, status=status.value,
                             contact=contact or (current.contact if current else None),
                             queues=list(new_queues), ticket_id=None, changed_at=at,
                             until=None if status is AgentStatus.OFFLINE else until or (current.until if current else None))
            condition = (AgentItem.pk.does_not_exist() if current is None
                         else AgentItem.changed_at == current.changed_at if current.changed_at
                         else AgentItem.changed_at.does_not_exist())

            def write(tx: TransactWrite) -> None:
                if marker is not None:  # the event id is spent only with the change it brings
                    tx.save(marker, condition=MarkerItem.pk.does_not_exist())
                tx.save(item, condition=condition)
                for queue_id in new_queues:
                    tx.save(PresenceItem(f"AGENTS#{queue_id}", f"AGENT#{agent_id}", agent_id=agent_id,
                                         status=status.value, changed_at=at, until=item.until))
                for queue_id in set(old_queues) - set(new_queues):
                    tx.delete(PresenceItem(f"AGENTS#{queue_id}", f"AGENT#{agent_id}"))

            codes = self.table.transact(write)
            if codes is None:
                return item.to_agent()
            if marker is not None and codes[0] == CONDITION_FAILED:
                return None  # this event was applied before
        raise StoreUnavailableError(f"agent {agent_id} kept changing")

    def _presence(self, tx: TransactWrite, agent: AgentItem, status: AgentStatus, now: datetime,
                  ticket_id: str | None = None) -> None:
        on_call = PresenceItem.ticket_id.set(ticket_id) if ticket_id else PresenceItem.ticket_id.remove()
        for queue_id in agent.queues or ():
            tx.update(PresenceItem(f"AGENTS#{queue_id}", f"AGENT#{agent.agent_id}"),
                      actions=[PresenceItem.status.set(status.value), PresenceItem.changed_at.set(now), on_call])

    def claim(self, ticket_id: str, agent_id: str, now: datetime, agent: Agent | None = None) -> bool:
        if agent is not None:  # the transaction's conditions check it is still available
            item = AgentItem(f"AGENT#{agent_id}", "AGENT", agent_id=agent_id, queues=list(agent.queues))
        else:
            item = self._agent_item(agent_id)  # type: ignore[assignment]
        if item is None or (agent is None and item.status != AgentStatus.AVAILABLE.value):
            return False
        agent_item: AgentItem = item
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.status.set(TicketStatus.CONNECTING.value), TicketItem.agent_id.set(agent_id),
                *_leave_line(),
                TicketItem.leg.remove(), TicketItem.leg_at.remove(),  # a new bridge: no leg event yet
            ], condition=(TicketItem.status == TicketStatus.WAITING.value) & TicketItem.line_pk.exists())
            tx.update(agent_item, actions=[
                AgentItem.status.set(AgentStatus.BUSY.value), AgentItem.ticket_id.set(ticket_id),
                AgentItem.changed_at.set(now),
            ], condition=(AgentItem.status == AgentStatus.AVAILABLE.value) & AgentItem.ticket_id.does_not_exist()
                & (AgentItem.queues == list(agent_item.queues or ())))  # its presence rows are these
            self._presence(tx, agent_item, AgentStatus.BUSY, now, ticket_id)

        return self.table.transact(write) is None

    def release_agent(self, agent_id: str, ticket_id: str, status: AgentStatus, now: datetime) -> bool:
        agent = self._agent_item(agent_id)
        if agent is None or agent.ticket_id != ticket_id:
            return False

        def write(tx: TransactWrite) -> None:
            tx.update(agent, actions=[AgentItem.status.set(status.value), AgentItem.ticket_id.remove(),
                                      AgentItem.changed_at.set(now)],
                      condition=AgentItem.ticket_id == ticket_id)
            self._presence(tx, agent, status, now)

        return self.table.transact(write) is None

    def requeue(self, ticket_id: str, agent_id: str) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        return self.table.update(ticket_id, [
            TicketItem.status.set(TicketStatus.WAITING.value), TicketItem.agent_id.remove(),
            *_enter_line(queue_id, number, live=True),
        ], (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id))

    def mark_served(self, ticket_id: str, now: datetime, call_id: str | None = None) -> bool:
        return self.table.let_go(ticket_id, [TicketItem.status.set(TicketStatus.SERVED.value),
                                             TicketItem.ended_at.set(now)],
                                 TicketItem.status == TicketStatus.CONNECTING.value, call_id)

    def abandon_claimed(self, ticket_id: str, ended_at: datetime, wait_seconds: float,
                        call_id: str | None = None) -> bool:
        return self.table.let_go(ticket_id, [
            TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
            TicketItem.wait_seconds.set(round(wait_seconds, 3)),
        ], (TicketItem.kind == TicketKind.LIVE.value) & (TicketItem.status == TicketStatus.CONNECTING.value), call_id)


class DynamoDialing(_OnTable, Dialing):
    """Callback dial attempts (DIAL# markers), the bridge's leg progress, an admin's changes to a callback."""

    def begin_dial(self, ticket_id: str, dial_id: str, token: str) -> bool:
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.save(MarkerItem(f"DIAL#{dial_id}", "DIAL", expires_at=datetime.now(timezone.utc) + timedelta(days=7)),
                    condition=MarkerItem.pk.does_not_exist())
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.dial_id.set(dial_id), TicketItem.dial_token.set(token)],
                condition=TicketItem.status == TicketStatus.CONNECTING.value)

        return self.table.transact(write) is None

    def note_call_ended(self, ticket_id: str, dial_id: str) -> bool:
        return self.table.update(ticket_id, [TicketItem.ended_dial.set(dial_id)], TicketItem.dial_id == dial_id)

    def finish_dial(self, ticket_id: str, dial_id: str, status: TicketStatus, now: datetime,
                    attempts: int, outcome: str, next_attempt_at: datetime | None) -> str | None:
        item = self.table.get_item(ticket_id)
        if item.dial_id != dial_id or not item.dial_token:
            return None
        actions = [TicketItem.status.set(status.value), TicketItem.dial_id.remove(), TicketItem.dial_token.remove(),
                   TicketItem.attempts.set(attempts), TicketItem.last_outcome.set(outcome)]
        actions.append(TicketItem.next_attempt_at.set(next_attempt_at) if next_attempt_at
                       else TicketItem.next_attempt_at.remove())
        if status in (TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED):
            actions.append(TicketItem.ended_at.set(now))
        if not self.table.update(ticket_id, actions, TicketItem.dial_id == dial_id):
            return None
        return item.dial_token

    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime) -> bool:
        condition = (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id)
        condition &= TicketItem.leg.does_not_exist() | ((TicketItem.leg != leg) & (TicketItem.leg != "talking"))
        return self.table.update(ticket_id, [TicketItem.leg.set(leg), TicketItem.leg_at.set(at)], condition)

    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        self.table.update(ticket_id, [TicketItem.agent_id.remove()], TicketItem.agent_id == agent_id)

    def cancel_callback(self, ticket_id: str, now: datetime) -> bool:
        return self.table.update(ticket_id, [
            TicketItem.status.set(TicketStatus.CANCELLED.value), TicketItem.ended_at.set(now),
            *_leave_line(), TicketItem.task_token.remove(),
        ], (TicketItem.kind == TicketKind.CALLBACK.value)
            & TicketItem.status.is_in(TicketStatus.SCHEDULED.value, TicketStatus.WAITING.value))

    def expedite_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime) -> int | None:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        same_run = (TicketItem.execution_id == execution_id) if execution_id else TicketItem.execution_id.does_not_exist()
        try:
            item.update(actions=[TicketItem.not_before.set(not_before), TicketItem.next_attempt_at.remove(),
                                 TicketItem.execution_id.remove(), TicketItem.bookings.add(1)],
                        condition=(TicketItem.kind == TicketKind.CALLBACK.value)
                        & (TicketItem.status == TicketStatus.SCHEDULED.value) & same_run)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return int(item.bookings)


class DynamoStream(_OnTable):
    """The table's stream consumer (no port: only the stream worker calls it): keeps the queue's SNAPSHOT,
    the call pointers' `done` flag and the lost-call markers by number, from one stream record at a time."""

    def apply_change(self, new_image: Mapping[str, Any] | None, old_image: Mapping[str, Any] | None,
                     event_id: str | None = None) -> None:
        """Keep what the webhooks read in one item from one stream record. Counters move once per
        record (`event_id`: a SEEN marker in the same transaction); everything else is set, not added,
        so a redelivered record changes nothing."""
        image = new_image or old_image or {}
        pk, sk = _s(image, "pk") or "", _s(image, "sk") or ""
        if sk.startswith("TICKET#"):
            self._ticket_changed(new_image, old_image, event_id)
        elif pk.startswith("AGENTS#") and sk.startswith("AGENT#"):
            self._presence_changed(pk[len("AGENTS#"):], sk[len("AGENT#"):], new_image)

    def _ticket_changed(self, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None,
                        event_id: str | None) -> None:
        image = new or old or {}
        queue_id = _s(image, "queue_id") or ""
        was, now = _line_class(old), _line_class(new)
        adds: dict[str, int] = {}
        if was != now:
            if was is not None:
                adds[f"w:{was}"] = -1
            if now is not None:
                adds[f"w:{now}"] = adds.get(f"w:{now}", 0) + 1
            if was is not None and now is None:
                adds["departed"] = 1
            elif was is None and now is not None and old is not None:
                adds["returned"] = 1  # back at its own place (parked, requeued, rejoined)
        if adds:
            arrived = old is None and _s(new, "kind") == TicketKind.LIVE.value
            # A caller joining at the end changes the head only if there was none: no query for that.
            self._add_to_snapshot(queue_id, adds, event_id, _s(new, "created_at") if arrived else None)
            if not arrived:
                self._refresh_head(queue_id)
        call_id = _s(old, "call_id")
        if call_id and _holds_call(old) and not (_holds_call(new) and _s(new, "call_id") == call_id):
            try:
                self.table.client.update_item(
                    TableName=TicketItem.Meta.table_name, Key=_key(f"CALL#{call_id}", "CALL"),
                    UpdateExpression="SET done = :yes", ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":yes": {"BOOL": True}})
            except self.table.client.exceptions.ConditionalCheckFailedException:
                pass
        self._lost_changed(queue_id, new, old)

    def _add_to_snapshot(self, queue_id: str, adds: Mapping[str, int], event_id: str | None,
                         head_if_none: str | None = None) -> None:
        names = {f"#a{i}": name for i, name in enumerate(adds)}
        values = {f":v{i}": {"N": str(v)} for i, v in enumerate(adds.values())}
        expression = "ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(adds)))
        if head_if_none:  # a live caller joining an empty line (or one headed by callbacks) heads it
            expression += " SET head_at = if_not_exists(head_at, :head)"
            values[":head"] = {"S": head_if_none}
        update = {"TableName": TicketItem.Meta.table_name, "Key": _key(queue_pk(queue_id), SNAPSHOT),
                  "UpdateExpression": expression, "ExpressionAttributeNames": names,
                  "ExpressionAttributeValues": values}
        if event_id is None:  # no id to remember it by: at least once
            self.table.client.update_item(**update)
            return
        seen = {"TableName": TicketItem.Meta.table_name,
                "Item": {**_key(f"SEEN#{event_id}", "SEEN"),
                         "expires_at": {"N": str(int(time.time()) + SEEN_TTL_SECONDS)}},
                "ConditionExpression": "attribute_not_exists(pk)"}
        try:
            self.table.client.transact_write_items(TransactItems=[{"Put": seen}, {"Update": update}])
        except self.table.client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] != ["ConditionalCheckFailed"]:
                raise  # the stream delivers the record again
            # applied before: a redelivered record

    def _refresh_head(self, queue_id: str) -> None:
        """The live caller at the head and when they joined (the estimator's head wait)."""
        head = line_head(queue_id)
        key = {"TableName": TicketItem.Meta.table_name, "Key": _key(queue_pk(queue_id), SNAPSHOT)}
        if head is not None and head.kind is TicketKind.LIVE:
            self.table.client.update_item(**key, UpdateExpression="SET head_at = :at", ExpressionAttributeValues={
                ":at": {"S": TicketItem.created_at.serialize(head.created_at)}})
        else:
            self.table.client.update_item(**key, UpdateExpression="REMOVE head_at")

    def _presence_changed(self, queue_id: str, agent_id: str, new: Mapping[str, Any] | None) -> None:
        key = {"TableName": TicketItem.Meta.table_name, "Key": _key(queue_pk(queue_id), SNAPSHOT),
               "ExpressionAttributeNames": {"#a": f"agent:{agent_id}"}}
        if new is None:
            self.table.client.update_item(**key, UpdateExpression="REMOVE #a")
            return
        presence = {"s": {"S": _s(new, "status") or AgentStatus.OFFLINE.value}}
        for short, name in (("at", "changed_at"), ("t", "ticket_id"), ("u", "until")):
            if _s(new, name):
                presence[short] = {"S": _s(new, name) or ""}
        self.table.client.update_item(**key, UpdateExpression="SET #a = :p",
                                      ExpressionAttributeValues={":p": {"M": presence}})

    def _lost_changed(self, queue_id: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        """The by-number markers of the lost-call list follow the ticket's lost_pk (the workflow's
        GiveUp sets it too, and it cannot know the number)."""
        sk = lost_marker_sk(int((_s(new or old, "sk") or "TICKET#0")[len("TICKET#"):]))
        if _s(new, "lost_pk") and not _s(old, "lost_pk"):
            expires = (new or {}).get("expires_at", {}).get("N")
            put_lost_markers(queue_id, sk, {_s(new, "caller"), _s(new, "callback_number")},
                             datetime.fromtimestamp(int(expires), timezone.utc) if expires
                             else TicketItem.created_at.deserialize(_s(new, "created_at")) + TICKET_TTL)
        elif _s(old, "lost_pk") and not _s(new, "lost_pk"):
            numbers = {_s(old, "caller"), _s(old, "callback_number")}
            with MarkerItem.batch_write() as batch:
                for number in numbers - {None}:
                    batch.delete(MarkerItem(f"LOSTBY#{queue_id}#{number}", sk))


@dataclass(frozen=True)
class DynamoStores(Stores):
    """The roles over one DynamoDB table, the table's stream consumer, and the table itself."""

    stream: DynamoStream
    table: DynamoTable


def dynamo_stores(table_name: str, region: str, host: str | None = None, client: Any = None,
                  pause: Callable[[float], None] = time.sleep) -> DynamoStores:
    """Every role over one table (`client`: the composition root's botocore client, shared by all)."""
    table = DynamoTable(table_name, region, host, client, pause)
    return DynamoStores(tickets=DynamoTickets(table), line=DynamoLine(table), lost=DynamoLostCalls(table),
                        stats=DynamoQueueStats(table), bookings=DynamoBookings(table), agents=DynamoAgents(table),
                        dialing=DynamoDialing(table), stream=DynamoStream(table), table=table)


def ticket_change(new_image: Mapping[str, Any] | None,
                  old_image: Mapping[str, Any] | None) -> tuple[str, str, TicketStatus, TicketStatus | None, str | None] | None:
    """A stream record about a ticket, as (queue_id, ticket_id, status, previous status, agent_id)."""
    def s(image: Mapping[str, Any] | None, name: str) -> str | None:
        return (image or {}).get(name, {}).get("S")

    sk = s(new_image, "sk")
    if not sk or not sk.startswith("TICKET#"):
        return None
    queue_id = s(new_image, "queue_id") or ""
    previous = s(old_image, "status")
    return (queue_id, f"{queue_id}-{int(sk[len('TICKET#'):])}", TicketStatus(s(new_image, "status")),
            TicketStatus(previous) if previous else None, s(new_image, "agent_id"))


SNAPSHOT = "SNAPSHOT"
SEEN_TTL_SECONDS = 2 * 86400  # longer than the stream keeps a record (24 h)


def _s(image: Mapping[str, Any] | None, name: str) -> str | None:
    return (image or {}).get(name, {}).get("S")


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _line_class(image: Mapping[str, Any] | None) -> int | None:
    """The priority class of a ticket in the line (None: not in it), from its line sort key."""
    line_sk = _s(image, "line_sk")
    return 9 - int(line_sk[0]) if _s(image, "line_pk") and line_sk else None


def _holds_call(image: Mapping[str, Any] | None) -> bool:
    """A live ticket whose call's end still matters (call_ended would act on it)."""
    return (_s(image, "kind") == TicketKind.LIVE.value
            and _s(image, "status") in (TicketStatus.WAITING.value, TicketStatus.AFTER_HOURS.value,
                                        TicketStatus.CONNECTING.value))


def snapshot_from_item(queue_id: str, raw: Mapping[str, Any], estimator: Mapping[str, Any] | None) -> QueueSnapshot:
    waiting = {int(name[2:]): max(0, int(value["N"])) for name, value in raw.items() if name.startswith("w:")}
    agents = []
    for name, value in raw.items():
        if name.startswith("agent:"):
            presence = value["M"]
            at, until = presence.get("at", {}).get("S"), presence.get("u", {}).get("S")
            agents.append(Agent(name[len("agent:"):], AgentStatus(presence["s"]["S"]), (queue_id,),
                                ticket_id=presence.get("t", {}).get("S"),
                                changed_at=TicketItem.created_at.deserialize(at) if at else None,
                                until=TicketItem.created_at.deserialize(until) if until else None))
    head = raw.get("head_at", {}).get("S")
    return QueueSnapshot({c: n for c, n in waiting.items() if n}, int(raw.get("departed", {}).get("N", 0)),
                         int(raw.get("returned", {}).get("N", 0)), tuple(sorted(agents, key=lambda a: a.id)),
                         TicketItem.created_at.deserialize(head) if head else None, estimator)

