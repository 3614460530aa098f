"""What the demo page shows beyond the phone network itself: a caller who can be called back now,
whatever the hour, and the pending callbacks with when and why."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from chalicelib.domain.phone import CALLING_WINDOW, in_calling_window, number_timezone
from chalicelib.domain.queues import QueueDirectory

# Callers the demo offers, west to east, each with the queue number it calls: by the calling window
# (08:00-21:00 the callee's time) one of them can be called back now at almost any hour.
DEMO_CALLERS = (("+18085550142", "Honolulu"), ("+14155550142", "San Francisco"), ("+12125550142", "New York"),
                ("+17095550142", "St. John's"), ("+380445550142", "Kyiv"), ("+48225550142", "Warsaw"))


def _hhmm(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")


def caller_choices(queues: QueueDirectory, now: datetime) -> list[dict[str, Any]]:
    """Every demo caller with the queue that takes their country, and whether a callback can ring now."""
    from chalicelib.domain.errors import NumberNotAllowedError
    from chalicelib.domain.phone import NumberPolicy

    out = []
    for number, city in DEMO_CALLERS:
        for queue in queues:
            try:
                NumberPolicy(allowed_countries=queue.allowed_countries,
                             default_region=queue.default_region).normalize(number)
            except NumberNotAllowedError:
                continue
            zone = number_timezone(number, "UTC")
            callable_now = in_calling_window(number, now, "UTC") and queue.hours.is_open(now)
            out.append({"from": number, "to": queue.numbers[0], "city": city, "queue": queue.name,
                        "local_time": _hhmm(now, zone), "callback_now": callable_now})
            break
    return sorted(out, key=lambda c: not c["callback_now"])


def why_later(item: dict[str, Any], queues: QueueDirectory, now: datetime) -> str:
    """Why a pending callback waits: the callee's calling window, the queue's hours, or a retry."""
    number, queue_id = item.get("callback_number", ""), item.get("queue", "")
    zone = number_timezone(number, "UTC")
    at = item.get("at")
    if at is None or at <= now:
        return "now: waiting for a free agent" if item.get("status") == "WAITING" else "now"
    if int(item.get("attempts") or 0) > 0 and item.get("last_outcome"):
        reason = f"retry after attempt {item['attempts']} ({item['last_outcome']})"
    elif not in_calling_window(number, now, "UTC"):
        reason = (f"it is {_hhmm(now, zone)} where they are; we call between "
                  f"{CALLING_WINDOW[0]:%H:%M} and {CALLING_WINDOW[1]:%H:%M} their time")
    else:
        try:
            closed = not queues.get(queue_id).hours.is_open(now)
        except Exception:  # noqa: BLE001 - an unknown queue still shows its callback
            closed = False
        reason = "the queue is closed until then" if closed else "scheduled"
    return f"{_hhmm(at, zone)} their time ({at:%H:%M} UTC): {reason}"


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
               now: Callable[[], datetime]) -> Callable[[], dict[str, Any]]:
    """What the network adds to /sim/state for the page."""
    def state() -> dict[str, Any]:
        at = now()
        return {"now": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "callers": caller_choices(queues, at),
                "callbacks": pending_callbacks(items(), queues, at)}
    return state
