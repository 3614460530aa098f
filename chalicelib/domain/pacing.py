"""Outbound pacing: every dial Holdfast starts goes through its provider account's pace.

Providers cap the calls an account may start per second (Twilio: 1 by default). When many dials fall
due at once (the opening hour, the end of an outage), the excess would be refused and spent as failed
attempts. Instead the account's dials are spaced at least 1/rate seconds apart (its next slot, one
conditional write: a token bucket of one): a dial whose slot has come and that jumps nobody goes at
once; otherwise it waits in the account's backlog, in the order it is owed, and drains let the backlog
out one slot at a time: never faster than the pace, each dial once (the backlog's claim is
conditional), none dropped (a dial leaves the backlog only to be dialed), and, while dials wait, an
alarm set for the next slot.

The order it is owed (`order_of`): callbacks whose caller was told a time and that are due go first,
by that promise; then the agent legs of holding callers, by their place in line; then every other
callback (recoveries, promises not yet due), by when it was due."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ..ports import Alarm, Clock, OutboundPace, PendingDial
from . import faults
from .guard import promised_at
from .model import Ticket

log = logging.getLogger(__name__)

PROMISED, LIVE_LEG, OTHER = 0, 1, 2
CALLBACK, BRIDGE = "callback", "bridge"
CLAIM_TRIES = 5  # a token in hand and the head claimed by another worker: the next head, this many times


def slot(last: datetime | None, now: datetime) -> bool:
    """Whether the account's next slot has come: `last` is when it comes (None: never dialed)."""
    return last is None or last <= now


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
    account: str
    placed: tuple[tuple[PendingDial, object], ...]  # the dials let out by this drain, and what placing said
    backlog: int  # dials still waiting
    rate: float  # the account's calls per second

    @property
    def dialed(self) -> int:
        return len(self.placed)


class Pacer:
    """One provider account's pace over the `OutboundPace` store: no two dials closer than 1/rate
    seconds. `place` dials what it lets out."""

    def __init__(self, pace: OutboundPace, alarm: Alarm, clock: Clock, account: str, rate: float) -> None:
        if rate <= 0:
            raise ValueError("a pace needs a positive rate")
        self.pace, self.alarm, self.clock = pace, alarm, clock
        self.account, self.rate = account, rate
        self.interval = 1.0 / rate

    def now_or_wait(self, dial: PendingDial) -> bool:
        """True: dial it now (the slot had come and nothing waited before it; one write). False: it
        waits in the backlog, and the alarm is set for the next slot."""
        grant = self.pace.take(self.account, self.interval, self.clock.now(), when_idle=True)
        if grant.granted:
            return True
        self.submit(dial)
        self.alarm.wake(self.account, max(grant.next_at, self.clock.now()))
        return False

    def submit(self, dial: PendingDial) -> bool:
        """Into the backlog (once): a drain dials it in its turn."""
        return self.pace.wait(self.account, dial)

    def drain(self, place: Callable[[PendingDial], object], most: int = 100) -> Paced:
        """Let out the dials whose slots have come, first owed first, each to `place`; when dials still
        wait, set the alarm for the next slot."""
        placed: list[tuple[PendingDial, object]] = []
        while len(placed) < most:
            head = self.pace.first(self.account, 1)
            if not head:
                return Paced(self.account, tuple(placed), 0, self.rate)  # nothing waits: no count to read
            grant = self.pace.take(self.account, self.interval, self.clock.now())
            if not grant.granted:
                self.alarm.wake(self.account, grant.next_at)
                break
            dial = self._claim(head[0])
            if dial is None:
                continue  # the backlog emptied under us: the slot is spent, the pace never exceeded
            try:
                placed.append((dial, place(dial)))
            except Exception:  # noqa: BLE001 - one dial's failure is its own; the rest keep their turn
                # (a callback's workflow retries it when its dial timeout passes)
                faults.swallowed("pace.dial", "placing a paced dial failed", level=logging.ERROR,
                                 extra={"ticket": dial.ticket_id})
                placed.append((dial, None))
        return Paced(self.account, tuple(placed), self.pace.backlog(self.account), self.rate)

    def _claim(self, dial: PendingDial) -> PendingDial | None:
        for _ in range(CLAIM_TRIES):
            if self.pace.claim(self.account, dial):
                return dial
            head = self.pace.first(self.account, 1)  # another worker took it: the next one owed
            if not head:
                return None
            dial = head[0]
        return None
