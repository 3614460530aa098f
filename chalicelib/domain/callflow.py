"""The caller-facing use cases: one method per webhook step, each returning a neutral Script. This is
the dialogue (what a caller hears and which step answers next); the booking rules live in
`booking.py` and loss and recovery in `recovery.py`, each a part CallFlow is composed of, and the
callback number's questions in `number_dialogue.py`, a part it inherits."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..ports import Arrival, Clock, EventBus, OperationsLog, Orchestrator, QueueSnapshot, Staffing, Stores
from .errors import TicketNotFoundError, TicketStateError
from . import guard, learning, line as queue_line, speech
from . import booking as rules
from .booking import CallbackBooking
from .estimator import WaitEstimator
from .ewt import WaitEstimate
from .model import HOLDING, BookingRefused, CallEvent, LostCause, QueueResult, Ticket, TicketKind, TicketStatus
from .phone import national_format
from .prompts import minutes, spoken_digits
from .queues import QueueConfig, QueueDirectory
from .recovery import LossRecovery
from .script import Enqueue, Gather, Hangup, Leave, Play, Redirect, Say, Script, Step
from .changes import CallbackChanges, changeable
from .pending import PendingChoice
from .slotbook import SlotBook
from .slots import slot_start
from .timechoice import TimeChoice
from .number_dialogue import NumberDialogue

log = logging.getLogger(__name__)

# The wait URL's first poll comes as the caller joins the hold queue, right after the greeting (or a
# choice) told them their place and wait: that poll plays music; the next one announces.
JUST_ANNOUNCED_SECONDS = 5
# Gathers that wrap hold music: a key works during the music, and only a moment of silence follows it
# (a Gather waits its timeout for keys after its last prompt).
MUSIC_GATHER_SECONDS = 1
HINT_GATHER_SECONDS = 3
SAID_IN_MINUTES = timedelta(hours=1)  # a promise further off is said as a time of day



class CallFlow(NumberDialogue):
    def __init__(self, stores: Stores, orchestrator: Orchestrator, clock: Clock,
                 queues: QueueDirectory, bus: EventBus, daily_callback_budget: int = 1000,
                 history: OperationsLog | None = None) -> None:
        """`history`: the queues' report rows, from which a chosen time's slot learns the live calls expected."""
        # The roles the dialogue uses, kept by name; booking and recovery are parts of their own.
        self.tickets, self.line = stores.tickets, stores.line
        self.stats, self.bookings, self.agents = stores.stats, stores.bookings, stores.agents
        self.orchestrator = orchestrator
        self.clock = clock
        self.queues = queues
        self.booking = CallbackBooking(stores.tickets, stores.bookings, orchestrator, clock, queues,
                                       daily_callback_budget, bus)
        self.recovery = LossRecovery(stores.tickets, stores.lost, stores.stats, stores.agents, clock, queues, bus,
                                     self.booking)
        self.slots = SlotBook(stores.bookings, stores.line, history, clock)
        self.changes = CallbackChanges(stores.tickets, stores.dialing, orchestrator, clock, queues, self.slots, bus)
        self.times = TimeChoice(self.slots, self.booking, self.changes, stores.tickets, clock, queues, self._no_choice,
                                self._confirmed)
        self.pending = PendingChoice(stores.tickets, stores.line, clock, queues, self.changes, self.times,
                                     self._take_place)

    # --- prompts -------------------------------------------------------------------------

    def prompt(self, queue: QueueConfig, language: str, key: str, **values: object) -> Say | Play:
        return speech.prompt(queue, language, key, **values)

    def _wait_prompt(self, queue: QueueConfig, lang: str, est: WaitEstimate) -> Say | Play:
        if est.high < 60:  # "less than a minute" only when the whole range is
            return self.prompt(queue, lang, "wait_short")
        if est.mean < 60:
            return self.prompt(queue, lang, "wait_upto", high=minutes(est.high, lang, genitive=True))
        low = max(1, int(est.low // 60))
        return self.prompt(queue, lang, "wait", mean=minutes(est.mean, lang), low=low,
                           high=minutes(max(est.high, (low + 1) * 60), lang, genitive=True))

    @staticmethod
    def _hold(queue: QueueConfig, ticket: Ticket) -> Enqueue:
        return queue_line.hold(ticket)

    def apology(self, queue: QueueConfig | None) -> Script:
        """When something inside failed: apologise and keep the caller queued at the provider, with a
        way back: its wait URL retries opening the caller's ticket, its exit action records the call
        if they hang up first. Rendering needs nothing from the store, so this holds when it is down."""
        queue = queue or self.queues.default
        return Script.of(self.prompt(queue, queue.language, "error"),
                         Enqueue(queue.id, wait=Step.of("rescue-wait", queue=queue.id),
                                 action=Step.of("rescue-exit", queue=queue.id)))

    def still_holding(self, queue: QueueConfig | None) -> Script:
        """A wait document for when the wait step itself failed: music, then the provider asks again."""
        return Script.of(Play((queue or self.queues.default).hold_music_url))

    def rescue_wait(self, queue_id: str, event: CallEvent) -> Script:
        """Polled while an apologised-to caller holds. Once the store answers, they leave the provider's
        queue; the exit action (rescue_exit) opens their ticket and they hold like anyone else."""
        self.tickets.find_by_call(event.call_id)  # raises while the store is down: music, and ask again
        return Script.of(Leave(Step.of("rescue-exit", queue=queue_id)))

    def rescue_exit(self, queue_id: str, event: CallEvent) -> Script:
        """An apologised-to caller left the provider's queue: to take their place in ours, or gone."""
        queue = self.queues.get(queue_id)
        if event.queue_result is QueueResult.LEAVE:
            return self.incoming(event, queue.id)  # opens (or finds) their ticket: the normal script
        if event.queue_result is QueueResult.HANGUP or event.status.ended:
            ticket = self.tickets.find_by_call(event.call_id)
            if ticket is None:  # never had a ticket: record the lost call now the store is back
                held = float(event.queue_seconds or 0)
                ticket = self.tickets.open_ticket(Ticket(
                    queue_id=queue.id, number=0, kind=TicketKind.LIVE, status=TicketStatus.WAITING,
                    created_at=self.clock.now() - timedelta(seconds=held), call_id=event.call_id,
                    caller=event.caller, language=queue.language))
            self.recovery.abandon(ticket)
            return Script()
        if event.queue_result in (QueueResult.FULL, QueueResult.ERROR):
            return self.apology(queue)
        return Script.of(Hangup())  # bridged (the conversation is over) or moved elsewhere

    # --- estimates -----------------------------------------------------------------------

    def place(self, queue: QueueConfig, ticket: Ticket) -> int:
        """The ticket's place in line now (1: next)."""
        return self.estimate(queue, ticket)[1] + 1

    def estimate(self, queue: QueueConfig, ticket: Ticket, staffing: Staffing | None = None,
                 snapshot: QueueSnapshot | None = None, joined_now: bool = False) -> tuple[WaitEstimate, int]:
        """Position and EWT from the queue's learned estimator (its configured handle time and
        patience until calls have taught it better), the line ahead and how long its head has held,
        who is signed in now and how long each busy agent's call has lasted: all from the queue's
        snapshot (one read), the place counted exactly only while the line is short and the caller
        did not join just now (then the counts their joining moved are the count)."""
        snapshot = self.line.snapshot(queue.id) if snapshot is None else snapshot
        ahead = self._ahead(ticket, snapshot, joined_now)
        staffing = snapshot.staffing if staffing is None else staffing
        estimator = WaitEstimator.from_state(snapshot.estimator) if snapshot.estimator else learning.prior(queue)
        now = self.clock.now()
        head_wait = None if snapshot.head_since is None else max(0.0, (now - snapshot.head_since).total_seconds())
        est = estimator.estimate(now.timestamp(), ahead + 1, idle=staffing.idle,
                                 servers=staffing.staffed or (0 if any(a.status.signed_in for a in snapshot.agents)
                                                              else queue.assumed_agents),  # (all away: 0)
                                 busy=learning.busy_from(snapshot.agents, now), head_wait=head_wait,
                                 klass=ticket.priority,
                                 joining=queue.roster.sign_ins(now, staffing.staffed) if queue.roster else ())
        return est, ahead

    def _ahead(self, ticket: Ticket, snapshot: QueueSnapshot, joined_now: bool = False) -> int:
        """How many stand ahead of the ticket: counted while the line is short (and the caller did not
        join just now), else from the line's counts and what the ticket remembers of joining."""
        if not joined_now and queue_line.counts_exactly(snapshot.line, ticket):
            return self.line.ahead_of(ticket)
        return queue_line.ahead(snapshot.line, ticket)

    # --- webhook steps -------------------------------------------------------------------

    def incoming(self, event: CallEvent, requested_queue: str | None = None) -> Script:
        if event.status.ended:  # the same URL doubles as the call's status callback
            self.call_ended(event)
            return Script()
        if event.progress:  # a non-final status callback (queued, ringing...): nobody asks for anything
            return Script()
        queue = self.queues.for_call(event.called, requested_queue)
        now = self.clock.now()
        is_open = queue.hours.is_open(now)
        known = self._policy(queue).may_call(event.caller)
        # One read: the queue's snapshot, this call's ticket (a retried webhook), the number's callback.
        arrival = self.line.arrival(queue.id, event.call_id, self._policy(queue).accept(event.caller) if known else None)
        pending = self._pending(arrival) if known else None
        if pending is not None and changeable(pending):  # a callback they asked for: they choose what becomes of it
            return self.pending.menu(queue, pending, (self.prompt(queue, pending.language, "welcome"),))
        rejoined = self.changes.take_back(pending, event.call_id) if pending is not None and is_open else None
        if rejoined is not None:
            return self._holding_script(queue, rejoined, self.prompt(queue, rejoined.language, "welcome_back"))
        snapshot: QueueSnapshot | None = arrival.snapshot
        if arrival.ticket_id is not None:  # a retried webhook: the call has its ticket already
            ticket, snapshot = self.tickets.get(arrival.ticket_id), None
        else:
            ticket, snapshot = self._join(queue, event, now, is_open, arrival.snapshot)
        welcome = self.prompt(queue, ticket.language, "welcome")
        if ticket.status is TicketStatus.AFTER_HOURS:
            closed = self._closed_prompts(queue, ticket, now, snapshot.staffing if snapshot else None)
            return Script.of(Gather(Step.of("offer", t=ticket.id), (welcome, *closed)),
                             Redirect(Step.of("bye", t=ticket.id)))
        return self._holding_script(queue, ticket, welcome, snapshot)

    def _join(self, queue: QueueConfig, event: CallEvent, now: datetime, is_open: bool,
              snapshot: QueueSnapshot) -> tuple[Ticket, QueueSnapshot | None]:
        """Open the caller's ticket: its number and its place are taken in one write, whose counts say
        how many stand ahead (as exact as the table: never the stream's view); it remembers them, and
        the estimate the caller is about to hear (both written with it). The snapshot returned counts
        the caller in; None when a concurrent retry of the webhook opened the call's ticket first."""
        ticket = Ticket(queue_id=queue.id, number=0, kind=TicketKind.LIVE,
                        status=TicketStatus.WAITING if is_open else TicketStatus.AFTER_HOURS,
                        created_at=now, call_id=event.call_id, caller=event.caller, language=queue.language)
        if not is_open:
            ticket = ticket.evolve(number=self.tickets.next_number(queue.id))
        else:
            number, line = self.tickets.take_place(queue.id, ticket.priority)
            ticket = ticket.evolve(number=number, joined=line.joined(ticket.priority))
            snapshot = snapshot.counted(line)
            est, _ = self.estimate(queue, ticket, snapshot=snapshot, joined_now=True)
            if snapshot.staffing.staffed and est.shape > 0:
                ticket = ticket.evolve(told_shape=est.shape, told_scale=est.scale, told_ahead=est.ahead)
        opened = self.tickets.open_ticket(ticket)
        return opened, snapshot if opened.number == ticket.number else None

    def _holding_script(self, queue: QueueConfig, ticket: Ticket, greeting: Say | Play,
                        snapshot: QueueSnapshot | None = None) -> Script:
        """The greeting with the caller's place and wait, once; the wait URL's first poll stays quiet.
        With the snapshot the caller joined by, what they hear was written with their ticket."""
        offer_step = Step.of("offer", t=ticket.id)
        line, offer = self._line(queue, ticket, record=snapshot is None, snapshot=snapshot,
                                 joined_now=snapshot is not None)
        if offer is not None:
            # nothing pressed: they keep their place and hear the opt-out notice (`_stay`), which the
            # offer step says for an empty keypress where the provider asks rather than falls through
            return Script.of(Gather(offer_step, (greeting, *line, offer, *self._choose(queue, ticket.language)),
                                    no_input=offer_step),
                             *self._stay(queue, ticket, offer_step), self._hold(queue, ticket))
        hint = self._hint(queue, ticket.language, offered=False)
        if hint is not None:
            return Script.of(Gather(offer_step, (greeting, *line, hint), timeout_seconds=HINT_GATHER_SECONDS),
                             self._hold(queue, ticket))
        return Script.of(greeting, *line, self._hold(queue, ticket))

    def _line(self, queue: QueueConfig, ticket: Ticket, record: bool = False, snapshot: QueueSnapshot | None = None,
              joined_now: bool = False) -> tuple[tuple[Say | Play, ...], Say | Play | None]:
        """What a holding caller hears about the line (place, then wait), and the callback offer if one
        is due. With nobody signed in there is no estimate to give: the caller hears so, and the offer."""
        lang, now = ticket.language, self.clock.now()
        snapshot = self.line.snapshot(queue.id) if snapshot is None else snapshot
        staffing = snapshot.staffing
        est, ahead = self.estimate(queue, ticket, staffing, snapshot, joined_now)
        position = self.prompt(queue, lang, "position", position=ahead + 1)
        if not staffing.staffed:
            return (position, self.prompt(queue, lang, "nobody_available")), \
                self._offer(queue, ticket, staffing, now, now, asap=True)
        if record and est.shape > 0:
            self.stats.record_told(ticket.id, est.shape, est.scale, est.ahead)
        line = (position, self._wait_prompt(queue, lang, est))
        if est.mean < queue.offer_callback_after_seconds:
            return line, None
        # the callback plan and the delays seen (the queue's statistics, in the snapshot)
        delay = guard.promise_delay(queue, snapshot.estimator, now)
        if rules.spoken_for(queue, delay, now):
            # callbacks booked now are not being made before closing: no offer the day could not keep
            return (*line, self.prompt(queue, lang, "callbacks_full")), None
        promise = rules.promisable(queue, self._dialable(queue, ticket.caller) or "", est, now, delay)
        return line, self._offer(queue, ticket, staffing, now, now + timedelta(seconds=est.mean), promise=promise)

    def _offer(self, queue: QueueConfig, ticket: Ticket, staffing: Staffing, now: datetime, turn: datetime,
               asap: bool = False, promise: datetime | None = None) -> Say | Play:
        """'Press 1', saying when the callback can come if that is later than the caller's expected turn
        (the queue closes first, it is night where the caller is, nobody is expected before then), or
        the time it can be promised by when that is more than an hour away (a busy day's callbacks)."""
        lang = ticket.language
        callback_at = rules.callback_time(queue, self._dialable(queue, ticket.caller), turn, staffing)
        if callback_at is not None and callback_at > turn:
            return self.prompt(queue, lang, "offer_at",
                               when=speech.spoken_when(queue, ticket.caller, callback_at, now, lang))
        if promise is not None and promise - now > SAID_IN_MINUTES:
            return self.prompt(queue, lang, "offer_by", when=speech.spoken_when(queue, ticket.caller, promise, now, lang))
        return self.prompt(queue, lang, "offer_asap" if asap else "offer")

    def _dialable(self, queue: QueueConfig, number: str | None) -> str | None:
        return number if self._policy(queue).may_call(number) else None

    def _hint(self, queue: QueueConfig, lang: str, offered: bool) -> Say | Play | None:
        """'If you hang up we will call you back; press 9 if not': never next to the offer it would
        undercut. By default only after a caller has chosen to hold rather than take the offer."""
        if not queue.recover_lost_calls or queue.opt_out_hint == "never":
            return None
        if not offered and queue.opt_out_hint != "every_caller":
            return None
        return self.prompt(queue, lang, "opt_out_hint")

    def _stay(self, queue: QueueConfig, ticket: Ticket, listen: Step) -> tuple[Gather | Say | Play, ...]:
        """The caller chose to hold (a key other than 1, or none): they keep their place, and hear the
        opt-out hint here, once, where pressing 9 is heard by `listen`."""
        keep = self.prompt(queue, ticket.language, "keep_place")
        hint = self._hint(queue, ticket.language, offered=True)
        if hint is None:
            return (keep,)
        return (Gather(listen, (keep, hint), timeout_seconds=HINT_GATHER_SECONDS),)

    def _pending(self, arrival: Arrival) -> Ticket | None:
        """The number's callback, still pending (not being dialed), when this call has no ticket yet."""
        if arrival.ticket_id is not None or arrival.open_callback_id is None:
            return None
        try:
            pending = self.tickets.get(arrival.open_callback_id)
        except TicketNotFoundError:
            return None
        if pending.kind is not TicketKind.CALLBACK or pending.status not in (TicketStatus.SCHEDULED,
                                                                             TicketStatus.WAITING):
            return None
        return pending

    def _take_place(self, queue: QueueConfig, pending: Ticket, event: CallEvent) -> Script | None:
        """A caller with a callback pending holds on the line now instead, at its place (None: too late)."""
        rejoined = self.changes.take_back(pending, event.call_id)
        if rejoined is None:
            return None
        return self._holding_script(queue, rejoined, self.prompt(queue, rejoined.language, "welcome_back"))

    def pending_choice(self, ticket_id: str, event: CallEvent) -> Script:
        """A key pressed at the menu about a caller's pending callback."""
        return self.pending.chosen(ticket_id, event)

    def _closed_prompts(self, queue: QueueConfig, ticket: Ticket, now: datetime,
                        staffing: Staffing | None = None) -> tuple[Say | Play, ...]:
        """'We open ...' and the callback offer, both in the caller's time; the offer says when the
        callback can come if that is not the opening (the caller's calling window, the roster)."""
        lang = ticket.language
        opening = queue.hours.next_opening(now)
        if opening is None:
            return (self.prompt(queue, lang, "goodbye"),)
        closed = self.prompt(queue, lang, "closed", when=speech.spoken_when(queue, ticket.caller, opening, now, lang))
        callback_at = rules.callback_time(queue, self._dialable(queue, ticket.caller), now,
                                          self.agents.staffing(queue.id) if staffing is None else staffing)
        if callback_at is not None and callback_at > opening:
            return closed, self.prompt(queue, lang, "closed_offer_at",
                                       when=speech.spoken_when(queue, ticket.caller, callback_at, now, lang)), \
                *self._choose(queue, lang)
        return closed, self.prompt(queue, lang, "closed_offer"), *self._choose(queue, lang)

    def offer(self, ticket_id: str, event: CallEvent) -> Script:
        """The caller answered 'press 1 to be called back' (in line or after hours)."""
        ticket, queue = self._load(ticket_id)
        if ticket.kind is TicketKind.CALLBACK:  # a repeated webhook after the callback was booked
            return self._confirmed(queue, ticket)
        if event.digits == "1" and ticket.status in HOLDING:
            return self._ask_number(queue, ticket)
        if event.digits == "2" and ticket.status in HOLDING and self.times.offered(queue):
            return self._ask_number(queue, ticket, choose=True)
        if event.digits == "9":
            return Script.of(self._opt_out(queue, ticket), *self._no_choice(queue, ticket).verbs)
        if ticket.status is TicketStatus.AFTER_HOURS:
            # A wrong key gets a second chance; the bye step still takes 1 (or 9), anything else ends the call.
            bye = Step.of("bye", t=ticket.id)
            return Script.of(Gather(bye, (self.prompt(queue, ticket.language, "invalid_choice"),
                                          *self._closed_prompts(queue, ticket, self.clock.now())[1:])),
                             Redirect(bye))
        return Script.of(*self._stay(queue, ticket, Step.of("offer", t=ticket.id)), self._hold(queue, ticket))

    def _opt_out(self, queue: QueueConfig, ticket: Ticket) -> Say | Play:
        if self._policy(queue).may_call(ticket.caller):
            self.bookings.set_opt_out(self._policy(queue).accept(ticket.caller), True, self.clock.now())
            log.info("caller opted out of callbacks", extra={"ticket": ticket.id})
        return self.prompt(queue, ticket.language, "opted_out")

    def wait(self, ticket_id: str, event: CallEvent, listening: bool = True) -> Script:
        """Polled while the caller holds: position and EWT, then hold music; re-offers the callback.

        The music plays inside the Gather, so a key works during it and no Gather timeout of silence
        follows the announcement. `listening=False`: the provider's hold cannot hear keys (its wait
        document may only speak and play): announcements and music, and when the callback is to be
        offered the caller leaves the hold to hear it (queue-exit offers it, then holds them again at
        their own place)."""
        ticket, snapshot = self.line.view(ticket_id)  # one read: the ticket and its line
        queue = self.queues.get(ticket.queue_id)
        music = Play(queue.hold_music_url)
        if ticket.kind is not TicketKind.LIVE or ticket.status is not TicketStatus.WAITING:
            return Script.of(music)
        lang = ticket.language
        now = self.clock.now()
        if queue.max_hold_seconds and (now - ticket.created_at).total_seconds() >= queue.max_hold_seconds:
            # Rung out: nobody could take the call in time. Recorded and recovered before they hear it.
            self.recovery.lose(ticket, LostCause.RANG_OUT)
            return Script.of(self._rang_out(queue, ticket, now), self.prompt(queue, lang, "goodbye"),
                             Leave(self._hold(queue, ticket).action))
        listen = Step.of("wait-offer", t=ticket.id)
        if event.queue_seconds is not None and event.queue_seconds < JUST_ANNOUNCED_SECONDS:
            return Script.of(Gather(listen, (music,), timeout_seconds=MUSIC_GATHER_SECONDS) if listening else music)
        line, offer = self._line(queue, ticket, snapshot=snapshot)
        if not listening:
            return Script.of(*line, music if offer is None else Leave(self._hold(queue, ticket).action))
        prompts = (*line, offer, *self._choose(queue, lang)) if offer is not None else line
        return Script.of(Gather(listen, (*prompts, music), timeout_seconds=MUSIC_GATHER_SECONDS))

    def _rang_out(self, queue: QueueConfig, ticket: Ticket, now: datetime) -> Say | Play:
        """What a rung-out caller is told, once their recovery is booked: when the callback comes if
        it cannot be now (their calling window, the queue's hours), else as soon as an agent is free;
        nothing promised when no callback stands for them (opted out, a number that may not be called)."""
        lang = ticket.language
        callback = self.recovery.standing_callback(queue, ticket)
        if callback is None:
            return self.prompt(queue, lang, "rang_out_later")
        if callback.not_before is not None and callback.not_before > now:
            return self.prompt(queue, lang, "rang_out_at",
                               when=speech.spoken_when(queue, ticket.caller, callback.not_before, now, lang))
        return self.prompt(queue, lang, "rang_out")

    def wait_offer(self, ticket_id: str, event: CallEvent) -> Script:
        """'Press 1' heard while holding: leave the hold queue; queue-exit then collects the number."""
        ticket, queue = self._load(ticket_id)
        choose = event.digits == "2" and self.times.offered(queue)
        if (event.digits == "1" or choose) and ticket.kind is TicketKind.LIVE and ticket.status is TicketStatus.WAITING:
            self.tickets.mark_wants_callback(ticket.id, choose=choose)
            return Script.of(Leave(self._hold(queue, ticket).action))
        if event.digits == "9":
            return Script.of(self._opt_out(queue, ticket), self.prompt(queue, ticket.language, "keep_place"))
        return Script.of(*self._stay(queue, ticket, Step.of("wait-offer", t=ticket.id)))

    def queue_exit(self, ticket_id: str, event: CallEvent) -> Script:
        """The provider's hold queue let the caller go; why decides what happens next."""
        ticket, queue = self._load(ticket_id)
        result = event.queue_result
        if result is QueueResult.HANGUP:
            self.recovery.abandon(ticket)
            return Script()
        if result is QueueResult.LEAVE and ticket.wants_callback:
            return self._ask_number(queue, ticket, choose=ticket.wants_time)
        if result is QueueResult.LEAVE and ticket.kind is TicketKind.LIVE and ticket.status is TicketStatus.WAITING:
            # Left a hold that cannot hear keys to hear the offer (wait, listening=False): offered where
            # a key is heard, then held again at the same place (its rank), whatever they press.
            _, offer = self._line(queue, ticket)
            music = Play(queue.hold_music_url)
            heard = (offer, *self._choose(queue, ticket.language), music) if offer is not None else (music,)
            return Script.of(Gather(Step.of("offer", t=ticket.id), heard, timeout_seconds=MUSIC_GATHER_SECONDS),
                             self._hold(queue, ticket))
        if result in (QueueResult.FULL, QueueResult.ERROR):
            lang = ticket.language
            return Script.of(Gather(Step.of("offer", t=ticket.id),
                                    (self.prompt(queue, lang, "error"), self.prompt(queue, lang, "offer"),
                                     *self._choose(queue, lang))),
                             self._hold(queue, ticket))
        return Script.of(Hangup())  # bridged (the agent call is over) or moved elsewhere

    def confirm(self, ticket_id: str, event: CallEvent, choose: bool = False) -> Script:
        """The number read back: 1 books (or, `choose`, offers the times to choose from), 2 types another."""
        ticket, snapshot = self.line.view(ticket_id)  # one read: the ticket and its line
        queue = self.queues.get(ticket.queue_id)
        if ticket.kind is TicketKind.CALLBACK:
            return self._confirmed(queue, ticket, snapshot=snapshot)
        if event.digits == "1" and ticket.pending_number:
            if choose and self.times.offered(queue):
                return self.times.menu(queue, ticket, ticket.pending_number)
            return self._request_callback(queue, ticket, ticket.pending_number, snapshot)
        if event.digits == "2":
            return self._enter_number(queue, ticket, tries=0, choose=choose)
        if ticket.pending_number:
            return self._confirm_number(queue, ticket, ticket.pending_number, choose)
        return self._enter_number(queue, ticket, tries=0, choose=choose)

    def slot(self, ticket_id: str, event: CallEvent, offered: str, moving: bool = False) -> Script:
        """A key pressed at the menu of times to be called back at (`moving`: a pending callback's)."""
        return self.times.chosen(ticket_id, event, offered, moving)

    def bye(self, ticket_id: str, event: CallEvent) -> Script:
        """After hours and no callback wanted: the call ends here (a lost call, recorded)."""
        ticket, queue = self._load(ticket_id)
        if event.digits in ("1", "2", "9") and ticket.status is TicketStatus.AFTER_HOURS:
            return self.offer(ticket_id, event)  # the second chance after a wrong key
        if ticket.kind is TicketKind.LIVE:
            self.recovery.abandon(ticket)
        return Script.of(self.prompt(queue, ticket.language, "goodbye"), Hangup())

    def call_ended(self, event: CallEvent) -> None:
        """The status callback (loss and recovery)."""
        self.recovery.call_ended(event)

    def book_now(self, ticket: Ticket, number: str) -> BookingRefused | None:
        """An admin's "call back now" for a lost call (the booking path, due at once)."""
        return self.booking.book_now(ticket, number)

    workflow_input = staticmethod(rules.workflow_input)

    # --- helpers -------------------------------------------------------------------------

    def _load(self, ticket_id: str) -> tuple[Ticket, QueueConfig]:
        ticket = self.tickets.get(ticket_id)
        return ticket, self.queues.get(ticket.queue_id)

    def _no_choice(self, queue: QueueConfig, ticket: Ticket) -> Script:
        """No (valid) choice made: back in line, or goodbye after hours. Never dead air."""
        if ticket.status is TicketStatus.AFTER_HOURS:
            return Script.of(Redirect(Step.of("bye", t=ticket.id)))
        return Script.of(self.prompt(queue, ticket.language, "keep_place"), self._hold(queue, ticket))

    def _choose(self, queue: QueueConfig, lang: str) -> tuple[Say | Play, ...]:
        """'To choose the time we call you back, press 2', where the queue offers chosen times."""
        return (self.prompt(queue, lang, "offer_choose"),) if self.times.offered(queue) else ()

    def _request_callback(self, queue: QueueConfig, ticket: Ticket, number: str,
                          snapshot: QueueSnapshot | None = None) -> Script:
        """Same ticket, same number, same place: durable first, then the workflow, then the caller hears it."""
        now = self.clock.now()
        snapshot = self.line.snapshot(queue.id) if snapshot is None else snapshot
        not_before = rules.callback_time(queue, number, now, snapshot.staffing) or now
        est, ahead = self.estimate(queue, ticket, snapshot.staffing, snapshot)
        promised = rules.promise(queue, number, snapshot, est, not_before, now)
        told = None if promised is None else rules.told(ticket, promised, est)
        refused, booked = self.booking.book_ticket(queue, ticket, number, not_before, now, explicit=True, told=told)
        if refused is not None:
            lang = ticket.language
            return Script.of(self.prompt(queue, lang, "callback_unavailable"), *self._no_choice(queue, ticket).verbs)
        if booked is not None:
            return self._confirmed(queue, booked, ahead)
        current = self.tickets.get(ticket.id)
        if current.kind is not TicketKind.CALLBACK:
            holder = self.bookings.open_callback_for(queue.id, number)
            if holder is None:
                raise TicketStateError(f"ticket {ticket.id} is {current.kind.value}/{current.status.value}")
            current = holder  # this number already had a callback booked: that one stands
        return self._confirmed(queue, current, caller=ticket.caller)

    def _confirmed(self, queue: QueueConfig, ticket: Ticket, ahead: int | None = None,
                   snapshot: QueueSnapshot | None = None, caller: str | None = None) -> Script:
        """What the caller hears once the callback is booked: the promise kept on the ticket (written
        with the booking), as a time or in minutes; with no promise, as soon as an agent is free. A time
        is said in the caller's own time (`caller`: the number they call from; the ticket's by default),
        whichever number the callback goes to."""
        lang = ticket.language
        digits = spoken_digits(national_format(ticket.callback_number or ""))
        now = self.clock.now()
        number = ticket.callback_number or ""
        caller = caller or ticket.caller
        promised = guard.promised_at(ticket)
        if ahead is None and ticket.slot is None:  # a repeat, or another callback of this number: its place now
            ahead = self._ahead(ticket, self.line.snapshot(queue.id) if snapshot is None else snapshot)
        ahead = ahead or 0
        if ticket.slot is not None:  # a chosen time: said as that time
            said = self.prompt(queue, lang, "callback_confirmed_slot", digits=digits,
                               when=speech.spoken_when(queue, caller, slot_start(ticket.slot), now, lang))
        elif promised is None:  # no estimate from assumed staffing: nobody is signed in
            said = self.prompt(queue, lang, "callback_confirmed_asap", digits=digits, position=ahead + 1)
        elif rules.within_today(queue, promised, now) and (ticket.not_before is None or ticket.not_before <= now):
            if promised - now > SAID_IN_MINUTES:
                said = self.prompt(queue, lang, "callback_confirmed_by", digits=digits,
                                   when=speech.spoken_when(queue, caller, promised, now, lang))
            else:
                said = self.prompt(queue, lang, "callback_confirmed", digits=digits, position=ahead + 1,
                                   mean=minutes((promised - now).total_seconds(), lang, genitive=True))
        else:
            said = self.prompt(queue, lang, rules.why_later(queue, number, caller, now), digits=digits,
                               when=speech.spoken_when(queue, caller, promised, now, lang),
                               **speech.calling_hours(lang))
        return Script.of(said, self.prompt(queue, lang, "cancel_hint"), self.prompt(queue, lang, "goodbye"), Hangup())
