"""The live-service guard: which waiting ticket a free agent takes.

Order is the ticket number, and a callback keeps its caller's place. The guard bounds what that costs
the callers still holding (docs/queues.md):
- a callback the caller asked for keeps its place until a live caller behind it has waited
  `callback_guard_seconds` (default 20, the service-level target; 0: live callers always first);
- a recovery callback (nobody asked for it: the caller hung up) keeps its place only while no live
  caller has waited `recovery_guard_seconds` (0: it takes only agents no live caller needs);
- but a callback already `callback_max_late_seconds` past what its caller was told goes first anyway
  (a recovery callback was promised nothing);
- with nobody live waiting, a callback is taken only while `callback_reserve_agents` other agents
  stay idle for the next live caller (the bound above still wins).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from .model import Ticket, TicketKind
from .queues import QueueConfig

def promised_at(ticket: Ticket) -> datetime:
    """When the caller who pressed 1 was told to expect the callback: their turn as announced when they
    called (the callback keeps their place), or the slot they were given if later."""
    told = ticket.created_at
    if ticket.told_shape > 0:
        told += timedelta(seconds=ticket.told_shape * ticket.told_scale)
    return max(told, ticket.not_before) if ticket.not_before else told


def next_ticket(head: Ticket, live: Ticket | None, queue: QueueConfig, now: datetime,
                idle_others: int = 0, staffed: int = 1) -> Ticket | None:
    """The ticket a free agent takes: the head of the line, the first live caller in it, or nothing
    (a callback at the head, nobody live waiting, and too few other agents idle to take it)."""
    if head.kind is TicketKind.LIVE or not queue.live_guard:
        return head
    if not head.lost_cause and (now - promised_at(head)).total_seconds() >= queue.callback_max_late_seconds:
        return head  # the bound: a promised callback is not put off any longer
    if live is not None:
        waited = (now - live.created_at).total_seconds()
        guard = queue.recovery_guard_seconds if head.lost_cause else queue.callback_guard_seconds
        return live if waited >= guard else head
    # Nobody live is waiting. An idle agent is what answers the next caller at once: keep some.
    # A team of n keeps at most n - 1 idle: a lone agent still makes callbacks.
    return head if idle_others >= min(queue.callback_reserve_agents, staffed - 1) else None
