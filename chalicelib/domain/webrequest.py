"""Callbacks asked for from a website or an app (issue 27): the queue's wait shown first, then a number
(and a chosen time, where the queue offers them) books a callback in the same line and the same workflow
as a caller who pressed 1, under the same number policy, opt-outs and allowances.

Abuse is bounded before anything is booked: only the queue's allowed origins (the edge checks the
browser's Origin), a per-client quota (an hour's requests from one address, counted in the store: many
Lambda containers share it), the number's daily allowance and the day's budget (`CallbackBooking`), and
bounded input. A web request opens no live ticket: it takes the next number of the queue's counter and
becomes a CALLBACK ticket at once (`CallbackBooking.book_ticket(fresh=True)`), so the dispatcher never
sees a caller who is not on a phone."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..ports import Bookings, Clock, Line
from . import booking as rules, guard
from .booking import CallbackBooking
from .errors import BadRequestError, NumberNotAllowedError
from .ewt import WaitEstimate
from .model import BookingRefused, Ticket, TicketKind, TicketStatus
from .queues import QueueConfig, QueueDirectory
from .webpolicy import WebPolicy

log = logging.getLogger(__name__)

MAX_NUMBER_LENGTH = 32  # characters of a typed number accepted at all (bounded input)
QUOTA_WINDOW = timedelta(hours=1)
ORIGIN = "web"


class WebRequestError(BadRequestError):
    """A web request refused before anything was booked; `status` is the HTTP status it maps to."""

    status = 400


class WebNotOfferedError(WebRequestError):
    status = 404


class TooManyRequestsError(WebRequestError):
    status = 429


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
                 estimate: Any) -> None:
        """`estimate`: the call flow's (queue, ticket, staffing, snapshot) -> (WaitEstimate, ahead)."""
        self.booking, self.bookings, self.line = booking, bookings, line
        self.clock, self.queues, self.estimate = clock, queues, estimate

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
        if not snapshot.staffing.staffed or est.shape <= 0:
            return WaitView(queue.id, queue.hours.is_open(now), ahead + 1, None, None)
        return WaitView(queue.id, queue.hours.is_open(now), ahead + 1, round(est.mean / 60, 1),
                        (round(est.low / 60, 1), round(est.high / 60, 1)))

    def request(self, queue_id: str, raw_number: Any, client: str) -> WebBooked:
        """Book a callback for `raw_number` asked for by `client` (an address): quota, number policy and
        the booking rules; the place and the time the callback is promised by."""
        queue, policy = self.policy(queue_id)
        if not isinstance(raw_number, str) or not raw_number.strip() or len(raw_number) > MAX_NUMBER_LENGTH:
            raise WebRequestError(f"number: a phone number of at most {MAX_NUMBER_LENGTH} characters")
        now = self.clock.now()
        window = now.strftime("%Y-%m-%dT%H")
        if not self.bookings.take_quota(f"WEB#{queue.id}#{client_key(client)}", window, policy.per_client_per_hour,
                                        now + 2 * QUOTA_WINDOW):
            raise TooManyRequestsError("too many requests from this address; try again later")
        number = rules.number_policy(queue).accept(raw_number.strip())  # NumberNotAllowedError: 400, its reason
        snapshot = self.line.snapshot(queue.id)
        not_before = rules.callback_time(queue, number, now, snapshot.staffing) or now
        template = Ticket(queue.id, 0, TicketKind.LIVE, TicketStatus.AFTER_HOURS, now, caller=number,
                          language=queue.language, origin=ORIGIN)
        # the promise the page will show, written with the ticket (durable before it is shown)
        est, _ = self._estimate(queue, snapshot, now)
        promised = rules.promise(queue, number, snapshot, est, not_before, now)
        told = None if promised is None else rules.told(template, promised, est)
        refused, booked = self.booking.book_ticket(queue, template, number, not_before, now, explicit=True, fresh=True,
                                                   told=told)
        if refused is not None:
            raise CallbackRefusedError(refused)
        if booked is None:  # the number has a callback in this queue already: that one stands
            standing = self.bookings.open_callback_for(queue.id, number)
            return self._booked(queue, standing, snapshot, now, already=True)
        log.info("web callback booked", extra={"ticket": booked.id})
        return self._booked(queue, booked, snapshot, now)

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
           "TooManyRequestsError", "CallbackRefusedError", "NumberNotAllowedError", "client_key"]
