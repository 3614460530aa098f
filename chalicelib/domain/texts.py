"""Texts to callers about their callback (issue 27), and the small page their link opens.

After a callback a caller asked for is booked (by phone or from the web), the booking publishes
`callback_booked` with the ticket id only (no number on the queue); the notify worker sends one text,
where the queue texts that number's country and the number has not opted out: when (the chosen or the
promised time, else their place), the number the call will come from, and a signed link to their page
(see the place, cancel). STOP (a caller's reply, or the provider's own opt-out callback) opts the number
out of callbacks and texts, and is recorded. Numbers and links are never logged.

Reports count texts as facts recorded once each (the operations log): sent when the provider's API took
it, and again (the same fact) when its delivery report says sent; delivered and failed from the delivery
reports, which carry back the queue and half hour the text was counted in; an opt-out once per number.
Delivery reports come duplicated and in any order: each fact's id is the provider's message id."""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import urlencode

import phonenumbers

from ..ports import Bookings, Clock, InboundText, Messenger, OperationsLog, QueueStats, TextStatus, Tickets
from . import faults, guard
from .changes import CallbackChanges, changeable
from .errors import NotifyError, TicketNotFoundError, UnknownQueueError
from .links import LinkError, sign, sign_status, verify, verify_status
from .model import Ticket
from .queues import QueueConfig, QueueDirectory, caller_id_for
from .reports import bucket_of, bucket_start
from .slots import slot_start

log = logging.getLogger(__name__)

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
LINK_LIFETIME = timedelta(days=2)  # after the callback's time: the page is useless once it is over

Place = Callable[[QueueConfig, Ticket], int]


@dataclass(frozen=True)
class CallerView:
    """What a caller's page shows."""

    queue_name: str
    pending: bool  # still to come (and so cancellable)
    at: datetime | None  # the chosen or promised time
    place: int | None
    calling_from: str | None


