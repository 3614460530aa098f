"""Loss and recovery: a caller who hung up, rang out, was dropped or called after hours is recorded as
a lost call once, teaches the estimator their patience, and is booked a recovery callback through the
one booking path (`CallbackBooking.book`)."""
from __future__ import annotations

import logging
from datetime import datetime

from ..ports import Agents, Clock, EventBus, LostCalls, QueueStats, Tickets
from . import learning
from .booking import CallbackBooking, number_policy
from .errors import NumberNotAllowedError
from .estimator import QueueEventKind
from .model import HOLDING, BookingRefused, CallEvent, CallStatus, LostCause, Ticket, TicketKind, TicketStatus
from .queues import QueueConfig, QueueDirectory
from .retry import next_slot

log = logging.getLogger(__name__)


class LossRecovery:
    def __init__(self, tickets: Tickets, lost: LostCalls, stats: QueueStats, agents: Agents, clock: Clock,
                 queues: QueueDirectory, bus: EventBus, booking: CallbackBooking) -> None:
        self.tickets, self.lost, self.stats, self.agents = tickets, lost, stats, agents
        self.clock = clock
        self.queues = queues
        self.bus = bus
        self.booking = booking

    def call_ended(self, event: CallEvent) -> None:
        """The status callback: a caller who hung up while holding has abandoned; a call that failed
        or was cut off while holding was dropped."""
        ticket = self.tickets.find_by_call(event.call_id, open_only=True)
        if ticket is None or ticket.kind is not TicketKind.LIVE:
            return
        if ticket.status is TicketStatus.CONNECTING:
            now = self.clock.now()
            if ticket.answered_at is not None:
                # Connected to the agent, and the call has ended before the bridge's result came (the
                # two are sent at once, in any order): served. The result still frees the agent.
                self.agents.mark_served(ticket.id, now, ticket.call_id)
                return
            # Hung up while being put through, before any conversation (after one, the bridge's
            # result has already marked the ticket served): lost, and the stream frees the agent.
            wait = (now - ticket.created_at).total_seconds()
            if self.agents.abandon_claimed(ticket.id, now, wait, ticket.call_id):
                self._after_loss(ticket, LostCause.ABANDONED, wait, now)
            return
        dropped = event.status in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER)
        self.abandon(ticket, LostCause.DROPPED if dropped else None)

    def abandon(self, ticket: Ticket, cause: LostCause | None = None) -> None:
        if ticket.status not in HOLDING:
            return
        self.lose(ticket, cause or (LostCause.AFTER_HOURS if ticket.status is TicketStatus.AFTER_HOURS
                                    else LostCause.ABANDONED))

    def lose(self, ticket: Ticket, cause: LostCause) -> None:
        """Record a lost call (once), book its recovery callback if it may have one, and tell people."""
        now = self.clock.now()
        wait = (now - ticket.created_at).total_seconds()
        if self.tickets.abandon(ticket.id, now, wait, ticket.call_id):  # once, whatever repeats the webhook
            self._after_loss(ticket, cause, wait, now)

    def _after_loss(self, ticket: Ticket, cause: LostCause, wait: float, now: datetime) -> None:
        queue = self.queues.get(ticket.queue_id)
        self.lost.mark_lost(ticket.id, cause.value, now)
        if cause in (LostCause.ABANDONED, LostCause.RANG_OUT):  # patience, for the estimator
            learning.learn(self.stats, queue, QueueEventKind.ABANDON, now, wait, learning.told_pit(ticket, wait),
                           ticket.told_ahead)
        refused = self._recover(queue, ticket.evolve(status=TicketStatus.ABANDONED), cause, wait, now)
        log.info("lost call", extra={"ticket": ticket.id, "cause": cause.value,
                                     "recovery": refused.value if refused else "booked"})
        self.bus.publish({"event": "lost_call", "ticket_id": ticket.id, "cause": cause.value,
                          "recovery": refused.value if refused else "booked"})

    def standing_callback(self, queue: QueueConfig, ticket: Ticket) -> Ticket | None:
        """The callback that stands for a lost call now: its recovery, or one its number had already."""
        try:
            number = number_policy(queue).accept(ticket.pending_number or ticket.caller)
        except NumberNotAllowedError:
            return None
        return self.booking.open_callback(queue, number)

    def _recover(self, queue: QueueConfig, ticket: Ticket, cause: LostCause, wait: float,
                 now: datetime) -> BookingRefused | None:
        if not queue.recover_lost_calls:
            return BookingRefused.NOT_RECOVERED
        if cause is LostCause.ABANDONED and wait < queue.short_abandon_seconds:
            return BookingRefused.SHORT_ABANDON
        try:
            # the number the caller typed or heard read back, if they got that far; else the caller ID
            number = number_policy(queue).accept(ticket.pending_number or ticket.caller)
        except NumberNotAllowedError:
            return BookingRefused.NOT_DIALABLE
        not_before = next_slot(queue, number, now)
        if not_before is None:
            return BookingRefused.NOT_DIALABLE
        return self.booking.book(queue, ticket, number, not_before, now, explicit=False)
