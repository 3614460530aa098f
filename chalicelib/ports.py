"""Ports: what the domain needs from the outside world. Adapters subclass these; so do test fakes."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from .domain.model import CallEvent, Ticket
from .domain.script import Script


class Clock(ABC):
    @abstractmethod
    def now(self) -> datetime:
        """Aware UTC datetime."""


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Staffing:
    staffed: int  # agents signed in (available or busy)
    idle: int  # agents available right now


class TicketStore(ABC):
    """Queues, tickets and agents. Every state change that must happen once is conditional."""

    @abstractmethod
    def open_ticket(self, ticket: Ticket) -> Ticket:
        """Persist a new LIVE ticket numbered from the queue's counter, indexed by its call id.

        If the call already has a ticket (a retried webhook), return that one instead."""

    @abstractmethod
    def next_number(self, queue_id: str) -> int:
        """Atomically take the queue's next ticket number; numbers are never reused."""

    @abstractmethod
    def get(self, ticket_id: str) -> Ticket:
        """Raise TicketNotFoundError if absent."""

    @abstractmethod
    def find_by_call(self, call_id: str) -> Ticket | None: ...

    @abstractmethod
    def ahead_of(self, ticket: Ticket) -> int:
        """How many WAITING tickets stand ahead of this one in dispatch order."""

    @abstractmethod
    def waiting_count(self, queue_id: str) -> int: ...

    @abstractmethod
    def staffing(self, queue_id: str) -> Staffing: ...

    @abstractmethod
    def set_pending_number(self, ticket_id: str, number: str | None) -> None: ...

    @abstractmethod
    def mark_wants_callback(self, ticket_id: str) -> None: ...

    @abstractmethod
    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime,
                            now: datetime) -> bool:
        """LIVE+WAITING -> CALLBACK (same number, same place). True only for the one call that changed it."""

    @abstractmethod
    def set_execution(self, ticket_id: str, execution_id: str) -> None: ...

    @abstractmethod
    def revert_to_live(self, ticket_id: str) -> None:
        """Undo convert_to_callback when the workflow could not be started: the caller stays in line."""

    @abstractmethod
    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float) -> bool:
        """LIVE+WAITING -> ABANDONED. True only for the one call that changed it."""


class Orchestrator(ABC):
    """The callback workflow engine (Step Functions)."""

    @abstractmethod
    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        """Start the execution called `name` (idempotent by name); return its id."""


class Telephony(ABC):
    """One telephony provider: verifies, parses and answers its webhooks."""

    name: str

    @abstractmethod
    def verify(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> bool: ...

    @abstractmethod
    def parse(self, params: Mapping[str, str], query: Mapping[str, str]) -> CallEvent:
        """Raise BadWebhookError for a body that is not a call event."""

    @abstractmethod
    def render(self, script: Script, base_url: str) -> str: ...

    content_type: str = "text/xml"
