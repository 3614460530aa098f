"""Reports: the measures of DESIGN.md ("Measures"), kept per queue and half hour as events happen.

A ticket's transitions (its previous and new state, as the table's stream delivers them) become
*facts*: small counter increments, each with an id that makes recording it idempotent. Every fact
counts in the half hour the call arrived (the ticket's `created_at`), so a half hour's service
level, abandonment and recoveries all describe the same callers. Reading a report adds up a few
half-hour rows; nothing scans tickets. `from_tickets` computes the same counters from raw tickets
(the test that holds the two together, and a repair tool)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from .ewt import gamma_quantile
from .model import Ticket, TicketKind, TicketStatus
from .slots import slot_start

# Answered waits are counted in these bins (upper edges, seconds), so the service level for any
# target on an edge is exact at read time, whatever target a queue sets later.
WAIT_EDGES: tuple[int, ...] = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
DEFAULT_TARGET_SECONDS = 20
LOST_CAUSES = ("abandoned", "rang_out", "after_hours", "dropped")
FAILED_CALLBACK = "callback_failed"  # the workflow's cause for a callback whose attempts ran out
EWT_RANGE = (0.1, 0.9)  # the 80% range callers hear
HALF_HOUR = timedelta(minutes=30)
DEFAULT_TOLERANCE_SECONDS = 300.0


def bucket_of(at: datetime, zone: tzinfo = timezone.utc) -> str:
    """The half hour of the queue's zone a moment falls in, named by its start in UTC
    ('YYYY-MM-DDTHH:MM'). For zones a whole or half hour from UTC (nearly all) that is the UTC half
    hour; in the others (Nepal, Chatham) the half hours still start at :00 and :30 on local clocks."""
    local = at.astimezone(zone)
    start = local.replace(minute=0 if local.minute < 30 else 30, second=0, microsecond=0)
    return start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")


def minute_of(at: datetime) -> str:
    """The minute (UTC) a moment falls in: the recent rows behind the rolling service levels."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")


def bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc)


def local_label(bucket: str, zone: tzinfo) -> str:
    """A row's start on the queue's clock, with its offset: '2025-11-17T10:00-08:00'."""
    return bucket_start(bucket).astimezone(zone).isoformat(timespec="minutes")


def wait_bin(seconds: float) -> str:
    for edge in WAIT_EDGES:
        if seconds <= edge:
            return f"w{edge}"
    return "wmore"


@dataclass(frozen=True)
class Fact:
    """Increments to one queue's half-hour row (and its arrival minute's recent row); `id` makes
    recording it happen once."""

    id: str
    queue_id: str
    bucket: str
    counts: Mapping[str, float]
    minute: str = ""


def facts(old: Ticket | None, new: Ticket, short_abandon_seconds: float,
          zone: tzinfo = timezone.utc, tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS) -> list[Fact]:
    """What one ticket transition adds to the reports (empty for most transitions), in the half
    hour of the queue's zone the call arrived. `tolerance_seconds`: how late a callback at a chosen
    time may first be dialed and still keep its promise."""
    out: list[Fact] = []
    bucket = bucket_of(new.created_at, zone)
    minute = minute_of(new.created_at)

    def add(name: str, **counts: float) -> None:
        out.append(Fact(f"{new.id}#{name}", new.queue_id, bucket, counts, minute))

    if old is None and new.kind is TicketKind.LIVE:
        add("offered", offered=1, after_hours=int(new.status is TicketStatus.AFTER_HOURS))
    if old is None:
        old_status, old_kind = None, None
    else:
        old_status, old_kind = old.status, old.kind
    # Answered live: connected to an agent while holding (the bridge's agent leg answered: `answered_at`,
    # never the end of the call), and never lost or booked before (a rejoined callback that is served
    # live is a recovery by calling again, below). The wait is to that moment.
    if (new.kind is TicketKind.LIVE and new.answered_at is not None and (old is None or old.answered_at is None)
            and new.lost_at is None and new.not_before is None):
        wait = max(0.0, (new.answered_at - new.created_at).total_seconds())
        counts = {"answered": 1, "answered_wait": wait, wait_bin(wait): 1}
        if new.told_shape > 0 and new.told_scale > 0:
            told = new.told_shape * new.told_scale
            low = gamma_quantile(new.told_shape, new.told_scale, EWT_RANGE[0])
            high = gamma_quantile(new.told_shape, new.told_scale, EWT_RANGE[1])
            counts.update(ewt_n=1, ewt_error=told - wait, ewt_error_sq=(told - wait) ** 2,
                          ewt_inside=int(low <= wait <= high))
        add("answered", **counts)
    if (new.status is TicketStatus.ABANDONED and old_status is not TicketStatus.ABANDONED
            and new.kind is TicketKind.LIVE and new.wait_seconds is not None):
        short = new.wait_seconds < short_abandon_seconds
        add("abandoned", abandoned_short=int(short), abandoned_long=int(not short))
    if (new.lost_cause and new.lost_at and (old is None or old.lost_at != new.lost_at)
            and new.lost_cause != FAILED_CALLBACK):  # a callback the caller chose is not a lost call: gave_up
        cause = new.lost_cause if new.lost_cause in LOST_CAUSES else "dropped"
        out.append(Fact(f"{new.id}#lost#{new.lost_at.isoformat()}", new.queue_id, bucket,
                        {"lost": 1, f"lost_{cause}": 1}, minute))
    if new.kind is TicketKind.CALLBACK and old_kind is not TicketKind.CALLBACK:
        # A caller who pressed 1 was not answered live but is not lost either (DESIGN.md).
        add("booked", callbacks=1, chose_callback=int(old is not None and new.lost_at is None))
    out += _chosen_facts(old, new, bucket, minute, tolerance_seconds)
    if old is not None and new.dials > old.dials:  # attempts dialed: calls placed, not bookings
        for dial in range(old.dials + 1, new.dials + 1):
            add(f"attempt{dial}", attempts=1)
    connected = (new.kind is TicketKind.CALLBACK and new.status is TicketStatus.SERVED
                 and old_status is not TicketStatus.SERVED)
    if connected:
        add("connected", connected=1)
    if new.kind is TicketKind.CALLBACK and new.status is TicketStatus.LOST and old_status is not TicketStatus.LOST:
        add("gave_up", gave_up=1)  # attempts ran out
    if connected or (new.recovered_at is not None and (old is None or old.recovered_at is None)):
        # One recovery per ticket: the fact id is the same whichever way it came.
        add("recovered", recovered=1, **{"recovered_callback" if connected else "recovered_again": 1})
    elif new.status is TicketStatus.SERVED and old_status is not TicketStatus.SERVED and (
            new.lost_at is not None or new.not_before is not None) and new.kind is TicketKind.LIVE:
        add("recovered", recovered=1, recovered_again=1)  # a rejoined callback served live
    if (new.recovered_at is not None and new.lost_at is not None and (old is None or old.recovered_at is None)
            and new.kind is TicketKind.CALLBACK and new.status is TicketStatus.SERVED):
        reached = new.answered_at or new.recovered_at  # the attempt that reached the caller
        add("ttc", ttc_n=1, ttc_seconds=max(0.0, (reached - new.lost_at).total_seconds()))
    return out


