"""What the estimator observes: a queue's events, and a busy agent as the estimate sees it."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple


class QueueEventKind(str, Enum):
    ARRIVAL = "arrival"
    SERVICE_START = "service_start"  # value: how long the caller waited
    SERVICE_END = "service_end"  # value: how long the service took
    ABANDON = "abandon"  # value: how long the caller waited before giving up
    STAFFING = "staffing"  # value: agents now signed in
    # value: how long an agent spent in `state` (away, wrap_up, or busy on a call of their own), now over
    STATE_END = "state_end"


@dataclass(frozen=True)
class QueueEvent:
    kind: QueueEventKind
    at: float  # seconds (epoch in production, virtual time in simulation)
    value: float = 0.0
    # For SERVICE_START / ABANDON: where the wait fell in the distribution the caller was given
    # (WaitEstimate.pit); it calibrates later ranges. None when the caller was told nothing.
    pit: float | None = None
    # How many were ahead of the caller when told (its position band is calibrated on its own); None: unknown.
    ahead: int | None = None
    # For SERVICE_START / ABANDON: the caller's priority class (None: unknown; its ranges are then the band's).
    klass: int | None = None
    # For STATE_END: which state ended (AGENT_STATES) and, for away, its reason.
    state: str | None = None
    reason: str | None = None


# An agent's states as the estimate sees them (the names agents' time reports use, domain/agent_time.py):
HANDLING = "handling"  # on a call Holdfast put them on: the talk-time model
AWAY, WRAP_UP, OWN_CALL = "away", "wrap_up", "busy"  # not serving the line; free again after a learned time
AGENT_STATES = (HANDLING, AWAY, WRAP_UP, OWN_CALL)


class BusyAgent(NamedTuple):
    """An agent not free for the line: how long they have been in their state (None: unknown), and,
    if they announced a sign-off, in how many seconds they stop taking calls (None: not announced).
    `state`: on a Holdfast call (HANDLING, the default), or AWAY (with its `reason`), in WRAP_UP or
    on a call of their own (OWN_CALL): those take no caller until the state's learned time is over."""

    elapsed: float | None
    leaves_in: float | None = None
    state: str = HANDLING
    reason: str | None = None
