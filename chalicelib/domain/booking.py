"""Booking rules: the one path every callback takes (`CallbackBooking`), when a callback can come, and
what time a caller can be promised. The call flow's dialogue asks; recovery books lost calls here too."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..ports import BOOKING_MOVED, BOOKING_TAKEN, Bookings, Clock, EventBus, Orchestrator, QueueSnapshot, SlotClaim, Staffing, Tickets
from . import guard
from .errors import NumberNotAllowedError, OrchestratorError, TicketNotFoundError
from .ewt import WaitEstimate
from .model import HOLDING, BookingRefused, Ticket, TicketKind, TicketStatus, ticket_id
from .phone import NumberPolicy, in_calling_window, masked, too_early
from .prompts import minutes_number
from .queues import QueueConfig, QueueDirectory
from .retry import horizon_end, next_slot

log = logging.getLogger(__name__)

MIN_PARK_SECONDS = 60  # a recovery booked at its horizon still waits this long for an agent


def number_policy(queue: QueueConfig) -> NumberPolicy:
    """Which numbers the queue may call back."""
    return NumberPolicy(queue.allowed_countries, queue.default_region)


CALLBACK_BOOKED = "callback_booked"  # the notify queue's event: a callback its caller asked for was booked


def announce_booked(bus: EventBus | None, queue: QueueConfig, booked_id: str) -> None:
    """Ask for the caller's confirmation text of a callback booked (or moved): only where the queue texts
    anyone (else no SQS call per booking); the ticket's id only, no number on the queue."""
    if bus is not None and queue.sms_countries:
        bus.publish({"event": CALLBACK_BOOKED, "ticket_id": booked_id})

