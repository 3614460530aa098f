"""Ports: what the domain needs from the outside world. Adapters subclass these; so do test fakes."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from .domain.model import Agent, AgentStatus, JoinedLine, Ticket, TicketStatus
# The telephony side lives in its own module (split by role); its names stay importable from here.
from .telephony_ports import (Capabilities, Dialer, InboundText, Messenger, Telephony, TextStatus,  # noqa: F401
                              WebhookRequest, contact_kind, decode_body)


class Clock(ABC):
    @abstractmethod
    def now(self) -> datetime:
        """Aware UTC datetime."""


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list an admin reads: `next` is the opaque cursor of the page after, None at the end."""
    items: list[T]
    next: str | None = None

    def __iter__(self) -> Iterator[T]:  # a caller that reads one page reads it like a list
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


DEFAULT_PAGE = 100
MAX_PAGE = 500


@dataclass(frozen=True)
class Staffing:
    staffed: int  # agents serving the line (available or busy; not away, wrap-up or offline)
    idle: int  # agents available right now


@dataclass(frozen=True)
class LineCounts:
    """The queue's line as its counter item keeps it (issue 20): per priority class, how many stand in
    it now, and how many have left it and come back into it so far (monotone). They move in the very
    write that moves a ticket into or out of the line (DynamoDB: the same transaction; in memory: the
    same write), so they are as exact as the table, however far behind the table's stream is."""

    waiting: Mapping[int, int] = field(default_factory=dict)  # class -> tickets in the line now
    departed: Mapping[int, int] = field(default_factory=dict)  # class -> left it (claimed, gave up, booked...)
    returned: Mapping[int, int] = field(default_factory=dict)  # class -> came back at their own place

    @property
    def total(self) -> int:
        return sum(max(0, n) for n in self.waiting.values())

    def of(self, priority: int) -> int:
        """How many stand in the line in this class."""
        return max(0, self.waiting.get(priority, 0))

    def above(self, priority: int) -> int:
        """How many stand in higher classes (all ahead of any ticket of this class)."""
        return sum(max(0, n) for c, n in self.waiting.items() if c > priority)

    def ahead_for(self, priority: int) -> int:
        """How many stand ahead of a ticket joining this class now (it goes behind its class)."""
        return self.above(priority) + self.of(priority)

    def joined(self, priority: int) -> JoinedLine:
        """What a ticket remembers of joining, read from the counts its own joining moved (it is counted
        in them: those of its class ahead are the others)."""
        return JoinedLine(max(0, self.of(priority) - 1), self.departed.get(priority, 0),
                          self.returned.get(priority, 0))


@dataclass(frozen=True)
class QueueSnapshot:
    """One queue's line and team as one read tells them: the line's counts (exact: written with every
    move, LineCounts) and, kept by the table's stream consumer and so lagging it by the stream's delay,
    the team's presence and when the live caller at the head joined (derived views)."""

    line: LineCounts = field(default_factory=LineCounts)
    agents: tuple[Agent, ...] = ()  # the queue's agents as presence last said (status, since, call)
    head_since: datetime | None = None  # when the live caller at the head joined (None: a callback, nobody)
    estimator: Mapping[str, Any] | None = None  # the queue's wait-estimator state (None: the prior)

    @property
    def total(self) -> int:
        return self.line.total

    @property
    def staffing(self) -> Staffing:
        serving = [a for a in self.agents if a.status.serving]  # away and wrap-up serve nobody
        return Staffing(len(serving), sum(a.status is AgentStatus.AVAILABLE for a in serving))

    @property
    def busy(self) -> list[Agent]:
        return [a for a in self.agents if a.status is AgentStatus.BUSY]

    def counted(self, line: LineCounts) -> "QueueSnapshot":
        """The same snapshot with the line as a fresher read counted it (the caller's own joining)."""
        return QueueSnapshot(line, self.agents, self.head_since, self.estimator)


@dataclass(frozen=True)
class Arrival:
    """What an incoming call needs to know before it takes a number, read at once: the queue's snapshot,
    the ticket this call already opened (a retried webhook), and the number's open callback, if any."""

    snapshot: QueueSnapshot
    ticket_id: str | None = None
    open_callback_id: str | None = None


