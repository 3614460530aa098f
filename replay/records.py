"""The neutral form every importer writes: one record per call that joined a queue (`Call`) and one
per change of an agent's presence (`Presence`), whatever the log's format. Nothing past an importer
knows a provider's field names.

Records travel between the import, its sort and the replay as one tab-separated line each
(`to_line` / `from_line`), so a log of any length passes through files, never whole in memory."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Callable, Union


class Outcome(str, Enum):
    """How a call left the queue, as the log says."""

    ANSWERED = "answered"  # put through to an agent while holding
    ABANDONED = "abandoned"  # hung up while holding: the wait is the caller's patience
    TIMEOUT = "timeout"  # the queue let them go after its longest wait (rang out)
    EMPTY = "empty"  # put out because no agent was signed in
    KEY = "key"  # left with a key (a menu: voicemail, the center's own callback...)
    CALLBACK = "callback"  # chose the center's own callback (Amazon Connect's queued callback)

    @property
    def served(self) -> bool:
        return self is Outcome.ANSWERED

    @property
    def exact_patience(self) -> bool:
        """The wait is when the caller gave up (every other outcome censors patience at the wait)."""
        return self is Outcome.ABANDONED


@dataclass(frozen=True, slots=True)
class Call:
    id: str
    queue: str
    caller: str  # as logged; '' when withheld
    arrived: float  # epoch seconds: joined the queue
    outcome: Outcome
    wait: float  # joined to put through, or to leaving the queue
    talk: float = 0.0  # answered: with the agent, seconds
    agent: str = ""
    wrap: float = -1.0  # after-call work where the log records it (-1: not recorded)
    callback_at: float = -1.0  # the center's own callback reached the caller then (-1: none did)

    @property
    def left(self) -> float:
        """When the caller left the queue (put through, or gone)."""
        return self.arrived + self.wait


@dataclass(frozen=True, slots=True)
class Presence:
    at: float
    queue: str  # '' for every queue the agent serves
    agent: str
    on: bool  # signed in and not paused


Record = Union[Call, Presence]


def at_of(record: Record) -> float:
    """Where a record sorts in time: a call by its arrival, presence by its change."""
    return record.arrived if isinstance(record, Call) else record.at


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


def to_line(record: Record) -> str:
    if isinstance(record, Call):
        return "\t".join(("C", repr(record.arrived), _clean(record.id), _clean(record.queue), _clean(record.caller),
                          record.outcome.value, repr(record.wait), repr(record.talk), _clean(record.agent),
                          repr(record.wrap), repr(record.callback_at))) + "\n"
    return "\t".join(("P", repr(record.at), _clean(record.queue), _clean(record.agent), "1" if record.on else "0")) + "\n"


def from_line(line: str) -> Record:
    f = line.rstrip("\n").split("\t")
    if f[0] == "C":
        return Call(f[2], f[3], f[4], float(f[1]), Outcome(f[5]), float(f[6]), float(f[7]), f[8], float(f[9]),
                    float(f[10]))
    return Presence(float(f[1]), f[2], f[3], f[4] == "1")


# --- bad lines ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BadLine:
    source: str
    line: int
    expected: str
    got: str = ""

    def __str__(self) -> str:
        got = f" (got {self.got[:80]!r})" if self.got else ""
        return f"{self.source}:{self.line}: expected {self.expected}{got}"


class LogError(ValueError):
    """The log has bad lines: each says where and what was expected. Nothing was imported."""

    SHOWN = 20

    def __init__(self, bad: list[BadLine], total: int) -> None:
        self.bad, self.total = bad, total
        lines = [str(b) for b in bad[:self.SHOWN]]
        more = f"\n  ... and {total - len(lines)} more" if total > len(lines) else ""
        super().__init__(f"{total} bad line(s); nothing was imported:\n  " + "\n  ".join(lines) + more)


class Problems:
    """Collects bad lines as an importer finds them (every one counted, the first few kept)."""

    KEEP = 200

    def __init__(self) -> None:
        self.bad: list[BadLine] = []
        self.total = 0

    def __call__(self, bad: BadLine) -> None:
        self.total += 1
        if len(self.bad) < self.KEEP:
            self.bad.append(bad)

    def raise_if_any(self) -> None:
        if self.total:
            raise LogError(self.bad, self.total)


Report = Callable[[BadLine], None]


# --- times and numbers, as the formats write them ----------------------------------------------

class FieldError(ValueError):
    """A field that is not what its format documents; the importer turns it into a BadLine."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(expected)
        self.expected, self.got = expected, got


def seconds(value: str, what: str) -> float:
    """A non-negative number of seconds (or whatever unit `what` names)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise FieldError(f"{what}: a number", str(value)) from None
    if not math.isfinite(x) or x < 0:
        raise FieldError(f"{what}: a number of 0 or more", str(value))
    return x


def iso_time(value: str, what: str) -> float:
    """An ISO 8601 instant with its zone (Z or +hh:mm), as epoch seconds."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise FieldError(f"{what}: an ISO 8601 time like 2025-03-15T14:30:00Z", str(value)) from None
    if parsed.tzinfo is None:
        raise FieldError(f"{what}: an ISO 8601 time with its zone (Z or +00:00)", str(value))
    return parsed.timestamp()


def rfc2822_time(value: str, what: str) -> float:
    """An RFC 2822 date (Twilio's: 'Tue, 31 Aug 2010 20:36:28 +0000'); ISO 8601 is accepted too."""
    text = str(value).strip()
    if text[:1].isdigit():
        return iso_time(text, what)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise FieldError(f"{what}: an RFC 2822 date like 'Tue, 31 Aug 2010 20:36:28 +0000'", text) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
