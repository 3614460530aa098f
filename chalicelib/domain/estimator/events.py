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


class BusyAgent(NamedTuple):
    """An agent on a call: how long the call has lasted (None: unknown) and, if they announced a
    sign-off, in how many seconds they stop taking calls (None: not announced)."""

    elapsed: float | None
    leaves_in: float | None = None
