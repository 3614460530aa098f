"""Telling a person: when a call is lost, when a callback finally fails, and when a wallboard
threshold has been crossed for its set time (domain/floor.py).

Channels are optional and configured per queue (docs/queues.md). A channel that fails is logged and
skipped; nothing here can hold up a caller (this runs from the notify queue, after the fact)."""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from ..ports import Notifier, Tickets
from .errors import HoldfastError
from .model import Ticket
from .phone import masked
from .queues import QueueConfig, QueueDirectory

log = logging.getLogger(__name__)

LOST_CALL = "lost_call"
CALLBACK_LOST = "callback_lost"
THRESHOLD = "threshold"


def threshold_text(queue: QueueConfig, event: Mapping[str, Any]) -> tuple[str, str]:
    """A threshold crossing: the measure, its value and limit (already worded by the sender, on the
    queue's clock), and since when."""
    return (f"Holdfast: {event.get('what', event.get('measure'))} in {queue.name}",
            f"{event.get('what', event.get('measure'))} is {event.get('value')} (alert at {event.get('limit')}) "
            f"since {event.get('since')}. Wallboard: the console, queue {queue.id}.")


def compose(kind: str, ticket: Ticket, queue: QueueConfig, event: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and text. Numbers are masked: the admin lost-call list has them in full."""
    who = masked(ticket.callback_number or ticket.caller)
    if kind == CALLBACK_LOST:
        return (f"Holdfast: callback failed in {queue.name}",
                f"Callback {ticket.id} to {who} failed after {ticket.attempts} attempt(s), last outcome "
                f"{ticket.last_outcome or 'none'}. Nobody has talked to this caller: please call them "
                f"(lost-call list, ticket {ticket.id}).")
    recovery = event.get("recovery", "booked")
    plan = ("a callback is booked" if recovery == "booked"
            else f"no callback ({str(recovery).replace('_', ' ')})")
    return (f"Holdfast: lost call in {queue.name}",
            f"Call {ticket.id} from {who} was lost ({event.get('cause', ticket.lost_cause)}); {plan}.")


class Notifications:
    def __init__(self, tickets: Tickets, queues: QueueDirectory, channels: Sequence[Notifier]) -> None:
        self.tickets = tickets
        self.queues = queues
        self.channels = channels

    def handle(self, event: Mapping[str, Any]) -> dict[str, str]:
        """Send one event on every channel its queue configured. Returns channel -> sent / failed."""
        kind = event.get("event")
        if kind == THRESHOLD:
            queue = self.queues.get(str(event.get("queue_id", "")))
            if not queue.notify.get("on_threshold", True):
                return {}
            subject, text = threshold_text(queue, event)
            return self._send(queue, subject, text)
        ticket = self.tickets.get(str(event.get("ticket_id", "")))
        queue = self.queues.get(ticket.queue_id)
        wanted = {LOST_CALL: queue.notify.get("on_lost_call", False),
                  CALLBACK_LOST: queue.notify.get("on_callback_failed", True)}.get(str(kind), False)
        if not wanted:
            return {}
        subject, text = compose(str(kind), ticket, queue, event)
        return self._send(queue, subject, text)

    def _send(self, queue: QueueConfig, subject: str, text: str) -> dict[str, str]:
        results: dict[str, str] = {}
        for channel in self.channels:
            try:
                if channel.send(queue.notify, subject, text):
                    results[channel.channel] = "sent"
            except (HoldfastError, OSError, ValueError) as exc:
                log.warning("notification channel failed", extra={"channel": channel.channel,
                                                                   "error": type(exc).__name__})
                results[channel.channel] = "failed"
        return results
