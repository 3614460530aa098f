"""The callback number dialogue of the call flow: the caller's own number read back to confirm, or
one typed (star starts again, three tries), each refusal said by its type, and what a question passed
with no key says. A part of CallFlow (a mixin: the same steps, `CallFlow.number`, `CallFlow.no_choice`)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from . import booking as rules
from .errors import (CountryNotAllowedError, InvalidNumberError, NumberNotAllowedError, NumberTooLongError,
                     NumberTooShortError, NumberTypeNotAllowedError, WithheldNumberError)
from .model import CallEvent, Ticket, TicketKind
from .phone import NumberPolicy, national_format
from .prompts import spoken_digits
from .queues import QueueConfig
from .script import Gather, Play, Say, Script, Step

if TYPE_CHECKING:
    from ..ports import Tickets

log = logging.getLogger("chalicelib.domain.callflow")  # the call flow's log, as before the split

MAX_NUMBER_TRIES = 3

# What a caller hears when a number is refused, by the policy's refusal type (never its message).
_REFUSALS: tuple[tuple[type[NumberNotAllowedError], str], ...] = (
    (NumberTooShortError, "number_too_short"), (NumberTooLongError, "number_too_long"),
    (InvalidNumberError, "number_invalid"), (CountryNotAllowedError, "number_country"),
    (NumberTypeNotAllowedError, "number_premium"),
)


def refusal_prompt(refused: NumberNotAllowedError) -> str:
    """The prompt key that tells a caller why a number they typed cannot be called."""
    return next((key for kind, key in _REFUSALS if isinstance(refused, kind)), "number_rejected")


class NumberDialogue:
    """Asking for, reading back and checking the number a callback goes to. What it needs of the call
    flow: its tickets, prompts, loading a ticket, and where a caller goes with no choice or once booked."""

    # CallFlow's, which this is a part of
    tickets: "Tickets"
    prompt: Callable[..., Say | Play]
    _load: Callable[[str], tuple[Ticket, QueueConfig]]
    _no_choice: Callable[[QueueConfig, Ticket], Script]
    _confirmed: Callable[..., Script]

    def number(self, ticket_id: str, event: CallEvent, tries: int, choose: bool = False) -> Script:
        ticket, queue = self._load(ticket_id)
        if ticket.kind is TicketKind.CALLBACK:
            return self._confirmed(queue, ticket)
        typed = event.digits or ""
        if "*" in typed:  # star starts the entry again (the prompt says so): what follows the last one counts
            typed = typed.rsplit("*", 1)[1]
            if not typed:
                return self._enter_again(queue, ticket, tries, choose=choose)
        try:
            number = self._policy(queue).accept(typed)
        except NumberNotAllowedError as exc:
            log.info("callback number rejected", extra={"ticket": ticket.id, "reason": exc.reason})
            return self._enter_again(queue, ticket, tries, self.prompt(queue, ticket.language, refusal_prompt(exc)),
                                     choose=choose)
        self.tickets.set_pending_number(ticket.id, number)
        return self._confirm_number(queue, ticket, number, choose)

    def no_choice(self, ticket_id: str, event: CallEvent) -> Script:
        """A question (confirm the number, type one) passed with no key, where the provider asks what
        next rather than falls through (Vonage's input): what the fall-through says (`_passed`)."""
        ticket, queue = self._load(ticket_id)
        return self._passed(queue, ticket)

    @staticmethod
    def _policy(queue: QueueConfig) -> NumberPolicy:
        return rules.number_policy(queue)

    @staticmethod
    def _chosen(choose: bool) -> dict[str, str]:
        """The number steps' flag that a time is to be chosen once the number is confirmed."""
        return {"c": "1"} if choose else {}

    def _ask_number(self, queue: QueueConfig, ticket: Ticket, choose: bool = False) -> Script:
        try:
            number = self._policy(queue).accept(ticket.caller)
        except WithheldNumberError:
            return Script.of(self.prompt(queue, ticket.language, "number_withheld"),
                             *self._enter_number(queue, ticket, tries=0, choose=choose).verbs)
        except NumberNotAllowedError:
            return self._enter_number(queue, ticket, tries=0, choose=choose)
        self.tickets.set_pending_number(ticket.id, number)
        return self._confirm_number(queue, ticket, number, choose)

    def _confirm_number(self, queue: QueueConfig, ticket: Ticket, number: str, choose: bool = False) -> Script:
        lang = ticket.language
        ask = self.prompt(queue, lang, "confirm_number", digits=spoken_digits(national_format(number)))
        passed = Step.of("no-choice", t=ticket.id)
        return Script.of(Gather(Step.of("confirm", t=ticket.id, **self._chosen(choose)), (ask,), no_input=passed),
                         *self._passed(queue, ticket).verbs)

    def _enter_number(self, queue: QueueConfig, ticket: Ticket, tries: int, choose: bool = False) -> Script:
        lang = ticket.language
        ask = self.prompt(queue, lang, "enter_number")
        return Script.of(Gather(Step.of("number", t=ticket.id, tries=tries, **self._chosen(choose)), (ask,),
                                num_digits=None, timeout_seconds=10, finish_on_key="#",
                                no_input=Step.of("no-choice", t=ticket.id)),
                         *self._passed(queue, ticket).verbs)

    def _passed(self, queue: QueueConfig, ticket: Ticket) -> Script:
        """No key at a question: said so, and back in line (or goodbye after hours)."""
        return Script.of(self.prompt(queue, ticket.language, "no_input"), *self._no_choice(queue, ticket).verbs)

    def _enter_again(self, queue: QueueConfig, ticket: Ticket, tries: int, *said: Say | Play,
                     choose: bool = False) -> Script:
        """After a refused (or restarted) entry: ask again, or back in line after the last try."""
        if tries + 1 >= MAX_NUMBER_TRIES:
            return Script.of(*said, *self._no_choice(queue, ticket).verbs)
        return Script.of(*said, *self._enter_number(queue, ticket, tries + 1, choose=choose).verbs)
