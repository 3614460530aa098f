"""The caller-facing use cases: one method per webhook step, each returning a neutral Script."""
from __future__ import annotations

import logging
from datetime import datetime

from ..ports import Clock, EventBus, Orchestrator, TicketStore
from .errors import NumberNotAllowedError, OrchestratorError, TicketStateError
from . import learning, speech
from .estimator import QueueEventKind
from .ewt import WaitEstimate
from .model import (HOLDING, BookingRefused, CallEvent, CallStatus, LostCause, QueueResult, Ticket, TicketKind,
                    TicketStatus, ticket_id)
from .phone import NumberPolicy, masked, national_format, number_timezone
from .prompts import minutes, spoken_digits, when
from .queues import QueueConfig, QueueDirectory
from .retry import next_slot
from .script import Enqueue, Gather, Hangup, Leave, Play, Redirect, Say, Script, Step

log = logging.getLogger(__name__)

MAX_NUMBER_TRIES = 3


class CallFlow:
    def __init__(self, store: TicketStore, orchestrator: Orchestrator, clock: Clock,
                 queues: QueueDirectory, bus: EventBus, daily_callback_budget: int = 1000) -> None:
        self.store = store
        self.orchestrator = orchestrator
        self.clock = clock
        self.queues = queues
        self.bus = bus
        self.daily_callback_budget = daily_callback_budget

    # --- prompts -------------------------------------------------------------------------

    def prompt(self, queue: QueueConfig, language: str, key: str, **values: object) -> Say | Play:
        return speech.prompt(queue, language, key, **values)

    def _wait_prompt(self, queue: QueueConfig, lang: str, est: WaitEstimate) -> Say | Play:
        if est.mean < 60:
            return self.prompt(queue, lang, "wait_short")
        low = max(1, int(est.low // 60))
        return self.prompt(queue, lang, "wait", mean=minutes(est.mean, lang), low=low,
                           high=minutes(max(est.high, (low + 1) * 60), lang, genitive=True))

    def _hold(self, queue: QueueConfig, ticket: Ticket) -> Enqueue:
        return Enqueue(queue.id, wait=Step.of("wait", t=ticket.id), action=Step.of("queue-exit", t=ticket.id))

    def apology(self, queue: QueueConfig | None) -> Script:
        """When something inside failed: apologise and keep the caller queued at the provider.

        No step of ours is referenced, so this holds even when our store is down."""
        queue = queue or self.queues.default
        return Script.of(self.prompt(queue, queue.language, "error"), Enqueue(queue.id, wait=None, action=None))

    # --- estimates -----------------------------------------------------------------------

    def estimate(self, queue: QueueConfig, ticket: Ticket) -> tuple[WaitEstimate, int]:
        """Position and EWT from the queue's learned estimator (its configured handle time and
        patience until calls have taught it better), the line ahead and how long its head has held,
        who is signed in now and how long each busy agent's call has lasted."""
        ahead = self.store.ahead_of(ticket)
        staffing = self.store.staffing(queue.id)
        estimator = learning.current(self.store, queue)
        now = self.clock.now()
        est = estimator.estimate(now.timestamp(), ahead + 1, idle=staffing.idle,
                                 servers=staffing.staffed or queue.assumed_agents,
                                 busy=learning.busy_agents(self.store, queue, now),
                                 head_wait=learning.head_wait(self.store, queue, now))
        return est, ahead

    # --- webhook steps -------------------------------------------------------------------

    def incoming(self, event: CallEvent, requested_queue: str | None = None) -> Script:
        if event.status.ended:  # the same URL doubles as the call's status callback
            self.call_ended(event)
            return Script()
        queue = self.queues.for_call(event.called, requested_queue)
        now = self.clock.now()
        is_open = queue.hours.is_open(now)
        rejoined = self._rejoin(queue, event, now) if is_open else None
        if rejoined is not None:
            return self._holding_script(queue, rejoined, self.prompt(queue, rejoined.language, "welcome_back"))
        ticket = self.store.open_ticket(Ticket(
            queue_id=queue.id, number=0, kind=TicketKind.LIVE,
            status=TicketStatus.WAITING if is_open else TicketStatus.AFTER_HOURS,
            created_at=now, call_id=event.call_id, caller=event.caller, language=queue.language))
        lang = ticket.language
        welcome = self.prompt(queue, lang, "welcome")
        if ticket.status is TicketStatus.AFTER_HOURS:
            return Script.of(
                Gather(Step.of("offer", t=ticket.id), (welcome, self._closed_prompt(queue, lang, now),
                                                       self.prompt(queue, lang, "closed_offer"))),
                Redirect(Step.of("bye", t=ticket.id)))
        return self._holding_script(queue, ticket, welcome)

    def _holding_script(self, queue: QueueConfig, ticket: Ticket, greeting: Say | Play) -> Script:
        lang = ticket.language
        est, ahead = self.estimate(queue, ticket)
        if est.shape > 0:
            self.store.record_told(ticket.id, est.shape, est.scale)
        position = self.prompt(queue, lang, "position", position=ahead + 1)
        wait = self._wait_prompt(queue, lang, est)
        if est.mean < queue.offer_callback_after_seconds:
            return Script.of(greeting, position, wait, self._hold(queue, ticket))
        offer = self.prompt(queue, lang, "offer")
        return Script.of(Gather(Step.of("offer", t=ticket.id), (greeting, position, wait, offer)),
                         self.prompt(queue, lang, "keep_place"), self._hold(queue, ticket))

    def _rejoin(self, queue: QueueConfig, event: CallEvent, now: datetime) -> Ticket | None:
        """A caller whose callback is still pending calls again: they take that ticket's place back
        (its workflow stops) rather than opening a second one."""
        existing = self.store.find_by_call(event.call_id)
        if existing is not None or not self._policy(queue).may_call(event.caller):
            return None
        pending = self.store.open_callback_for(queue.id, self._policy(queue).accept(event.caller))
        if pending is None or pending.status not in (TicketStatus.SCHEDULED, TicketStatus.WAITING):
            return None
        if not self.store.rejoin(pending.id, event.call_id, now):
            return None
        if pending.execution_id:
            try:
                self.orchestrator.stop(pending.execution_id)
            except OrchestratorError:
                # Harmless if it keeps running: its Park finds a LIVE ticket and the workflow closes.
                log.warning("could not stop the pending callback's workflow", extra={"ticket": pending.id})
        log.info("caller rejoined their pending callback", extra={"ticket": pending.id})
        return self.store.get(pending.id)

    def _closed_prompt(self, queue: QueueConfig, lang: str, now: datetime) -> Say | Play:
        opening = queue.hours.next_opening(now)
        if opening is None:
            return self.prompt(queue, lang, "goodbye")
        return self.prompt(queue, lang, "closed", when=when(opening, now, queue.hours.tz, lang))

    def offer(self, ticket_id: str, event: CallEvent) -> Script:
        """The caller answered 'press 1 to be called back' (in line or after hours)."""
        ticket, queue = self._load(ticket_id)
        if ticket.kind is TicketKind.CALLBACK:  # a repeated webhook after the callback was booked
            return self._confirmed(queue, ticket)
        if event.digits == "1" and ticket.status in HOLDING:
            return self._ask_number(queue, ticket)
        if event.digits == "9":
            return Script.of(self._opt_out(queue, ticket), *self._no_choice(queue, ticket).verbs)
        return self._no_choice(queue, ticket)

    def _opt_out(self, queue: QueueConfig, ticket: Ticket) -> Say | Play:
        if self._policy(queue).may_call(ticket.caller):
            self.store.set_opt_out(self._policy(queue).accept(ticket.caller), True, self.clock.now())
            log.info("caller opted out of callbacks", extra={"ticket": ticket.id})
        return self.prompt(queue, ticket.language, "opted_out")

    def wait(self, ticket_id: str, event: CallEvent) -> Script:
        """Polled while the caller holds: position and EWT, then hold music; re-offers the callback."""
        ticket, queue = self._load(ticket_id)
        music = Play(queue.hold_music_url)
        if ticket.kind is not TicketKind.LIVE or ticket.status is not TicketStatus.WAITING:
            return Script.of(music)
        lang = ticket.language
        now = self.clock.now()
        if queue.max_hold_seconds and (now - ticket.created_at).total_seconds() >= queue.max_hold_seconds:
            # Rung out: nobody could take the call in time. Recorded and recovered before they hear it.
            self._lose(ticket, LostCause.RANG_OUT)
            return Script.of(self.prompt(queue, lang, "rang_out"), self.prompt(queue, lang, "goodbye"), Leave())
        est, ahead = self.estimate(queue, ticket)
        prompts: tuple[Say | Play, ...] = (self.prompt(queue, lang, "position", position=ahead + 1),
                                           self._wait_prompt(queue, lang, est))
        if est.mean >= queue.offer_callback_after_seconds:
            prompts += (self.prompt(queue, lang, "offer"),)
        if queue.recover_lost_calls:
            prompts += (self.prompt(queue, lang, "opt_out_hint"),)
        if len(prompts) == 2:
            return Script.of(*prompts, music)
        return Script.of(Gather(Step.of("wait-offer", t=ticket.id), prompts), music)

    def wait_offer(self, ticket_id: str, event: CallEvent) -> Script:
        """'Press 1' heard while holding: leave the hold queue; queue-exit then collects the number."""
        ticket, queue = self._load(ticket_id)
        if event.digits == "1" and ticket.kind is TicketKind.LIVE and ticket.status is TicketStatus.WAITING:
            self.store.mark_wants_callback(ticket.id)
            return Script.of(Leave())
        if event.digits == "9":
            return Script.of(self._opt_out(queue, ticket), self.prompt(queue, ticket.language, "keep_place"))
        return Script.of(self.prompt(queue, ticket.language, "keep_place"))

    def queue_exit(self, ticket_id: str, event: CallEvent) -> Script:
        """The provider's hold queue let the caller go; why decides what happens next."""
        ticket, queue = self._load(ticket_id)
        result = event.queue_result
        if result is QueueResult.HANGUP:
            self._abandon(ticket)
            return Script()
        if result is QueueResult.LEAVE and ticket.wants_callback:
            return self._ask_number(queue, ticket)
        if result in (QueueResult.FULL, QueueResult.ERROR):
            lang = ticket.language
            return Script.of(Gather(Step.of("offer", t=ticket.id),
                                    (self.prompt(queue, lang, "error"), self.prompt(queue, lang, "offer"))),
                             self._hold(queue, ticket))
        return Script.of(Hangup())  # bridged (the agent call is over) or moved elsewhere

    def confirm(self, ticket_id: str, event: CallEvent) -> Script:
        ticket, queue = self._load(ticket_id)
        if ticket.kind is TicketKind.CALLBACK:
            return self._confirmed(queue, ticket)
        if event.digits == "1" and ticket.pending_number:
            return self._request_callback(queue, ticket, ticket.pending_number)
        if event.digits == "2":
            return self._enter_number(queue, ticket, tries=0)
        if ticket.pending_number:
            return self._confirm_number(queue, ticket, ticket.pending_number)
        return self._enter_number(queue, ticket, tries=0)

    def number(self, ticket_id: str, event: CallEvent, tries: int) -> Script:
        ticket, queue = self._load(ticket_id)
        if ticket.kind is TicketKind.CALLBACK:
            return self._confirmed(queue, ticket)
        try:
            number = self._policy(queue).accept(event.digits)
        except NumberNotAllowedError as exc:
            log.info("callback number rejected", extra={"ticket": ticket.id, "reason": exc.reason})
            rejected = self.prompt(queue, ticket.language, "number_rejected")
            if tries + 1 >= MAX_NUMBER_TRIES:
                return Script.of(rejected, *self._no_choice(queue, ticket).verbs)
            return Script.of(rejected, *self._enter_number(queue, ticket, tries + 1).verbs)
        self.store.set_pending_number(ticket.id, number)
        return self._confirm_number(queue, ticket, number)

    def bye(self, ticket_id: str, event: CallEvent) -> Script:
        """After hours and no callback wanted: the call ends here (a lost call, recorded)."""
        ticket, queue = self._load(ticket_id)
        if ticket.kind is TicketKind.LIVE:
            self._abandon(ticket)
        return Script.of(self.prompt(queue, ticket.language, "goodbye"), Hangup())

    def call_ended(self, event: CallEvent) -> None:
        """The status callback: a caller who hung up while holding has abandoned; a call that failed
        or was cut off while holding was dropped."""
        ticket = self.store.find_by_call(event.call_id)
        if ticket is None or ticket.kind is not TicketKind.LIVE:
            return
        if ticket.status is TicketStatus.CONNECTING:
            # Hung up while being put through, before any conversation (after one, the bridge's
            # result has already marked the ticket served): lost, and the stream frees the agent.
            now = self.clock.now()
            wait = (now - ticket.created_at).total_seconds()
            if self.store.abandon_claimed(ticket.id, now, wait):
                self._after_loss(ticket, LostCause.ABANDONED, wait, now)
            return
        dropped = event.status in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER)
        self._abandon(ticket, LostCause.DROPPED if dropped else None)

    # --- helpers -------------------------------------------------------------------------

    def _load(self, ticket_id: str) -> tuple[Ticket, QueueConfig]:
        ticket = self.store.get(ticket_id)
        return ticket, self.queues.get(ticket.queue_id)

    @staticmethod
    def _policy(queue: QueueConfig) -> NumberPolicy:
        return NumberPolicy(queue.allowed_countries, queue.default_region)

    def _abandon(self, ticket: Ticket, cause: LostCause | None = None) -> None:
        if ticket.status not in HOLDING:
            return
        self._lose(ticket, cause or (LostCause.AFTER_HOURS if ticket.status is TicketStatus.AFTER_HOURS
                                     else LostCause.ABANDONED))

    def _lose(self, ticket: Ticket, cause: LostCause) -> None:
        """Record a lost call (once), book its recovery callback if it may have one, and tell people."""
        now = self.clock.now()
        wait = (now - ticket.created_at).total_seconds()
        if self.store.abandon(ticket.id, now, wait):  # once, whatever repeats the webhook
            self._after_loss(ticket, cause, wait, now)

    def _after_loss(self, ticket: Ticket, cause: LostCause, wait: float, now: datetime) -> None:
        queue = self.queues.get(ticket.queue_id)
        self.store.mark_lost(ticket.id, cause.value, now)
        if cause in (LostCause.ABANDONED, LostCause.RANG_OUT):  # patience, for the estimator
            learning.learn(self.store, queue, QueueEventKind.ABANDON, now, wait, learning.told_pit(ticket, wait))
        refused = self._recover(queue, ticket.evolve(status=TicketStatus.ABANDONED), cause, wait, now)
        log.info("lost call", extra={"ticket": ticket.id, "cause": cause.value,
                                     "recovery": refused.value if refused else "booked"})
        self.bus.publish({"event": "lost_call", "ticket_id": ticket.id, "cause": cause.value,
                          "recovery": refused.value if refused else "booked"})

    def _recover(self, queue: QueueConfig, ticket: Ticket, cause: LostCause, wait: float,
                 now: datetime) -> BookingRefused | None:
        if not queue.recover_lost_calls:
            return BookingRefused.NOT_RECOVERED
        if cause is LostCause.ABANDONED and wait < queue.short_abandon_seconds:
            return BookingRefused.SHORT_ABANDON
        try:
            number = self._policy(queue).accept(ticket.caller)
        except NumberNotAllowedError:
            return BookingRefused.NOT_DIALABLE
        not_before = next_slot(queue, number, now)
        if not_before is None:
            return BookingRefused.NOT_DIALABLE
        return self._book(queue, ticket, number, not_before, now, explicit=False)

    def _book(self, queue: QueueConfig, ticket: Ticket, number: str, not_before: datetime, now: datetime,
              explicit: bool) -> BookingRefused | None:
        """Every callback goes through here: opt-out (automatic ones only: pressing 1 is consent), one
        open callback per number and queue, then, for the one request that books it, the number's
        daily allowance and the global budget (toll-fraud guard)."""
        if self.store.is_opted_out(number):
            if not explicit:
                return BookingRefused.OPTED_OUT
            self.store.set_opt_out(number, False, now)  # asking for a callback is consent again
        fresh = not explicit and not queue.recovery_keeps_place  # recovery at the end of the line
        target = ticket_id(queue.id, self.store.next_number(queue.id)) if fresh else ticket.id
        holder = self.store.reserve_open_callback(queue.id, number, target)
        if holder != target:
            log.info("number already has an open callback", extra={"ticket": ticket.id, "open": holder})
            return None  # that callback stands for this call too
        if fresh:
            booking: int | None = 1
        else:
            booking = self.store.convert_to_callback(ticket.id, number, not_before, now, recovering=not explicit)
            if booking is None:
                return None  # a duplicate webhook converted it first
        refused = self.store.take_allowance(number, now.strftime("%Y-%m-%d"),
                                            queue.max_callbacks_per_number_per_day, self.daily_callback_budget)
        if refused is not None:
            log.warning("callback refused", extra={"ticket": ticket.id, "reason": refused, "number": masked(number)})
            if not fresh:
                self.store.revert_to_live(ticket.id, waiting=explicit)
            return BookingRefused(refused)
        if fresh:
            ticket = self.store.create_callback(target, number, not_before, now, ticket.language)
        try:
            execution_id = self.orchestrator.start(f"{ticket.id}-{booking}",
                                                   self._workflow_input(queue, ticket, not_before))
        except OrchestratorError:
            if explicit:
                self.store.revert_to_live(ticket.id, waiting=True)  # the caller stays in line on the phone
            raise
        self.store.set_execution(ticket.id, execution_id)
        return None

    def _no_choice(self, queue: QueueConfig, ticket: Ticket) -> Script:
        """No (valid) choice made: back in line, or goodbye after hours. Never dead air."""
        if ticket.status is TicketStatus.AFTER_HOURS:
            return Script.of(Redirect(Step.of("bye", t=ticket.id)))
        return Script.of(self.prompt(queue, ticket.language, "keep_place"), self._hold(queue, ticket))

    def _ask_number(self, queue: QueueConfig, ticket: Ticket) -> Script:
        try:
            number = self._policy(queue).accept(ticket.caller)
        except NumberNotAllowedError:
            return self._enter_number(queue, ticket, tries=0)
        self.store.set_pending_number(ticket.id, number)
        return self._confirm_number(queue, ticket, number)

    def _confirm_number(self, queue: QueueConfig, ticket: Ticket, number: str) -> Script:
        lang = ticket.language
        ask = self.prompt(queue, lang, "confirm_number", digits=spoken_digits(national_format(number)))
        return Script.of(Gather(Step.of("confirm", t=ticket.id), (ask,)),
                         self.prompt(queue, lang, "no_input"), *self._no_choice(queue, ticket).verbs)

    def _enter_number(self, queue: QueueConfig, ticket: Ticket, tries: int) -> Script:
        lang = ticket.language
        ask = self.prompt(queue, lang, "enter_number")
        return Script.of(Gather(Step.of("number", t=ticket.id, tries=tries), (ask,), num_digits=None,
                                timeout_seconds=10, finish_on_key="#"),
                         self.prompt(queue, lang, "no_input"), *self._no_choice(queue, ticket).verbs)

    def _request_callback(self, queue: QueueConfig, ticket: Ticket, number: str) -> Script:
        """Same ticket, same number, same place: durable first, then the workflow, then the caller hears it."""
        now = self.clock.now()
        not_before = next_slot(queue, number, now) or now
        refused = self._book(queue, ticket, number, not_before, now, explicit=True)
        if refused is not None:
            lang = ticket.language
            return Script.of(self.prompt(queue, lang, "callback_unavailable"), *self._no_choice(queue, ticket).verbs)
        current = self.store.get(ticket.id)
        if current.kind is not TicketKind.CALLBACK:
            holder = self.store.open_callback_for(queue.id, number)
            if holder is None:
                raise TicketStateError(f"ticket {ticket.id} is {current.kind.value}/{current.status.value}")
            current = holder  # this number already had a callback booked: that one stands
        return self._confirmed(queue, current)

    @staticmethod
    def _workflow_input(queue: QueueConfig, ticket: Ticket, not_before: datetime) -> dict[str, object]:
        return {
            "ticket_id": ticket.id,
            "queue_id": queue.id,
            "schedule": {"not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"), "attempt": 1},
            "max_attempts": len(queue.retry_delays_seconds),
            "park_timeout_seconds": queue.max_park_seconds,
            "dial_timeout_seconds": queue.dial_timeout_seconds,
        }

    def _confirmed(self, queue: QueueConfig, ticket: Ticket) -> Script:
        lang = ticket.language
        digits = spoken_digits(national_format(ticket.callback_number or ""))
        now = self.clock.now()
        if ticket.not_before is not None and ticket.not_before > now:
            # Later than now: the queue is closed, or it is night where the caller is.
            key = "callback_confirmed_later" if queue.hours.is_open(now) else "callback_confirmed_closed"
            said = self.prompt(queue, lang, key, digits=digits,
                               when=when(ticket.not_before, now, number_timezone(ticket.callback_number or "",
                                                                                 queue.hours.tz), lang))
        else:
            est, ahead = self.estimate(queue, ticket)
            said = self.prompt(queue, lang, "callback_confirmed", digits=digits, position=ahead + 1,
                               mean=minutes(est.mean, lang))
        return Script.of(said, self.prompt(queue, lang, "goodbye"), Hangup())