class Line(ABC):
    """The line of waiting tickets, read the cheap way: one snapshot per queue, counted exactly only
    while the line is short."""

    @abstractmethod
    def arrival(self, queue_id: str, call_id: str, open_for: str | None) -> Arrival:
        """One read: the snapshot, the call's ticket id, and `open_for`'s open-callback pointer."""

    @abstractmethod
    def view(self, ticket_id: str) -> tuple[Ticket, QueueSnapshot]:
        """One read: the ticket and its queue's snapshot. Raise TicketNotFoundError if absent."""

    @abstractmethod
    def snapshot(self, queue_id: str) -> QueueSnapshot: ...

    @abstractmethod
    def ahead_of(self, ticket: Ticket) -> int:
        """How many WAITING tickets stand ahead of this one in dispatch order (exact: a COUNT)."""

    @abstractmethod
    def waiting_count(self, queue_id: str) -> int: ...

    @abstractmethod
    def first_waiting(self, queue_id: str, limit: int) -> list[Ticket]:
        """The first `limit` WAITING tickets in dispatch order (one page: the board's recount)."""

    @abstractmethod
    def head(self, queue_id: str) -> Ticket | None:
        """The first WAITING ticket in dispatch order."""

    @abstractmethod
    def first_live(self, queue_id: str) -> Ticket | None:
        """The first WAITING live caller in dispatch order (for the live-service guard)."""


class LostCalls(ABC):
    """The lost-call list: kept per queue, findable by number."""

    @abstractmethod
    def mark_lost(self, ticket_id: str, cause: str, at: datetime) -> None:
        """Put the ticket on the lost-call list."""

    @abstractmethod
    def clear_lost(self, queue_id: str, number: str, at: datetime) -> int:
        """The caller talked to an agent: their lost calls in this queue are recovered (a bounded
        lookup by number, whatever the list's length). Returns how many."""

    @abstractmethod
    def lost_calls(self, queue_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> Page[Ticket]:
        """The unrecovered lost calls, oldest first, a page at a time (`cursor`: a page's `next`)."""


# What book_callback answers when nothing was booked because someone else got there first.
BOOKING_TAKEN = "taken"  # the number's open-callback pointer moved since it was read
BOOKING_MOVED = "moved"  # the ticket is no longer a live caller who may book (a duplicate webhook)
SLOT_FULL = "slot_full"  # the chosen slot holds its capacity already


@dataclass(frozen=True)
class SlotClaim:
    """A booking's place in a chosen-time slot (domain/slots.py): counted with the booking, all or
    nothing, only while the slot holds fewer than `capacity`."""

    key: str
    capacity: int


@dataclass(frozen=True)
class CallbackGuard:
    """What a booking must know of a number first, in one read."""

    opted_out: bool
    holder: str | None  # the ticket its open-callback pointer names (maybe closed since)


class Tickets(ABC):
    """Tickets: opened once per call, numbered from the queue's counter, moved by conditional writes."""

    @abstractmethod
    def open_ticket(self, ticket: Ticket) -> Ticket:
        """Persist a new LIVE ticket indexed by its call id, numbered from the queue's counter (or, if
        its number is set, under the number its caller took with next_number, or with take_place for
        a WAITING ticket: its place is counted already). A WAITING ticket without a number takes its
        place here.

        If the call already has a ticket (a retried webhook), return that one instead."""

    @abstractmethod
    def next_number(self, queue_id: str) -> int:
        """Atomically take the queue's next ticket number; numbers are never reused."""

    @abstractmethod
    def take_place(self, queue_id: str, priority: int = 0) -> tuple[int, LineCounts]:
        """A caller joining the line: in one atomic write, take the queue's next number and count the
        ticket into the line (its class's end). Returns the number and the line's counts as that write
        left them (the ticket counted in). open_ticket then writes the ticket under that number; if it
        never does (a retried webhook's ticket won the call), the place is given back as a departure."""

    @abstractmethod
    def get(self, ticket_id: str) -> Ticket:
        """Raise TicketNotFoundError if absent."""

    @abstractmethod
    def find_by_call(self, call_id: str, open_only: bool = False) -> Ticket | None:
        """The ticket the call opened. `open_only`: None as well once that ticket no longer holds the
        call (a status callback after the caller left reads one item, not two)."""

    @abstractmethod
    def set_pending_number(self, ticket_id: str, number: str | None) -> None: ...

    @abstractmethod
    def mark_wants_callback(self, ticket_id: str, choose: bool = False) -> None:
        """The holding caller pressed for a callback (`choose`: at a time they choose); the hold
        queue's exit then asks for the number."""

    @abstractmethod
    def convert_to_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                            recovering: bool = False) -> int | None:
        """LIVE and holding (or, recovering, LIVE and ABANDONED) -> CALLBACK SCHEDULED: same number,
        same place (a caller in line whose callback is due at once stays in it, `held`). Returns the
        ticket's booking count (it names the workflow execution), only to the one call that changed it;
        None to every other."""

    @abstractmethod
    def create_callback(self, ticket_id: str, number: str, not_before: datetime, now: datetime,
                        language: str, origin: str | None = None, told: tuple[float, float] | None = None,
                        slot: "SlotClaim | None" = None) -> Ticket | None:
        """A new CALLBACK ticket under a number already taken from the counter (a recovery that
        joins the end of the line instead of keeping the caller's place, or a request from the web:
        `origin`), with `told`, the promise its caller is given, as book_callback keeps it; with `slot`
        (a web request's chosen time), its place in the slot taken in the same write, and None (nothing
        written) if the slot is full."""

    @abstractmethod
    def rejoin(self, ticket_id: str, call_id: str, now: datetime, slot: str | None = None) -> bool:
        """A caller with a pending callback called again: the CALLBACK ticket becomes LIVE and WAITING
        for this call, at its own place; its chosen-time slot (`slot`, the ticket's own) is freed in the
        same write. False if it is being dialed or is closed."""

    @abstractmethod
    def set_execution(self, ticket_id: str, execution_id: str) -> None: ...

    @abstractmethod
    def revert_to_live(self, ticket_id: str, waiting: bool = True, slot: str | None = None) -> None:
        """Undo convert_to_callback before its workflow started: back in line (waiting) or back to
        ABANDONED (a recovery that was refused); the booking's slot (`slot`) freed in the same write."""

    @abstractmethod
    def abandon(self, ticket_id: str, ended_at: datetime, wait_seconds: float, call_id: str | None = None) -> bool:
        """LIVE+WAITING -> ABANDONED. True only for the one call that changed it. `call_id`: the call the
        ticket held, marked done with the change (its status callback then reads one item)."""


