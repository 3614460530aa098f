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

SHORT_LINE = 100  # up to this many waiting, one page of COUNT is cheap: count exactly


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
