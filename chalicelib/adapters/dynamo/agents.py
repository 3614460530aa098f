"""The Agents role on DynamoDB: AGENT# items, their AGENTS# presence rows, claims and releases."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from ...domain.errors import StoreUnavailableError, UnknownAgentError
from ...domain.model import Agent, AgentStatus, Ticket, TicketKind, TicketStatus, is_stale, split_ticket_id
from ...ports import Agents, Staffing
from .items import CAME_BACK, LEFT, count_line, enter_line, in_line, leave_line, out_of_line
from .schema import AgentItem, MarkerItem, PresenceItem, TicketItem, queue_pk, ticket_sk
from .table import CONDITION_FAILED, MOVE_TRIES, Move, OnTable, PREFETCH_QUEUES


class DynamoAgents(OnTable, Agents):
    """Agents (AGENT#, the authority) and their presence per queue (AGENTS#), kept in step in the same
    transactions; claims that tie an agent to a ticket, and what ends them."""

    def staffing(self, queue_id: str) -> Staffing:
        staffed = idle = 0
        for presence in PresenceItem.query(f"AGENTS#{queue_id}"):
            if AgentStatus(presence.status).serving:  # away and wrap-up serve nobody
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

    def team(self, queue_id: str) -> list[Agent]:
        """The queue's presence rows, every status (an agent signing off keeps its row, offline)."""
        return [Agent(p.agent_id, AgentStatus(p.status), (queue_id,), ticket_id=p.ticket_id, changed_at=p.changed_at,
                      until=p.until, reason=p.reason)
                for p in PresenceItem.query(f"AGENTS#{queue_id}")]

    def idle_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.AVAILABLE)

    def busy_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.BUSY)

    def record_agent_status(self, agent_id: str, status: AgentStatus, at: datetime, contact: str | None,
                            queues: tuple[str, ...] | None, event_id: str | None,
                            until: datetime | None = None, read_along: tuple[str, ...] = (),
                            reason: str | None = None) -> Agent | None:
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
                             until=None if status is AgentStatus.OFFLINE else until or (current.until if current else None),
                             reason=reason)
            condition = (AgentItem.pk.does_not_exist() if current is None
                         else AgentItem.changed_at == current.changed_at if current.changed_at
                         else AgentItem.changed_at.does_not_exist())

            def write(tx: TransactWrite) -> None:
                if marker is not None:  # the event id is spent only with the change it brings
                    tx.save(marker, condition=MarkerItem.pk.does_not_exist())
                tx.save(item, condition=condition)
                for queue_id in new_queues:
                    tx.save(PresenceItem(f"AGENTS#{queue_id}", f"AGENT#{agent_id}", agent_id=agent_id,
                                         status=status.value, changed_at=at, until=item.until, reason=reason))
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
                      actions=[PresenceItem.status.set(status.value), PresenceItem.changed_at.set(now), on_call,
                               PresenceItem.reason.remove()])

    def claim(self, ticket_id: str, agent_id: str, now: datetime, agent: Agent | None = None) -> bool:
        if agent is not None:  # the transaction's conditions check it is still available
            item = AgentItem(f"AGENT#{agent_id}", "AGENT", agent_id=agent_id, queues=list(agent.queues))
        else:
            item = self._agent_item(agent_id)  # type: ignore[assignment]
        if item is None or (agent is None and item.status != AgentStatus.AVAILABLE.value):
            return False
        agent_item: AgentItem = item
        queue_id, number = split_ticket_id(ticket_id)
        priority = 0  # the likely class; a ticket of another comes back as it is, and is claimed in its own
        for _ in range(MOVE_TRIES):
            def write(tx: TransactWrite, p: int = priority) -> None:
                tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                    TicketItem.status.set(TicketStatus.CONNECTING.value), TicketItem.agent_id.set(agent_id),
                    *leave_line(),
                    TicketItem.leg.remove(), TicketItem.leg_at.remove(),  # a new bridge: no leg event yet
                ], condition=(TicketItem.status == TicketStatus.WAITING.value) & in_line(p), return_values="ALL_OLD")
                tx.update(agent_item, actions=[
                    AgentItem.status.set(AgentStatus.BUSY.value), AgentItem.ticket_id.set(ticket_id),
                    AgentItem.changed_at.set(now), AgentItem.reason.remove(),
                ], condition=(AgentItem.status == AgentStatus.AVAILABLE.value) & AgentItem.ticket_id.does_not_exist()
                    & (AgentItem.queues == list(agent_item.queues or ())))  # its presence rows are these
                count_line(tx, queue_id, p, LEFT)
                self._presence(tx, agent_item, AgentStatus.BUSY, now, ticket_id)

            reasons = self.table.transact_reasons(write)
            if reasons is None:
                return True
            found = reasons[0].raw_item if reasons[0] is not None and reasons[0].code == CONDITION_FAILED else None
            ticket = TicketItem.from_raw_data(found).to_ticket() if found else None
            if ticket is None or ticket.status is not TicketStatus.WAITING or ticket.priority == priority:
                return False  # taken, gone, or the agent is not free
            priority = ticket.priority
        return False

    def release_agent(self, agent_id: str, ticket_id: str, status: AgentStatus, now: datetime) -> bool:
        agent = self._agent_item(agent_id)
        if agent is None or agent.ticket_id != ticket_id:
            return False

        def write(tx: TransactWrite) -> None:
            tx.update(agent, actions=[AgentItem.status.set(status.value), AgentItem.ticket_id.remove(),
                                      AgentItem.changed_at.set(now), AgentItem.reason.remove()],
                      condition=AgentItem.ticket_id == ticket_id)
            self._presence(tx, agent, status, now)

        return self.table.transact(write) is None

    def requeue(self, ticket_id: str, agent_id: str) -> bool:
        queue_id, number = split_ticket_id(ticket_id)

        def plan(found: Ticket | None) -> Move | None:
            p = 0 if found is None else found.priority
            if found is not None and (found.status is not TicketStatus.CONNECTING or found.agent_id != agent_id):
                return None
            return Move([TicketItem.status.set(TicketStatus.WAITING.value), TicketItem.agent_id.remove(),
                         *enter_line(queue_id, number, True, p)],
                        (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id)
                        & out_of_line(p), CAME_BACK, p)

        return self.table.move(ticket_id, plan) is None

    def mark_served(self, ticket_id: str, now: datetime, call_id: str | None = None,
                    answered_at: datetime | None = None) -> bool:
        answered = [] if answered_at is None else [  # unless the bridge's leg event said so first
            TicketItem.answered_at.set(TicketItem.answered_at | answered_at)]
        served = Move([TicketItem.status.set(TicketStatus.SERVED.value), TicketItem.ended_at.set(now), *answered],
                      TicketItem.status == TicketStatus.CONNECTING.value)  # CONNECTING is out of the line
        return self.table.let_go(ticket_id, served, call_id)

    def abandon_claimed(self, ticket_id: str, ended_at: datetime, wait_seconds: float,
                        call_id: str | None = None) -> bool:
        gone = Move([TicketItem.status.set(TicketStatus.ABANDONED.value), TicketItem.ended_at.set(ended_at),
                     TicketItem.wait_seconds.set(round(wait_seconds, 3))],
                    (TicketItem.kind == TicketKind.LIVE.value) & (TicketItem.status == TicketStatus.CONNECTING.value)
                    & TicketItem.answered_at.does_not_exist())  # connected to the agent: served, not abandoned
        return self.table.let_go(ticket_id, gone, call_id)
