"""When a callback may be dialed: inside business hours and the callee's calling window."""
from __future__ import annotations

from datetime import datetime, timedelta

from .model import Outcome
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
              outcome: Outcome) -> tuple[datetime, int] | None:
    """After `attempt` (1-based) ended with `outcome`: when and as which attempt to try again, or None."""
    if outcome in (Outcome.CONNECTED, Outcome.CANCELLED):
        return None
    if outcome.counts_as_attempt:
        if attempt >= len(queue.retry_delays_seconds):
            return None
        delay, next_attempt = queue.retry_delays_seconds[attempt], attempt + 1
    else:
        delay, next_attempt = 0, attempt
    slot = next_slot(queue, number, now + timedelta(seconds=delay))
    return None if slot is None else (slot, next_attempt)
