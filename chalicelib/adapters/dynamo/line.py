"""The Line role on DynamoDB: the queue's COUNTER item (the line's counts, exact) and SNAPSHOT item (the
team and the head, kept by the stream), the `line` and `live` indexes."""
from __future__ import annotations

import json
from typing import Any, Mapping

from ...domain.errors import TicketNotFoundError
from ...domain.model import Agent, AgentStatus, Ticket, TicketKind, split_ticket_id
from ...ports import Arrival, Line, LineCounts, QueueSnapshot
from .items import line_head
from .schema import PresenceItem, TicketItem, line_counts, line_keys, open_pk, queue_pk, ticket_sk
from .stream import SNAPSHOT, snapshot_from_item
from .table import OnTable


class DynamoLine(OnTable, Line):
    """The line in one read: the queue's COUNTER item (its counts move with every ticket that enters or
    leaves the line) and SNAPSHOT item (presence and head, queried instead while no stream record has
    made one), and the estimator's STATS."""

    def _snapshot_keys(self, queue_id: str) -> list[tuple[str, str]]:
        return [(queue_pk(queue_id), "COUNTER"), (queue_pk(queue_id), SNAPSHOT), (queue_pk(queue_id), "STATS")]

    def _snapshot_of(self, queue_id: str, found: Mapping[tuple[str, str], Mapping[str, Any]]) -> QueueSnapshot:
        stats = found.get((queue_pk(queue_id), "STATS"))
        estimator = json.loads(stats["state"]["S"]) if stats else None
        line = line_counts(found.get((queue_pk(queue_id), "COUNTER")))
        raw = found.get((queue_pk(queue_id), SNAPSHOT))
        if raw is None:  # no stream record applied for this queue yet: ask instead (a new queue)
            return self._asked(queue_id, line, estimator)
        return snapshot_from_item(queue_id, raw, line, estimator)

    def _asked(self, queue_id: str, line: LineCounts, estimator: Mapping[str, Any] | None) -> QueueSnapshot:
        agents = tuple(Agent(p.agent_id, AgentStatus(p.status), (queue_id,), ticket_id=p.ticket_id,
                             changed_at=p.changed_at, until=p.until) for p in PresenceItem.query(f"AGENTS#{queue_id}"))
        head = line_head(queue_id) if line.total else None
        head_since = head.created_at if head is not None and head.kind is TicketKind.LIVE else None
        return QueueSnapshot(line, agents, head_since, estimator)

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
