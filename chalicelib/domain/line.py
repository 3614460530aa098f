"""A caller's place in line from O(1) reads (issues 11, 20).

The queue's line counts (ports.LineCounts) say, per priority class, how many stand in the line and how
many tickets have left it and come back into it so far (monotone). They move in the very write that
moves a ticket, so they never wait for the table's stream. A ticket remembers, from the write that
counted it in, how many of its class stood ahead and its class's two counters (model.JoinedLine). Its
place now is

    ahead = (those in higher classes, counted now)
          + joined.ahead - (departed now - departed then) + (returned now - returned then)

clamped to the line. Its own moves cancel out (each time it left, it came back) except while it is
out of the line, when its last departure is its own. Every departure of its class counts as one from
ahead, so one behind it (a caller who gave up, a callback booked for later) makes the place look one
better than it is: the error is at most the departures behind the caller since they joined, never the
other way (returns are always ahead: a ticket comes back at its own number, and one behind the caller
that comes back had left after the caller joined), except for the one kind of ticket that enters the
line for the first time behind callers already in it: a recovery callback booked at the end of the
line (`recovery_keeps_place: false`) for later than at once. While the line is short (one page of a
COUNT) the place is counted exactly instead. docs/architecture.md says what this gives up."""
from __future__ import annotations

from ..ports import LineCounts
from .model import Ticket

SHORT_LINE = 100  # up to this many waiting, one page of COUNT is cheap: count exactly


def ahead(line: LineCounts, ticket: Ticket) -> int:
    """How many stand ahead of the ticket by the line's counts and what it remembers of joining."""
    p, in_line = ticket.priority, ticket.in_line
    joined = ticket.joined
    if joined is None:  # remembers nothing: its class, as it stands (counted exactly where it matters)
        same = line.of(p) - int(in_line)
    else:
        same = (joined.ahead - (line.departed.get(p, 0) - joined.departed)
                + (line.returned.get(p, 0) - joined.returned) + int(not in_line))
    return line.above(p) + max(0, min(same, line.of(p) - int(in_line)))


def counts_exactly(line: LineCounts, ticket: Ticket) -> bool:
    """Whether the place should be counted (a short line, or a ticket that remembers nothing)."""
    return ticket.joined is None or line.total <= SHORT_LINE
