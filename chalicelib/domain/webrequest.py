"""Callbacks asked for from a website or an app (issue 27): the queue's wait shown first, then a number
(and a chosen time, where the queue offers them) books a callback in the same line and the same workflow
as a caller who pressed 1, under the same number policy, opt-outs and allowances.

Abuse is bounded before anything is booked: only the queue's allowed origins (the edge checks the
browser's Origin), a per-client quota (an hour's requests from one address, counted in the store: many
Lambda containers share it), the number's daily allowance and the day's budget (`CallbackBooking`),
bounded input, and where the queue asks for it a code texted to the number (`domain/webcode.py`; its
sends and its checks counted per number). A request may choose one of the slots the wait offers: it
takes its place in the slot in the booking's own write, as a caller choosing by phone does. A web request opens no live ticket: it takes the next number of the queue's counter and
becomes a CALLBACK ticket at once (`CallbackBooking.book_ticket(fresh=True)`), so the dispatcher never
sees a caller who is not on a phone."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from ..ports import Bookings, Clock, Line
from . import booking as rules, guard, webcode
from .booking import CallbackBooking, told_at
from .errors import BadRequestError, NumberNotAllowedError
from .ewt import WaitEstimate
from .model import BookingRefused, Ticket, TicketKind, TicketStatus
from .queues import QueueConfig, QueueDirectory
from .slotbook import SlotBook
from .slots import OpenSlot, slot_start
from .webpolicy import WebPolicy

log = logging.getLogger(__name__)

MAX_NUMBER_LENGTH = 32  # characters of a typed number accepted at all (bounded input)
QUOTA_WINDOW = timedelta(hours=1)
ORIGIN = "web"
CODES_PER_NUMBER_PER_HOUR = 3  # texts with a code one number is sent in an hour
CHECKS_PER_NUMBER_PER_HOUR = 5  # codes tried for one number in an hour (right or wrong)

SendCode = Callable[[QueueConfig, str, str], bool]  # (queue, number, code) -> texted


class WebRequestError(BadRequestError):
    """A web request refused before anything was booked; `status` is the HTTP status it maps to."""

    status = 400


class WebNotOfferedError(WebRequestError):
    status = 404


class TooManyRequestsError(WebRequestError):
    status = 429


class CodeRequiredError(WebRequestError):
    """The queue books a web request only with the code texted to the number (none given, or wrong)."""

    status = 403


class CodeNotSentError(WebRequestError):
    """No code can be texted to this number (the queue does not text its country, it opted out, or no
    messaging account is configured)."""

    status = 422


class SlotTakenError(WebRequestError):
    """The chosen time is full, or is not one a request may choose (past, outside hours)."""

    status = 409


class CallbackRefusedError(WebRequestError):
    """The booking rules refused the number (its allowance, the day's budget)."""

    status = 429

    def __init__(self, reason: BookingRefused) -> None:
        super().__init__(f"callback refused: {reason.value}")
        self.reason = reason


@dataclass(frozen=True)
class WaitView:
    """What the page shows before anyone asks: whether callbacks are taken now, the place a request
    would take and the wait (minutes, its 80% range) to expect."""

    queue: str
    is_open: bool
    place: int
    wait_minutes: float | None  # None: nobody is signed in, so no wait can be estimated
    wait_range_minutes: tuple[float, float] | None
    code_required: bool = False  # a code texted to the number comes first
    slots: tuple[OpenSlot, ...] = ()  # times a request may choose instead (where the queue offers them)


@dataclass(frozen=True)
class WebBooked:
    """The callback a web request booked (or the number's callback that already stood)."""

    queue: str
    place: int | None
    callback_at: datetime | None  # promised by then (None: as soon as an agent is free)
    already_booked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def client_key(address: str) -> str:
    """A client's address as the quota counts it: hashed, so no address is stored."""
    return hashlib.sha256(address.encode()).hexdigest()[:24]


class WebRequests:
    def __init__(self, booking: CallbackBooking, bookings: Bookings, line: Line, clock: Clock, queues: QueueDirectory,
                 estimate: Any, slots: SlotBook | None = None, send_code: SendCode | None = None,
                 code_secret: str = "") -> None:
        """`estimate`: the call flow's (queue, ticket, staffing, snapshot) -> (WaitEstimate, ahead);
        `send_code`: texts a code (CallbackTexts.send_code); `code_secret`: the key codes derive from."""
        self.booking, self.bookings, self.line = booking, bookings, line
        self.clock, self.queues, self.estimate = clock, queues, estimate
        self.slots, self.send_code, self.code_secret = slots, send_code, code_secret

    def policy(self, queue_id: str) -> tuple[QueueConfig, WebPolicy]:
        """The queue and its web policy; WebNotOfferedError if it takes no web requests (or is unknown)."""
        queue = self.queues.get(queue_id)  # UnknownQueueError: mapped to 404 at the edge
        if queue.web_callbacks is None:
            raise WebNotOfferedError(f"queue {queue_id} takes no web callback requests")
        return queue, queue.web_callbacks

    def wait(self, queue_id: str) -> WaitView:
        """The wait shown before a request: a new ticket's place and estimate, from the queue's snapshot."""
        queue, _ = self.policy(queue_id)
        now = self.clock.now()
        snapshot = self.line.snapshot(queue.id)
        est, ahead = self._estimate(queue, snapshot, now)
        policy = queue.web_callbacks
        code = bool(policy and policy.sms_code)
        slots = tuple(self._open_slots(queue))
        if not snapshot.staffing.staffed or est.shape <= 0:
            return WaitView(queue.id, queue.hours.is_open(now), ahead + 1, None, None, code, slots)
        return WaitView(queue.id, queue.hours.is_open(now), ahead + 1, round(est.mean / 60, 1),
                        (round(est.low / 60, 1), round(est.high / 60, 1)), code, slots)

    def _open_slots(self, queue: QueueConfig) -> list[OpenSlot]:
        """The times the page offers (for a callee in the queue's own zone; a chosen one is checked again
        against the number's calling window when it is booked)."""
        if self.slots is None or queue.scheduled_callbacks is None:
            return []
        return self.slots.open_slots(queue, queue.caller_id or (queue.numbers[0] if queue.numbers else ""))

    def _number(self, queue: QueueConfig, policy: WebPolicy, raw_number: Any, client: str, now: datetime) -> str:
        """The typed number, accepted: bounded input, the address's quota, the number policy."""
        if not isinstance(raw_number, str) or not raw_number.strip() or len(raw_number) > MAX_NUMBER_LENGTH:
            raise WebRequestError(f"number: a phone number of at most {MAX_NUMBER_LENGTH} characters")
        if not self._quota(f"WEB#{queue.id}#{client_key(client)}", policy.per_client_per_hour, now):
            raise TooManyRequestsError("too many requests from this address; try again later")
        return rules.number_policy(queue).accept(raw_number.strip())  # NumberNotAllowedError: 400, its reason

    def _quota(self, key: str, limit: int, now: datetime) -> bool:
        return self.bookings.take_quota(key, now.strftime("%Y-%m-%dT%H"), limit, now + 2 * QUOTA_WINDOW)

    def request_code(self, queue_id: str, raw_number: Any, client: str) -> None:
        """Text the number its code (where the queue asks for one): quota per address and per number."""
        queue, policy = self.policy(queue_id)
        if not policy.sms_code:
            raise WebRequestError("this queue books web callbacks without a code")
        now = self.clock.now()
        number = self._number(queue, policy, raw_number, client, now)
        if not self._quota(f"WEBCODE#{queue.id}#{client_key(number)}", CODES_PER_NUMBER_PER_HOUR, now):
            raise TooManyRequestsError("too many codes sent to this number; try again later")
        if self.send_code is None or not self.code_secret or not self.send_code(
                queue, number, webcode.code_for(self.code_secret, queue.id, number, now)):
            raise CodeNotSentError("a code cannot be texted to this number")
        log.info("web request code sent", extra={"queue": queue.id})

    def request(self, queue_id: str, raw_number: Any, client: str, code: Any = None, slot: Any = None) -> WebBooked:
        """Book a callback for `raw_number` asked for by `client` (an address): quota, number policy, the
        code where the queue asks for one, and the booking rules (in `slot`, if one is chosen); the place
        and the time the callback is promised by."""
        queue, policy = self.policy(queue_id)
        now = self.clock.now()
        number = self._number(queue, policy, raw_number, client, now)
        if policy.sms_code:
            if not self._quota(f"WEBTRY#{queue.id}#{client_key(number)}", CHECKS_PER_NUMBER_PER_HOUR, now):
                raise TooManyRequestsError("too many codes tried for this number; try again later")
            if not webcode.code_ok(self.code_secret, queue.id, number, code, now):
                raise CodeRequiredError("the code texted to this number is needed (wrong or expired)")
        snapshot = self.line.snapshot(queue.id)
        template = Ticket(queue.id, 0, TicketKind.LIVE, TicketStatus.AFTER_HOURS, now, caller=number,
                          language=queue.language, origin=ORIGIN)
        if slot is not None:
            refused, booked = self._book_slot(queue, template, number, slot, now)
        else:
            not_before = rules.callback_time(queue, number, now, snapshot.staffing) or now
            # the promise the page will show, written with the ticket (durable before it is shown)
            est, _ = self._estimate(queue, snapshot, now)
            promised = rules.promise(queue, number, snapshot, est, not_before, now)
            told = None if promised is None else rules.told(template, promised, est)
            refused, booked = self.booking.book_ticket(queue, template, number, not_before, now, explicit=True,
                                                       fresh=True, told=told)
        if refused is BookingRefused.SLOT_FULL:
            raise SlotTakenError("that time has just been taken; choose another")
        if refused is not None:
            raise CallbackRefusedError(refused)
        if booked is None:  # the number has a callback in this queue already: that one stands
            standing = self.bookings.open_callback_for(queue.id, number)
            return self._booked(queue, standing, snapshot, now, already=True)
        log.info("web callback booked", extra={"ticket": booked.id})
        return self._booked(queue, booked, snapshot, now)

    def _book_slot(self, queue: QueueConfig, template: Ticket, number: str, slot: Any,
                   now: datetime) -> tuple[BookingRefused | None, Ticket | None]:
        """Book the chosen slot `slot` (a key the wait offered), its place taken in the booking's write."""
        try:
            claim = self.slots.claim(queue, number, slot) if self.slots is not None and isinstance(slot, str) \
                and len(slot) <= MAX_NUMBER_LENGTH else None
        except BadRequestError:  # not a slot's key at all
            claim = None
        if claim is None or claim.capacity <= 0:
            raise SlotTakenError("that time cannot be chosen (not offered, or not for this number)")
        start = slot_start(slot)
        return self.booking.book_ticket(queue, template, number, start, now, explicit=True, fresh=True,
                                        told=told_at(template, start), slot=claim)

    def _booked(self, queue: QueueConfig, ticket: Ticket | None, snapshot: Any, now: datetime,
                already: bool = False) -> WebBooked:
        if ticket is None:
            return WebBooked(queue.id, None, None, already)
        _, ahead = self.estimate(queue, ticket, snapshot.staffing, snapshot)
        return WebBooked(queue.id, ahead + 1, guard.promised_at(ticket), already)

    def _estimate(self, queue: QueueConfig, snapshot: Any, now: datetime) -> tuple[WaitEstimate, int]:
        """The estimate a request made now would get: a ticket behind everyone waiting."""
        # Out of the line and remembering nothing of joining: by the line's counts, behind all of its
        # class and those above (the counts are exact: no count query for a probe).
        probe = Ticket(queue.id, 0, TicketKind.CALLBACK, TicketStatus.SCHEDULED, now)
        return self.estimate(queue, probe, snapshot.staffing, snapshot, True)


__all__ = ["WebPolicy", "WebRequests", "WaitView", "WebBooked", "WebRequestError", "WebNotOfferedError",
           "TooManyRequestsError", "CallbackRefusedError", "CodeRequiredError", "CodeNotSentError", "SlotTakenError",
           "NumberNotAllowedError", "client_key"]