class QueueStats(ABC):
    """The queue's wait-estimator state, and the estimate each caller was told."""

    @abstractmethod
    def record_told(self, ticket_id: str, shape: float, scale: float, ahead: int | None = None) -> None:
        """Remember the wait estimate the caller heard and how many were ahead then (scored, in its
        position band, when they reach an agent or give up)."""

    @abstractmethod
    def queue_stats(self, queue_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def update_queue_stats(self, queue_id: str, apply: Callable[[dict[str, Any] | None], dict[str, Any]]) -> None:
        """Read-modify-write the queue's estimator state without losing concurrent updates."""


class Bookings(ABC):
    """What a callback booking checks and counts: opt-outs, the one open callback per number and
    queue, the number's daily allowance and the day's budget (toll-fraud guard)."""

    @abstractmethod
    def callback_guard(self, queue_id: str, number: str) -> CallbackGuard: ...

    @abstractmethod
    def book_callback(self, ticket: Ticket, number: str, not_before: datetime, now: datetime, recovering: bool,
                      holder: str | None, day: str, per_number: int, daily_budget: int,
                      told: tuple[float, float] | None = None, slot: SlotClaim | None = None) -> int | str:
        """All or nothing: the number's open-callback pointer (unless it moved from `holder`) names the
        ticket, the ticket converts as convert_to_callback does (with `told`, the promise the caller
        will hear, as record_told keeps it), the allowance is counted as take_allowance does, and
        `slot` (a chosen time) takes one place in its slot. Returns the booking count (it names the
        workflow execution); else BOOKING_TAKEN, BOOKING_MOVED, 'rate_limited', 'budget_spent' or SLOT_FULL."""

    @abstractmethod
    def slot_counts(self, queue_id: str, keys: list[str]) -> dict[str, int]:
        """How many callbacks each slot holds (absent: none), in one read."""

    @abstractmethod
    def reserve_open_callback(self, queue_id: str, number: str, ticket_id: str) -> str:
        """Make ticket_id the one open callback for this number in this queue, unless another open
        callback holds it. Returns the ticket id that holds it now."""

    @abstractmethod
    def open_callback_for(self, queue_id: str, number: str) -> Ticket | None:
        """The number's open (not yet dialing) callback in this queue, if any."""

    @abstractmethod
    def set_opt_out(self, number: str, opted_out: bool, at: datetime) -> None: ...

    @abstractmethod
    def is_opted_out(self, number: str) -> bool: ...

    def opted_out(self, numbers: set[str]) -> set[str]:
        """Which of these numbers opted out (a page of the work list at once)."""
        return {n for n in numbers if self.is_opted_out(n)}

    @abstractmethod
    def take_allowance(self, number: str, day: str, per_number: int, daily_budget: int) -> str | None:
        """Count one callback against the number's and the day's allowance, atomically.
        None if allowed; else 'rate_limited' or 'budget_spent' (and nothing counted)."""

    @abstractmethod
    def take_quota(self, key: str, window: str, limit: int, expires: datetime) -> bool:
        """Count one request against `key` in `window` (a web client's hour), atomically: False, and
        nothing counted, once `limit` were counted. The count is forgotten after `expires`."""


class Agents(ABC):
    """Agents' presence, and the claims that tie an agent to a ticket (and what ends them)."""

    @abstractmethod
    def staffing(self, queue_id: str) -> Staffing: ...

    @abstractmethod
    def record_agent_status(self, agent_id: str, status: AgentStatus, at: datetime, contact: str | None,
                            queues: tuple[str, ...] | None, event_id: str | None,
                            until: datetime | None = None, read_along: tuple[str, ...] = (),
                            reason: str | None = None) -> Agent | None:
        """Apply an agent's status event (`reason`: why away; kept with the status, cleared by any other). None when it is a duplicate (same event id) or stale
        (older than the agent's last change, e.g. a late 'available' after a reservation).
        `until`, an announced sign-off, replaces the agent's; None keeps it; 'offline' clears it.
        `read_along`: queues whose statistics the caller reads next (an 'available' agent is offered
        work): a store may read them with the agent's own item instead of after it."""

    @abstractmethod
    def get_agent(self, agent_id: str) -> Agent:
        """Raise UnknownAgentError if absent."""

    @abstractmethod
    def team(self, queue_id: str) -> list[Agent]:
        """Every agent of the queue, whatever their status (offline ones too): the console lists them."""

    @abstractmethod
    def idle_agents(self, queue_id: str) -> list[Agent]: ...

    @abstractmethod
    def busy_agents(self, queue_id: str) -> list[Agent]: ...

    @abstractmethod
    def claim(self, ticket_id: str, agent_id: str, now: datetime, agent: Agent | None = None) -> bool:
        """In one transaction: WAITING ticket -> CONNECTING with the agent, AVAILABLE agent -> BUSY
        with the ticket. False (and nothing changed) if either condition fails. `agent`: the agent as
        the caller just read it (its queues), so it need not be read again."""

    @abstractmethod
    def release_agent(self, agent_id: str, ticket_id: str, status: AgentStatus, now: datetime) -> bool:
        """Free the agent if (and only if) it is still reserved for this ticket."""

    @abstractmethod
    def requeue(self, ticket_id: str, agent_id: str) -> bool:
        """A LIVE ticket whose bridge failed goes back into line at its own place."""

    @abstractmethod
    def mark_served(self, ticket_id: str, now: datetime, call_id: str | None = None,
                    answered_at: datetime | None = None) -> bool:
        """CONNECTING -> SERVED (`call_id` as for abandon). `answered_at`: when the caller was connected
        to the agent, kept unless the bridge's leg event said so first."""

    @abstractmethod
    def note_hung_up(self, ticket_id: str, at: datetime) -> bool:
        """A claimed LIVE ticket's call ended before anything said the caller talked to the agent (its
        agent leg not answered): noted once, for the bridge's result (or the sweep, after a grace) to
        decide served or lost."""

    @abstractmethod
    def abandon_claimed(self, ticket_id: str, ended_at: datetime, wait_seconds: float,
                        call_id: str | None = None) -> bool:
        """A claimed LIVE ticket whose caller was gone before the bridge: ABANDONED (`call_id` as for abandon).
        Not once the caller was connected to the agent (answered): that call was served."""


class Dialing(ABC):
    """Callback dial attempts, the bridge's progress, and an admin's changes to a pending callback."""

    @abstractmethod
    def begin_dial(self, ticket_id: str, dial_id: str, token: str, at: datetime | None = None) -> bool:
        """Record the dial attempt named by dial_id (the ticket's first dial at `at`, kept once); False if
        it was recorded before (a redelivery)."""

    @abstractmethod
    def finish_dial(self, ticket_id: str, dial_id: str, status: TicketStatus, now: datetime,
                    attempts: int, outcome: str, next_attempt_at: datetime | None,
                    answered_at: datetime | None = None) -> str | None:
        """Close the attempt once: returns its task token, or None if another report closed it first.
        SERVED: `answered_at` is when the callee was reached (kept unless a leg event said so first);
        any other end: the attempt reached nobody (an answer noted for it is forgotten)."""

    @abstractmethod
    def note_dialed(self, ticket_id: str, dial_id: str) -> bool:
        """The attempt's call was placed: one more dial counted on the ticket (once per attempt, even if
        its outcome was reported first)."""

    @abstractmethod
    def note_call_ended(self, ticket_id: str, dial_id: str) -> bool:
        """The attempt's call is over: remember it on the ticket if the attempt is still open (True);
        False if its outcome has been reported already."""

    @abstractmethod
    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime, answered: bool = False) -> bool:
        """The bridge's dialled leg is `leg` (ringing or talking) since `at`: only while the ticket is
        CONNECTING to that agent, and never from talking back to ringing. `answered`: the caller is
        connected to the agent now (the answer time, recorded once). True if it changed."""

    @abstractmethod
    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        """Forget the reservation on the ticket (after its agent was released)."""

    @abstractmethod
    def cancel_callback(self, ticket_id: str, now: datetime, by_caller: bool = False, slot: str | None = None) -> bool:
        """A callback not being dialed (SCHEDULED or WAITING) -> CANCELLED, out of the line, and its
        chosen-time slot (`slot`, the ticket's own) freed in the same write; a lost call stays on the
        list. `by_caller`: the caller's own cancel, recorded as theirs (reports count it apart). True only
        for the one call that changed it."""

    @abstractmethod
    def move_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime,
                      slot_from: str | None, slot_to: SlotClaim | None,
                      told: tuple[float, float] | None = None) -> int | str | None:
        """A callback not being dialed (SCHEDULED, or WAITING: it leaves the line) still run by
        `execution_id` moves to another time under a new booking: its slot `slot_from` freed and
        `slot_to` taken in the same write, and `told` (the new promise, as book_callback keeps it)
        written with it. Returns the new booking count (it names the execution that replaces that
        one); SLOT_FULL if `slot_to` is full; None if the ticket moved on."""

    @abstractmethod
    def expedite_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime) -> int | None:
        """A SCHEDULED callback still run by `execution_id` becomes due at `not_before` under a new
        booking (its count names the execution that replaces that one). Returns the new count only to
        the one call that changed it; None to every other (another admin, or the ticket moved on)."""


