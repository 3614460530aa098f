"""The production side of the estimator: each queue's WaitEstimator state lives in the store and
learns from the same events the simulation feeds it (abandonments, service starts and ends)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..ports import Agents, Line, QueueStats
from . import faults
from .errors import BadRequestError
from .estimator import BusyAgent, QueueEvent, QueueEventKind, WaitEstimator
from .ewt import WaitEstimate
from .model import Agent, AgentStatus, Ticket, TicketKind
from .queues import QueueConfig

log = logging.getLogger(__name__)

# The queue's configured handle time and patience count as this many observations until real ones arrive.
PRIOR_WEIGHT = 20.0


def prior(queue: QueueConfig) -> WaitEstimator:
    return WaitEstimator(prior_service_seconds=queue.average_handle_seconds,
                         prior_patience_seconds=queue.average_patience_seconds, prior_weight=PRIOR_WEIGHT,
                         staffed=queue.assumed_agents)


# An announced sign-off lies within this of now: a shift, not a standing schedule.
MAX_SIGN_OFF_AHEAD = timedelta(hours=24)


def check_sign_off(until: datetime, status: AgentStatus, now: datetime) -> None:
    """An agent's announced sign-off must be in the next 24 h and come with a signed-in status;
    BadRequestError says why not."""
    if until.tzinfo is None:
        raise BadRequestError("until must carry a time zone (e.g. Z)")
    if status is AgentStatus.OFFLINE:
        raise BadRequestError("until is the sign-off of an agent on shift: not with status offline")
    if until <= now:
        raise BadRequestError("until must be in the future")
    if until > now + MAX_SIGN_OFF_AHEAD:
        raise BadRequestError(f"until must be at most {int(MAX_SIGN_OFF_AHEAD.total_seconds() // 3600)} h ahead")


def leaves_in(agent: Agent, now: datetime) -> float | None:
    """Seconds until the agent's announced sign-off; None if none is announced or it has passed
    (an agent still signed in after it evidently stayed on)."""
    if agent.until is None or agent.until <= now:
        return None
    return (agent.until - now).total_seconds()


def current(stats: QueueStats, queue: QueueConfig) -> WaitEstimator:
    state = stats.queue_stats(queue.id)
    return WaitEstimator.from_state(state) if state else prior(queue)


def busy_agents(agents: Agents, queue: QueueConfig, now: datetime) -> list[BusyAgent] | None:
    """The queue's busy agents and how long each has been on the current Holdfast call (from when
    they were put on it), for the estimate. None if the store cannot say: the estimate then assumes nothing about them."""
    try:
        busy = agents.busy_agents(queue.id)
    except Exception:  # noqa: BLE001 - an estimate without elapsed times beats no answer
        faults.swallowed("estimate.busy_agents", "could not read busy agents", extra={"queue": queue.id})
        return None
    return busy_from(busy, now)


def busy_from(agents: list[Agent], now: datetime) -> list[BusyAgent]:
    """Busy agents as the estimator sees them: how long each has been on the current Holdfast call."""
    # Only a call Holdfast put the agent on has a known start: an agent who set themselves busy may be
    # doing anything, and hours of 'busy' read as a talk time would inflate every estimate.
    return [BusyAgent(None if a.changed_at is None or not a.ticket_id
                      else max(0.0, (now - a.changed_at).total_seconds()), leaves_in(a, now))
            for a in agents]


def head_wait(line: Line, queue: QueueConfig, now: datetime) -> float | None:
    """How long the caller at the head of the line has been holding (None: a callback or nobody)."""
    try:
        head = line.head(queue.id)
    except Exception:  # noqa: BLE001 - as above
        faults.swallowed("estimate.head_wait", "could not read the head of the line", extra={"queue": queue.id})
        return None
    if head is None or head.kind is not TicketKind.LIVE:
        return None
    return max(0.0, (now - head.created_at).total_seconds())


def told_pit(ticket: Ticket, wait: float) -> float | None:
    """Where the caller's wait fell in the estimate they were told (None if they were told none)."""
    if ticket.told_shape <= 0 or ticket.told_scale <= 0:
        return None
    return WaitEstimate(0.0, 0.0, 0.0, 1.0, ticket.told_shape, ticket.told_scale).pit(wait)


def learn(stats: QueueStats, queue: QueueConfig, kind: QueueEventKind, at: datetime, value: float,
          pit: float | None = None, ahead: int | None = None) -> None:
    """Fold one event into the queue's estimator (`pit` and `ahead`: where the wait fell in what the
    caller was told, and how many were ahead then). Never fails the call flow: a lost update only
    costs the estimate one observation."""
    event = QueueEvent(kind, at.timestamp(), max(0.0, value), pit, ahead)

    def apply(state: dict | None) -> dict:
        estimator = WaitEstimator.from_state(state) if state else prior(queue)
        estimator.observe(event)
        return {**(state or {}), **estimator.state()}  # other keys of the document (guard's promises) stay

    try:
        stats.update_queue_stats(queue.id, apply)
    except Exception:  # noqa: BLE001 - statistics must never cost a caller anything
        faults.swallowed("estimate.learn", "could not update queue statistics",
                         extra={"queue": queue.id, "event": kind.value})
