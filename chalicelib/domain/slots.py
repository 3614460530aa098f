"""Callbacks at a chosen time: the slots a queue offers, how many callbacks each can take, their keys.

A slot is `slot_minutes` long, aligned on the queue's own clock (09:00, 09:30, ...). It is offered only
if the whole of it lies inside business hours and inside the callee's calling window (the retries of a
scheduled callback happen inside its slot). Its capacity, in callbacks:

    agents expected then   the roster's count, else (within staffed hours) those signed in now, or the
                           queue's assumed agents while nobody is
    live need              the agents the live calls expected then need (Erlang C, 80% in 20 s), from
                           the calls the queue was offered in the same half hours a week before
                           (its reports), else `live_calls_per_hour`, else none
    capacity               min(what the spare agents can make in the slot,
                               max_share x what every expected agent can make in it)

where an agent makes a callback per handle time. The store counts the slot's bookings
(`SLOT#{queue}#{key}`) with a conditional write, so concurrent bookings never overfill it; the
capacity is worked out when a caller books, and a slot already holding more than a later, smaller
capacity simply takes no more."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from .errors import BadRequestError, ConfigError
from .phone import in_calling_window
from .staffing import agents_needed

SLOT_LENGTHS = (10, 15, 20, 30, 60)
MAX_OFFERED = 8  # keys 1..8 choose a slot; 9 is "another day"
ANOTHER_DAY_KEY = "9"
LIVE_TARGET_SECONDS, LIVE_SERVICE_GOAL, LIVE_ABANDON_GOAL = 20.0, 0.8, 0.05
SCAN_LIMIT = 400  # candidate slots looked at for one menu (a week of 30-minute slots is 336)
_KEY_FORMAT = "%Y-%m-%dT%H:%MZ"


@dataclass(frozen=True)
class SlotPolicy:
    """A queue's callbacks at a chosen time (docs/queues.md, `scheduled_callbacks`)."""

    slot_minutes: int = 30
    offered: int = 3  # slots offered at once, keys 1..offered
    max_share: float = 0.5  # of the expected agents' time in a slot, at most this goes to scheduled callbacks
    another_day: bool = True  # key 9: the first slots of a later day
    tolerance_seconds: int = 300  # a scheduled callback's first dial up to this late keeps the promise
    lead_minutes: int = 15  # the first slot offered starts at least this far ahead
    days_ahead: int = 7  # no slot further off than this
    live_calls_per_hour: float | None = None  # expected live calls where the queue has no history yet
    reminder_minutes: int = 30  # a text this long before the chosen time (where the queue texts; 0: none)

    @classmethod
    def from_config(cls, raw: Any, where: str) -> "SlotPolicy":
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected an object like {{\"slot_minutes\": 30}}")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "another_day":
                if not isinstance(value, bool):
                    raise ConfigError(f"{where}.another_day: expected true or false")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{where}.{key}: expected a non-negative number, got {value!r}")
            kwargs[key] = value
        policy = cls(**kwargs)
        if policy.slot_minutes not in SLOT_LENGTHS:
            raise ConfigError(f"{where}.slot_minutes: one of {list(SLOT_LENGTHS)}")
        if not 1 <= policy.offered <= MAX_OFFERED:
            raise ConfigError(f"{where}.offered: 1 to {MAX_OFFERED} (key 9 is 'another day')")
        if not 0 < policy.max_share <= 1:
            raise ConfigError(f"{where}.max_share: a share above 0 and at most 1")
        if not 1 <= policy.days_ahead <= 60:
            raise ConfigError(f"{where}.days_ahead: 1 to 60")
        if not 0 <= policy.reminder_minutes <= 24 * 60:
            raise ConfigError(f"{where}.reminder_minutes: 0 (no reminder) to 1440")
        return policy

    @property
    def reminder(self) -> timedelta:
        return timedelta(minutes=self.reminder_minutes)

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)


def slot_key(start: datetime) -> str:
    """A slot's name: its start in UTC, to the minute ('2026-11-24T18:00Z'). No phone number, no queue."""
    return start.astimezone(timezone.utc).strftime(_KEY_FORMAT)


