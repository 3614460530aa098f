"""What callers may do with a callback they asked for, from the phone or their page: cancel it, or move
it to another time. Each is one conditional write on the ticket (its slot given back or taken in the
same write); the workflow follows (the old execution is stopped; a moved callback starts its own, named
by its next booking; where the queue texts callers, a moved callback's new time is texted as a booking's
is). A workflow that cannot be stopped ends by itself: its Park finds a cancelled
ticket, or one run by another execution, and closes."""
from __future__ import annotations

import logging

from ..ports import SLOT_FULL, Clock, Dialing, EventBus, Orchestrator, Tickets
from .booking import announce_booked, told_at, workflow_input
from .errors import OrchestratorError
from .model import BookingRefused, Ticket, TicketKind, TicketStatus
from .queues import QueueDirectory
from .slotbook import SlotBook
from .slots import slot_start

log = logging.getLogger(__name__)

PENDING = frozenset({TicketStatus.SCHEDULED, TicketStatus.WAITING})


def changeable(ticket: Ticket) -> bool:
    """A callback its caller asked for that is not being made yet (recoveries: nobody asked for them)."""
    return ticket.kind is TicketKind.CALLBACK and ticket.status in PENDING and not ticket.lost_cause


class CallbackChanges:
    def __init__(self, tickets: Tickets, dialing: Dialing, orchestrator: Orchestrator, clock: Clock,
                 queues: QueueDirectory, slots: SlotBook, bus: EventBus | None = None) -> None:
        self.tickets, self.dialing, self.orchestrator = tickets, dialing, orchestrator
        self.clock, self.queues, self.slots = clock, queues, slots
        self.bus = bus  # the notify queue: a moved callback's confirmation text

    def cancel(self, ticket: Ticket) -> bool:
        """The caller's own cancel: out of the line, its slot given back, its workflow stopped, counted as
        cancelled by the caller (never a lost call). False if it was not theirs to cancel any more."""
        if not changeable(ticket) or not self.dialing.cancel_callback(ticket.id, self.clock.now(), by_caller=True,
                                                                      slot=ticket.slot):
            return False
        self._stop(ticket)
        log.info("caller cancelled their callback", extra={"ticket": ticket.id})
        return True

    def move(self, ticket: Ticket, key: str) -> Ticket | BookingRefused | None:
        """Move the callback to the slot `key`: the moved ticket; SLOT_FULL when the slot has no room (or
        may not be chosen for this number); None when the ticket is no longer the caller's to change."""
        if not changeable(ticket) or not ticket.callback_number:
            return None
        if key == ticket.slot:
            return ticket
        queue = self.queues.get(ticket.queue_id)
        claim = self.slots.claim(queue, ticket.callback_number, key)
        if claim is None or claim.capacity <= 0:
            return BookingRefused.SLOT_FULL
        start = slot_start(key)
        booking = self.dialing.move_callback(ticket.id, ticket.execution_id, start, ticket.slot, claim,
                                             told_at(ticket, start))
        if booking == SLOT_FULL:
            return BookingRefused.SLOT_FULL
        if not isinstance(booking, int):
            return None
        self._stop(ticket)
        moved = self.tickets.get(ticket.id)
        execution_id = self.orchestrator.start(f"{ticket.id}-{booking}", workflow_input(queue, moved, start))
        self.tickets.set_execution(ticket.id, execution_id)
        log.info("caller moved their callback", extra={"ticket": ticket.id, "slot": key})
        announce_booked(self.bus, queue, ticket.id)  # the text names the new time
        return moved.evolve(execution_id=execution_id)

    def take_back(self, ticket: Ticket, call_id: str) -> Ticket | None:
        """The caller holds on the line now instead: the callback ticket becomes their live ticket for
        this call, at its own place (its chosen time given up), and its workflow stops. None if it is
        being dialed or is closed."""
        if not self.tickets.rejoin(ticket.id, call_id, self.clock.now(), slot=ticket.slot):
            return None
        self._stop(ticket)  # harmless if it keeps running: its Park finds a live ticket and the workflow closes
        log.info("caller rejoined their pending callback", extra={"ticket": ticket.id})
        return self.tickets.get(ticket.id)

    def _stop(self, ticket: Ticket) -> None:
        if not ticket.execution_id:
            return
        try:
            self.orchestrator.stop(ticket.execution_id)
        except OrchestratorError:
            log.warning("could not stop the callback's workflow; its next step closes it", extra={"ticket": ticket.id})
