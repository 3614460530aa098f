"""Tickets and call events: the nouns of Holdfast."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from .errors import BadRequestError, TicketNotFoundError


class TicketKind(str, Enum):
    LIVE = "LIVE"  # holding on the phone
    CALLBACK = "CALLBACK"  # virtual: waiting to be called


class TicketStatus(str, Enum):
    WAITING = "WAITING"  # in line; a LIVE ticket can be bridged, a parked CALLBACK resumed
    AFTER_HOURS = "AFTER_HOURS"  # called while closed: hears the offer, not in line
    SCHEDULED = "SCHEDULED"  # a callback waiting for its next retry slot; keeps its number
    CONNECTING = "CONNECTING"  # claimed by an agent, being bridged or dialed
    SERVED = "SERVED"  # talked to an agent
    ABANDONED = "ABANDONED"  # hung up while holding
    LOST = "LOST"  # callback attempts ran out
    CANCELLED = "CANCELLED"


OPEN_STATUSES = frozenset({TicketStatus.WAITING, TicketStatus.AFTER_HOURS, TicketStatus.SCHEDULED,
                           TicketStatus.CONNECTING})
# A LIVE ticket in one of these may still become a callback or be abandoned.
HOLDING = frozenset({TicketStatus.WAITING, TicketStatus.AFTER_HOURS})

_TICKET_ID = re.compile(r"^([a-z0-9_]+)-([0-9]+)$")


def ticket_id(queue_id: str, number: int) -> str:
    """Ticket ids name executions too, so they hold no phone number: queue and counter only."""
    return f"{queue_id}-{number}"


def split_ticket_id(value: str) -> tuple[str, int]:
    match = _TICKET_ID.match(value or "")
    if not match:
        raise TicketNotFoundError(f"malformed ticket id {value!r}")
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class JoinedLine:
    """What a ticket remembers of the line as it joined (issues 11, 20): how many of its priority class
    stood ahead of it, and that class's monotone counters of tickets that had left the line and come back
    into it by then, all read in the very write that counted it in (ports.LineCounts). Its place later
    is `ahead` less those who left since, plus those who came back (domain/line.py)."""

    ahead: int
    departed: int
    returned: int


@dataclass(frozen=True)
class Ticket:
    queue_id: str
    number: int
    kind: TicketKind
    status: TicketStatus
    created_at: datetime
    call_id: str | None = None
    caller: str | None = None  # caller ID as received (may be withheld or undialable)
    language: str = "en"
    priority: int = 0
    callback_number: str | None = None  # E.164, only ever a number the policy accepted
    pending_number: str | None = None  # read back to the caller, not yet confirmed
    not_before: datetime | None = None
    execution_id: str | None = None
    attempts: int = 0
    ended_at: datetime | None = None
    wait_seconds: float | None = None
    wants_callback: bool = False
    agent_id: str | None = None  # the agent reserved for this ticket
    task_token: str | None = None  # the parked workflow's token (CALLBACK in line)
    dial_id: str | None = None  # the dial attempt under way; outcome webhooks must name it
    ended_dial: str | None = None  # the dial attempt whose call is over (its status came before its outcome)
    next_attempt_at: datetime | None = None
    last_outcome: str | None = None
    told_shape: float = 0.0  # the wait estimate the caller heard (a gamma), to score it when they leave
    told_scale: float = 0.0
    told_ahead: int | None = None  # how many were ahead when told (its range is calibrated per position band)
    lost_cause: str | None = None  # set while this is an unrecovered lost call (see LostCause)
    lost_at: datetime | None = None
    recovered_at: datetime | None = None
    leg: str | None = None  # the agent's leg of a bridge under way: ringing or talking (BridgeLeg)
    leg_at: datetime | None = None
    # A LIVE caller's call ended while being put through, before anything said they talked (the status
    # callback overtook the bridge's events): served or lost is decided by the bridge's result, or later
    hung_up_at: datetime | None = None
    joined: JoinedLine | None = None  # the line as it joined (None: count the line instead)
    bookings: int = 0  # callback workflows booked for it so far (the next one's execution is named by +1)
    slot: str | None = None  # a callback at a chosen time: its slot's key (domain/slots.py)
    wants_time: bool = False  # pressed for a callback at a chosen time while holding
    first_dial_at: datetime | None = None  # when its first callback attempt was dialed
    cancelled_by: str | None = None  # "caller": the caller cancelled their own callback
    origin: str | None = None  # where the callback was asked for, when not a call: "web"
    # A callback booked to keep its place and due at once stands in the line while its workflow parks
    # it (SCHEDULED, not yet claimable): its place is never given up, not even for that moment.
    held: bool = False
    answered_at: datetime | None = None  # connected to an agent: the bridge's agent leg (or the callee) answered
    dials: int = 0  # callback calls actually placed (attempts dialed; `attempts` is the workflow's count)

    @property
    def id(self) -> str:
        return ticket_id(self.queue_id, self.number)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def in_line(self) -> bool:
        """Whether it stands in the line (counted in it, ahead of those behind): waiting, or a callback
        holding its place while its workflow parks it."""
        return self.status is TicketStatus.WAITING or (self.held and self.status is TicketStatus.SCHEDULED)

    def evolve(self, **changes: object) -> "Ticket":
        return replace(self, **changes)  # type: ignore[arg-type]




class CallStatus(str, Enum):
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    QUEUED = "queued"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        return self in (CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER,
                        CallStatus.FAILED, CallStatus.CANCELED)


class QueueResult(str, Enum):
    """Why a caller left the provider's hold queue."""

    BRIDGED = "bridged"
    HANGUP = "hangup"
    LEAVE = "leave"
    REDIRECTED = "redirected"
    FULL = "queue-full"
    ERROR = "error"


