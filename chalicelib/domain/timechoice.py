"""Choosing when to be called back, on the phone (a part of the call flow, as booking and recovery are).

After the number is confirmed the caller hears the next slots with room, said in their own time
("to be called back today at 3 PM, press 1 ..."), and 9 for another day where the queue offers it.
The choice is booked like any callback (`CallbackBooking`), its place in the slot taken in the same
write: if the slot filled meanwhile the caller hears so and chooses again. The slots offered ride in
the menu's own step (`o=`), so a key means what the caller heard, whatever the menu would say now."""
from __future__ import annotations

import logging
from typing import Callable

from ..ports import Clock, Tickets
from . import speech
from .booking import CallbackBooking, told_at
from .changes import CallbackChanges
from .model import BookingRefused, CallEvent, Ticket, TicketKind
from .queues import QueueConfig, QueueDirectory
from .script import Gather, Play, Say, Script, Step
from .slotbook import SlotBook
from .slots import ANOTHER_DAY_KEY, compact, expand, next_day, slot_start

log = logging.getLogger(__name__)

MENU_TIMEOUT_SECONDS = 8

Fallback = Callable[[QueueConfig, Ticket], Script]


class TimeChoice:
    def __init__(self, slots: SlotBook, booking: CallbackBooking, changes: CallbackChanges, tickets: Tickets,
                 clock: Clock, queues: QueueDirectory, no_choice: Fallback, confirmed: Fallback) -> None:
        self.slots, self.booking, self.changes, self.tickets = slots, booking, changes, tickets
        self.clock, self.queues = clock, queues
        self.no_choice = no_choice  # back in line, or goodbye after hours (the call flow's)
        self.confirmed = confirmed  # what a caller hears once booked (the call flow's)

    @staticmethod
    def offered(queue: QueueConfig) -> bool:
        return queue.scheduled_callbacks is not None

    def _say(self, queue: QueueConfig, lang: str, key: str, **values: object) -> Say | Play:
        return speech.prompt(queue, lang, key, **values)

    def menu(self, queue: QueueConfig, ticket: Ticket, number: str, after: str | None = None,
             said: tuple[Say | Play, ...] = (), moving: bool = False) -> Script:
        """The next slots with room for `number` (from the day after slot `after`: another day);
        `moving`: to move a pending callback there, rather than book one."""
        policy = queue.scheduled_callbacks
        lang = ticket.language
        if policy is None:
            return Script.of(*said, *self.no_choice(queue, ticket).verbs)
        start = next_day(policy, after, queue.hours.zone) if after else None
        open_slots = self.slots.open_slots(queue, number, start)
        if not open_slots and moving:
            return Script.of(*said, self._say(queue, lang, "slot_none"), self._say(queue, lang, "callback_kept"),
                             *self.no_choice(queue, ticket).verbs)
        if not open_slots:
            # none left: the caller may still be called back as soon as possible (the offer's key 1)
            asap = "closed_offer" if not queue.hours.is_open(self.clock.now()) else "offer_asap"
            return Script.of(Gather(Step.of("offer", t=ticket.id), (*said, self._say(queue, lang, "slot_none"),
                                                                    self._say(queue, lang, asap))),
                             *self.no_choice(queue, ticket).verbs)
        now = self.clock.now()
        prompts: list[Say | Play] = [*said, self._say(queue, lang, "choose_intro")]
        for key, slot in enumerate(open_slots, start=1):
            prompts.append(self._say(queue, lang, "slot_choice", digit=key,
                                     when=speech.spoken_when(queue, number, slot.start, now, lang)))
        if policy.another_day:
            prompts.append(self._say(queue, lang, "slot_another_day"))
        action = Step.of("slot", t=ticket.id, o=compact([s.key for s in open_slots]), **({"m": "1"} if moving else {}))
        return Script.of(Gather(action, tuple(prompts), timeout_seconds=MENU_TIMEOUT_SECONDS),
                         self._say(queue, lang, "no_input"), *self.no_choice(queue, ticket).verbs)

    def chosen(self, ticket_id: str, event: CallEvent, offered: str, moving: bool = False) -> Script:
        """A key pressed at the menu whose slots were `offered` (compact keys); `moving`: the menu moves
        the caller's pending callback."""
        ticket = self.tickets.get(ticket_id)
        queue = self.queues.get(ticket.queue_id)
        if ticket.kind is TicketKind.CALLBACK and not moving:  # a repeated webhook after the booking
            return self.confirmed(queue, ticket)
        number = ticket.callback_number if moving else ticket.pending_number
        keys = expand(offered)
        if number is None or not keys:
            return self.no_choice(queue, ticket)
        digits = event.digits or ""
        policy = queue.scheduled_callbacks
        if digits == ANOTHER_DAY_KEY and policy is not None and policy.another_day:
            return self.menu(queue, ticket, number, after=keys[-1], moving=moving)
        if digits.isdigit() and 1 <= int(digits) <= len(keys):
            key = keys[int(digits) - 1]
            return self.move(queue, ticket, key) if moving else self.book(queue, ticket, number, key)
        return self.menu(queue, ticket, number, said=(self._say(queue, ticket.language, "invalid_choice"),),
                         moving=moving)

    def move(self, queue: QueueConfig, ticket: Ticket, key: str) -> Script:
        """Move the caller's pending callback to slot `key` (a repeat of the webhook finds it there)."""
        moved = self.changes.move(ticket, key)
        if moved is BookingRefused.SLOT_FULL:
            return self.menu(queue, ticket, ticket.callback_number or "",
                             said=(self._say(queue, ticket.language, "slot_taken"),), moving=True)
        if not isinstance(moved, Ticket):  # no longer theirs to change (being dialed, done)
            return self.no_choice(queue, ticket)
        return self.confirmed(queue, moved)

    def book(self, queue: QueueConfig, ticket: Ticket, number: str, key: str) -> Script:
        """Book the slot `key` for this caller: durable (with its place in the slot) before they hear it."""
        lang = ticket.language
        claim = self.slots.claim(queue, number, key)
        if claim is None or claim.capacity <= 0:
            return self.menu(queue, ticket, number, said=(self._say(queue, lang, "slot_taken"),))
        start, now = slot_start(key), self.clock.now()
        told = told_at(ticket, start)
        refused, booked = self.booking.book_ticket(queue, ticket, number, start, now, explicit=True, told=told,
                                                   slot=claim)
        if refused is BookingRefused.SLOT_FULL:
            log.info("chosen slot filled meanwhile", extra={"ticket": ticket.id, "slot": key})
            return self.menu(queue, ticket, number, said=(self._say(queue, lang, "slot_taken"),))
        if refused is not None:
            return Script.of(self._say(queue, lang, "callback_unavailable"), *self.no_choice(queue, ticket).verbs)
        if booked is None:  # another callback of this number stands (or a duplicate booked it): say that one
            current = self.tickets.get(ticket.id)
            pending = current if current.kind is TicketKind.CALLBACK else self.booking.bookings.open_callback_for(
                queue.id, number)
            if pending is None:
                return self.no_choice(queue, ticket)
            return self.confirmed(queue, pending)
        return self.confirmed(queue, booked)


