"""The callback plan: callbacks paced against the live line: how many agents stay free for the next live callers, how
much callback work the rest of the day can take, and by when a callback booked now can be made.

The live line is modelled per half hour as a queue with impatient callers (Erlang A) in which
callbacks take every agent beyond a reserve left idle: with `r` agents held back, a live caller
waits only when more of them arrive than `r` before a busy agent frees. The reserve chosen for a
half hour is the smallest whose service level (answered within the target) stays within an
allowance of what all the agents would give the live line alone, using the expected arrivals
(`demand`: learned per half hour of the week from the queue's own history), the agents expected
(the roster where one is configured, else those signed in now until closing), and the learned talk
time and patience. What the agents beyond the reserve and the live load can do is the callback
capacity of that half hour.

The open callbacks (the backlog ledger below) are work for the rest of the day. If the capacity at
those reserves cannot make them before closing, reserves come down where a callback costs the live
line least (the quietest half hours first), as far as a wider allowance lets them; what still does
not fit waits for the next day, and the offer stops (the caller is not promised a time the day
cannot keep).

The plan is made by the minute's sweep (with the arrivals counted since the last one) and kept in
the queue's statistics document (`PLAN`), which the dispatcher and the call flow read anyway: no
webhook does more work for it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from ..ports import Line, QueueStats, Tickets
from . import faults
from .demand import SLOT, Demand, joins
from .errors import TicketNotFoundError
from .estimator import WaitEstimator
from .model import Ticket, TicketKind, TicketStatus
from .queues import QueueConfig
from .reports import DEFAULT_TARGET_SECONDS
from .slots import slot_start

log = logging.getLogger(__name__)

PLAN = "callback_plan"  # queue statistics key: the current plan (not the outbound pacer's "pace")
# queue statistics key: ticket id -> [booked at, asked (1) or recovery (0), checked at(, its chosen slot's start)]
BACKLOG = "backlog"
OPEN = frozenset({TicketStatus.SCHEDULED, TicketStatus.WAITING, TicketStatus.CONNECTING})
MIN_INTERVAL = timedelta(seconds=50)  # the sweep's work here at most about once a minute
PLAN_EVERY = timedelta(minutes=5)  # the plan is made again this often (and when the agents signed in change)
STALE_PLAN = timedelta(minutes=11)  # a plan older than this is not used (the sweep stopped)
CHECKS_PER_SWEEP = 3  # ledger entries read back each sweep (the oldest first): a missed close is dropped
MAX_BACKLOG = 2000  # a bound on the ledger's size, as on the promise book's (the oldest entries give way)
QUEUE_TERMS = 400  # waiting callers the live line's model sums over at most
# A half hour whose expected live load alone keeps this share of the agents busy takes no callbacks:
# agents taken from a line that needs them all turn live answers into hang-ups (more callbacks).
BUSY_LINE = 0.85


# --- the live line with a reserve -------------------------------------------------------------------

@dataclass(frozen=True)
class LiveLine:
    service_level: float  # share of live arrivals answered within the target
    p_wait: float  # share that find no agent idle
    p_abandon: float  # share that hang up before an agent takes them
    idle: float  # mean agents idle
    busy_live: float  # mean agents on live calls


def live_line(agents: int, reserve: int, arrivals: float, handle: float, patience: float,
              target: float = DEFAULT_TARGET_SECONDS) -> LiveLine:
    """Steady state of the live line (Poisson arrivals per second, exponential talk `handle` and
    patience) when callbacks take every agent beyond `reserve` idle ones: a birth-death chain on the
    idle agents (0..reserve), then on the live callers waiting. `reserve` = `agents`: no callbacks,
    the plain Erlang A queue."""
    if agents <= 0:
        return LiveLine(0.0, 1.0, 1.0, 0.0, 0.0)
    if arrivals <= 0:
        return LiveLine(1.0, 0.0, 0.0, float(min(reserve, agents)), 0.0)
    reserve = max(0, min(reserve, agents))
    mu, theta = 1.0 / handle, 1.0 / patience
    idle = [1.0] * (reserve + 1)  # unnormalised weights of i idle agents, i = reserve first
    for i in range(reserve - 1, -1, -1):
        idle[i] = idle[i + 1] * arrivals / ((agents - i) * mu)
    waiting = [idle[0]]  # all agents busy, j live callers waiting (j = 0 is idle[0] itself)
    for j in range(1, QUEUE_TERMS):
        term = waiting[-1] * arrivals / (agents * mu + j * theta)
        waiting.append(term)
        if term < 1e-12 * waiting[0] and j > 5:
            break
    total = sum(idle) + sum(waiting) - idle[0]
    # An arrival finding j waiting reaches an agent unless it hangs up first: the j + 1 places ahead
    # clear at n*mu + m*theta, its own patience runs at theta, so it is served with probability
    # n*mu / (n*mu + (j + 1) theta) (the product telescopes); within the target if the j + 1 stages
    # (taken at one rate, n*mu + theta) end by then.
    served_mu = agents * mu
    x = (served_mu + theta) * target
    term, below = math.exp(-x), 0.0
    within = abandon = 0.0
    for j, w in enumerate(waiting):
        below += term  # P(Poisson(x) <= j): the (j + 1)-stage Erlang has not finished by the target
        term *= x / (j + 1)
        reach = served_mu / (served_mu + (j + 1) * theta)
        within += w * reach * max(0.0, 1.0 - below)
        abandon += w * (1.0 - reach)
    p_wait = sum(waiting) / total
    answered_at_once = 1.0 - p_wait
    p_abandon = abandon / total
    mean_idle = sum(i * w for i, w in enumerate(idle)) / total
    return LiveLine(answered_at_once + within / total, p_wait, p_abandon, mean_idle,
                    min(float(agents), arrivals * (1 - p_abandon) * handle))


# --- the plan -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    start: float  # epoch seconds
    end: float
    agents: int
    arrivals: float  # expected live arrivals per second
    reserve: int  # agents held idle for live callers
    capacity: float  # callbacks the agents beyond the reserve and the live load can make in it


@dataclass(frozen=True)
class Plan:
    at: float  # when it was made (epoch seconds)
    periods: tuple[Period, ...]  # from `at` to closing, half hour by half hour (some cut in two)
    handle: float  # agent seconds a callback takes (the learned talk time)
    backlog: int  # open callbacks when it was made
    asked: int  # of which the callers asked for (pressed 1)
    gap: float  # seconds between agents freeing when all are busy (handle / agents)

    def reserve(self, now: datetime) -> int | None:
        """The agents to hold back now; None if the plan does not cover now (stale, or closed)."""
        t = now.timestamp()
        if t - self.at > STALE_PLAN.total_seconds():
            return None
        for p in self.periods:
            if p.start <= t < p.end:
                return p.reserve
        return None

    def capacity(self, start: float, end: float) -> float:
        """Callbacks the plan expects to make between two instants (epoch seconds)."""
        total = 0.0
        for p in self.periods:
            lo, hi = max(p.start, start), min(p.end, end)
            if hi > lo:
                total += p.capacity * (hi - lo) / (p.end - p.start)
        return total

    def time_for(self, callbacks: float, now: datetime) -> datetime | None:
        """When the plan has made `callbacks` more callbacks from now; None if not before its end."""
        t, need = now.timestamp(), callbacks
        for p in self.periods:
            lo = max(p.start, t)
            if p.end <= lo:
                continue
            can = p.capacity * (p.end - lo) / (p.end - p.start)
            if can >= need and p.capacity > 0:
                return datetime.fromtimestamp(lo + need / p.capacity * (p.end - p.start), timezone.utc)
            need -= can
        return None

    def state(self) -> dict[str, Any]:
        return {"at": self.at, "handle": round(self.handle, 1), "backlog": self.backlog, "asked": self.asked,
                "gap": round(self.gap, 1),
                "periods": [[p.start, p.end, p.agents, round(p.arrivals * 3600, 2), p.reserve, round(p.capacity, 2)]
                            for p in self.periods]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> "Plan | None":
        raw = (state or {}).get(PLAN)
        if not raw:
            return None
        return cls(float(raw["at"]), tuple(Period(float(s), float(e), int(n), float(a) / 3600, int(r), float(c))
                                           for s, e, n, a, r, c in raw["periods"]),
                   float(raw["handle"]), int(raw["backlog"]), int(raw["asked"]), float(raw["gap"]))


@dataclass(frozen=True)
class PlanInputs:
    """What the plan is made from (all of it from the queue's statistics but staffing)."""

    agents_now: int
    handle: float
    patience: float
    backlog: int
    asked: int


@lru_cache(maxsize=4096)
def _lines(agents: int, per_hour: float, handle: float, patience: float) -> tuple[LiveLine, ...]:
    return tuple(live_line(agents, r, per_hour / 3600, handle, patience) for r in range(agents + 1))


def lines_by_reserve(agents: int, arrivals: float, handle: float, patience: float) -> tuple[LiveLine, ...]:
    """The live line at every reserve (index = reserve), with its inputs rounded (half a call an
    hour, 5 s of talk or patience) so that the minute's plans share their sums."""
    return _lines(agents, round(arrivals * 7200) / 2, float(round(handle / 5) * 5 or 5),
                  float(round(patience / 5) * 5 or 5))


def lowest_reserve(lines: tuple[LiveLine, ...], allowance: float) -> int:
    """The smallest reserve whose live service level is within `allowance` of no callbacks at all."""
    best = lines[-1].service_level
    return next(r for r, line in enumerate(lines) if line.service_level >= best - allowance)


def make_plan(queue: QueueConfig, demand: Demand, inputs: PlanInputs, now: datetime) -> Plan:
    """The rest of today's plan (see the module's docstring)."""
    closes = queue.hours.closes_at(now)
    at = now.timestamp()
    if closes is None:
        return Plan(at, (), inputs.handle, inputs.backlog, inputs.asked, inputs.handle / max(1, inputs.agents_now))
    zone = queue.hours.zone
    handle = timedelta(seconds=inputs.handle)
    # half hours to closing (the first from now); a callback begun at t holds its agent until about
    # t + a talk time, so the reserve from `handle` before a busier half hour answers for that one's
    # live callers too (it rises before a surge, not during it): such a half hour is cut in two
    segments: list[tuple[datetime, datetime, float, float]] = []  # start, end, arrivals/s, the reserve's
    start = now
    while start < closes:
        local = start.astimezone(zone)
        slot_end = (local.replace(minute=0, second=0, microsecond=0)
                    + (SLOT if local.minute < 30 else 2 * SLOT)).astimezone(timezone.utc)
        end = min(closes, slot_end)
        rate = demand.rate(start, end, zone, now)
        after = demand.rate(end, min(closes, end + handle), zone, now) if end < closes else 0.0
        cut = end - handle
        if after > rate and cut > start:
            segments += [(start, cut, rate, rate), (cut, end, rate, after)]
        else:
            segments.append((start, end, rate, max(rate, after)))
        start = end
    rows = []  # per segment: agents, arrivals, lines by reserve, the safe and the lowest reserve, seconds
    for i, (lo, hi, rate, ahead) in enumerate(segments):
        agents = inputs.agents_now if i == 0 or queue.roster is None else queue.roster.agents_at(lo + (hi - lo) / 2)
        lines = lines_by_reserve(agents, ahead, inputs.handle, inputs.patience)
        safe = lowest_reserve(lines, queue.callback_plan_allowance)
        floor = lowest_reserve(lines, queue.callback_plan_allowance_max)
        if ahead * inputs.handle >= BUSY_LINE * agents:  # the live line alone keeps every agent busy
            safe = floor = agents
        else:  # a team of n keeps at most n - 1 idle (guard.next_ticket): a lone agent still calls back
            safe, floor = min(safe, max(0, agents - 1)), min(floor, max(0, agents - 1))
        rows.append([agents, rate, lines, safe, floor, (hi - lo).total_seconds()])

    def capacity(row: list[Any], reserve: int) -> float:
        agents, _, lines, _, _, seconds = row
        line = lines[reserve]
        return max(0.0, agents - line.idle - line.busy_live) * seconds / inputs.handle

    chosen = [row[3] for row in rows]
    made = sum(capacity(row, r) for row, r in zip(rows, chosen))
    # Not enough for the backlog: lower the reserve one agent at a time where the live line loses
    # least per callback gained, down to each half hour's floor.
    while made < inputs.backlog:
        best_i, best_cost, best_gain = -1, math.inf, 0.0
        for i, (row, r) in enumerate(zip(rows, chosen)):
            if r <= row[4]:
                continue
            gain = capacity(row, r - 1) - capacity(row, r)
            lines, rate, seconds = row[2], row[1], row[5]
            cost = (lines[r].service_level - lines[r - 1].service_level) * rate * seconds
            if gain > 1e-9 and cost / gain < best_cost:
                best_i, best_cost, best_gain = i, cost / gain, gain
        if best_i < 0:
            break
        chosen[best_i] -= 1
        made += best_gain
    periods = tuple(Period(lo.timestamp(), hi.timestamp(), row[0], row[1], r, capacity(row, r))
                    for (lo, hi, _, _), row, r in zip(segments, rows, chosen))
    return Plan(at, periods, inputs.handle, inputs.backlog, inputs.asked, inputs.handle / max(1, inputs.agents_now))


# --- the backlog ledger (in the queue's statistics) ------------------------------------------------

def is_open_callback(ticket: Ticket | None) -> bool:
    return ticket is not None and ticket.kind is TicketKind.CALLBACK and ticket.status in OPEN


def ledger(state: Mapping[str, Any] | None) -> dict[str, list[float]]:
    return dict((state or {}).get(BACKLOG) or {})


def ledger_with(book: Mapping[str, list[float]], ticket: Ticket, opened: bool, now: datetime) -> dict[str, list[float]]:
    """The ledger with the callback in it (`opened`) or out of it; the same whatever the order or the
    number of times it is told (a stream delivers records again). A callback at a chosen time carries
    its slot's start (moved with it): it is work for that slot's day, not for today's."""
    if not opened:
        return {k: v for k, v in book.items() if k != ticket.id}
    out = dict(book)
    at = int(now.timestamp())  # whole seconds: the document stays small (it is written whole)
    due = [int(slot_start(ticket.slot).timestamp())] if ticket.slot else []
    entry = out.get(ticket.id)
    out[ticket.id] = [at, 0 if ticket.lost_cause else 1, at, *due] if entry is None else [*entry[:3], *due]
    while len(out) > MAX_BACKLOG:  # the oldest entry gives way
        out.pop(min(out, key=lambda t: out[t][0]))
    return out


def backlog_counts(book: Mapping[str, list[float]], until: float | None = None) -> tuple[int, int]:
    """(open callbacks, of which asked for); with `until` (epoch seconds), only those that can be made
    before it (a chosen time after it is a later day's work)."""
    entries = [v for v in book.values() if until is None or len(v) < 4 or v[3] < until]
    return len(entries), sum(1 for v in entries if v[1] >= 1)


def plan_inputs(queue: QueueConfig, state: Mapping[str, Any] | None, agents_now: int,
                until: float | None = None) -> PlanInputs:
    if state and "decay_rate" in state:
        handle, patience = WaitEstimator.means_in(dict(state))
    else:
        handle, patience = queue.average_handle_seconds, queue.average_patience_seconds
    total, asked = backlog_counts(ledger(state), until)
    return PlanInputs(agents_now, max(1.0, handle), max(1.0, patience), total, asked)


def replan(stats: QueueStats, line: Line, tickets: Tickets, queue: QueueConfig, now: datetime,
           base: Any) -> None:
    """The sweep's work for one queue: count the arrivals since the last sweep, drop ledger entries
    whose callback closed unseen, and make the rest of the day's plan. `base`: the estimator's prior
    document, for a queue with no statistics yet."""
    if not queue.hours.is_open(now):
        return  # nothing to plan, and no half hour to learn (arrivals count from the first sweep after opening)
    state = stats.queue_stats(queue.id) or {}
    last = Demand.from_state(state).at
    if last is not None and 0 <= now.timestamp() - last < MIN_INTERVAL.total_seconds():
        return  # a sweep that runs more often than a minute (the local stack's) counts once a minute
    snapshot = line.snapshot(queue.id)
    checked = list(_least_checked(ledger(state), CHECKS_PER_SWEEP))
    closed = {tid for tid in checked if not _still_open(tickets, tid)}
    staffed = snapshot.staffing.staffed
    line_counts = snapshot.line  # exact (issue 20): per priority class, summed
    counted = joins(snapshot.total, sum(line_counts.departed.values()), sum(line_counts.returned.values()))

    def apply(current: dict[str, Any] | None) -> dict[str, Any]:
        doc = dict(current) if current else dict(base)
        demand = Demand.from_state(doc).observe(counted, now, queue.hours.zone, queue.hours.is_open)
        book = {k: (v if k not in checked else [v[0], v[1], int(now.timestamp()), *v[3:]])
                for k, v in ledger(doc).items() if k not in closed}
        doc.update({BACKLOG: book, "demand": demand.state()})
        last = Plan.from_state(doc)
        if last is None or now.timestamp() - last.at >= PLAN_EVERY.total_seconds() or not last.periods \
                or last.periods[0].agents != staffed:  # every few minutes, and when agents sign in or out
            closes = queue.hours.closes_at(now)
            until = closes.timestamp() if closes is not None else None
            doc[PLAN] = make_plan(queue, demand, plan_inputs(queue, doc, staffed, until), now).state()
        return doc

    try:
        stats.update_queue_stats(queue.id, apply)
    except Exception:  # noqa: BLE001 - the plan is advice; the dispatcher falls back without it
        faults.swallowed("callback_plan.update", "could not update the callback plan", extra={"queue": queue.id})


def _least_checked(book: Mapping[str, list[float]], n: int) -> Iterable[str]:
    """The entries read back longest ago: each sweep reads a few, in turn, so every entry is read
    back within (ledger size / n) minutes."""
    return sorted(book, key=lambda t: book[t][2])[:n]


def _still_open(tickets: Tickets, ticket_id: str) -> bool:
    try:
        return is_open_callback(tickets.get(ticket_id))
    except TicketNotFoundError:
        return False
