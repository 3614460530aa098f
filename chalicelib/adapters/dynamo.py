"""The TicketStore on DynamoDB (single table, PynamoDB).

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
The sparse index `lost` holds unrecovered lost calls: lost_pk = LOST#{queue}, lost_sk = when.
The sparse index `line` holds only WAITING tickets: line_pk = LINE#{queue}, line_sk orders by
priority, then number. Its order is dispatch order, so `ahead_of` is one COUNT query."""
from __future__ import annotations

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

from ..domain.errors import StoreUnavailableError, TicketNotFoundError, UnknownAgentError
from ..domain.model import (HOLDING, Agent, AgentStatus, Ticket, TicketKind, TicketStatus, is_stale,
                            split_ticket_id, ticket_id)
from ..ports import Staffing, TicketStore

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


def line_keys(queue_id: str, number: int, priority: int = 0) -> tuple[str, str]:
    # Higher priority sorts first; within a priority class, the ticket number.
    return f"LINE#{queue_id}", f"{9 - priority}#{number:012d}"


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


class CounterItem(_Base):
    next_number = NumberAttribute(default=0)


class CallItem(_Base):
    ticket_id = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


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


def _holding() -> Any:
    return TicketItem.status.is_in(*(s.value for s in HOLDING))


class DynamoTicketStore(TicketStore):
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
        self._pause = pause  # between retries of a transaction that conflicted or was throttled

    def _transact(self, build: Callable[[TransactWrite], None]) -> list[str] | None:
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
                    self._pause(random.uniform(0, TX_BACKOFF_SECONDS * 2 ** attempt))
        raise StoreUnavailableError("transaction kept conflicting or being throttled")

    # --- tickets -------------------------------------------------------------------------

    def next_number(self, queue_id: str) -> int:
        counter = CounterItem(queue_pk(queue_id), "COUNTER")
        counter.update(actions=[CounterItem.next_number.add(1)])
        return int(counter.next_number)

    def open_ticket(self, ticket: Ticket) -> Ticket:
        existing = self.find_by_call(ticket.call_id) if ticket.call_id else None
        if existing is not None:
            return existing
        number = self.next_number(ticket.queue_id)
        ticket = ticket.evolve(number=number)
        item = self._item(ticket)

        def write(tx: TransactWrite) -> None:
            if ticket.call_id:
                tx.save(CallItem(f"CALL#{ticket.call_id}", "CALL", ticket_id=ticket.id,
                                 expires_at=ticket.created_at + TICKET_TTL),
                        condition=CallItem.pk.does_not_exist())
            tx.save(item, condition=TicketItem.pk.does_not_exist())

        if self._transact(write) is not None:
            # A concurrent retry of the same webhook won the call index: use its ticket.
            winner = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if winner is None:
                raise StoreUnavailableError(f"ticket {ticket.id} could not be opened")
            return winner
        return ticket

    @staticmethod
    def _item(ticket: Ticket) -> TicketItem:
        item = TicketItem(
            queue_pk(ticket.queue_id), ticket_sk(ticket.number), queue_id=ticket.queue_id,
            number=ticket.number, kind=ticket.kind.value, status=ticket.status.value,
            created_at=ticket.created_at, call_id=ticket.call_id, caller=ticket.caller,
            language=ticket.language, priority=ticket.priority, expires_at=ticket.created_at + TICKET_TTL)
        if ticket.status is TicketStatus.WAITING:
            item.line_pk, item.line_sk = line_keys(ticket.queue_id, ticket.number, ticket.priority)
        return item

    def _get_item(self, ticket_id: str) -> TicketItem:
        queue_id, number = split_ticket_id(ticket_id)
        try:
            return TicketItem.get(queue_pk(queue_id), ticket_sk(number), consistent_read=True)
        except DoesNotExist:
            raise TicketNotFoundError(ticket_id) from None

    def get(self, ticket_id: str) -> Ticket:
        return self._get_item(ticket_id).to_ticket()

    def find_by_call(self, call_id: str) -> Ticket | None:
        try:
            ref = CallItem.get(f"CALL#{call_id}", "CALL", consistent_read=True)
        except DoesNotExist:
            return None
        return self.get(ref.ticket_id)

    def ahead_of(self, ticket: Ticket) -> int:
        line_pk, line_sk = line_keys(ticket.queue_id, ticket.number, ticket.priority)
        return TicketItem.line.count(line_pk, TicketItem.line_sk < line_sk)

    def waiting_count(self, queue_id: str) -> int:
        return TicketItem.line.count(line_keys(queue_id, 0)[0])

    def staffing(self, queue_id: str) -> Staffing:
        staffed = idle = 0
        for presence in PresenceItem.query(f"AGENTS#{queue_id}"):
            if presence.status != AgentStatus.OFFLINE.value:
                staffed += 1
                idle += presence.status == AgentStatus.AVAILABLE.value
        return Staffing(staffed=staffed, idle=idle)

    # --- state changes -------------------------------------------------------------------

    def _update(self, ticket_id: str, actions: list[Any], condition: Any = None) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def set_pending_number(self, ticket_id: str, number: str | None) -> None:
        action = TicketItem.pending_number.set(number) if number else TicketItem.pending_number.remove()
        if not self._update(ticket_id, [action], TicketItem.pk.exists()):
            raise TicketNotFoundError(ticket_id)

    def mark_wants_callback(self, ticket_id: str) -> None:
        if not self._update(ticket_id, [TicketItem.wants_callback.set(True)], TicketItem.pk.exists()):
            raise TicketNotFoundError(ticket_id)

    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                            recovering: bool = False) -> int | None:
        # Out of the line until the workflow parks it (with its task token) at the same place.
        queue_id, num = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(num))
        allowed = (TicketItem.status == TicketStatus.ABANDONED.value) if recovering else _holding()
        try:
            item.update(actions=[
                TicketItem.kind.set(TicketKind.CALLBACK.value),
                TicketItem.status.set(TicketStatus.SCHEDULED.value),
                TicketItem.callback_number.set(number),
                TicketItem.not_before.set(not_before),
                TicketItem.pending_number.remove(),
                TicketItem.line_pk.remove(), TicketItem.line_sk.remove(),
                TicketItem.execution_id.remove(),
                TicketItem.bookings.add(1),
            ], condition=(TicketItem.kind == TicketKind.LIVE.value) & allowed)
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
        item = self._item(ticket)
        item.callback_number, item.not_before, item.bookings = number, not_before, 1
        item.save(condition=TicketItem.pk.does_not_exist())
        return ticket

    def revert_to_live(self, ticket_id: str, waiting: bool = True) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        line_pk, line_sk = line_keys(queue_id, number)
        back = ([TicketItem.status.set(TicketStatus.WAITING.value), TicketItem.line_pk.set(line_pk),
                 TicketItem.line_sk.set(line_sk)] if waiting
                else [TicketItem.status.set(TicketStatus.ABANDONED.value)])
        self._update(ticket_id, [
            TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.callback_number.remove(),
            TicketItem.not_before.remove(), *back,
        ], (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.execution_id.does_not_exist())

    # --- open callbacks, rejoining --------------------------------------------------------

    @staticmethod
    def _open_key(queue_id: str, number: str) -> str:
        return f"OPEN#{queue_id}#{number}"

    def _is_open_callback(self, ticket_id: str | None) -> Ticket | None:
        if not ticket_id:
            return None
        try:
            ticket = self.get(ticket_id)
        except TicketNotFoundError:
            return None
        open_statuses = (TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING)
        return ticket if ticket.kind is TicketKind.CALLBACK and ticket.status in open_statuses else None

    def reserve_open_callback(self, queue_id: str, number: str, ticket_id: str) -> str:
        key = self._open_key(queue_id, number)
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
            marker = MarkerItem.get(self._open_key(queue_id, number), "OPEN", consistent_read=True)
        except DoesNotExist:
            return None
        return self._is_open_callback(marker.ticket_id)

    def rejoin(self, ticket_id: str, call_id: str, now: datetime) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        line_pk, line_sk = line_keys(queue_id, number)

        def write(tx: TransactWrite) -> None:
            tx.save(CallItem(f"CALL#{call_id}", "CALL", ticket_id=ticket_id, expires_at=now + TICKET_TTL),
                    condition=CallItem.pk.does_not_exist())
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.status.set(TicketStatus.WAITING.value),
                TicketItem.call_id.set(call_id), TicketItem.line_pk.set(line_pk),
                TicketItem.line_sk.set(line_sk), TicketItem.task_token.remove(),
                TicketItem.wants_callback.set(False), TicketItem.execution_id.remove(),
            ], condition=(TicketItem.kind == TicketKind.CALLBACK.value)
                & TicketItem.status.is_in(TicketStatus.SCHEDULED.value, TicketStatus.WAITING.value))

        return self._transact(write) is None

    # --- wait-estimator state -------------------------------------------------------------

    def record_told(self, ticket_id: str, shape: float, scale: float, ahead: int | None = None) -> None:
        self._update(ticket_id, [TicketItem.told_shape.set(round(shape, 6)), TicketItem.told_scale.set(round(scale, 6)),
                                 TicketItem.told_ahead.set(ahead) if ahead is not None else TicketItem.told_ahead.remove()])

    def queue_stats(self, queue_id: str) -> dict[str, Any] | None:
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

    # --- lost calls, opt-outs, allowance ----------------------------------------------------

    def mark_lost(self, ticket_id: str, cause: str, at: datetime) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        self._update(ticket_id, [
            TicketItem.lost_cause.set(cause), TicketItem.lost_at.set(at),
            TicketItem.lost_pk.set(f"LOST#{queue_id}"),
            TicketItem.lost_sk.set(f"{at.strftime('%Y-%m-%dT%H:%M:%S')}#{number:012d}"),
        ])

    def lost_calls(self, queue_id: str) -> list[Ticket]:
        return [item.to_ticket() for item in TicketItem.lost.query(f"LOST#{queue_id}")]

    def clear_lost(self, queue_id: str, number: str, at: datetime) -> int:
        cleared = 0
        for item in TicketItem.lost.query(f"LOST#{queue_id}"):
            if number in (item.caller, item.callback_number):
                cleared += self._update(ticket_id(item.queue_id, int(item.number)), [
                    TicketItem.recovered_at.set(at), TicketItem.lost_pk.remove(), TicketItem.lost_sk.remove()],
                    TicketItem.lost_pk.exists())
        return cleared

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
        expires = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc) + timedelta(days=2)
        rate = MarkerItem(f"RATE#{number}#{day}", "RATE")
        budget = MarkerItem(f"BUDGET#{day}", "BUDGET")

        def write(tx: TransactWrite) -> None:
            tx.update(rate, actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(expires)],
                      condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < per_number))
            tx.update(budget, actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(expires)],
                      condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < daily_budget))

        codes = self._transact(write)
        if codes is None:
            return None
        return "rate_limited" if codes[0] == CONDITION_FAILED else "budget_spent"

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self._update(ticket_id, [TicketItem.execution_id.set(execution_id)])

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float) -> bool:
        return self._update(ticket_id, [
            TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
            TicketItem.wait_seconds.set(round(wait_seconds, 3)),
            TicketItem.line_pk.remove(), TicketItem.line_sk.remove(),
        ], (TicketItem.kind == TicketKind.LIVE.value) & _holding())


    def abandon_claimed(self, ticket_id: str, ended_at: datetime, wait_seconds: float) -> bool:
        return self._update(ticket_id, [
            TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
            TicketItem.wait_seconds.set(round(wait_seconds, 3)),
        ], (TicketItem.kind == TicketKind.LIVE.value) & (TicketItem.status == TicketStatus.CONNECTING.value))

    def mark_served(self, ticket_id: str, now: datetime) -> bool:
        return self._update(ticket_id, [TicketItem.status.set(TicketStatus.SERVED.value),
                                        TicketItem.ended_at.set(now)],
                            TicketItem.status == TicketStatus.CONNECTING.value)

    def requeue(self, ticket_id: str, agent_id: str) -> bool:
        queue_id, number = split_ticket_id(ticket_id)
        line_pk, line_sk = line_keys(queue_id, number)
        return self._update(ticket_id, [
            TicketItem.status.set(TicketStatus.WAITING.value), TicketItem.agent_id.remove(),
            TicketItem.line_pk.set(line_pk), TicketItem.line_sk.set(line_sk),
        ], (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id))

    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime) -> bool:
        condition = (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id)
        condition &= TicketItem.leg.does_not_exist() | ((TicketItem.leg != leg) & (TicketItem.leg != "talking"))
        return self._update(ticket_id, [TicketItem.leg.set(leg), TicketItem.leg_at.set(at)], condition)

    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        self._update(ticket_id, [TicketItem.agent_id.remove()], TicketItem.agent_id == agent_id)

    def cancel_callback(self, ticket_id: str, now: datetime) -> bool:
        return self._update(ticket_id, [
            TicketItem.status.set(TicketStatus.CANCELLED.value), TicketItem.ended_at.set(now),
            TicketItem.line_pk.remove(), TicketItem.line_sk.remove(), TicketItem.task_token.remove(),
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

    def head(self, queue_id: str) -> Ticket | None:
        for item in TicketItem.line.query(line_keys(queue_id, 0)[0], limit=1):
            return item.to_ticket()
        return None

    # --- agents --------------------------------------------------------------------------

    def _agent_item(self, agent_id: str) -> AgentItem | None:
        try:
            return AgentItem.get(f"AGENT#{agent_id}", "AGENT", consistent_read=True)
        except DoesNotExist:
            return None

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
                            until: datetime | None = None) -> Agent | None:
        marker = MarkerItem(f"EVENT#{event_id}", "EVENT", expires_at=at + timedelta(days=7)) if event_id else None
        for _ in range(5):  # optimistic: retried when another change lands between read and write
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

            codes = self._transact(write)
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

    def claim(self, ticket_id: str, agent_id: str, now: datetime) -> bool:
        agent = self._agent_item(agent_id)
        if agent is None or agent.status != AgentStatus.AVAILABLE.value:
            return False
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.status.set(TicketStatus.CONNECTING.value), TicketItem.agent_id.set(agent_id),
                TicketItem.line_pk.remove(), TicketItem.line_sk.remove(),
                TicketItem.leg.remove(), TicketItem.leg_at.remove(),  # a new bridge: no leg event yet
            ], condition=(TicketItem.status == TicketStatus.WAITING.value) & TicketItem.line_pk.exists())
            tx.update(agent, actions=[
                AgentItem.status.set(AgentStatus.BUSY.value), AgentItem.ticket_id.set(ticket_id),
                AgentItem.changed_at.set(now),
            ], condition=(AgentItem.status == AgentStatus.AVAILABLE.value) & AgentItem.ticket_id.does_not_exist())
            self._presence(tx, agent, AgentStatus.BUSY, now, ticket_id)

        return self._transact(write) is None

    def release_agent(self, agent_id: str, ticket_id: str, status: AgentStatus, now: datetime) -> bool:
        agent = self._agent_item(agent_id)
        if agent is None or agent.ticket_id != ticket_id:
            return False

        def write(tx: TransactWrite) -> None:
            tx.update(agent, actions=[AgentItem.status.set(status.value), AgentItem.ticket_id.remove(),
                                      AgentItem.changed_at.set(now)],
                      condition=AgentItem.ticket_id == ticket_id)
            self._presence(tx, agent, status, now)

        return self._transact(write) is None

    # --- dialing -------------------------------------------------------------------------

    def begin_dial(self, ticket_id: str, dial_id: str, token: str) -> bool:
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.save(MarkerItem(f"DIAL#{dial_id}", "DIAL", expires_at=datetime.now(timezone.utc) + timedelta(days=7)),
                    condition=MarkerItem.pk.does_not_exist())
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.dial_id.set(dial_id), TicketItem.dial_token.set(token)],
                condition=TicketItem.status == TicketStatus.CONNECTING.value)

        return self._transact(write) is None

    def note_call_ended(self, ticket_id: str, dial_id: str) -> bool:
        return self._update(ticket_id, [TicketItem.ended_dial.set(dial_id)], TicketItem.dial_id == dial_id)

    def finish_dial(self, ticket_id: str, dial_id: str, status: TicketStatus, now: datetime,
                    attempts: int, outcome: str, next_attempt_at: datetime | None) -> str | None:
        item = self._get_item(ticket_id)
        if item.dial_id != dial_id or not item.dial_token:
            return None
        actions = [TicketItem.status.set(status.value), TicketItem.dial_id.remove(), TicketItem.dial_token.remove(),
                   TicketItem.attempts.set(attempts), TicketItem.last_outcome.set(outcome)]
        actions.append(TicketItem.next_attempt_at.set(next_attempt_at) if next_attempt_at
                       else TicketItem.next_attempt_at.remove())
        if status in (TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED):
            actions.append(TicketItem.ended_at.set(now))
        if not self._update(ticket_id, actions, TicketItem.dial_id == dial_id):
            return None
        return item.dial_token


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