class CallbackBooking:
    """Every callback goes through `book`: opt-out (automatic ones only), one open callback per number
    and queue, then, for the one request that books it, the allowance and budget, then its workflow."""

    def __init__(self, tickets: Tickets, bookings: Bookings, orchestrator: Orchestrator, clock: Clock,
                 queues: QueueDirectory, daily_callback_budget: int = 1000, bus: EventBus | None = None) -> None:
        """`bus`: where a callback its caller asked for is announced once booked (the confirmation text)."""
        self.bus = bus
        self.tickets, self.bookings = tickets, bookings
        self.orchestrator = orchestrator
        self.clock = clock
        self.queues = queues
        self.daily_callback_budget = daily_callback_budget

    def book_now(self, ticket: Ticket, number: str) -> BookingRefused | None:
        """An admin's "call back now" for a lost call with no pending callback: the recovery's own path
        (opt-outs, one open callback per number, the allowance and budget), due at once. An abandoned
        live ticket becomes the callback; a closed callback's lost call gets a new ticket."""
        queue, now = self.queues.get(ticket.queue_id), self.clock.now()
        fresh = ticket.kind is TicketKind.CALLBACK or not queue.recovery_keeps_place
        return self.book(queue, ticket, number, now, now, explicit=False, fresh=fresh)

    def book(self, queue: QueueConfig, ticket: Ticket, number: str, not_before: datetime, now: datetime,
             explicit: bool, fresh: bool | None = None) -> BookingRefused | None:
        """Every callback goes through here: opt-out (automatic ones only: pressing 1 is consent), one
        open callback per number and queue, then, for the one request that books it, the number's
        daily allowance and the global budget (toll-fraud guard)."""
        return self.book_ticket(queue, ticket, number, not_before, now, explicit, fresh)[0]

    def book_ticket(self, queue: QueueConfig, ticket: Ticket, number: str, not_before: datetime, now: datetime,
                    explicit: bool, fresh: bool | None = None, told: tuple[float, float] | None = None,
                    slot: SlotClaim | None = None) -> tuple[BookingRefused | None, Ticket | None]:
        """book, and the callback ticket as booked (None: refused, or another callback stands).
        `told`: the promise the caller will hear (shape, scale of a wait from the call's start), written
        with the booking so it is durable before it is said. `slot`: the chosen time's place in its slot,
        taken in the same write (a caller's own booking only)."""
        guard = self.bookings.callback_guard(queue.id, number)  # one read: the opt-out and the open callback
        if guard.opted_out:
            if not explicit:
                return BookingRefused.OPTED_OUT, None
            self.bookings.set_opt_out(number, False, now)  # asking for a callback is consent again
        if fresh is None:
            fresh = not explicit and not queue.recovery_keeps_place  # recovery at the end of the line
        target = ticket_id(queue.id, self.tickets.next_number(queue.id)) if fresh else ticket.id
        if guard.holder not in (None, target) and self._still_open(guard.holder):
            log.info("number already has an open callback", extra={"ticket": ticket.id, "open": guard.holder})
            return None, None  # that callback stands for this call too
        if fresh:
            holder = self.bookings.reserve_open_callback(queue.id, number, target)
            if holder != target:
                log.info("number already has an open callback", extra={"ticket": ticket.id, "open": holder})
                return None, None
            refused = self.bookings.take_allowance(number, now.strftime("%Y-%m-%d"),
                                                   queue.max_callbacks_per_number_per_day, self.daily_callback_budget)
            booking: int | str = refused or 1
        else:
            # One transaction: the open-callback pointer, the conversion (an abandoned ticket, from a
            # recovery or a confirm keypress that came after the hang-up, converts from ABANDONED; a
            # caller still on the line, from holding) and the allowance, all or nothing.
            booking = self.bookings.book_callback(
                ticket, number, not_before, now, ticket.status is TicketStatus.ABANDONED, guard.holder,
                now.strftime("%Y-%m-%d"), queue.max_callbacks_per_number_per_day, self.daily_callback_budget,
                told, slot)
            if booking in (BOOKING_TAKEN, BOOKING_MOVED):
                return None, None  # another request booked this number or this ticket first
        if isinstance(booking, str):
            log.warning("callback refused", extra={"ticket": ticket.id, "reason": booking, "number": masked(number)})
            return BookingRefused(booking), None
        if fresh:
            created = self.tickets.create_callback(target, number, not_before, now, ticket.language, ticket.origin,
                                                   told, slot)
            if created is None:  # the chosen slot filled meanwhile (its pointer names no ticket: it stands for none)
                return BookingRefused.SLOT_FULL, None
            ticket = booked = created
        else:  # as the booking left it: a caller in line whose callback is due at once holds their place
            booked = ticket.evolve(kind=TicketKind.CALLBACK, status=TicketStatus.SCHEDULED, not_before=not_before,
                                   held=ticket.status is TicketStatus.WAITING and not_before <= now,
                                   slot=slot.key if slot is not None else ticket.slot)
        try:
            deadline = None if explicit else horizon_end(queue, max(now, not_before))  # a recovery's horizon
            execution_id = self.orchestrator.start(f"{ticket.id}-{booking}",
                                                   workflow_input(queue, booked, not_before, deadline=deadline))
        except OrchestratorError:
            if ticket.status in HOLDING:  # the caller stays in line on the phone; the chosen time is given back
                self.tickets.revert_to_live(ticket.id, waiting=True, slot=slot.key if slot is not None else None)
            raise
        self.tickets.set_execution(ticket.id, execution_id)
        if explicit:
            announce_booked(self.bus, queue, ticket.id)
        booked = booked.evolve(callback_number=number, pending_number=None, execution_id=execution_id)
        if told is not None:
            booked = booked.evolve(told_shape=told[0], told_scale=told[1])
        return None, booked

    def open_callback(self, queue: QueueConfig, number: str) -> Ticket | None:
        """The number's open callback in the queue, if one stands."""
        return self.bookings.open_callback_for(queue.id, number)

    def _still_open(self, holder: str) -> bool:
        """Whether the callback an open-callback pointer names is still open (not yet dialing)."""
        try:
            held = self.tickets.get(holder)
        except TicketNotFoundError:
            return False
        return held.kind is TicketKind.CALLBACK and held.status in (TicketStatus.SCHEDULED, TicketStatus.WAITING,
                                                                    TicketStatus.CONNECTING)


def workflow_input(queue: QueueConfig, ticket: Ticket, not_before: datetime, attempt: int = 1,
                   deadline: datetime | None = None) -> dict[str, object]:
    """The callback workflow's input for the ticket as it stands when the workflow starts: whether it
    stands in the line already (its first Park leaves the line's counts alone) or comes back into it.
    `deadline`: a recovery's horizon (retry.horizon_end from its slot): it waits in line no longer than
    until then, and is given up (lost, notified) if no agent took it."""
    park = queue.max_park_seconds
    if deadline is not None:
        park = int(min(park, max(MIN_PARK_SECONDS, (deadline - not_before).total_seconds())))
    return {
        "ticket_id": ticket.id,
        "queue_id": queue.id,
        "priority": ticket.priority,
        "schedule": {"not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"), "attempt": attempt,
                     "in_line": ticket.in_line},
        "max_attempts": len(queue.retry_delays_seconds),
        "park_timeout_seconds": park,
        "dial_timeout_seconds": queue.dial_timeout_seconds,
    }


