"""What the demo page shows beyond the phone network itself: a caller who can be called back now,
whatever the hour, and the pending callbacks with when and why."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import UnknownQueueError
from chalicelib.domain.phone import CALLING_WINDOW, NumberPolicy, in_calling_window, local_zone, number_timezones
from chalicelib.domain.queues import QueueDirectory

# Callers the demo offers, west to east, each with the queue number it calls: by the calling window
# (08:00-21:00 the callee's time) one of them can be called back now at almost any hour.
DEMO_CALLERS = (("+18085550142", "Honolulu"), ("+14155550142", "San Francisco"), ("+12125550142", "New York"),
                ("+17095550142", "St. John's"), ("+380445550142", "Kyiv"), ("+48225550142", "Warsaw"))


def local_time(number: str, at: datetime) -> str:
    """The time where the number rings: one clock, or each of its zones' where they differ (+1 709:
    St. John's and Labrador, half an hour apart)."""
    zone = local_zone(number, at)
    if zone is not None:
        return _hhmm(at, zone)
    clocks = sorted({at.astimezone(ZoneInfo(z)).strftime("%H:%M") for z in number_timezones(number)})
    return f"{at:%a} " + " or ".join(clocks) if clocks else f"{at:%a %H:%M} UTC"


def _hhmm(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")


def caller_choices(queues: QueueDirectory, now: datetime) -> list[dict[str, Any]]:
    """Every demo caller with a queue that may call them back (its allowed countries), and whether that
    callback can ring now (the queue open, the caller inside the calling window in each of their zones)."""
    out = []
    for number, city in DEMO_CALLERS:
        queue = next((q for q in queues if NumberPolicy(q.allowed_countries, q.default_region).may_call(number)), None)
        if queue is None:  # no queue here calls that country back: not a demo caller for this configuration
            continue
        callable_now = in_calling_window(number, now, queue.hours.tz) and queue.hours.is_open(now)
        out.append({"from": number, "to": queue.numbers[0], "city": city, "queue": queue.name,
                    "local_time": local_time(number, now), "callback_now": callable_now})
    return sorted(out, key=lambda c: not c["callback_now"])


def why_later(item: dict[str, Any], queues: QueueDirectory, now: datetime) -> str:
    """Why a pending callback waits: the callee's calling window, the queue's hours, or a retry."""
    number, queue_id = item.get("callback_number", ""), item.get("queue", "")
    try:
        queue = queues.get(queue_id)
    except UnknownQueueError:  # an unknown queue still shows its callback
        queue = None
    at = item.get("at")
    if at is None or at <= now:
        return "now: waiting for a free agent" if item.get("status") == "WAITING" else "now"
    if int(item.get("attempts") or 0) > 0 and item.get("last_outcome"):
        reason = f"retry after attempt {item['attempts']} ({item['last_outcome']})"
    elif not in_calling_window(number, now, queue.hours.tz if queue else "UTC"):
        reason = (f"it is {local_time(number, now)} where they are; we call between "
                  f"{CALLING_WINDOW[0]:%H:%M} and {CALLING_WINDOW[1]:%H:%M} their time")
    else:
        closed = queue is not None and not queue.hours.is_open(now)
        reason = "the queue is closed until then" if closed else "scheduled"
    return f"{local_time(number, at)} their time ({at:%H:%M} UTC): {reason}"


def pending_callbacks(items: list[dict[str, Any]], queues: QueueDirectory, now: datetime) -> list[dict[str, Any]]:
    """Callback tickets still to happen, soonest first, from the table's items (DynamoDB JSON)."""
    def value(item: dict[str, Any], name: str) -> str:
        return next(iter(item.get(name, {"S": ""}).values()))

    def when(text: str) -> datetime | None:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc) if text else None

    out = []
    for item in items:
        if not item["sk"]["S"].startswith("TICKET#") or value(item, "kind") != "CALLBACK":
            continue
        status = value(item, "status")
        if status not in ("SCHEDULED", "WAITING", "CONNECTING"):
            continue
        row = {"ticket": f"{item['pk']['S'].removeprefix('QUEUE#')}-{int(value(item, 'number'))}",
               "queue": item["pk"]["S"].removeprefix("QUEUE#"), "status": status,
               "callback_number": value(item, "callback_number"), "attempts": value(item, "attempts") or "0",
               "last_outcome": value(item, "last_outcome"),
               "at": when(value(item, "next_attempt_at") or value(item, "not_before"))}
        row["when"] = why_later(row, queues, now)
        row["at"] = row["at"].strftime("%Y-%m-%dT%H:%M:%SZ") if row["at"] else None
        out.append(row)
    return sorted(out, key=lambda r: r["at"] or "")


def demo_state(items: Callable[[], list[dict[str, Any]]], queues: QueueDirectory,
               now: Callable[[], datetime], provider: str = "twilio") -> Callable[[], dict[str, Any]]:
    """What the network adds to /sim/state for the page (which names the provider it behaves like)."""
    def state() -> dict[str, Any]:
        at = now()
        return {"now": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "provider": provider,
                "callers": caller_choices(queues, at), "callbacks": pending_callbacks(items(), queues, at)}
    return state
