"""Matching agents and waiting tickets: whoever becomes free first takes the head of the line."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable

from ..ports import Clock, Dialer, Orchestrator, PendingDial, Stores
from . import callback_plan, faults, guard, learning, pacing, speech
from . import line as queue_line
from .errors import (BadRequestError, CallGoneError, NumberNotAllowedError, OrchestratorError, StaleTokenError,
                     TelephonyError, TicketNotFoundError, UnknownAgentError)
from .estimator import QueueEventKind
from .model import Agent, AgentStatus, CallStatus, Ticket, TicketKind, TicketStatus, check_reason
from .phone import NumberPolicy
from .queues import QueueConfig, QueueDirectory
from .script import Dial, Hangup, Script, Step

log = logging.getLogger(__name__)

# Lost claims in a row before giving the agent up to the next event (or the minute sweep). A claim is
# lost only to another agent's won claim on the same head, so one agent loses at most once per agent
# racing it: 5 left agents idle beside waiting callers when 30 came free at once (on DynamoDB).
MAX_RACES = 64
FINISHED = frozenset({TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED, TicketStatus.ABANDONED})
MAX_CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of our clock an agent event's time may be
READ_ALONG_QUEUES = 4  # an event naming no queues reads every queue's book with the agent up to this many
RESUME_ATTEMPTS = 2  # resuming a parked callback: tries now; after that, the sweep sends it again
RESUME_GRACE = timedelta(seconds=30)  # a claim this old whose dial never began was never resumed
# How long a claimed caller's hang-up waits for the bridge's result (or its agent leg's answer) before the
# sweep decides without it: providers send the Dial's end within seconds of the call's (the default; a
# deployment sets its own, HOLDFAST_BRIDGE_RESULT_GRACE_SECONDS).
HANG_UP_GRACE = timedelta(minutes=2)


def contact_policy(queue: QueueConfig, sip_domains: tuple[str, ...] | None = None) -> NumberPolicy:
    """Agents' contacts pass the same number policy as the queue's callers (and SIP contacts name one
    of the deployment's SIP domains)."""
    return NumberPolicy(queue.allowed_countries, queue.default_region, sip_domains)


def callable_contact(queue: QueueConfig, contact: str | None, sip_domains: tuple[str, ...] | None = None) -> str | None:
    """The contact if Holdfast may dial it for this queue; None (and a warning) if not."""
    try:
        return contact_policy(queue, sip_domains).accept_contact(contact)
    except NumberNotAllowedError as exc:
        log.warning("agent contact refused", extra={"queue": queue.id, "reason": exc.reason})
        return None


# The dialled leg's progress, as the live monitor shows it.
LEG_STATES = {CallStatus.RINGING: "ringing", CallStatus.IN_PROGRESS: "talking"}


def talked_since(answered_at: datetime | None, now: datetime) -> float:
    """The talk time of a bridge whose end reports none (jambonz's dial), from when its leg event said
    the agent answered; 0 when nothing said so."""
    return max(0.0, (now - answered_at).total_seconds()) if answered_at is not None else 0.0


class Dispatcher:
    def __init__(self, stores: Stores, orchestrator: Orchestrator, dialer: Dialer, clock: Clock,
                 queues: QueueDirectory, pacer: pacing.Pacer | None = None,
                 sip_domains: tuple[str, ...] | None = None, hang_up_grace: timedelta = HANG_UP_GRACE) -> None:
        # Every role but bookings: the bundle, kept as the roles this uses.
        self.agents, self.line, self.tickets = stores.agents, stores.line, stores.tickets
        self.dialing, self.lost, self.stats = stores.dialing, stores.lost, stores.stats
        self.orchestrator = orchestrator
        self.dialer = dialer
        self.clock = clock
        self.queues = queues
        self.sip_domains = sip_domains  # agents' sip: contacts may name only these (None: any)
        self.hang_up_grace = hang_up_grace  # a bridge's result may come this late after the caller's hang-up
        # The dialing provider account's pace (None: dials start at once). Every dial goes through it:
        # the agent legs of holding callers here, callbacks through `place_callback` (Callbacks sets it).
        self.pacer = pacer
        self.place_callback: Callable[[PendingDial], object] | None = None
        # A claimed caller whose call ended without talking: lost, with a recovery (LossRecovery.caller_gone,
        # wired by the composition root). Unset: the ticket is only marked abandoned.
        self.caller_gone: Callable[[Ticket], object] | None = None

    # --- the outbound pace -----------------------------------------------------------------------

    def pace(self) -> pacing.Paced | None:
        """Let out what the account's pace allows now (the dial worker, its alarm, the sweep)."""
        return self.pacer.drain(self.place) if self.pacer is not None else None

    def place(self, dial: PendingDial) -> object:
        """Start one dial the pace let out: a holding caller's agent leg, or a callback's attempt."""
        if dial.kind == pacing.BRIDGE:
            return self.put_through(dial.ticket_id, dial.ref)
        if self.place_callback is None:
            raise RuntimeError("no callback dialer registered with the dispatcher")
        return self.place_callback(dial)

    def agent_event(self, agent_id: str, status: AgentStatus, at: datetime | None = None,
                    contact: str | None = None, queues: tuple[str, ...] | None = None,
                    event_id: str | None = None, until: datetime | None = None,
                    reason: str | None = None) -> tuple[Agent | None, Ticket | None]:
        """An agent's presence changed (away: with its reason, AWAY_REASONS). Duplicates and stale events change nothing. A contact Holdfast
        may not dial for every one of the agent's queues is NumberNotAllowedError, and nothing is written.
        `until`: the agent's announced sign-off (the wait estimate counts on nobody new from them after it)."""
        reason = check_reason(status, reason)  # BadRequestError before anything is written
        for queue_id in queues or ():
            self.queues.get(queue_id)  # UnknownQueueError for a typo, before anything is written
        if at is not None and at > self.clock.now() + MAX_CLOCK_SKEW:
            # a time from the future would make every later event look stale
            raise BadRequestError(f"at is more than {int(MAX_CLOCK_SKEW.total_seconds())} s in the future")
        if until is not None:
            learning.check_sign_off(until, status, self.clock.now())
        if contact is not None:
            contact = self._accept_contact(agent_id, contact, queues)
        agent = self.agents.record_agent_status(agent_id, status, at or self.clock.now(), contact, queues, event_id,
                                                until, self._read_along(status, queues), reason)
        if agent is None or agent.status is not AgentStatus.AVAILABLE:
            return agent, None
        ticket = self.offer_work(agent_id, agent)
        if ticket is None:
            return agent, None
        return replace(agent, status=AgentStatus.BUSY, ticket_id=ticket.id, changed_at=self.clock.now()), ticket

    def _read_along(self, status: AgentStatus, queues: tuple[str, ...] | None) -> tuple[str, ...]:
        """The queues whose promise books offering work reads next: the event's, else (the agent serves
        the queues it had) every queue of a small directory, a few items rather than one more read."""
        if status is not AgentStatus.AVAILABLE:
            return ()
        if queues:
            return queues
        every = tuple(q.id for q in self.queues)
        return every if len(every) <= READ_ALONG_QUEUES else ()

    def _accept_contact(self, agent_id: str, contact: str, queues: tuple[str, ...] | None) -> str:
        if queues is None:
            try:
                queues = self.agents.get_agent(agent_id).queues
            except UnknownAgentError:
                queues = ()
        accepted = contact
        for queue in [self.queues.get(q) for q in queues] or [self.queues.default]:
            accepted = contact_policy(queue, self.sip_domains).accept_contact(contact)
        return accepted

    def offer_work(self, agent_id: str, agent: Agent | None = None) -> Ticket | None:
        """Give an available agent the head of their queues' lines, if any (`agent`: as just written,
        so the first try need not read it again)."""
        for _ in range(MAX_RACES):
            try:
                agent = self.agents.get_agent(agent_id) if agent is None else agent
            except UnknownAgentError:
                return None
            if agent.status is not AgentStatus.AVAILABLE or not agent.contact:
                return None
            head = self._head(agent)
            if head is None:
                return None
            if callable_contact(self.queues.get(head.queue_id), agent.contact, self.sip_domains) is None:
                return None  # never dialed; the caller keeps their place, the agent is not reserved
            if self.agents.claim(head.id, agent.id, self.clock.now(), agent):
                return self._deliver(head, agent)
            agent = None  # lost a race: read the agent again
        return None

    def ticket_waiting(self, queue_id: str) -> None:
        """A ticket joined the line (a new caller, or a callback that parked): idle agents take it."""
        for agent in self.agents.idle_agents(queue_id):
            if self.offer_work(agent.id) is None and self.line.head(queue_id) is None:
                return

    def sweep(self) -> int:
        """Safety net for any missed trigger: match idle agents with waiting tickets, queue by queue,
        and let out the dials whose slots have come (a lost alarm). Returns how many tickets it dispatched."""
        self.pace()
        dispatched = 0
        self._signed_off_unregistered()
        for queue in self.queues:
            if queue.live_guard and queue.callback_reserve_agents is None:  # the rest of the day's plan
                callback_plan.replan(self.stats, self.line, self.tickets, queue, self.clock.now(),
                                     learning.prior(queue).state())
            self._repair_reservations(queue.id)
            for agent in self.agents.idle_agents(queue.id):  # each idle agent once: one who cannot
                if self.line.head(queue.id) is None:      # be dialed does not block the others
                    break
                dispatched += self.offer_work(agent.id) is not None
        return dispatched

    def _signed_off_unregistered(self) -> None:
        """Idle agents reached as users of the provider's SIP registrar whose phone is no longer
        registered go offline (one report per sweep; a provider that reports none changes nothing)."""
        idle: dict[str, str] = {}
        for agent_id in {a.id for q in self.queues for a in self.agents.idle_agents(q.id)}:
            try:
                contact = self.agents.get_agent(agent_id).contact  # presence lists carry no contact
            except UnknownAgentError:
                continue
            if contact and contact.lower().startswith("user:"):
                idle[agent_id] = contact
        if not idle:
            return
        try:
            registered = self.dialer.registered(sorted(set(idle.values())))
        except TelephonyError:
            log.warning("could not read the registrations; agents left as they are")
            return
        if registered is None:
            return
        for agent_id, contact in idle.items():
            if contact not in registered:
                log.info("agent's phone unregistered: offline", extra={"agent": agent_id})
                self.agents.record_agent_status(agent_id, AgentStatus.OFFLINE, self.clock.now(), None, None, None)

    def _repair_reservations(self, queue_id: str) -> None:
        """Agents still reserved for a ticket that is closed (served, lost, abandoned...): a release
        that never happened (a served ticket means the conversation has ended). And parked callbacks
        claimed a while ago whose workflow never heard of it (SendTaskSuccess failed): told again."""
        for member in self.agents.team(queue_id):  # reserved, whatever the agent has said since
            if not member.ticket_id:
                continue
            agent = self.agents.get_agent(member.id)
            if not agent.ticket_id:
                continue  # busy by their own word, not through Holdfast
            try:
                ticket = self.tickets.get(agent.ticket_id)
            except TicketNotFoundError:
                ticket = None
            if ticket is None or ticket.status in FINISHED:
                log.warning("freeing an agent left reserved", extra={"agent": agent.id, "ticket": agent.ticket_id})
                self.agents.release_agent(agent.id, agent.ticket_id, AgentStatus.AVAILABLE, self.clock.now())
            elif ((ticket.status is not TicketStatus.CONNECTING or ticket.agent_id != agent.id)
                  and agent.changed_at is not None and self.clock.now() - agent.changed_at >= RESUME_GRACE):
                # the ticket moved on without them (back in line, a pending callback) and the release that
                # should have come with it never did: a reservation names a CONNECTING ticket naming the agent
                log.warning("freeing an agent whose ticket moved on", extra={"agent": agent.id, "ticket": ticket.id})
                self.agents.release_agent(agent.id, ticket.id, AgentStatus.AVAILABLE, self.clock.now())
            elif (ticket.kind is TicketKind.LIVE and ticket.status is TicketStatus.CONNECTING
                  and ticket.hung_up_at is not None and self.clock.now() - ticket.hung_up_at >= self.hang_up_grace):
                # the caller's call ended and the bridge's result never came: decide without it
                log.warning("settling a bridge whose result never came", extra={"ticket": ticket.id})
                self._lose(ticket)
                self.agents.release_agent(agent.id, ticket.id, AgentStatus.AVAILABLE, self.clock.now())
            elif (ticket.kind is TicketKind.CALLBACK and ticket.status is TicketStatus.CONNECTING
                  and ticket.agent_id == agent.id and ticket.task_token and not ticket.dial_id
                  and agent.changed_at is not None and self.clock.now() - agent.changed_at >= RESUME_GRACE):
                log.warning("resuming a claimed callback again", extra={"ticket": ticket.id})
                self._resume(ticket, agent)

    def reservation_ended(self, ticket_id: str, agent_id: str) -> None:
        """The workflow moved a reserved ticket on without a call (re-parked, lost): free its agent."""
        if self.agents.release_agent(agent_id, ticket_id, AgentStatus.AVAILABLE, self.clock.now()):
            self.dialing.drop_agent(ticket_id, agent_id)
            self.offer_work(agent_id)

    def _head(self, agent: Agent) -> Ticket | None:
        # The agent's queues in the order the agent lists them: the first with anyone waiting.
        for queue_id in agent.queues:
            queue = self.queues.get(queue_id)
            head = self._next_for(queue) if queue.live_guard else self.line.head(queue_id)
            if head is not None:
                return head
        return None

    def _next_for(self, queue: QueueConfig) -> Ticket | None:
        """The live-service guard's choice in one queue (domain/guard.py), with the queue's statistics
        (the promise book, the callback plan) read once."""
        now = self.clock.now()
        state = guard.read(self.stats, queue)
        plan = callback_plan.Plan.from_state(state)
        due = guard.due_callback(self.stats, self.tickets, queue, now, plan.gap if plan else 0.0, state)
        if due is not None:
            return due  # a promise falls due: it goes before the line and the reserve
        head = self.line.head(queue.id)
        if head is None or head.kind is not TicketKind.CALLBACK:
            return head
        live = self.line.first_live(queue.id)  # a live caller may go first
        if head.lost_cause:  # a callback someone asked for goes before recoveries
            asked = guard.first_asked(self.stats, self.tickets, queue, now, state)
            if asked is not None and (live is None or asked.number < live.number):
                head = asked
        staffing = self.agents.staffing(queue.id)
        return guard.next_ticket(head, live, queue, now, staffing.idle - 1, staffing.staffed,
                                 plan.reserve(now) if plan else None)

    def _deliver(self, ticket: Ticket, agent: Agent) -> Ticket | None:
        now = self.clock.now()
        if ticket.kind is TicketKind.LIVE:
            if self.pacer is not None and not self.pacer.now_or_wait(pacing.bridge_dial(ticket, agent.id, now)):
                return ticket  # the agent leg waits its turn at the account's pace (put_through, then)
            bridged = self._bridge(ticket, agent)
            return ticket if bridged else None if bridged is None else self.offer_work(agent.id)
        else:
            resumed = self._resume(ticket, agent)
            if resumed is not False:
                return ticket if resumed else None
        self.agents.release_agent(agent.id, ticket.id, AgentStatus.AVAILABLE, now)
        return self.offer_work(agent.id)

    def put_through(self, ticket_id: str, agent_id: str) -> bool | None:
        """A holding caller's agent leg, let out by the pace: bridged if the caller and the agent are
        still each other's (as `_bridge` answers). None also when they moved on meanwhile (nothing dialed)."""
        try:
            ticket, agent = self.tickets.get(ticket_id), self.agents.get_agent(agent_id)
        except (TicketNotFoundError, UnknownAgentError):
            return None
        if ticket.status is not TicketStatus.CONNECTING or ticket.agent_id != agent_id or agent.ticket_id != ticket_id:
            return None
        if ticket.hung_up_at is not None:  # the caller hung up while their agent leg waited: nothing to dial
            self._lose(ticket)
            self.agents.release_agent(agent_id, ticket_id, AgentStatus.AVAILABLE, self.clock.now())
            self.offer_work(agent_id)
            return False
        bridged = self._bridge(ticket, agent)
        if bridged is False:
            self.offer_work(agent_id)
        return bridged

    def _bridge(self, ticket: Ticket, agent: Agent) -> bool | None:
        """Move the holding caller to the agent. True: bridged. False: the caller was gone (a lost call;
        the agent is released, to be offered more work). None: the provider failed (the caller back in
        line, the agent released; nothing more offered against a provider that is down)."""
        now = self.clock.now()
        try:
            if self.dialer.inline:
                self.dialer.redirect(ticket.call_id or "", self.bridge_script(ticket, agent))
            else:  # the provider takes only a URL: the bridge step answers with the same script
                self.dialer.redirect_to(ticket.call_id or "", Step.of("bridge", t=ticket.id, agent=agent.id))
            return True  # the estimator learns the wait from the table's stream (service_started)
        except CallGoneError:
            # The caller hung up as we claimed them: a lost call, and the agent is free.
            log.info("live caller gone before bridging", extra={"ticket": ticket.id})
            self._lose(ticket)
            self.agents.release_agent(agent.id, ticket.id, AgentStatus.AVAILABLE, now)
            return False
        except TelephonyError:
            # The provider could not be reached: the caller keeps their place, the agent stays
            # available, and the next event tries again (no retry loop against a provider that is down).
            log.warning("bridging failed; caller stays in line", extra={"ticket": ticket.id})
            self.agents.requeue(ticket.id, agent.id)
            self.agents.release_agent(agent.id, ticket.id, AgentStatus.AVAILABLE, now)
            return None

    def _lose(self, ticket: Ticket) -> None:
        """A claimed caller whose call has ended: lost with its recovery, unless their agent leg answered."""
        if self.caller_gone is not None:
            self.caller_gone(ticket)
            return
        now = self.clock.now()
        self.agents.abandon_claimed(ticket.id, now, (now - ticket.created_at).total_seconds(), ticket.call_id)

    def _resume(self, ticket: Ticket, agent: Agent) -> bool | None:
        """Hand a claimed, parked callback to its workflow: the agent's id only (the dial worker looks
        the contact up). True: resumed. False: the workflow moved on (release the agent). None: the
        workflow engine failed; the claim stands and the sweep sends it again."""
        for _ in range(RESUME_ATTEMPTS):
            try:
                self.orchestrator.complete(ticket.task_token or "", {"agent_id": agent.id})
                return True
            except StaleTokenError:
                log.info("parked callback moved on before resuming", extra={"ticket": ticket.id})
                return False
            except OrchestratorError:
                log.warning("resuming a parked callback failed", extra={"ticket": ticket.id})
        return None

    def bridge_script(self, ticket: Ticket, agent: Agent) -> Script:
        queue = self.queues.get(ticket.queue_id)
        return Script.of(speech.prompt(queue, ticket.language, "connecting"),
                         Dial(agent.contact or "", caller_id=queue.caller_id,
                              action=Step.of("bridge-result", t=ticket.id, agent=agent.id),
                              status=Step.of("bridge-leg", t=ticket.id, agent=agent.id)))

    def bridge(self, ticket_id: str, agent_id: str) -> Script:
        """A holding caller sent here by a redirect to a URL (a provider whose live-call update takes no
        markup): put through to the agent whose claim still stands; else back in line at their place,
        or goodbye for a ticket no longer in line. The provider's hold sends its exit step as it lets
        the caller go; that exit finds the ticket claimed and changes nothing."""
        ticket = self.tickets.get(ticket_id)
        if ticket.kind is TicketKind.LIVE and ticket.status is TicketStatus.CONNECTING and ticket.agent_id == agent_id:
            try:
                agent = self.agents.get_agent(agent_id)
            except UnknownAgentError:
                agent = None
            if agent is not None and agent.contact:
                return self.bridge_script(ticket, agent)
            return self.bridge_result(ticket_id, agent_id, answered=False)  # no one to put them through to
        if ticket.kind is TicketKind.LIVE and ticket.status is TicketStatus.WAITING:
            return Script.of(queue_line.hold(ticket))
        return Script.of(Hangup())

    def bridge_leg(self, ticket_id: str, agent_id: str, status: CallStatus) -> bool:
        """The bridge's dialled leg is ringing or was answered (talking): noted on the ticket with the
        time, for the live monitor. Anything else (queued, ended), or a bridge already over, or a late
        `ringing` after `talking`, changes nothing (the bridge's result step ends it). True if noted."""
        leg = LEG_STATES.get(status)
        if leg is None:
            return False
        # the agent's leg answered: the caller is connected to the agent (the answer time, recorded once)
        return self.dialing.note_leg(ticket_id, agent_id, leg, self.clock.now(), answered=leg == "talking")

    def bridge_result(self, ticket_id: str, agent_id: str, answered: bool, talk_seconds: float = 0.0) -> Script:
        """The bridged call ended (answered) or the agent never picked up (back in line, agent offline).
        A caller whose call had already ended (its status callback came first) and who never talked is
        lost here, once, with its recovery: whatever order the provider's events came in, the Dial's end
        decides (or the sweep, `hang_up_grace` after the hang-up, if it never comes)."""
        now = self.clock.now()
        ticket = self.tickets.get(ticket_id)
        queue = self.queues.get(ticket.queue_id)
        if answered:  # connected `talk_seconds` ago, if no leg event said when
            talk_seconds = talk_seconds or talked_since(ticket.answered_at, now)
            if not self.agents.mark_served(ticket_id, now, ticket.call_id if ticket.kind is TicketKind.LIVE else None,
                                           answered_at=now - timedelta(seconds=talk_seconds)):
                self._unlose(ticket_id, agent_id)
            self.recovered(ticket)
            if talk_seconds > 0:
                learning.learn(self.stats, queue, QueueEventKind.SERVICE_END, now, talk_seconds)
            if self.agents.release_agent(agent_id, ticket_id, AgentStatus.AVAILABLE, now):
                self.offer_work(agent_id)
            return Script.of(Hangup())
        if ticket.hung_up_at is not None and ticket.status is TicketStatus.CONNECTING and ticket.agent_id == agent_id:
            self._lose(ticket)  # the caller left first: nobody to put back in line, and the agent missed nothing
            if self.agents.release_agent(agent_id, ticket_id, AgentStatus.AVAILABLE, now):
                self.offer_work(agent_id)
            return Script.of(Hangup())
        self.agents.requeue(ticket_id, agent_id)
        self.agents.release_agent(agent_id, ticket_id, AgentStatus.OFFLINE, now)  # missed: not handed more
        lang = ticket.language
        return Script.of(speech.prompt(queue, lang, "keep_place"), queue_line.hold(ticket))

    def _unlose(self, ticket_id: str, agent_id: str) -> None:
        """The bridge's end says the caller talked, after the sweep had given them up (no result within
        `hang_up_grace`): their recovery callback, if still pending, is cancelled and its workflow stopped."""
        ticket = self.tickets.get(ticket_id)
        if ticket.kind is not TicketKind.CALLBACK or not ticket.lost_cause or ticket.status not in (
                TicketStatus.SCHEDULED, TicketStatus.WAITING):
            return
        if self.dialing.cancel_callback(ticket_id, self.clock.now()) and ticket.execution_id:
            log.warning("a caller given up talked to the agent; recovery cancelled",
                        extra={"ticket": ticket_id, "agent": agent_id})
            try:
                self.orchestrator.stop(ticket.execution_id)
            except OrchestratorError:  # if it runs on, its next Park finds the ticket closed and ends
                log.warning("could not stop the recovery's workflow", extra={"ticket": ticket_id})

    def recovered(self, ticket: Ticket) -> None:
        """The caller talked to an agent: their lost calls in this queue are recovered."""
        number = ticket.callback_number or ticket.caller
        if number:
            self.lost.clear_lost(ticket.queue_id, number, self.clock.now())

    def service_started(self, ticket: Ticket, before: Ticket | None) -> None:
        """From the table's change stream: a live caller was connected to an agent (answered). The
        estimator learns how long they waited, to the answer (here, off the path that connects them)."""
        if ticket.kind is not TicketKind.LIVE or ticket.answered_at is None \
                or (before is not None and before.answered_at is not None):
            return
        now = self.clock.now()
        waited = max(0.0, (ticket.answered_at - ticket.created_at).total_seconds())
        learning.learn(self.stats, self.queues.get(ticket.queue_id), QueueEventKind.SERVICE_START, now,
                       waited, learning.told_pit(ticket, waited), ticket.told_ahead, ticket.priority)

    def callback_promised(self, ticket: Ticket, before: Ticket | None) -> None:
        """From the table's change stream: a caller who asked for a callback (by phone or from the web)
        was booked one with a promised time (on the ticket, written with the booking, before they heard
        it): into the promise book the guard keeps, as is a callback moved to another time and a chosen
        time's retry inside its slot; and any callback opening, closing or changing slot, into, out of
        or across the backlog the callback plan counts. Off the webhook's path; the book lags the
        ticket by the stream's delay."""
        try:
            guard.callback_changed(self.stats, self.queues.get(ticket.queue_id), ticket, before, self.clock.now())
        except Exception:  # noqa: BLE001 - the book is an index: the guard also reads the head's own promise
            faults.swallowed("promise_book.enter", "could not enter the promise in the book",
                             extra={"ticket": ticket.id})

    def ticket_changed(self, queue_id: str, ticket_id: str, status: TicketStatus, previous: TicketStatus | None,
                       agent_id: str | None) -> None:
        """From the table's change stream: keep agents and the line matched."""
        if status is TicketStatus.WAITING and previous is not TicketStatus.WAITING:
            if agent_id:  # re-parked with a stale reservation (no dial outcome came back)
                self.reservation_ended(ticket_id, agent_id)
            self.ticket_waiting(queue_id)
        elif agent_id and status in (TicketStatus.LOST, TicketStatus.CANCELLED, TicketStatus.SCHEDULED,
                                     TicketStatus.ABANDONED):
            self.reservation_ended(ticket_id, agent_id)