def callback_time(queue: QueueConfig, number: str | None, earliest: datetime, staffing: Staffing) -> datetime | None:
    """The first moment from `earliest` a callback could be dialed: once an agent is expected (at
    once while someone is signed in; else the roster's or the queue's next opening), inside business
    hours and the callee's calling window."""
    expected = earliest if staffing.staffed else (queue.staffed_hours or queue.hours).next_opening(earliest)
    return None if expected is None else next_slot(queue, number or "", expected)


def promise(queue: QueueConfig, number: str, snapshot: QueueSnapshot, est: WaitEstimate, not_before: datetime,
            now: datetime) -> datetime | None:
    """When the caller who presses 1 will be told to expect the call (`promisable`), or the slot
    they are given if later. None: no time can be promised (nobody signed in). The booking writes it
    on the ticket; the table's stream enters it in the dispatcher's promise book (guard)."""
    if not_before > now:
        return not_before
    if not snapshot.staffing.staffed:
        return None
    return promisable(queue, number, est, now, guard.promise_delay(queue, snapshot.estimator, now))


def told(ticket: Ticket, promised: datetime, est: WaitEstimate) -> tuple[float, float]:
    """The promise as the ticket keeps what a caller was told: a gamma's shape and scale whose
    mean is the wait from the call's start to the promised time."""
    shape = est.shape if est.shape > 0 else 1.0
    return shape, max(1.0, (promised - ticket.created_at).total_seconds()) / shape


def told_at(ticket: Ticket, start: datetime) -> tuple[float, float]:
    """A chosen time as the ticket keeps what a caller was told (`guard.promised_at` reads it back): a
    wait of one stage from the call's start to the slot's start."""
    return 1.0, max(1.0, (start - ticket.created_at).total_seconds())


def promisable(queue: QueueConfig, number: str, est: WaitEstimate, now: datetime,
               delay: float | None) -> datetime | None:
    """The time a callback booked now can be promised by: the caller's turn as estimated for their
    place, or, if later, `delay` (guard.promise_delay: when the callback plan makes it, after the
    promises ahead and with the live callers expected; or how long such callbacks have taken at this
    hour, at a high quantile, if longer; None: neither known yet), in whole minutes; the part after
    closing is carried to the next opening."""
    at = now + timedelta(minutes=minutes_number(max(est.mean, delay or 0.0)))
    closes = queue.hours.closes_at(now)
    if closes is not None and at > closes:
        opening = queue.hours.next_opening(closes)
        return None if opening is None else next_slot(queue, number, opening + (at - closes))
    return at


def spoken_for(queue: QueueConfig, delay: float | None, now: datetime) -> bool:
    """The day's callbacks are spoken for: one booked now is not expected before closing (`delay`,
    guard.promise_delay), and the queue offers callbacks only within the day."""
    return queue.offer_callback_within_day and delay is not None and not within_today(
        queue, now + timedelta(seconds=delay), now)


def within_today(queue: QueueConfig, moment: datetime, now: datetime) -> bool:
    closes = queue.hours.closes_at(now)
    return closes is not None and moment <= closes


def why_later(queue: QueueConfig, number: str, caller: str | None, now: datetime) -> str:
    """Why the callback is not now: we are closed; the callee's calling window, as 'early' or 'late
    where you are' only for the caller's own number whose local time is known (else the window itself
    is said); or no agent is expected before then."""
    if not queue.hours.is_open(now):
        return "callback_confirmed_closed"
    if not in_calling_window(number, now, queue.hours.tz):
        early = too_early(number, now) if number == own_number(queue, caller) else None
        if early is None:
            return "callback_confirmed_window"
        return "callback_confirmed_early" if early else "callback_confirmed_later"
    return "callback_confirmed_at"


def own_number(queue: QueueConfig, caller: str | None) -> str | None:
    """The caller's own number (the one they call from), as a callback number reads, if it is one."""
    try:
        return number_policy(queue).normalize(caller)
    except NumberNotAllowedError:
        return None
