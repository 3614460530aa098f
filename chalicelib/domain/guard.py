"""The live-service guard: which waiting ticket a free agent takes.

Order is the ticket number, and a callback keeps its caller's place. The guard bounds what that costs
the callers still holding (docs/queues.md):
- a callback the caller asked for keeps its place until a live caller behind it has waited
  `service_level_seconds` (the service-level target); then the live caller goes first;
- a recovery callback (nobody asked for it: the caller hung up) keeps its place only while no live
  caller has waited `recovery_guard_seconds` (0: it takes only agents no live caller needs);
- but a callback already `callback_max_late_seconds` past what its caller was told goes first anyway
  (a recovery callback was promised nothing).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from .model import Ticket, TicketKind
from .queues import QueueConfig

WINDOW = 200  # how far down the line the dispatcher looks for a live caller


def promised_at(ticket: Ticket) -> datetime:
    """When the caller who pressed 1 was told to expect the callback: their turn as announced when they
    called (the callback keeps their place), or the slot they were given if later."""
    told = ticket.created_at
    if ticket.told_shape > 0:
        told += timedelta(seconds=ticket.told_shape * ticket.told_scale)
    return max(told, ticket.not_before) if ticket.not_before else told


def next_ticket(line: Sequence[Ticket], queue: QueueConfig, now: datetime) -> Ticket | None:
    """The ticket a free agent takes from `line` (waiting tickets in dispatch order)."""
    if not line:
        return None
    head = line[0]
    if head.kind is TicketKind.LIVE or not queue.live_guard:
        return head
    live = next((t for t in line if t.kind is TicketKind.LIVE), None)
    if live is None:
        return head
    waited = (now - live.created_at).total_seconds()
    ahead = [t for t in line if t.number < live.number or t.priority > live.priority][:WINDOW]
    for callback in ahead:
        if not callback.lost_cause and (now - promised_at(callback)).total_seconds() >= queue.callback_max_late_seconds:
            return callback  # the bound: a promised callback is not put off beyond this
    for callback in ahead:
        guard = queue.recovery_guard_seconds if callback.lost_cause else queue.service_level_seconds
        if waited < guard:
            return callback
    return live