def slot_start(key: str) -> datetime:
    try:
        return datetime.strptime(key, _KEY_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise BadRequestError(f"not a slot: {key!r}") from None


def compact(keys: list[str]) -> str:
    """Slot keys as one short value for a step's query ('202611241800.202611241830')."""
    return ".".join(slot_start(k).strftime("%Y%m%d%H%M") for k in keys)


def expand(value: str) -> list[str]:
    """`compact`'s keys back; BadRequestError for anything else."""
    try:
        return [slot_key(datetime.strptime(part, "%Y%m%d%H%M").replace(tzinfo=timezone.utc))
                for part in value.split(".") if part]
    except ValueError:
        raise BadRequestError("not a list of slots") from None


def slot_end(policy: SlotPolicy, key: str) -> datetime:
    return slot_start(key) + policy.length


@dataclass(frozen=True)
class OpenSlot:
    """A slot a caller may choose now: its start, key, capacity and how many it holds already."""

    start: datetime
    key: str
    capacity: int
    booked: int

    @property
    def left(self) -> int:
        return max(0, self.capacity - self.booked)


def first_aligned(policy: SlotPolicy, moment: datetime, tz: Any) -> datetime:
    """The first slot boundary at or after `moment`, on the queue's clock."""
    local = moment.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (local - midnight).total_seconds()
    step = policy.slot_minutes * 60
    return (midnight + timedelta(seconds=math.ceil(elapsed / step) * step)).astimezone(timezone.utc)


def inside(queue: Any, number: str, start: datetime, end: datetime) -> bool:
    """The whole slot lies inside business hours and the callee's calling window."""
    last = end - timedelta(seconds=1)
    return (queue.hours.is_open(start) and queue.hours.is_open(last)
            and queue.hours.closes_at(start) == queue.hours.closes_at(last)
            and in_calling_window(number, start, queue.hours.tz) and in_calling_window(number, last, queue.hours.tz))


def candidates(queue: Any, policy: SlotPolicy, number: str, now: datetime,
               after: datetime | None = None) -> Iterator[datetime]:
    """Slot starts a callee can be offered, soonest first: from `lead_minutes` ahead (or from `after`),
    inside hours and the calling window, no further than `days_ahead`."""
    horizon = now + timedelta(days=policy.days_ahead)
    moment = max(now + timedelta(minutes=policy.lead_minutes), after or now)
    start = first_aligned(policy, moment, queue.hours.zone)
    for _ in range(SCAN_LIMIT):
        if start >= horizon:
            return
        if not queue.hours.is_open(start):
            opening = queue.hours.next_opening(start)
            if opening is None or opening >= horizon:
                return
            start = first_aligned(policy, opening, queue.hours.zone)
            continue
        if inside(queue, number, start, start + policy.length):
            yield start
        start += policy.length


def next_day(policy: SlotPolicy, key: str, tz: Any) -> datetime:
    """The start of the queue's day after the one slot `key` falls in ('another day')."""
    local = slot_start(key).astimezone(tz)
    return (local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(timezone.utc)


def expected_agents(queue: Any, start: datetime, staffed_now: int) -> int:
    """How many agents are expected at `start`: the roster's count, else (within staffed hours) those
    signed in now, or the assumed agents while nobody is."""
    if queue.roster is not None:
        return queue.roster.agents_at(start)
    if not (queue.staffed_hours or queue.hours).is_open(start):
        return 0
    return staffed_now or queue.assumed_agents


def capacity(policy: SlotPolicy, agents: int, live_per_second: float, handle_seconds: float,
             patience_seconds: float) -> int:
    """Callbacks the slot can take: what the agents left over by the live calls can make in it, at most
    `max_share` of what all of them can."""
    if agents <= 0 or handle_seconds <= 0:
        return 0
    need = agents_needed(live_per_second, handle_seconds, patience_seconds, LIVE_TARGET_SECONDS,
                         LIVE_SERVICE_GOAL, LIVE_ABANDON_GOAL, max_agents=agents + 1)[0] if live_per_second > 0 else 0
    seconds = policy.slot_minutes * 60
    spare = math.floor(max(0, agents - need) * seconds / handle_seconds)
    share = math.floor(policy.max_share * agents * seconds / handle_seconds + 1e-9)
    return max(0, min(spare, share))