def _chosen_facts(old: Ticket | None, new: Ticket, bucket: str, minute: str, tolerance_seconds: float) -> list[Fact]:
    """Callbacks at a chosen time (booked, moved, first dialed on time or late), callbacks the caller
    cancelled, and callbacks asked for from the web."""
    out: list[Fact] = []

    def add(name: str, **counts: float) -> None:
        out.append(Fact(f"{new.id}#{name}", new.queue_id, bucket, counts, minute))

    was_callback = old is not None and old.kind is TicketKind.CALLBACK
    if new.kind is TicketKind.CALLBACK and not was_callback and new.origin == "web":
        add("web", web_requests=1)
    if new.slot and new.kind is TicketKind.CALLBACK and not was_callback:
        add(f"scheduled#{new.slot}", scheduled=1)
    elif new.slot and was_callback and old is not None and old.slot != new.slot and new.status is TicketStatus.SCHEDULED:
        add(f"moved#{new.slot}", scheduled_moved=1)
    if new.slot and new.first_dial_at is not None and (old is None or old.first_dial_at is None):
        late = max(0.0, (new.first_dial_at - slot_start(new.slot)).total_seconds())
        on_time = late <= tolerance_seconds
        add("slot_kept", scheduled_on_time=int(on_time), scheduled_late=int(not on_time), scheduled_late_seconds=late)
    if (new.status is TicketStatus.CANCELLED and (old is None or old.status is not TicketStatus.CANCELLED)
            and new.cancelled_by == "caller"):
        add("cancelled_by_caller", cancelled_by_caller=1, scheduled_cancelled=int(bool(new.slot)))
    return out


