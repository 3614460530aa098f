"""A caller who calls again while a callback they asked for is pending (a part of the call flow).

They hear when it is (the chosen time, the promised time, or their place), then choose: 1 keep it,
2 cancel it, 3 hold on the line now at their own place (while the queue is open), 4 choose another
time (where the queue offers chosen times). Pressing nothing keeps it. The call opens no ticket of its
own unless they take their place on the line. A recovery callback (nobody asked for it) is not offered
here: its caller takes their place back at once, as before (`CallFlow._rejoin`)."""
from __future__ import annotations

import logging
from typing import Callable

from ..ports import Clock, Line, Tickets
from . import guard, line as queue_line, speech
from .changes import CallbackChanges, changeable
from .model import CallEvent, Ticket
from .queues import QueueConfig, QueueDirectory
from .script import Gather, Hangup, Play, Say, Script, Step
from .slots import slot_start
from .timechoice import TimeChoice

log = logging.getLogger(__name__)

KEEP, CANCEL, HOLD, CHANGE = "1", "2", "3", "4"
MENU_TIMEOUT_SECONDS = 6

Rejoin = Callable[[QueueConfig, Ticket, CallEvent], Script | None]


class PendingChoice:
    def __init__(self, tickets: Tickets, line: Line, clock: Clock, queues: QueueDirectory, changes: CallbackChanges,
                 times: TimeChoice, rejoin: Rejoin) -> None:
        self.tickets, self.line, self.clock, self.queues = tickets, line, clock, queues
        self.changes, self.times = changes, times
        self.rejoin = rejoin  # the call flow's: take the ticket back for this call, and what they hear then

    def _say(self, queue: QueueConfig, lang: str, key: str, **values: object) -> Say | Play:
        return speech.prompt(queue, lang, key, **values)

    def when(self, queue: QueueConfig, ticket: Ticket) -> Say | Play:
        """When the pending callback is: its chosen time, its promised time, or the caller's place."""
        now, lang, number = self.clock.now(), ticket.language, ticket.callback_number
        at = slot_start(ticket.slot) if ticket.slot else guard.promised_at(ticket)
        if at is not None:
            return self._say(queue, lang, "pending_when", when=speech.spoken_when(queue, number, max(at, now), now, lang))
        snapshot = self.line.snapshot(queue.id)
        ahead = self.line.ahead_of(ticket) if queue_line.counts_exactly(snapshot, ticket) else \
            queue_line.ahead(snapshot, ticket)
        return self._say(queue, lang, "pending_line", position=ahead + 1)

    def menu(self, queue: QueueConfig, ticket: Ticket, said: tuple[Say | Play, ...] = ()) -> Script:
        lang = ticket.language
        prompts = [*said, self.when(queue, ticket), self._say(queue, lang, "pending_choice")]
        if queue.hours.is_open(self.clock.now()):
            prompts.append(self._say(queue, lang, "pending_hold"))
        if self.times.offered(queue):
            prompts.append(self._say(queue, lang, "pending_change"))
        return Script.of(Gather(Step.of("pending", t=ticket.id), tuple(prompts), timeout_seconds=MENU_TIMEOUT_SECONDS),
                         self._say(queue, lang, "callback_kept"), self._say(queue, lang, "goodbye"), Hangup())

    def chosen(self, ticket_id: str, event: CallEvent) -> Script:
        """A key pressed at the menu about the pending callback `ticket_id`."""
        ticket = self.tickets.get(ticket_id)
        queue = self.queues.get(ticket.queue_id)
        lang = ticket.language
        bye = (self._say(queue, lang, "goodbye"), Hangup())
        if not changeable(ticket):  # dialed, served or cancelled meanwhile: nothing is pending any more
            return Script.of(*bye)
        digits = event.digits or ""
        if digits == KEEP or not digits:
            return Script.of(self._say(queue, lang, "callback_kept"), *bye)
        if digits == CANCEL:
            if self.changes.cancel(ticket):
                return Script.of(self._say(queue, lang, "callback_cancelled"), *bye)
            return Script.of(*bye)
        if digits == HOLD and queue.hours.is_open(self.clock.now()):
            holding = self.rejoin(queue, ticket, event)
            if holding is not None:
                return holding
            return Script.of(*bye)
        if digits == CHANGE and self.times.offered(queue) and ticket.callback_number:
            return self.times.menu(queue, ticket, ticket.callback_number, moving=True)
        return self.menu(queue, ticket, said=(self._say(queue, lang, "invalid_choice"),))
