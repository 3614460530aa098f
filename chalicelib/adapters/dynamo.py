"""The TicketStore on DynamoDB (single table, PynamoDB).

Keys:
  QUEUE#{queue} / COUNTER             the queue's ticket counter (atomic ADD)
  QUEUE#{queue} / TICKET#{number:012} a ticket
  CALL#{call_id} / CALL               which ticket a provider call opened (one per call)
  AGENTS#{queue} / AGENT#{agent_id}   an agent's presence in a queue
The sparse index `line` holds only WAITING tickets: line_pk = LINE#{queue}, line_sk orders by
priority, then number. Its order is dispatch order, so `ahead_of` is one COUNT query."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import (BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ..domain.errors import TicketNotFoundError
from ..domain.model import HOLDING, Ticket, TicketKind, TicketStatus, split_ticket_id
from ..ports import Staffing, TicketStore

TICKET_TTL = timedelta(days=400)  # a year of reports, then DynamoDB drops the ticket


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
    queue_id = UnicodeAttribute()
    status = UnicodeAttribute(default="offline")
    contact = UnicodeAttribute(null=True)


class TicketItem(_Base):
    line = LineIndex()
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
    expires_at = TTLAttribute(null=True)

    def to_ticket(self) -> Ticket:
        return Ticket(
            queue_id=self.queue_id, number=int(self.number), kind=TicketKind(self.kind),
            status=TicketStatus(self.status), created_at=self.created_at, call_id=self.call_id,
            caller=self.caller, language=self.language, priority=int(self.priority or 0),
            callback_number=self.callback_number, pending_number=self.pending_number,
            not_before=self.not_before, execution_id=self.execution_id, attempts=int(self.attempts or 0),
            ended_at=self.ended_at, wait_seconds=None if self.wait_seconds is None else float(self.wait_seconds),
            wants_callback=bool(self.wants_callback))


MODELS: tuple[type[_Base], ...] = (CounterItem, CallItem, AgentItem, TicketItem)


def bind(table_name: str, region: str, host: str | None) -> None:
    """Point every model at the table (PynamoDB keeps this on the classes)."""
    for model in (_Base, *MODELS):
        model.Meta.table_name = table_name
        model.Meta.region = region
        model.Meta.host = host
        model._connection = None  # type: ignore[attr-defined]
    LineIndex.Meta.model = TicketItem  # type: ignore[attr-defined]


def _holding() -> Any:
    return TicketItem.status.is_in(*(s.value for s in HOLDING))


class DynamoTicketStore(TicketStore):
    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        bind(table_name, region, host)
        self._connection = Connection(region=region, host=host)

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
        try:
            with TransactWrite(connection=self._connection) as tx:
                if ticket.call_id:
                    tx.save(CallItem(f"CALL#{ticket.call_id}", "CALL", ticket_id=ticket.id,
                                     expires_at=ticket.created_at + TICKET_TTL),
                            condition=CallItem.pk.does_not_exist())
                tx.save(item, condition=TicketItem.pk.does_not_exist())
        except TransactWriteError:
            # A concurrent retry of the same webhook won the call index: use its ticket.
            winner = self.find_by_call(ticket.call_id) if ticket.call_id else None
            if winner is None:
                raise
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
        for agent in AgentItem.query(f"AGENTS#{queue_id}"):
            if agent.status != "offline":
                staffed += 1
                idle += agent.status == "available"
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

    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime) -> bool:
        # Out of the line until the workflow parks it (with its task token) at the same place.
        return self._update(ticket_id, [
            TicketItem.kind.set(TicketKind.CALLBACK.value),
            TicketItem.status.set(TicketStatus.SCHEDULED.value),
            TicketItem.callback_number.set(number),
            TicketItem.not_before.set(not_before),
            TicketItem.pending_number.remove(),
            TicketItem.line_pk.remove(), TicketItem.line_sk.remove(),
        ], (TicketItem.kind == TicketKind.LIVE.value) & _holding())

    def revert_to_live(self, ticket_id: str) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        line_pk, line_sk = line_keys(queue_id, number)
        self._update(ticket_id, [
            TicketItem.kind.set(TicketKind.LIVE.value), TicketItem.status.set(TicketStatus.WAITING.value),
            TicketItem.callback_number.remove(), TicketItem.not_before.remove(),
            TicketItem.line_pk.set(line_pk), TicketItem.line_sk.set(line_sk),
        ], (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.execution_id.does_not_exist())

    def set_execution(self, ticket_id: str, execution_id: str) -> None:
        self._update(ticket_id, [TicketItem.execution_id.set(execution_id)])

    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float) -> bool:
        return self._update(ticket_id, [
            TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
            TicketItem.wait_seconds.set(round(wait_seconds, 3)),
            TicketItem.line_pk.remove(), TicketItem.line_sk.remove(),
        ], (TicketItem.kind == TicketKind.LIVE.value) & _holding())

    # --- agents (presence only; dispatch comes with the workflow) ---------------------------

    def set_agent(self, queue_id: str, agent_id: str, status: str, contact: str | None = None) -> None:
        AgentItem(f"AGENTS#{queue_id}", f"AGENT#{agent_id}", agent_id=agent_id, queue_id=queue_id,
                  status=status, contact=contact).save()