@dataclass(frozen=True)
class CallEvent:
    """A provider webhook, parsed into neutral terms."""

    call_id: str
    status: CallStatus
    caller: str = ""
    called: str = ""
    digits: str | None = None
    queue_result: QueueResult | None = None
    queue_seconds: int | None = None
    duration_seconds: int | None = None
    progress: bool = False  # a status callback (the call's progress), not a request for instructions
    # Answering-machine detection's verdict, wherever the provider delivers it (the answer fetch,
    # a status callback or a separate event): None when no verdict came with this webhook.
    answered_by: AnsweredBy | None = None
    # An answer fetched while answering-machine detection is still listening: the verdict will come as
    # a webhook of its own (to cb-verdict), and the callee is held until it does.
    verdict_pending: bool = False
    # A gather's action called with no key pressed (a provider whose input always calls back, and
    # whose empty reply lets the script's next verbs run).
    nothing_pressed: bool = False
    # How a dial to an agent (or, agent first, to the customer) ended, and how long they talked.
    dial_status: CallStatus | None = None
    dial_seconds: float = 0.0
    sip_code: int | None = None


class AnsweredBy(str, Enum):
    HUMAN = "human"
    MACHINE = "machine"
    FAX = "fax"
    UNKNOWN = "unknown"

    @property
    def not_a_person(self) -> bool:
        return self in (AnsweredBy.MACHINE, AnsweredBy.FAX)


class AgentStatus(str, Enum):
    """What an agent (or their integration) says they are doing. Only AVAILABLE takes a call;
    AVAILABLE and BUSY count as serving the line (the estimate's staffing); WRAP_UP and AWAY are
    signed in but serve nobody until they say otherwise."""

    AVAILABLE = "available"
    BUSY = "busy"  # on a call: of their own (outbound, outside Holdfast), or one Holdfast put them on (ticket)
    WRAP_UP = "wrap_up"  # after a call: notes and follow-up, takes no call
    AWAY = "away"  # signed in, not taking calls, for a reason (AWAY_REASONS)
    OFFLINE = "offline"

    @property
    def serving(self) -> bool:
        """Counts as staffing the line: taking calls or on one."""
        return self in (AgentStatus.AVAILABLE, AgentStatus.BUSY)

    @property
    def signed_in(self) -> bool:
        return self is not AgentStatus.OFFLINE