@dataclass(frozen=True)
class Stores:
    """Every store role, each its own adapter over one table (DynamoDB, memory): built once per world
    by its composition root (chalicelib/bootstrap.py: build_aws, build_memory), which hands each use
    case the roles it uses. Every state change that must happen once is conditional."""

    tickets: Tickets
    line: Line
    lost: LostCalls
    stats: QueueStats
    bookings: Bookings
    agents: Agents
    dialing: Dialing


ROLES: tuple[type, ...] = (Tickets, Line, LostCalls, QueueStats, Bookings, Agents, Dialing)


class Orchestrator(ABC):
    """The callback workflow engine (Step Functions)."""

    @abstractmethod
    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        """Start the execution called `name` (idempotent by name); return its id."""

    @abstractmethod
    def stop(self, execution_id: str) -> None:
        """Stop a running execution (a no-op if it already ended)."""

    @abstractmethod
    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        """Answer a waiting task (resume a parked callback, report a dial outcome).

        Raise StaleTokenError if the task is gone: timed out, finished, or answered before."""


@dataclass(frozen=True, order=True)
class PendingDial:
    """A dial waiting for the provider account's pace, in the order it is owed (`order`): a callback
    (`ref`: its attempt's dial id) or the agent leg of a holding caller (`ref`: the agent)."""
    order: str
    kind: str
    ticket_id: str
    ref: str


