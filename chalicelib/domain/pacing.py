"""Outbound pacing: every dial Holdfast starts goes through its provider account's pace.

Providers cap the calls an account may start per second (Twilio: 1 by default). When many dials fall
due at once (the opening hour, the end of an outage), the excess would be refused and spent as failed
attempts. Instead each dial waits in the account's backlog, in the order it is owed, and a token bucket
(refilled at the configured calls per second) lets them out one by one: never faster than the pace,
each dial once (the backlog's claim is conditional), none dropped (a dial leaves the backlog only to be
dialed), and, whenever there is no token, an alarm set for the moment there will be.

The order it is owed (`order_of`): callbacks whose caller was told a time and that are due go first,
by that promise; then the agent legs of holding callers, by their place in line; then every other
callback (recoveries, promises not yet due), by when it was due."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from ..ports import Alarm, Clock, OutboundPace, PendingDial
from .guard import promised_at
from .model import Ticket

log = logging.getLogger(__name__)

PROMISED, LIVE_LEG, OTHER = 0, 1, 2
CALLBACK, BRIDGE = "callback", "bridge"
CLAIM_TRIES = 5  # a token in hand and the head claimed by another worker: the next head, this many times


def refill(tokens: float, since: datetime | None, rate: float, burst: float, now: datetime) -> float:
    """The bucket's tokens at `now`: what it held, plus `rate` a second since, up to `burst`."""
    if since is None:
        return burst
    return min(burst, tokens + max(0.0, (now - since).total_seconds()) * rate)


def next_token(tokens: float, now: datetime, rate: float) -> datetime:
    return now + timedelta(seconds=max(0.0, 1.0 - tokens) / rate)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S.%f")


def order_of(ticket: Ticket, now: datetime, kind: str = CALLBACK) -> str:
    """The sort key of a dial in the backlog (text, so a table's sort key keeps the same order)."""
    if kind == BRIDGE:
        klass, when = LIVE_LEG, ticket.created_at
    else:
        promised = promised_at(ticket)
        due = promised is not None and promised <= now
        klass, when = (PROMISED, promised) if due and promised else (OTHER, ticket.not_before or ticket.created_at)
    return f"{klass}#{_stamp(when)}#{ticket.number:012d}#{ticket.queue_id}"


def callback_dial(ticket: Ticket, dial_id: str, now: datetime) -> PendingDial:
    return PendingDial(order_of(ticket, now), CALLBACK, ticket.id, dial_id)


def bridge_dial(ticket: Ticket, agent_id: str, now: datetime) -> PendingDial:
    return PendingDial(order_of(ticket, now, BRIDGE), BRIDGE, ticket.id, agent_id)


@dataclass(frozen=True)
class Paced:
    dialed: int  # dials let out by this drain
    backlog: int  # dials still waiting
    rate: float  # the account's calls per second


class Pacer:
    """One provider account's pace over the `OutboundPace` store; `place` dials what it lets out."""

    def __init__(self, pace: OutboundPace, alarm: Alarm, clock: Clock, account: str, rate: float,
                 burst: float = 1.0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a pace needs a positive rate and room for one call")
        self.pace, self.alarm, self.clock = pace, alarm, clock
        self.account, self.rate, self.burst = account, rate, burst

    def submit(self, dial: PendingDial) -> bool:
        """Into the backlog (once): the next drain dials it in its turn."""
        return self.pace.wait(self.account, dial)

    def drain(self, place: Callable[[PendingDial], None], most: int = 100) -> Paced:
        """Let out as many dials as the bucket allows now, first owed first, each to `place`; when the
        bucket is empty and dials still wait, set the alarm for its next token."""
        dialed = 0
        while dialed < most:
            head = self.pace.first(self.account, 1)
            if not head:
                break
            grant = self.pace.take(self.account, self.rate, self.burst, self.clock.now())
            if not grant.granted:
                self.alarm.wake(self.account, grant.next_at)
                break
            dial = self._claim(head[0])
            if dial is None:
                continue  # the backlog emptied under us: the token is spent, never exceeded
            dialed += 1
            try:
                place(dial)
            except Exception:  # noqa: BLE001 - one dial's failure is its own; the rest keep their turn
                log.exception("placing a paced dial failed", extra={"ticket": dial.ticket_id})
        return Paced(dialed, self.pace.backlog(self.account), self.rate)

    def _claim(self, dial: PendingDial) -> PendingDial | None:
        for _ in range(CLAIM_TRIES):
            if self.pace.claim(self.account, dial):
                return dial
            head = self.pace.first(self.account, 1)  # another worker took it: the next one owed
            if not head:
                return None
            dial = head[0]
        return None