# Why an agent is away: a short, closed list (reports group by it; a typo is refused, not a new reason).
AWAY_REASONS = ("break", "lunch", "training", "meeting", "coaching", "personal", "unavailable", "other")


def check_reason(status: AgentStatus, reason: str | None) -> str | None:
    """An away agent says why, from AWAY_REASONS; no other status takes a reason. BadRequestError
    says what is wrong (nothing is written)."""
    if status is AgentStatus.AWAY:
        if reason not in AWAY_REASONS:
            raise BadRequestError(f"away needs a reason, one of {', '.join(AWAY_REASONS)}"
                                  + (f" (not {str(reason)[:32]!r})" if reason is not None else ""))
        return reason
    if reason is not None:
        raise BadRequestError(f"reason goes with status away only (not {status.value})")
    return None


# Agent ids name store keys and URLs: letters, digits and _.@+-, never starting with '.' (no '.', '..').
AGENT_ID = re.compile(r"^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,63}$")


@dataclass(frozen=True)
class Agent:
    """A person who takes calls, reachable by phone number, sip: URI or client: identity."""

    id: str
    status: AgentStatus
    queues: tuple[str, ...]
    contact: str | None = None
    ticket_id: str | None = None  # what the agent is reserved for while BUSY through Holdfast
    changed_at: datetime | None = None
    until: datetime | None = None  # announced sign-off: takes no new call after it (None: not announced)
    reason: str | None = None  # why AWAY (one of AWAY_REASONS); None in every other status


def is_stale(changed_at: datetime | None, reserved: bool, event_at: datetime) -> bool:
    """An agent event older than the agent's last change is stale. One stamped at the very instant
    of a reservation is too: it is the event that led to it, delivered again."""
    if changed_at is None:
        return False
    return changed_at >= event_at if reserved else changed_at > event_at


class Outcome(str, Enum):
    """How one callback attempt ended."""

    CONNECTED = "connected"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    MACHINE = "machine"
    FAILED = "failed"
    AGENT_MISSED = "agent-missed"  # the agent did not take the call: not the customer's attempt
    NOT_NOW = "not-now"  # outside hours or the callee's calling window when the dial came due
    CANCELLED = "cancelled"

    @property
    def counts_as_attempt(self) -> bool:
        return self not in (Outcome.AGENT_MISSED, Outcome.NOT_NOW, Outcome.CANCELLED)


@dataclass(frozen=True)
class AgentEvent:
    """An agent's presence change as a provider (or our API) reports it."""

    agent_id: str
    status: AgentStatus
    at: datetime | None = None
    contact: str | None = None
    queues: tuple[str, ...] | None = None
    event_id: str | None = None
    reason: str | None = None  # with AWAY: one of AWAY_REASONS


class LostCause(str, Enum):
    """Why an inbound call ended without reaching an agent."""

    ABANDONED = "abandoned"  # hung up while holding
    AFTER_HOURS = "after_hours"  # called while closed and did not book a callback
    RANG_OUT = "rang_out"  # held past the queue's longest hold time
    DROPPED = "dropped"  # the call failed or was cut off


class BookingRefused(str, Enum):
    """Why a callback could not be booked for a number."""

    OPTED_OUT = "opted_out"
    RATE_LIMITED = "rate_limited"  # this number has had its callbacks for today
    BUDGET_SPENT = "budget_spent"  # the day's callback budget is spent (toll-fraud guard)
    NOT_DIALABLE = "not_dialable"  # withheld, premium, foreign...
    SHORT_ABANDON = "short_abandon"  # hung up too soon to be worth a recovery call
    SLOT_FULL = "slot_full"  # the chosen time was taken meanwhile
    NOT_RECOVERED = "not_recovered"  # the queue does not recover lost calls automatically