@dataclass(frozen=True)
class Grant:
    granted: bool
    next_at: datetime  # when the account's next slot comes (refused), or now (granted)


class OutboundPace(ABC):
    """One provider account's outbound pace: its next slot (no dial sooner than an interval after the
    one before) and the backlog of dials waiting, in order. Every change is conditional: concurrent
    workers share one pace."""

    @abstractmethod
    def take(self, account: str, interval: float, now: datetime, when_idle: bool = False) -> Grant:
        """The slot, if it has come at `now` (the next then comes `interval` seconds later);
        `when_idle`: only while no dial waits in the backlog (nothing jumps the line)."""

    @abstractmethod
    def wait(self, account: str, dial: PendingDial) -> bool:
        """Into the backlog; False if it waited before (a dial waits once)."""

    @abstractmethod
    def first(self, account: str, limit: int) -> list[PendingDial]:
        """The dials owed first, in order."""

    @abstractmethod
    def claim(self, account: str, dial: PendingDial) -> bool:
        """Out of the backlog: True to exactly one caller (that one dials it)."""

    @abstractmethod
    def backlog(self, account: str) -> int: ...


class Alarm(ABC):
    """Wakes the dial worker for an account's backlog when its bucket will hold a token again."""

    @abstractmethod
    def wake(self, account: str, at: datetime) -> None: ...


