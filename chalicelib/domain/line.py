"""A caller's place in line from O(1) reads (issue 11).

The line's snapshot (ports.QueueSnapshot) says how many wait per priority class and how many tickets
have left the line and come back into it so far (monotone counters). A ticket remembers those as it
joined (model.JoinedLine). Its place now is

    ahead = joined.ahead - (departed now - departed then) + (returned now - returned then)

clamped so that the place is between 1 and the line's length. Every departure counts as one from
ahead, so a caller behind who gives up makes the place look one better than it is: the error is at
most the abandonments (and callbacks booked) behind the caller since they joined, and a ticket coming
back at its own place behind the caller makes it look one worse. While the line is short (one page
of a COUNT) the place is counted exactly instead. docs/architecture.md says what this gives up."""
from __future__ import annotations

from ..ports import QueueSnapshot
from .model import Ticket
from .script import Enqueue, Step

SHORT_LINE = 100  # up to this many waiting, one page of COUNT is cheap: count exactly
PRIORITY_CLASSES = 10  # priority 0..9, higher served first (adapters/dynamo/schema.line_keys)
RANK_SPAN = 10 ** 12  # ticket numbers per priority class in a rank (a queue's counter stays far below)


def dispatch_rank(ticket: Ticket) -> int:
    """The ticket's place in dispatch order as one number, lower first: priority class, then ticket
    number. Never changes for a ticket, so a provider queue ordered by it keeps the ticket's place."""
    return (PRIORITY_CLASSES - 1 - ticket.priority) * RANK_SPAN + ticket.number


def ahead(snapshot: QueueSnapshot, ticket: Ticket) -> int:
    """How many stand ahead of the ticket by the snapshot and what it remembers of joining."""
    joined = ticket.joined
    if joined is None:  # a ticket from before the snapshot: the line as it stands
        guess = snapshot.ahead_for(ticket.priority)
    else:
        guess = joined.ahead - (snapshot.departed - joined.departed) + (snapshot.returned - joined.returned)
    return max(0, min(guess, snapshot.total - 1))


def counts_exactly(snapshot: QueueSnapshot, ticket: Ticket) -> bool:
    """Whether the place should be counted (a short line, or a ticket that remembers nothing)."""
    return snapshot.exact or ticket.joined is None or snapshot.total <= SHORT_LINE


def hold(ticket: Ticket) -> Enqueue:
    """A live caller's hold in the provider's queue: its wait step polled, its exit step told how it
    ended, at the ticket's rank."""
    return Enqueue(ticket.queue_id, wait=Step.of("wait", t=ticket.id), action=Step.of("queue-exit", t=ticket.id),
                   rank=dispatch_rank(ticket))
