"""Importing a log: the format's importer run over every file, every bad line collected, and only if
there is none the records written, sorted by time, to one file of neutral records (records.py) with an
index by local day, so that the analysis and each replayed segment stream what they need.

Nothing is half-imported: a bad line anywhere raises LogError before any record is written. Memory
holds one sort run (extsort.py), the calls still open in a queue_log, and a few counters per agent and
day; never the log."""
from __future__ import annotations

import heapq
import os
import shutil
import tempfile
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from . import connect, queue_log, twilio
from .extsort import ExternalSort
from .records import Call, Outcome, Presence, Problems, Record, at_of, from_line, to_line

FORMATS = ("queue_log", "twilio", "connect")
DEFAULT_WRAP = 30.0  # seconds after a call before an agent takes the next, where the log does not say


class ChooseQueueError(ValueError):
    """The log holds several queues and none was chosen."""


@dataclass
class ImportedLog:
    path: Path  # the sorted neutral records
    queue: str
    tz: str
    days: list[tuple[date, int]]  # local day -> offset of its first record
    calls: int
    agents_inferred: bool  # presence inferred from the calls (the log has no sign-ins)
    notes: dict[str, Any] = field(default_factory=dict)  # what the import saw and left out
    workdir: Path | None = None
    on_at: dict[date, tuple[str, ...]] = field(default_factory=dict)  # agents signed in as each day begins

    @property
    def first_day(self) -> date:
        return self.days[0][0]

    @property
    def last_day(self) -> date:
        return self.days[-1][0]

    def midnight(self, day: date) -> float:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(self.tz)).timestamp()

    def local_day(self, at: float) -> date:
        return datetime.fromtimestamp(at, ZoneInfo(self.tz)).date()

    def records(self, start: float | None = None, end: float | None = None) -> Iterator[Record]:
        """The records from `start` (epoch, inclusive) to `end` (exclusive), in time order."""
        offset = 0
        if start is not None:
            k = bisect_right([d for d, _ in self.days], self.local_day(start)) - 1
            offset = self.days[k][1] if k >= 0 else 0
        with open(self.path, "rb") as f:
            f.seek(offset)
            for raw in f:
                record = from_line(raw.decode("utf-8"))
                at = at_of(record)
                if start is not None and at < start:
                    continue
                if end is not None and at >= end:
                    return
                yield record

    def calls_only(self, start: float | None = None, end: float | None = None) -> Iterator[Call]:
        return (r for r in self.records(start, end) if isinstance(r, Call))

    def close(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def paths_of(spec: str | Path) -> list[Path]:
    """A file, or every file in a directory (sorted by name)."""
    p = Path(spec)
    if p.is_dir():
        return sorted(x for x in p.iterdir() if x.is_file() and not x.name.startswith("."))
    if not p.exists():
        raise FileNotFoundError(f"no such log: {p}")
    return [p]


def load(log: str | Path, fmt: str, tz: str = "UTC", queue: str | None = None, events: str | Path | None = None,
         workdir: str | Path | None = None, progress: Callable[[int], None] | None = None) -> ImportedLog:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    ZoneInfo(tz)  # an unknown zone fails before the work
    work = Path(tempfile.mkdtemp(prefix="replay-", dir=workdir))
    try:
        return _load(log, fmt, tz, queue, events, work, progress)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _load(log: str | Path, fmt: str, tz: str, queue: str | None, events: str | Path | None, work: Path,
          progress: Callable[[int], None] | None) -> ImportedLog:
    problems = Problems()
    paths = paths_of(log)
    summary: Any
    if fmt == "queue_log":
        summary = queue_log.Summary()
        source = queue_log.read(paths, problems, summary)
    elif fmt == "twilio":
        summary = twilio.Summary()
        source = twilio.read(paths, paths_of(events) if events else [], problems, summary, str(work))
    else:
        summary = connect.Summary()
        source = connect.read(paths, problems, summary, str(work))
    ordered: ExternalSort[Record] = ExternalSort(key=at_of, workdir=str(work))
    for n, record in enumerate(source, 1):
        ordered.add(record)
        if progress is not None and n % 10_000 == 0:
            progress(n)
    problems.raise_if_any()
    queues: Counter = summary.queues
    chosen = _choose(queues, queue)
    notes = {k: (dict(v) if isinstance(v, Counter) else v) for k, v in vars(summary).items()}
    explicit = _write(ordered, chosen, work / "sorted.tsv")
    agents_inferred = not explicit
    final = work / "log.tsv"
    inferred = _infer_presence(work / "sorted.tsv", tz, explicit)
    days, on_at, calls = _merge(work / "sorted.tsv", inferred, final, tz)
    os.remove(work / "sorted.tsv")
    if calls == 0:
        raise ValueError(f"no calls of queue {chosen!r} in the log" if chosen else "no calls in the log")
    return ImportedLog(final, chosen, tz, days, calls, agents_inferred, notes, work, on_at)


def _choose(queues: Counter, queue: str | None) -> str:
    if queue is not None:
        if queue not in queues:
            listed = ", ".join(f"{q!r} ({n} calls)" for q, n in queues.most_common(20))
            raise ChooseQueueError(f"no queue {queue!r} in the log; it has {listed or 'no calls'}")
        return queue
    if len(queues) > 1:
        listed = ", ".join(f"{q!r} ({n} calls)" for q, n in queues.most_common(20))
        raise ChooseQueueError(f"the log holds several queues: {listed}; choose one (QUEUE=... / --queue)")
    return next(iter(queues), "")


def _write(ordered: ExternalSort[Record], queue: str, path: Path) -> set[str]:
    """The chosen queue's calls and its agents' presence (an agent's events for this queue, where it has
    any, else those for every queue), written as they change; the agents with presence events."""
    specific: set[str] = set()  # agents with events naming this queue
    state: dict[tuple[str, bool], bool] = {}  # (agent, specific?) -> on
    shown: dict[str, bool] = {}
    with open(path, "w", encoding="utf-8", newline="") as out:
        for record in ordered:
            if isinstance(record, Call):
                if record.queue == queue:
                    out.write(to_line(record))
                continue
            if record.queue not in ("", queue):
                continue
            mine = record.queue != ""
            if mine:
                specific.add(record.agent)
            state[(record.agent, mine)] = record.on
            on = state.get((record.agent, True)) if record.agent in specific else state.get((record.agent, False))
            if bool(on) != shown.get(record.agent, False):
                shown[record.agent] = bool(on)
                out.write(to_line(Presence(record.at, queue, record.agent, bool(on))))
    return set(shown)


def _infer_presence(path: Path, tz: str, explicit: set[str]) -> list[Presence]:
    """Presence for agents the log never signs in: from the start of the half hour of their first call
    of the (local) day to the end of the half hour in which their last call (and wrap-up) ends. Calls
    that name no agent are given the first of a few stand-in agents free when they were put through."""
    zone = ZoneInfo(tz)
    spans: dict[tuple[str, date], list[float]] = {}
    free: list[tuple[float, int]] = []  # stand-ins: (free from, index)
    stand_ins = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("C"):
                continue
            call = from_line(line)
            assert isinstance(call, Call)
            if call.outcome is not Outcome.ANSWERED:
                continue
            begins = call.arrived + call.wait
            ends = begins + call.talk + (call.wrap if call.wrap >= 0 else DEFAULT_WRAP)
            agent = call.agent
            if not agent:
                if free and free[0][0] <= begins:
                    _, k = heapq.heappop(free)
                else:
                    k, stand_ins = stand_ins, stand_ins + 1
                heapq.heappush(free, (ends, k))
                agent = f"agent-{k + 1}"
            if agent in explicit:
                continue
            day = datetime.fromtimestamp(begins, zone).date()
            span = spans.setdefault((agent, day), [begins, ends])
            span[0], span[1] = min(span[0], begins), max(span[1], ends)
    out: list[Presence] = []
    for (agent, _), (first, last) in spans.items():
        out.append(Presence(first - first % 1800, "", agent, True))
        out.append(Presence(last - last % 1800 + 1800, "", agent, False))
    out.sort(key=lambda p: (p.at, p.on))  # sign-offs first at the same instant
    merged: list[Presence] = []
    on: Counter = Counter()
    for p in out:  # an agent's consecutive days may touch: one presence
        on[p.agent] += 1 if p.on else -1
        if (p.on and on[p.agent] == 1) or (not p.on and on[p.agent] == 0):
            merged.append(p)
    return merged


def _merge(path: Path, inferred: list[Presence], final: Path, tz: str
           ) -> tuple[list[tuple[date, int]], dict[date, tuple[str, ...]], int]:
    """The records and the inferred presence merged in time order into `final`; where each local day
    begins in it, and who is signed in then (a segment replayed from that day starts with them)."""
    zone = ZoneInfo(tz)
    days: list[tuple[date, int]] = []
    on_at: dict[date, tuple[str, ...]] = {}
    on: set[str] = set()
    calls = 0

    def lines() -> Iterator[tuple[float, str]]:
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield float(line.split("\t", 2)[1]), line

    extra = ((p.at, to_line(p)) for p in inferred)
    with open(final, "w", encoding="utf-8", newline="") as out:
        offset = 0
        for at, line in heapq.merge(lines(), extra, key=lambda x: x[0]):
            day = datetime.fromtimestamp(at, zone).date()
            if not days or day != days[-1][0]:
                d = days[-1][0] + timedelta(days=1) if days else day
                while d <= day:  # days without records get an entry too (a replay steps through each)
                    days.append((d, offset))
                    on_at[d] = tuple(sorted(on))
                    d += timedelta(days=1)
            if line.startswith("C"):
                calls += 1
            else:
                presence = from_line(line)
                assert isinstance(presence, Presence)
                (on.add if presence.on else on.discard)(presence.agent)
            out.write(line)
            offset += len(line.encode("utf-8"))
    return days, on_at, calls