class EventBus(ABC):
    """Events for asynchronous work (notifications): publishing never blocks or fails a caller."""

    @abstractmethod
    def publish(self, event: Mapping[str, Any]) -> None: ...


class Notifier(ABC):
    """One notification channel (Slack, Telegram, email, SMS). Raises NotifyError on failure."""

    channel: str

    @abstractmethod
    def send(self, settings: Mapping[str, Any], subject: str, text: str) -> bool:
        """Send if this queue configured the channel; False when it did not."""


# --- operations console (issue 12) ---------------------------------------------------------------

@dataclass(frozen=True)
class BoardEntry:
    """An open ticket as the live monitor shows it: no phone number, only its masked form."""

    ticket_id: str
    queue_id: str
    number: int
    kind: str
    status: str
    priority: int
    created_at: datetime
    masked: str
    attempts: int = 0
    not_before: datetime | None = None
    next_attempt_at: datetime | None = None
    agent_id: str | None = None
    told_seconds: float | None = None
    lost_cause: str | None = None
    leg: str | None = None  # the agent's leg of the bridge: ringing or talking, since leg_at
    leg_at: datetime | None = None
    answered_at: datetime | None = None  # connected to the agent: talking, no longer waiting


@dataclass(frozen=True)
class AlertState:
    """A queue's measure past its alert threshold: since when, and when its notification went."""

    measure: str
    since: datetime
    notified_at: datetime | None = None


class OperationsLog(ABC):
    """What the console reads without scanning tickets: half-hour report rows per queue, kept as
    ticket transitions happen (each increment recorded once), the same counts per arrival minute for
    the last day (rolling service levels), the board of open tickets, and thresholds crossed."""

    @abstractmethod
    def record(self, fact_id: str, queue_id: str, bucket: str, counts: Mapping[str, float],
               minute: str = "") -> bool:
        """Add counts to the queue's half-hour row (and to its recent `minute` row, when given) unless
        fact_id was recorded before. True if added."""

    @abstractmethod
    def rows(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        """Half-hour rows (bucket -> counters) whose bucket starts in [start, end)."""

    @abstractmethod
    def recent(self, queue_id: str, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        """Minute rows (minute -> counters) whose minute starts in [start, end); kept about two days."""

    @abstractmethod
    def board_put(self, entry: BoardEntry) -> None: ...

    @abstractmethod
    def board_remove(self, queue_id: str, ticket_id: str) -> None: ...

    @abstractmethod
    def board(self, queue_id: str) -> list[BoardEntry]: ...

    @abstractmethod
    def alerts(self, queue_id: str) -> dict[str, AlertState]:
        """The queue's measures past their alert thresholds now."""

    @abstractmethod
    def alert_begin(self, queue_id: str, measure: str, since: datetime) -> bool:
        """Note a crossing that began at `since`, unless one is noted already. True if noted."""

    @abstractmethod
    def alert_notified(self, queue_id: str, measure: str, since: datetime, at: datetime) -> bool:
        """Mark the crossing that began at `since` notified; True for exactly one caller per crossing."""

    @abstractmethod
    def alert_end(self, queue_id: str, measure: str) -> None:
        """The measure is back inside its threshold: the next crossing is a new one."""
