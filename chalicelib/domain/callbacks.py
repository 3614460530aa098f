"""Dialing callbacks: the worker that places each attempt, and the webhooks that learn its outcome.

Every attempt is named by a dial id derived from its workflow task token. The worker records the
dial id before dialing (a redelivered message finds it and does not dial again); the first outcome
webhook that names it closes it and reports to the workflow; later or stale webhooks change nothing."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from ..ports import Clock, Dialer, Orchestrator, PendingDial, Stores
from . import guard, learning, pacing, speech
from .dispatch import Dispatcher, callable_contact, talked_since
from .estimator import QueueEventKind
from .errors import BadRequestError, CallGoneError, StaleTokenError, TelephonyError, UnknownAgentError
from .model import AgentStatus, CallEvent, CallStatus, Outcome, Ticket, TicketStatus
from .phone import national_format
from .prompts import spoken_digits
from .queues import QueueConfig, QueueDirectory, caller_id_for
from .retry import next_slot, plan_next, recovery_deadline
from .script import Dial, Hangup, Pause, Play, Redirect, Say, Script, Step

log = logging.getLogger(__name__)

_DIAL_STATUS = {"busy": Outcome.BUSY, "no-answer": Outcome.NO_ANSWER, "failed": Outcome.FAILED,
                "canceled": Outcome.NO_ANSWER}


# How long a callee is held in silence for a verdict that comes as its own webhook. The provider's
# detection decides well within this (jambonz: decision timeout 15 s); past it, the callee is taken
# for a person, as an undecided verdict is.
VERDICT_WAIT_SECONDS = 20


def dial_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:20]


def iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DialRequest:
    """The Dial step's SQS message. It names the agent by id only: no contact (which may be a phone
    number) travels through the workflow's input, history or queues; the worker looks it up."""

    ticket_id: str
    attempt: int
    agent_id: str
    token: str

    @classmethod
    def from_message(cls, body: Mapping[str, Any]) -> "DialRequest":
        try:
            return cls(str(body["ticket_id"]), int(body["attempt"]), str(body["agent"]["agent_id"]),
                       str(body["token"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequestError(f"not a dial request: {exc}") from exc


class Callbacks:
    def __init__(self, stores: Stores, orchestrator: Orchestrator, dialer: Dialer, clock: Clock,
                 queues: QueueDirectory, dispatcher: Dispatcher) -> None:
        # Five of the seven roles (not the line, not lost calls): the bundle, kept as the roles this uses.
        self.tickets, self.dialing, self.agents = stores.tickets, stores.dialing, stores.agents
        self.bookings, self.stats = stores.bookings, stores.stats
        self.orchestrator = orchestrator
        self.dialer = dialer
        self.clock = clock
        self.queues = queues
        self.dispatcher = dispatcher
        dispatcher.place_callback = self.place  # the pace lets callbacks out through the dispatcher's drain

    # --- the dial worker (SQS) ----------------------------------------------------------------

    def dial(self, request: DialRequest) -> str | None:
        """Place one attempt, at the provider account's pace. Returns the provider call id, or None if
        nothing was dialed now (not wanted, seen before, or waiting its turn in the pace's backlog)."""
        ticket = self.tickets.get(request.ticket_id)
        did = dial_id(request.token)
        if ticket.status is not TicketStatus.CONNECTING or ticket.agent_id != request.agent_id:
            # served, cancelled or re-parked meanwhile: this dial is not wanted
            self._complete(request.token, {"result": Outcome.CANCELLED.value})
            return None
        if self.bookings.is_opted_out(ticket.callback_number or ""):
            # asked not to be called back since this was booked: close it without dialing
            self.dialing.begin_dial(ticket.id, did, request.token)
            self.finish(ticket.evolve(dial_id=did), did, Outcome.CANCELLED)
            return None
        queue = self.queues.get(ticket.queue_id)
        now = self.clock.now()
        # the ticket's first dial is noted with the attempt when it may be dialed now (its pace may hold
        # it a moment longer: seconds, inside any tolerance a chosen time has)
        dialable = next_slot(queue, ticket.callback_number or "", now) == now
        if not self.dialing.begin_dial(ticket.id, did, request.token, now if dialable else None):
            log.info("dial request seen before; not dialing again", extra={"ticket": ticket.id})
            return None
        ticket = ticket.evolve(attempts=request.attempt, dial_id=did)
        pacer = self.dispatcher.pacer
        if pacer is not None and not pacer.now_or_wait(pacing.callback_dial(ticket, did, self.clock.now())):
            return None  # its turn comes at the account's pace (place, then)
        return self._place(ticket, did)

    def place(self, dial: PendingDial) -> str | None:
        """A callback attempt the pace let out: dialed if the attempt is still open."""
        ticket = self.tickets.get(dial.ticket_id)
        if ticket.status is not TicketStatus.CONNECTING or ticket.dial_id != dial.ref:
            return None  # closed, re-parked or given up meanwhile: its workflow has moved on
        return self._place(ticket, dial.ref)

    def _place(self, ticket: Ticket, did: str) -> str | None:
        queue = self.queues.get(ticket.queue_id)
        number = ticket.callback_number or ""
        now = self.clock.now()
        deadline = recovery_deadline(queue, ticket)
        if next_slot(queue, number, now) != now or (deadline is not None and now > deadline):
            # checked when dialing, not only when scheduling; a recovery past its horizon is given up
            # here (its next slot would be after its deadline)
            self.finish(ticket, did, Outcome.NOT_NOW)
            return None
        mode_agent_first = queue.dial_mode == "agent_first"
        contact = self._agent_contact(queue, ticket.agent_id or "")
        if contact is None:
            # never dialed: the agent is set offline and the callback parks again, no attempt spent
            self.finish(ticket, did, Outcome.AGENT_MISSED)
            return None
        params = {"t": ticket.id, "d": did}
        try:
            call_id = self.dialer.place_call(
                to=contact if mode_agent_first else number,
                caller_id=caller_id_for(queue, self.dialer.name) or "",  # every queue has one (checked at start)
                answer=Step.of("cb-answer", **params), status=Step.of("cb-status", **params),
                machine_detection=not mode_agent_first, timeout_seconds=25,
                verdict=None if mode_agent_first else Step.of("cb-verdict", **params))
        except TelephonyError:
            self.finish(ticket, did, Outcome.AGENT_MISSED if mode_agent_first else Outcome.FAILED)
            return None
        self.dialing.note_dialed(ticket.id, did)  # an attempt dialed: what reports count, not bookings
        guard.kept(self.stats, queue, ticket.id, now)  # a promise is kept by the first dial, whatever comes of it
        log.info("callback dialed", extra={"ticket": ticket.id, "attempt": ticket.attempts})
        return call_id

    # --- outcome webhooks ----------------------------------------------------------------------

    def answered(self, ticket_id: str, did: str, event: CallEvent) -> Script:
        """The outbound leg was answered: whisper to the agent, or greet the customer, then bridge."""
        ticket, queue = self._load(ticket_id)
        if ticket.dial_id != did or ticket.status is not TicketStatus.CONNECTING:
            return Script.of(Hangup())  # a stale attempt, or one closed already (a machine, heard first)
        lang = ticket.language
        action = Step.of("cb-dialed", t=ticket.id, d=did)
        if queue.dial_mode == "agent_first":
            # the agent answered this leg: talking (to the whisper, then the customer) from now on
            self.dialing.note_leg(ticket.id, ticket.agent_id or "", "talking", self.clock.now())
            digits = spoken_digits(national_format(ticket.callback_number or ""))
            return Script.of(self._say(queue, lang, "agent_whisper", number=ticket.number, digits=digits),
                             Dial(ticket.callback_number or "", caller_id=caller_id_for(queue, self.dialer.name),
                                  action=action,
                                  timeout_seconds=25))
        if event.verdict_pending:
            # detection is still listening and its verdict comes apart: nobody is put through before it
            return Script.of(Pause(VERDICT_WAIT_SECONDS), Redirect(Step.of("cb-verdict", t=ticket.id, d=did)))
        return self._greet_and_bridge(ticket, queue, did, event)

    def verdict(self, ticket_id: str, did: str, event: CallEvent) -> Script:
        """Answering-machine detection's verdict on a customer-first attempt, delivered as its own
        webhook after the answer (jambonz's amd events), or our own redirect when none came in time.
        A machine is hung up at once; a person (or no verdict) is greeted and put through, once."""
        ticket, queue = self._load(ticket_id)
        if event.progress:
            return Script()  # detection's other news (stopped, a tone timing out): nothing to decide
        if ticket.dial_id != did or ticket.status is not TicketStatus.CONNECTING:
            return Script.of(Hangup())  # a stale attempt, or one closed already
        if queue.dial_mode == "agent_first":
            return Script()  # the agent is on this leg: no detection was asked for
        if event.answered_by is not None and event.answered_by.not_a_person:
            self.finish(ticket, did, Outcome.MACHINE)
            return Script.of(Hangup())
        if not self.dialing.note_leg(ticket.id, ticket.agent_id or "", "ringing", self.clock.now()):
            return Script()  # a verdict already put this callee through (each may come more than once)
        return self._greet_and_bridge(ticket, queue, did, event)

    def _greet_and_bridge(self, ticket: Ticket, queue: QueueConfig, did: str, event: CallEvent) -> Script:
        lang = ticket.language
        if event.answered_by is not None and event.answered_by.not_a_person:
            self.finish(ticket, did, Outcome.MACHINE)
            return Script.of(Hangup())
        contact = self._agent_contact(queue, ticket.agent_id or "")
        if contact is None:
            self.finish(ticket, did, Outcome.AGENT_MISSED)
            return Script.of(self._say(queue, lang, "callback_sorry"), Hangup())
        return Script.of(self._say(queue, lang, "callback_greeting"),
                         Dial(contact, action=Step.of("cb-dialed", t=ticket.id, d=did), timeout_seconds=20,
                              status=Step.of("bridge-leg", t=ticket.id, agent=ticket.agent_id or "")))

    def dialed(self, ticket_id: str, did: str, event: CallEvent) -> Script:
        """The inner <Dial> ended: after a conversation, or without the other side answering."""
        ticket, queue = self._load(ticket_id)
        status = event.dial_status.value if event.dial_status else ""
        if event.dial_status is CallStatus.COMPLETED and self._too_short(queue, event.dial_seconds):
            # agent-first cannot detect a machine: a "conversation" this short was voicemail or a
            # hang-up at hello, so the callback is retried rather than counted served
            self.finish(ticket, did, Outcome.MACHINE)
            return Script.of(Hangup())
        if event.dial_status is CallStatus.COMPLETED:
            # reached `dial_seconds` ago (agent first: the callee's leg is the one dialed last), or,
            # where the provider gives no talk time, since the leg event that said it answered
            talk = event.dial_seconds or talked_since(ticket.answered_at, self.clock.now())
            reached = self.clock.now() - timedelta(seconds=talk)
            if self.finish(ticket, did, Outcome.CONNECTED, reached):
                if talk > 0:
                    learning.learn(self.stats, queue, QueueEventKind.SERVICE_END, self.clock.now(), talk)
            return Script.of(Hangup())
        if queue.dial_mode == "agent_first":
            self.finish(ticket, did, _DIAL_STATUS.get(status, Outcome.FAILED))
            return Script.of(Hangup())
        # customer_first: the customer is on the line and the agent did not pick up
        self.finish(ticket, did, Outcome.AGENT_MISSED)
        return Script.of(self._say(queue, ticket.language, "callback_sorry"), Hangup())

    @staticmethod
    def _too_short(queue: QueueConfig, talk_seconds: float) -> bool:
        """An agent-first callback's conversation too short to be one (0: the provider gave no length)."""
        return queue.dial_mode == "agent_first" and 0 < talk_seconds < queue.callback_min_talk_seconds

    def call_status(self, ticket_id: str, did: str, event: CallEvent) -> None:
        """The outbound call ended. Unanswered: its outcome. Answered: the agent is free again."""
        ticket, queue = self._load(ticket_id)
        if event.answered_by is not None and event.answered_by.not_a_person and not event.status.ended:
            # The verdict came apart from the answer (Telnyx's status callback, Vonage's event). Where the
            # answer's script already runs (Vonage: greeting, then the agent), the call ends now, or the
            # voicemail records the greeting and the agent is put through to it.
            closes = ticket.dial_id == did and queue.dial_mode != "agent_first"
            if closes and self.finish(ticket, did, Outcome.MACHINE):
                self._hang_up(event.call_id, ticket)
            return
        if event.status is CallStatus.COMPLETED:
            # An answered call's outcome is its <Dial> action's to report, and status callbacks can
            # overtake it (Twilio sends both at once when the agent hangs up). So: note that the call
            # is over; whichever of the two comes second frees the agent (each writes, then reads).
            # If no <Dial> action ever comes (hung up before the Dial), the dial timeout retries.
            if ticket.dial_id == did:
                if self.dialing.note_call_ended(ticket.id, did):
                    return
                ticket = self.tickets.get(ticket.id)  # the <Dial> action closed the attempt meanwhile
            if ticket.status is TicketStatus.SERVED and ticket.agent_id:
                self._free_agent(ticket, AgentStatus.AVAILABLE)
            return
        if not event.status.ended:
            return
        if queue.dial_mode == "agent_first":
            outcome = Outcome.AGENT_MISSED  # the agent's phone did not answer
        else:
            outcome = _DIAL_STATUS.get(event.status.value, Outcome.FAILED)
        self.finish(ticket, did, outcome)

    # --- closing an attempt --------------------------------------------------------------------

    def finish(self, ticket: Ticket, did: str, outcome: Outcome, reached: datetime | None = None) -> bool:
        """Close attempt `did` once, update the ticket, free or park the agent, tell the workflow.
        `reached`: when a connected attempt reached the callee (unless a leg event said so first)."""
        queue = self.queues.get(ticket.queue_id)
        now = self.clock.now()
        plan = plan_next(queue, ticket.callback_number or "", now, ticket.attempts, outcome,
                         recovery_deadline(queue, ticket))
        if outcome is Outcome.CONNECTED:
            status = TicketStatus.SERVED
        elif plan is not None:
            status = TicketStatus.SCHEDULED
        else:
            status = TicketStatus.CANCELLED if outcome is Outcome.CANCELLED else TicketStatus.LOST
        token = self.dialing.finish_dial(ticket.id, did, status, now, ticket.attempts, outcome.value,
                                         plan[0] if plan else None, reached or now if status is TicketStatus.SERVED else None)
        if token is None:
            return False  # reported before
        if outcome is Outcome.CONNECTED:
            self.dispatcher.recovered(ticket)
            closed = self.tickets.get(ticket.id)
            if closed.ended_dial == did and closed.agent_id:  # the call's status came first: over already
                self._free_agent(closed, AgentStatus.AVAILABLE)
        output: dict[str, Any] = {"result": outcome.value}
        if plan is not None:
            output["next"] = {"not_before": iso(plan[0]), "attempt": plan[1]}
        if outcome is not Outcome.CONNECTED and ticket.agent_id:
            self._free_agent(ticket, AgentStatus.OFFLINE if outcome is Outcome.AGENT_MISSED else AgentStatus.AVAILABLE)
        self._complete(token, output)
        log.info("callback attempt ended", extra={"ticket": ticket.id, "outcome": outcome.value,
                                                  "attempt": ticket.attempts, "retry": plan is not None})
        return True

    def _hang_up(self, call_id: str, ticket: Ticket) -> None:
        try:
            self.dialer.redirect(call_id, Script.of(Hangup()))
        except CallGoneError:
            pass  # ended already
        except TelephonyError:
            # the attempt is closed and the agent free: whatever the call does now, no attempt waits on it
            log.warning("could not hang up a callback answered by a machine", extra={"ticket": ticket.id})

    def _free_agent(self, ticket: Ticket, status: AgentStatus) -> None:
        agent_id = ticket.agent_id or ""
        if self.agents.release_agent(agent_id, ticket.id, status, self.clock.now()):
            self.dialing.drop_agent(ticket.id, agent_id)
            if status is AgentStatus.AVAILABLE:
                self.dispatcher.offer_work(agent_id)

    def _agent_contact(self, queue: QueueConfig, agent_id: str) -> str | None:
        """The reserved agent's contact, from the agent's record, if Holdfast may dial it now."""
        try:
            contact = self.agents.get_agent(agent_id).contact
        except UnknownAgentError:
            return None
        return callable_contact(queue, contact, self.dispatcher.sip_domains)

    def _complete(self, token: str, output: Mapping[str, Any]) -> None:
        try:
            self.orchestrator.complete(token, output)
        except StaleTokenError:
            log.info("workflow task already moved on; outcome dropped", extra={"result": output.get("result")})

    def _load(self, ticket_id: str) -> tuple[Ticket, QueueConfig]:
        ticket = self.tickets.get(ticket_id)
        return ticket, self.queues.get(ticket.queue_id)

    @staticmethod
    def _say(queue: QueueConfig, lang: str, key: str, **values: object) -> Say | Play:
        return speech.prompt(queue, lang, key, **values)