def from_tickets(history: Iterable[tuple[Ticket | None, Ticket]], short_abandon_seconds: float,
                 zone: tzinfo = timezone.utc) -> dict[tuple[str, str], dict[str, float]]:
    """The same rows, from a ticket history replayed without the idempotent store (repair, tests)."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    seen: set[str] = set()
    for old, new in history:
        for fact in facts(old, new, short_abandon_seconds, zone):
            if fact.id in seen:
                continue
            seen.add(fact.id)
            add_counts(rows.setdefault((fact.queue_id, fact.bucket), {}), fact.counts)
    return rows


def add_counts(row: dict[str, float], counts: Mapping[str, float]) -> None:
    for key, value in counts.items():
        row[key] = row.get(key, 0) + value


@dataclass
class Measures:
    """One report line: a half hour, or the total of a range."""

    label: str
    counts: dict[str, float] = field(default_factory=dict)
    target_seconds: int = DEFAULT_TARGET_SECONDS

    def c(self, key: str) -> float:
        return self.counts.get(key, 0)

    def within(self, seconds: int) -> float:
        return sum(self.c(f"w{edge}") for edge in WAIT_EDGES if edge <= seconds)

    def as_row(self) -> dict[str, float | str | None]:
        offered, answered = self.c("offered"), self.c("answered")
        in_hours = offered - self.c("after_hours")
        # Calls that ended without an agent: lost, or the caller chose a callback. (Offered minus
        # answered would also count callers still holding.)
        not_answered = self.c("lost") + self.c("chose_callback")
        unrecovered = max(0.0, not_answered - self.c("recovered"))
        ewt_n = self.c("ewt_n")

        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "period": self.label, "offered": int(offered), "after_hours": int(self.c("after_hours")),
            "answered_live": int(answered),
            "service_level": ratio(self.within(self.target_seconds), in_hours),
            "asa_seconds": ratio(self.c("answered_wait"), answered),
            "abandoned_short": int(self.c("abandoned_short")), "abandoned_long": int(self.c("abandoned_long")),
            "not_answered_live": int(not_answered), "lost": int(self.c("lost")),
            **{f"lost_{cause}": int(self.c(f"lost_{cause}")) for cause in LOST_CAUSES},
            "recovered": int(self.c("recovered")), "recovered_by_callback": int(self.c("recovered_callback")),
            "recovered_by_calling_again": int(self.c("recovered_again")),
            "unrecovered": int(unrecovered),
            "unrecovered_without_short": int(max(0.0, unrecovered - self.c("abandoned_short"))),
            "callbacks_booked": int(self.c("callbacks")), "callback_attempts": int(self.c("attempts")),
            "callbacks_connected": int(self.c("connected")), "callbacks_gave_up": int(self.c("gave_up")),
            "connect_rate": ratio(self.c("connected"), self.c("attempts")),
            "time_to_callback_seconds": ratio(self.c("ttc_seconds"), self.c("ttc_n")),
            "ewt_mean_error_seconds": ratio(self.c("ewt_error"), ewt_n),
            "ewt_rms_error_seconds": round((self.c("ewt_error_sq") / ewt_n) ** 0.5, 2) if ewt_n else None,
            "ewt_inside_range": ratio(self.c("ewt_inside"), ewt_n),
            "scheduled_booked": int(self.c("scheduled")), "scheduled_moved": int(self.c("scheduled_moved")),
            "scheduled_on_time": int(self.c("scheduled_on_time")), "scheduled_late": int(self.c("scheduled_late")),
            "scheduled_kept_share": ratio(self.c("scheduled_on_time"),
                                          self.c("scheduled_on_time") + self.c("scheduled_late")),
            "scheduled_cancelled": int(self.c("scheduled_cancelled")),
            "cancelled_by_caller": int(self.c("cancelled_by_caller")), "web_requests": int(self.c("web_requests")),
            "sms_sent": int(self.c("sms_sent")), "sms_delivered": int(self.c("sms_delivered")),
            "sms_failed": int(self.c("sms_failed")), "sms_opt_outs": int(self.c("sms_opt_outs")),
        }


COLUMNS = tuple(Measures("").as_row().keys())


# What a signed EWT error means (reports, the page, docs/console.md say the same).
EWT_ERROR_SIGN = "announced minus actual wait: positive = callers waited less than they were told"


@dataclass(frozen=True)
class Report:
    queue_id: str
    start: datetime
    end: datetime
    rows: tuple[Measures, ...]  # one per half hour with any calls, in order, labelled on the queue's clock
    total: Measures
    zone: str = "UTC"  # the queue's time zone: days and half hours are its own

    def as_json(self) -> dict[str, object]:
        return {"queue": self.queue_id, "zone": self.zone, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "target_seconds": self.total.target_seconds,
                "columns": list(COLUMNS), "ewt_error_sign": EWT_ERROR_SIGN,
                "rows": [m.as_row() for m in self.rows], "total": self.total.as_row()}

    def csv(self) -> str:
        """Machine-readable: raw numbers (fractions, seconds); each half hour's start on the queue's
        clock with its UTC offset, and the zone's name beside it."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["period", "zone", *COLUMNS[1:]], lineterminator="\r\n")
        writer.writeheader()
        for m in (*self.rows, self.total):
            writer.writerow({"zone": self.zone, **{k: "" if v is None else v for k, v in m.as_row().items()}})
        return out.getvalue()


def build_report(queue_id: str, start: datetime, end: datetime, rows: Mapping[str, Mapping[str, float]],
                 target_seconds: int = DEFAULT_TARGET_SECONDS, zone: str = "UTC") -> Report:
    """Half-hour rows (bucket -> counters) within [start, end) into a report with a total line; each
    row labelled with its start on the zone's clock."""
    lines = []
    total = Measures("total", {}, target_seconds)
    where = ZoneInfo(zone)
    for bucket in sorted(rows):
        at = bucket_start(bucket)
        if not (start <= at < end):
            continue
        lines.append(Measures(local_label(bucket, where), dict(rows[bucket]), target_seconds))
        add_counts(total.counts, rows[bucket])
    return Report(queue_id, start, end, tuple(lines), total, zone)

