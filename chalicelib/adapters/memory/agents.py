"""The Agents role in memory."""
from __future__ import annotations

from datetime import datetime

from ...domain.errors import UnknownAgentError
from ...domain.model import Agent, AgentStatus, TicketKind, TicketStatus, is_stale
from ...ports import Agents, Staffing
from .table import OnTable


class MemoryAgents(OnTable, Agents):
    def staffing(self, queue_id: str) -> Staffing:
        mine = [a for a in list(self.table.agents.values()) if queue_id in a.queues]
        return Staffing(sum(a.status.serving for a in mine),  # away and wrap-up serve nobody
                        sum(a.status is AgentStatus.AVAILABLE for a in mine))

    def record_agent_status(self, agent_id: str, status: AgentStatus, at: datetime, contact: str | None,
                            queues: tuple[str, ...] | None, event_id: str | None,
                            until: datetime | None = None, read_along: tuple[str, ...] = (),
                            reason: str | None = None) -> Agent | None:
        table = self.table
        with table.lock:
            if event_id and f"EVENT#{event_id}" in table.markers:
                return None
            current = table.agents.get(agent_id)
            if current and is_stale(current.changed_at, bool(current.ticket_id), at):
                return None
            if current and current.ticket_id and status is AgentStatus.AVAILABLE:
                return current  # already reserved: 'available' again changes nothing
            if event_id:
                table.markers.add(f"EVENT#{event_id}")
            agent = Agent(agent_id, status, tuple(queues) if queues is not None else (current.queues if current else ()),
                          contact or (current.contact if current else None), None, at,
                          None if status is AgentStatus.OFFLINE else until or (current.until if current else None),
                          reason)
            table.agents[agent_id] = agent
            return agent

    def get_agent(self, agent_id: str) -> Agent:
        try:
            return self.table.agents[agent_id]
        except KeyError:
            raise UnknownAgentError(agent_id) from None

    def _present(self, queue_id: str, status: AgentStatus) -> list[Agent]:
        return [a for a in list(self.table.agents.values()) if queue_id in a.queues and a.status is status]

    def team(self, queue_id: str) -> list[Agent]:
        return [a for a in list(self.table.agents.values()) if queue_id in a.queues]

    def idle_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.AVAILABLE)

    def busy_agents(self, queue_id: str) -> list[Agent]:
        return self._present(queue_id, AgentStatus.BUSY)

    def claim(self, ticket_id: str, agent_id: str, now: datetime, agent: Agent | None = None) -> bool:
        table = self.table
        with table.lock:
            ticket, agent = table.get(ticket_id), table.agents.get(agent_id)  # its own copy is the authority
            if ticket.status is not TicketStatus.WAITING or agent is None or agent.status is not AgentStatus.AVAILABLE:
                return False
            table.put(ticket.evolve(status=TicketStatus.CONNECTING, agent_id=agent_id, leg=None, leg_at=None))
            table.agents[agent_id] = Agent(agent.id, AgentStatus.BUSY, agent.queues, agent.contact, ticket_id, now, agent.until)
            return True

    def release_agent(self, agent_id: str, ticket_id: str, status: AgentStatus, now: datetime) -> bool:
        table = self.table
        with table.lock:
            agent = table.agents.get(agent_id)
            if agent is None or agent.ticket_id != ticket_id:
                return False
            table.agents[agent_id] = Agent(agent.id, status, agent.queues, agent.contact, None, now, agent.until)
            return True

    def requeue(self, ticket_id: str, agent_id: str) -> bool:
        return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING and t.agent_id == agent_id,
                                 status=TicketStatus.WAITING, agent_id=None)

    def mark_served(self, ticket_id: str, now: datetime, call_id: str | None = None,
                    answered_at: datetime | None = None) -> bool:
        table = self.table
        with table.lock:
            answered = table.get(ticket_id).answered_at or answered_at
            return table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING,
                                status=TicketStatus.SERVED, ended_at=now, answered_at=answered)

    def abandon_claimed(self, ticket_id: str, ended_at: datetime, wait_seconds: float,
                        call_id: str | None = None) -> bool:
        return self.table.change(ticket_id, lambda t: t.status is TicketStatus.CONNECTING and t.kind is TicketKind.LIVE
                                 and t.answered_at is None,  # connected to the agent: served, not abandoned
                                 status=TicketStatus.ABANDONED, ended_at=ended_at, wait_seconds=wait_seconds)
