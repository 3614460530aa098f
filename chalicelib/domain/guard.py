"""The live-service guard: which waiting ticket a free agent takes.

Order is the ticket number, and a callback keeps its caller's place. The guard bounds what that costs
the callers still holding (docs/queues.md):
- a callback the caller asked for keeps its place until a live caller behind it has waited
  `callback_guard_seconds` (default 0: live callers always first; 20 would be the service-level target);
- a recovery callback (nobody asked for it: the caller hung up) keeps its place only while no live
  caller has waited `recovery_guard_seconds` (0: it takes only agents no live caller needs);
- but the promise wins: a callback whose caller was told "we will call you within N minutes" goes
  first from `callback_promise_lead_seconds` before that time, wherever it stands in the line (the
  promise book below finds it behind recovery callbacks the guard is holding back);
- with nobody live waiting, a callback is taken only while enough other agents stay idle for the next
  live callers (the promise still wins): the callback plan's reserve for this half hour
  (`domain/callback_plan.py`: from the expected arrivals, the agents, the open callbacks), or
  `callback_reserve_agents` where a queue fixes it.
- promises due close together go first in turn: the k-th of them (by the time told) goes that many
  agents' freeing earlier, so that the last is still dialed by its time when every agent is busy.
- a callback at a chosen time (issue 27) is a promise for its slot: in the book from its booking
  (by phone or from the web), moved with it, and back in it for a retry inside its slot; it counts in
  the plan's backlog on the day its slot falls (`callback_plan.ledger_with`).

The promise book lives in the queue's statistics (an opaque document the store keeps per queue): the
ticket id and the time told of each callback not dialed yet. The time told is also on the ticket
(`told_shape` x `told_scale` from its call's start), which is what the caller heard and is durable
before they hear it; the book is only the dispatcher's index to it.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from ..ports import QueueStats, Tickets
from . import callback_plan, faults, learning
from .errors import TicketNotFoundError
from .model import Ticket, TicketKind, TicketStatus
from .queues import QueueConfig
from .slots import slot_start

log = logging.getLogger(__name__)

# queue statistics key: ticket id -> [the time told, when it was told(, REMINDED)], epoch seconds
PROMISES = "promises"
REMINDED = 1  # an entry's third element: its caller was sent a reminder of this time (issue 27)
DELAYS = "callback_delay"  # queue statistics key: local hour told -> learned high quantile of the delay (s)
DELAY_QUANTILE = 0.9  # the share of callbacks the guard would make by the learned delay on its own
DELAY_STEP = 0.4  # how far one observation moves the learned quantile (in log terms)
MIN_DELAY = 60.0
MAX_PROMISES = 2000  # a bound on the book's size; offers stop long before (callflow: the day's backlog)
DUE_LOOKUPS = 5  # tickets read per dispatch looking for a due promise (closed ones leave the book)
PROMISE_MARGIN, PROMISE_SLACK = 1.0, 1.0  # the callbacks ahead counted for a promise: x 1, + 1
FALLBACK_RESERVE = 4  # agents held back when the queue has no current callback plan (the sweep has not run)

def promised_at(ticket: Ticket) -> datetime | None:
    """When the caller who pressed 1 was told to expect the callback (recorded as a wait from their
    call's start, the slot they were given if later); None if they were told no time."""
    if ticket.told_shape <= 0:
        return None
    told = ticket.created_at + timedelta(seconds=ticket.told_shape * ticket.told_scale)
    return max(told, ticket.not_before) if ticket.not_before else told


def in_slot(ticket: Ticket, queue: QueueConfig, now: datetime) -> bool:
    """A callback at a chosen time whose slot has not ended: its retries keep its promise too."""
    policy = queue.scheduled_callbacks
    return bool(ticket.slot) and policy is not None and now < slot_start(ticket.slot or "") + policy.length


def binding(ticket: Ticket, queue: QueueConfig, now: datetime) -> datetime | None:
    """The promise that still binds this callback: the first attempt's, or any attempt's inside its
    chosen slot; None for a recovery (nobody asked) and for retries otherwise."""
    if ticket.lost_cause or (ticket.attempts > 1 and not in_slot(ticket, queue, now)):
        return None
    return promised_at(ticket)


def lead(queue: QueueConfig) -> timedelta:
    return timedelta(seconds=queue.callback_promise_lead_seconds)


def next_ticket(head: Ticket, live: Ticket | None, queue: QueueConfig, now: datetime,
                idle_others: int = 0, staffed: int = 1, reserve: int | None = None) -> Ticket | None:
    """The ticket a free agent takes: the head of the line, the first live caller in it, or nothing
    (a callback at the head, nobody live waiting, and too few other agents idle to take it).
    `reserve`: the callback plan's agents to hold back now (None: no current plan)."""
    if head.kind is TicketKind.LIVE or not queue.live_guard:
        return head
    # the promise is the first attempt's (a chosen time's, every attempt inside its slot); a retry otherwise
    # waits like any callback
    promised = binding(head, queue, now)
    if promised is not None and now >= promised - lead(queue):
        return head  # the promise: the callback comes no later than the caller was told
    if live is not None:
        waited = (now - live.created_at).total_seconds()
        guard = queue.recovery_guard_seconds if head.lost_cause else queue.callback_guard_seconds
        return live if waited >= guard else head
    # Nobody live is waiting. An idle agent is what answers the next caller at once: keep some.
    # A team of n keeps at most n - 1 idle: a lone agent still makes callbacks.
    hold = queue.callback_reserve_agents
    if hold is None:
        hold = FALLBACK_RESERVE if reserve is None else reserve
    return head if idle_others >= min(hold, staffed - 1) else None


# --- the promise book ------------------------------------------------------------------------------

def _book(state: Mapping[str, Any] | None) -> dict[str, list[float]]:
    return dict((state or {}).get(PROMISES) or {})


def _with(queue: QueueConfig, state: dict[str, Any] | None, **parts: Any) -> dict[str, Any]:
    base = state if state else learning.prior(queue).state()  # the estimator reads the same document
    return {**base, **parts}


def _hour(queue: QueueConfig, moment: datetime) -> str:
    return str(moment.astimezone(queue.hours.zone).hour)


def promise_delay(queue: QueueConfig, stats: Mapping[str, Any] | None, now: datetime) -> float | None:
    """How long a callback asked for now can be promised by (seconds): the longer of what the guard
    has taken at this hour of the day (`observed_delay`) and what the callback plan says the day can do
    (`planned_delay`). None until either is known."""
    seen, planned = observed_delay(queue, stats, now), planned_delay(stats, now)
    if seen is None or planned is None:
        return planned if seen is None else seen
    return max(seen, planned)


def observed_delay(queue: QueueConfig, stats: Mapping[str, Any] | None, now: datetime) -> float | None:
    """How long, at this hour of the day, the guard has taken to make a callback its caller asked for
    (from the press of 1 to the first dial), at a high quantile: what the caller can be promised
    without the promise pushing the callback ahead of live callers. None until it has been seen. Not
    seen for a day (no offers were made at this hour: the backlog was too long), it halves each day,
    so offers resume once the queue is quiet again."""
    learned = ((stats or {}).get(DELAYS) or {}).get(_hour(queue, now))
    if learned is None:
        return None
    q, seen = float(learned[0]), float(learned[1])
    idle_days = (now.timestamp() - seen) / 86400.0 - 1.0
    return q * 0.5 ** idle_days if idle_days > 0 else q


def planned_delay(stats: Mapping[str, Any] | None, now: datetime) -> float | None:
    """When the callback plan makes a callback asked for now: after every promise in the book (they go
    first), with a margin (`PROMISE_MARGIN` of the callbacks ahead, and `PROMISE_SLACK` more) for the
    plan's own error. Past closing (the queue offering callbacks within the day then makes no offer),
    what is left is counted at half the agents of the last half hour after closing (the next opening,
    which `booking.promisable` carries it to). None without a current plan."""
    plan = callback_plan.Plan.from_state(stats)
    if plan is None or plan.reserve(now) is None:
        return None
    closes = plan.periods[-1].end
    # a chosen time on a later day takes nothing from today's capacity
    ahead = sum(1 for entry in _book(stats).values() if entry[0] <= closes)
    needed = PROMISE_MARGIN * (ahead + 1) + PROMISE_SLACK
    at = plan.time_for(needed, now)
    if at is not None:
        return max(0.0, (at - now).total_seconds())
    left = needed - plan.capacity(now.timestamp(), closes)
    return closes - now.timestamp() + left * plan.handle / max(1.0, plan.periods[-1].agents / 2)


def _learn_delay(delays: dict[str, list[float]], hour: str, delay: float, forced: float | None,
                 now: datetime) -> dict[str, list[float]]:
    """One step of a stochastic-approximation quantile (in log terms, so minutes and hours learn alike).
    A callback made because its promise fell due (`forced`: the delay it was promised) might have waited
    longer still: it says the quantile is too low if it was promised that much already, and nothing
    otherwise (a promise made before the quantile grew)."""
    learned = delays.get(hour)
    if learned is None:
        return {**delays, hour: [max(MIN_DELAY, delay), now.timestamp()]}
    q = float(learned[0])
    if forced is not None and forced < q:
        return {**delays, hour: [q, now.timestamp()]}
    step = DELAY_STEP * (DELAY_QUANTILE if delay > q or forced is not None else DELAY_QUANTILE - 1)
    return {**delays, hour: [round(max(MIN_DELAY, q * math.exp(step)), 1), now.timestamp()]}


def promise(stats: QueueStats, queue: QueueConfig, ticket_id: str, at: datetime, now: datetime) -> None:
    """Enter a callback's promise in the book. Raises if the store fails: the caller must not hear a
    time the dispatcher will not keep."""
    stats.update_queue_stats(queue.id, lambda state: _with(queue, state, **{PROMISES: _entered(state, ticket_id, at, now)}))


def _entered(state: Mapping[str, Any] | None, ticket_id: str, at: datetime, now: datetime) -> dict[str, list[float]]:
    """The book with this callback's promise in it."""
    book = _book(state)
    book[ticket_id] = [at.timestamp(), now.timestamp()]
    while len(book) > MAX_PROMISES:  # the oldest promise made gives way (offers stop well before)
        book.pop(min(book, key=lambda t: book[t][1]))
    return book


def callback_changed(stats: QueueStats, queue: QueueConfig, ticket: Ticket, before: Ticket | None,
                     now: datetime) -> None:
    """From the table's stream, one ticket changed: a caller who asked for a callback and was told a
    time goes into the promise book (by phone, or from the web: a ticket born a callback), and so does
    a callback moved to another time and a chosen time's retry parked inside its slot; a callback that
    opens, closes or moves to another slot goes into, out of or across the backlog ledger the callback
    plan counts. One write, only when either changes. Raises if the store fails."""
    at = _promise_of(queue, ticket, before, now)
    opened = callback_plan.is_open_callback(ticket) and not callback_plan.is_open_callback(before)
    closed = callback_plan.is_open_callback(before) and not callback_plan.is_open_callback(ticket)
    moved = (not opened and not closed and callback_plan.is_open_callback(ticket) and before is not None
             and before.slot != ticket.slot)
    if at is None and not opened and not closed and not moved:
        return

    def apply(state: dict[str, Any] | None) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if at is not None:
            changes[PROMISES] = _entered(state, ticket.id, at, now)
        if opened or closed or moved:
            changes[callback_plan.BACKLOG] = callback_plan.ledger_with(callback_plan.ledger(state), ticket,
                                                                       not closed, now)
        return _with(queue, state, **changes)

    stats.update_queue_stats(queue.id, apply)


def _promise_of(queue: QueueConfig, ticket: Ticket, before: Ticket | None, now: datetime) -> datetime | None:
    """The time this change puts in the promise book, if any: a booking a caller asked for, a callback
    moved to another time (before its first dial), a chosen time's retry parked inside its slot (due
    at once: it keeps the slot's promise)."""
    if ticket.kind is not TicketKind.CALLBACK or ticket.lost_cause:
        return None  # recoveries promise nothing
    asked = (before is None or before.kind is TicketKind.LIVE) and not ticket.attempts
    moved = (before is not None and before.kind is TicketKind.CALLBACK and not ticket.attempts
             and (before.slot != ticket.slot or before.not_before != ticket.not_before))
    if asked or moved:
        return promised_at(ticket)
    retry = (before is not None and ticket.status is TicketStatus.WAITING and before.status is not TicketStatus.WAITING
             and ticket.attempts > 1 and in_slot(ticket, queue, now))
    return now if retry else None


def promised(stats: QueueStats, queue_id: str, ticket_id: str) -> datetime | None:
    """The time in the book for this callback, if it is there."""
    entry = _book(stats.queue_stats(queue_id)).get(ticket_id)
    return None if entry is None else datetime.fromtimestamp(entry[0], timezone.utc)


def kept(stats: QueueStats, queue: QueueConfig, ticket_id: str, now: datetime) -> None:
    """The callback's first attempt was dialed: out of the book, and its delay learned for its hour.
    Never fails a call: a stale entry is dropped when the dispatcher next reads it."""
    def apply(state: dict[str, Any] | None) -> dict[str, Any]:
        book = _book(state)
        entry = book.pop(ticket_id, None)
        if entry is None:
            return _with(queue, state)
        at, told = (datetime.fromtimestamp(v, timezone.utc) for v in entry[:2])
        delays = _learn_delay(dict((state or {}).get(DELAYS) or {}), _hour(queue, told),
                              (now - told).total_seconds(),
                              (at - told).total_seconds() if now >= at - lead(queue) else None, now)
        return _with(queue, state, **{PROMISES: book, DELAYS: delays})

    try:
        if ticket_id in _book(stats.queue_stats(queue.id)):
            stats.update_queue_stats(queue.id, apply)
    except Exception:  # noqa: BLE001 - the book is an index; statistics never cost a caller anything
        faults.swallowed("promise_book.learn", "could not update the promise book", extra={"queue": queue.id})


def forget(stats: QueueStats, queue: QueueConfig, *ticket_ids: str) -> None:
    """Out of the book without learning anything: the callback closed, or the caller rejoined."""
    def apply(state: dict[str, Any] | None) -> dict[str, Any]:
        book = _book(state)
        for ticket_id in ticket_ids:
            book.pop(ticket_id, None)
        return _with(queue, state, **{PROMISES: book})

    try:
        stats.update_queue_stats(queue.id, apply)
    except Exception:  # noqa: BLE001 - as above
        faults.swallowed("promise_book.forget", "could not update the promise book", extra={"queue": queue.id})


def reminders_due(stats: QueueStats, queue: QueueConfig, now: datetime, ahead: timedelta) -> list[str]:
    """The callbacks whose promised time falls within `ahead` from now and whose callers have not been
    reminded, marked reminded in the same conditional write: each is returned to one sweep only,
    however many run at once (a reminder is sent at most once; a moved callback is promised, and
    reminded, anew). No write while none is due."""
    t, horizon = now.timestamp(), (now + ahead).timestamp()

    def due(state: Mapping[str, Any] | None) -> list[str]:
        return sorted(tid for tid, entry in _book(state).items() if len(entry) < 3 and t < entry[0] <= horizon)

    if not due(read(stats, queue)):
        return []
    marked: list[str] = []

    def apply(state: dict[str, Any] | None) -> dict[str, Any]:
        marked[:] = due(state)  # an optimistic retry applies again: what the winning write marked
        book = _book(state)
        for tid in marked:
            book[tid] = [*book[tid][:2], REMINDED]
        return _with(queue, state, **{PROMISES: book})

    stats.update_queue_stats(queue.id, apply)
    return list(marked)


def read(stats: QueueStats, queue: QueueConfig) -> Mapping[str, Any]:
    """The queue's statistics document (the promise book, the callback plan), read once per dispatch;
    empty if there is none or it cannot be read (the head's own promise still counts)."""
    try:
        return stats.queue_stats(queue.id) or {}
    except Exception:  # noqa: BLE001 - the book is an index; the dispatcher goes on without it
        faults.swallowed("promise_book.read", "could not read the promise book", extra={"queue": queue.id})
        return {}


def due_callback(stats: QueueStats, tickets: Tickets, queue: QueueConfig, now: datetime,
                 gap: float = 0.0, state: Mapping[str, Any] | None = None) -> Ticket | None:
    """The parked callback whose promise is due, the earliest promise first; None if none is. Due:
    within the lead of its time, or before a promise told a later time that needs its turn to start
    now: the k-th promise in time order must start `k` agents' freeing (`gap` seconds each, when all
    are busy) before its own lead, so the ones before it go first from then. `state`: the statistics
    document already read (None: read it here)."""
    t, first = now.timestamp(), lead(queue).total_seconds()

    def due(book: dict[str, list[float]]) -> list[tuple[float, str]]:
        ordered = sorted((entry[0], tid) for tid, entry in book.items())
        last = max((k for k, (at, _) in enumerate(ordered) if at - first - k * gap <= t), default=-1)
        return ordered[:last + 1]

    return _first_waiting(stats, tickets, queue, now, due, state)


def first_asked(stats: QueueStats, tickets: Tickets, queue: QueueConfig, now: datetime,
                state: Mapping[str, Any] | None = None) -> Ticket | None:
    """The parked callback a caller asked for with the earliest place in line (recovery callbacks are
    not in the book: nobody asked for them, and they stand aside for it)."""
    return _first_waiting(stats, tickets, queue, now, lambda book: sorted((_place(tid), tid) for tid in book), state)


def _place(ticket_id: str) -> int:
    return int(ticket_id.rsplit("-", 1)[1])


def _first_waiting(stats: QueueStats, tickets: Tickets, queue: QueueConfig, now: datetime,
                   order: Callable[[dict[str, list[float]]], list[tuple[float, str]]],
                   state: Mapping[str, Any] | None = None) -> Ticket | None:
    """The first parked callback of the book in `order`; entries whose callback is closed, rejoined or
    already dialed leave the book."""
    book = _book(read(stats, queue) if state is None else state)
    stale: list[str] = []
    found: Ticket | None = None
    for _, ticket_id in order(book)[:DUE_LOOKUPS]:
        try:
            ticket = tickets.get(ticket_id)
        except TicketNotFoundError:
            stale.append(ticket_id)
            continue
        if ticket.kind is not TicketKind.CALLBACK or ticket.status not in OPEN or (
                ticket.attempts > 1 and not in_slot(ticket, queue, now)):  # a retry keeps only a chosen slot's promise
            stale.append(ticket_id)
        elif ticket.status is TicketStatus.WAITING:
            found = ticket
            break
    if stale:
        forget(stats, queue, *stale)
    return found


OPEN = frozenset({TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING})