def may_text(queue: QueueConfig, number: str) -> bool:
    """Whether the queue texts numbers of this one's country."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False
    return region in queue.sms_countries


class CallbackTexts:
    def __init__(self, tickets: Tickets, bookings: Bookings, messenger: Messenger | None, queues: QueueDirectory,
                 clock: Clock, changes: CallbackChanges, place: Place, link_secret: str, base_url: str,
                 stats: QueueStats, oplog: OperationsLog | None = None) -> None:
        self.tickets, self.bookings, self.messenger, self.stats = tickets, bookings, messenger, stats
        self.oplog = oplog  # where texts are counted (reports); None: not counted
        self.queues, self.clock, self.changes, self.place = queues, clock, changes, place
        self.link_secret, self.base_url = link_secret, base_url.rstrip("/")

    def link(self, ticket: Ticket) -> str:
        at = slot_start(ticket.slot) if ticket.slot else (guard.promised_at(ticket) or ticket.not_before
                                                          or self.clock.now())
        return f"{self.base_url}/c/{sign(ticket.id, max(at, self.clock.now()) + LINK_LIFETIME, self.link_secret)}"

    def compose(self, queue: QueueConfig, ticket: Ticket, sender: str) -> str:
        view = self.view_of(queue, ticket)
        if view.at is not None:
            zone = queue.hours.zone
            when = view.at.astimezone(zone).strftime("%a %d %b %H:%M ") + (view.at.astimezone(zone).tzname() or "")
            first = f"{queue.name}: we will call you back by {when}"
        else:
            first = f"{queue.name}: we will call you back as soon as an agent is free"
        place = f" You are number {view.place} in line." if view.place else ""
        return (f"{first} from {sender}.{place} See or cancel: {self.link(ticket)} . "
                f"Reply STOP to opt out.")

    def compose_reminder(self, queue: QueueConfig, ticket: Ticket, sender: str) -> str:
        at = slot_start(ticket.slot or "").astimezone(queue.hours.zone)
        return (f"{queue.name}: a reminder, we will call you at {at.strftime('%H:%M')} {at.tzname() or ''} "
                f"from {sender}. Change or cancel: {self.link(ticket)} . Reply STOP to opt out.")

    def confirm(self, ticket_id: str) -> bool:
        """The confirmation text for a callback just booked; False when none was sent (the queue does
        not text that country, the number opted out, the callback is no longer pending)."""
        return self._send(ticket_id, self.compose, "confirmation", reminder=False)

    def send_code(self, queue: QueueConfig, number: str, code: str) -> bool:
        """A web request's one-time code (domain/webcode.py), where the queue texts that number; False
        when it cannot be sent. The code is never logged."""
        body = f"{queue.name}: your code is {code}. It is good for 10 minutes."
        return self._text(queue, number, lambda sender: body, "code", bucket_of(self.clock.now(), queue.hours.zone),
                          {"queue": queue.id})

    def remind(self) -> int:
        """The sweep's reminders: a text `reminder_minutes` before each chosen time still to come (once
        each, where the queue texts that number); how many were sent."""
        sent = 0
        for queue in self.queues:
            policy = queue.scheduled_callbacks
            if self.messenger is None or policy is None or not policy.reminder_minutes or not queue.sms_countries:
                continue
            try:
                due = guard.reminders_due(self.stats, queue, self.clock.now(), policy.reminder)
            except Exception:  # noqa: BLE001 - the book is an index: no reminder this minute, the next sweep tries
                faults.swallowed("texts.remind", "could not read the reminders due", extra={"queue": queue.id})
                continue
            sent += sum(1 for ticket_id in due if self._send(ticket_id, self.compose_reminder, "reminder", reminder=True))
        return sent

    def _send(self, ticket_id: str, compose: Callable[[QueueConfig, Ticket, str], str], what: str,
              reminder: bool) -> bool:
        """One text about a pending callback; False when none was sent (the queue does not text that
        country, the number opted out, the callback is no longer pending; a reminder: not at a chosen time)."""
        try:
            ticket = self.tickets.get(ticket_id)
        except TicketNotFoundError:
            return False
        queue = self.queues.get(ticket.queue_id)
        number = ticket.callback_number
        if not number or not changeable(ticket) or (reminder and not ticket.slot):
            return False
        return self._text(queue, number, lambda sender: compose(queue, ticket, sender), what,
                          bucket_of(ticket.created_at, queue.hours.zone), {"ticket": ticket.id})

    def _text(self, queue: QueueConfig, number: str, body: Callable[[str], str], what: str, bucket: str,
              about: dict[str, str]) -> bool:
        """One text to a number from the queue's caller ID, where the queue texts that number's country and
        it has not opted out; counted as sent in the queue's `bucket` (the half hour its delivery reports
        come back to). False when none was sent. `about` is what the log may name (never the number)."""
        if self.messenger is None or not may_text(queue, number) or self.bookings.is_opted_out(number):
            return False
        sender = caller_id_for(queue, self.messenger.name)
        if sender is None:
            return False
        status_url = (f"{self.base_url}/sms/{self.messenger.name}/status?"
                      + urlencode({"q": queue.id, "b": bucket, "s": sign_status(queue.id, bucket, self.link_secret)}))
        try:
            message_id = self.messenger.send_text(number, sender, body(sender), status_url)
        except NotifyError as exc:
            log.warning(f"{what} text failed", extra={**about, "error": str(exc)})
            return False
        if message_id:  # without the provider's id no report could ever match it: nothing to count it by
            self._count(queue.id, bucket, f"sms#{message_id}#sent", sms_sent=1)
        log.info(f"{what} text sent", extra=about)
        return True

    def _count(self, queue_id: str, bucket: str, fact_id: str, **counts: float) -> bool:
        return self.oplog is not None and self.oplog.record(fact_id, queue_id, bucket, counts)

    def delivery(self, status: TextStatus, queue_id: str, bucket: str, mac: str) -> bool:
        """A provider's delivery report for a text we sent, with the queue and half hour its status URL
        names and their MAC (`s=`): counted once however often and in whatever order reports come (a
        delivered text was sent, so 'delivered' also counts the sent fact). False if nothing new was
        counted or the queue or half hour is not one; UnsignedStatusUrlError (nothing counted) when the
        MAC is not Holdfast's for them: the provider signs the report's body, not the URL it is sent to."""
        self.check_status_url(queue_id, bucket, mac)
        try:
            self.queues.get(queue_id)
            bucket_start(bucket)
        except (UnknownQueueError, ValueError):
            return False
        fact = f"sms#{status.message_id}#"
        if status.state == "failed":
            return self._count(queue_id, bucket, fact + "failed", sms_failed=1)
        added = self._count(queue_id, bucket, fact + "sent", sms_sent=1)
        if status.state == "delivered":
            added = self._count(queue_id, bucket, fact + "delivered", sms_delivered=1) or added
        return added

    def check_status_url(self, queue_id: str, bucket: str, mac: str) -> None:
        """UnsignedStatusUrlError unless a status URL's queue and half hour are the ones Holdfast signed."""
        verify_status(queue_id, bucket, mac, self.link_secret)

    def view_of(self, queue: QueueConfig, ticket: Ticket) -> CallerView:
        pending = changeable(ticket)
        at = slot_start(ticket.slot) if ticket.slot else guard.promised_at(ticket)
        sender = caller_id_for(queue, self.messenger.name if self.messenger else "")
        return CallerView(queue.name, pending, at, self.place(queue, ticket) if pending else None, sender)

    def _ticket(self, token: str) -> Ticket:
        ticket_id = verify(token, self.link_secret, self.clock.now())  # LinkError: 404, nothing revealed
        try:
            return self.tickets.get(ticket_id)
        except TicketNotFoundError as exc:
            raise LinkError("not a caller link") from exc

    def page(self, token: str) -> CallerView:
        """What the link shows: LinkError for a link that is not whole, not ours or expired."""
        ticket = self._ticket(token)
        return self.view_of(self.queues.get(ticket.queue_id), ticket)

    def cancel(self, token: str) -> bool:
        """The caller cancels from their page: True if it was theirs to cancel (and is cancelled now)."""
        ticket = self._ticket(token)
        return self.changes.cancel(ticket)

    def inbound(self, text: InboundText) -> bool:
        """A caller's reply: STOP (or the provider's opt-out) opts the number out, recorded with the time;
        True if it did."""
        if not (text.opt_out or text.body.strip().upper() in STOP_WORDS):
            return False
        now = self.clock.now()
        self.bookings.set_opt_out(text.sender, True, now)
        log.info("a number opted out by text")
        # Counted once per number (a keyed digest, never the number) for the queue whose caller ID it wrote to.
        provider = self.messenger.name if self.messenger is not None else ""
        queue = next((q for q in self.queues if text.recipient and caller_id_for(q, provider) == text.recipient), None)
        if queue is not None:
            digest = hmac.new(self.link_secret.encode(), b"opt-out|" + text.sender.encode(), hashlib.sha256).hexdigest()
            self._count(queue.id, bucket_of(now, queue.hours.zone), f"sms_opt_out#{digest[:32]}", sms_opt_outs=1)
        return True
