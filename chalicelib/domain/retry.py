"""When a callback may be dialed: inside business hours and the callee's calling window."""
from __future__ import annotations

from datetime import datetime, timedelta

from .model import Outcome, Ticket
from .phone import in_calling_window, window_opens
from .queues import QueueConfig


def next_slot(queue: QueueConfig, number: str, earliest: datetime) -> datetime | None:
    """The first instant at or after `earliest` when the queue is open and the callee may be called."""
    moment = earliest
    for _ in range(64):  # each step jumps to an opening; a year of holidays is far fewer
        if not queue.hours.is_open(moment):
            opening = queue.hours.next_opening(moment)
            if opening is None:
                return None
            moment = opening
        elif not in_calling_window(number, moment, queue.hours.tz):
            moment = window_opens(number, moment, queue.hours.tz)
        else:
            return moment
    return None


def plan_next(queue: QueueConfig, number: str, now: datetime, attempt: int,
              outcome: Outcome, deadline: datetime | None = None) -> tuple[datetime, int] | None:
    """After `attempt` (1-based) ended with `outcome`: when and as which attempt to try again, or None
    (also when that would be after `deadline`)."""
    if outcome in (Outcome.CONNECTED, Outcome.CANCELLED):
        return None
    if outcome.counts_as_attempt:
        if attempt >= len(queue.retry_delays_seconds):
            return None
        delay, next_attempt = queue.retry_delays_seconds[attempt], attempt + 1
    else:
        delay, next_attempt = 0, attempt
    slot = next_slot(queue, number, now + timedelta(seconds=delay))
    return None if slot is None or (deadline is not None and slot > deadline) else (slot, next_attempt)


def recovery_deadline(queue: QueueConfig, ticket: Ticket) -> datetime | None:
    """When a recovery callback's attempts stop: `recovery_horizon_seconds` of open time after the lost
    call, or after the slot it was booked for if later (a person's "call back now" starts it again).
    None for a callback its caller asked for, or with no horizon."""
    if not ticket.lost_cause:
        return None
    lost = ticket.lost_at or ticket.created_at
    return horizon_end(queue, max(lost, ticket.not_before or lost))


def horizon_end(queue: QueueConfig, start: datetime) -> datetime | None:
    """`recovery_horizon_seconds` of open time from `start`; None with no horizon."""
    if queue.recovery_horizon_seconds <= 0:
        return None
    return queue.hours.after_open(start, queue.recovery_horizon_seconds)
