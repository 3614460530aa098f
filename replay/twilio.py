"""Twilio call records: the Calls resource as exported (the API's JSON pages or JSON Lines, CSV with the
resource's field names), with the queue's story from Enqueue or TaskRouter events where present.

Sources (Twilio documentation):
- Call resource (twilio.com/docs/voice/api/call-resource): `sid`, `parent_call_sid` (the call that
  created this leg), `date_created`, `start_time`, `end_time` (RFC 2822, GMT), `duration` (seconds;
  empty for busy, failed, unanswered or ongoing calls), `from`, `to`, `status` (queued, ringing,
  in-progress, canceled, completed, failed, busy, no-answer), `direction` (inbound, outbound-api,
  outbound-dial: a <Dial> leg of its parent). The list endpoint pages them under "calls".
  (The resource's `queue_time` is the wait of an outbound API call for its calls-per-second slot,
  not a hold queue's: it is not read.)
- <Enqueue action> request (twilio.com/docs/voice/twiml/enqueue): `CallSid`, `QueueResult`
  (bridged, bridging-in-process, queue-full, redirected, hangup, error, system-error, leave),
  `QueueTime` (seconds the caller waited), `QueueSid`; an app that logged them gives these rows
  (a `Timestamp`, epoch or ISO, of the request makes the arrival exact; without it the call's start).
- TaskRouter Event resource (twilio.com/docs/taskrouter/api/event): `event_type`, `event_date`
  (ISO 8601) or `event_date_ms`, `event_data` (the Event Reference's fields: `task_attributes`,
  a JSON string holding the voice task's `call_sid`; `task_queue_name`; `worker_name`;
  `task_canceled_reason`; `worker_activity_name`). Read: task.created, reservation.accepted,
  task.wrapup, task.completed, task.canceled, worker.activity.update. The list pages them under "events".

How a call's outcome is known, first that applies: TaskRouter (created -> accepted: answered, the
wait between; canceled: abandoned, or timed out when the reason names the TTL), Enqueue (bridged:
answered after QueueTime; hangup: abandoned; leave or redirected: left with a key; queue-full or an
error: put out), then the call's <Dial> legs (a completed leg with a duration: answered when that leg
started; legs but none answered: abandoned when the caller hung up). An inbound call with none of these
is not a queue's call as far as the log can tell: counted apart and left out."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .extsort import ExternalSort
from .records import (BadLine, Call, FieldError, Outcome, Presence, Record, Report, iso_time, rfc2822_time,
                      seconds)
from .tabular import rows

CALL_STATUSES = {"queued", "ringing", "in-progress", "canceled", "completed", "failed", "busy", "no-answer"}
NEVER_ANSWERED = {"queued", "ringing", "canceled", "failed", "busy", "no-answer"}
QUEUE_RESULTS = {"bridged": Outcome.ANSWERED, "bridging-in-process": Outcome.ANSWERED, "hangup": Outcome.ABANDONED,
                 "leave": Outcome.KEY, "redirected": Outcome.KEY, "queue-full": Outcome.EMPTY,
                 "error": Outcome.EMPTY, "system-error": Outcome.EMPTY}
TASK_EVENTS = {"task.created", "reservation.accepted", "task.wrapup", "task.completed", "task.canceled"}
AVAILABLE_ACTIVITIES = frozenset({"available", "idle"})


@dataclass
class Summary:
    no_queue_outcome: int = 0  # inbound calls with no queue events and no <Dial> legs
    never_answered: int = 0  # inbound calls Twilio never answered (busy, failed, no-answer, canceled)
    orphans: int = 0  # legs or events whose inbound call is not in the export
    ignored: Counter = field(default_factory=Counter)
    queues: Counter = field(default_factory=Counter)


def _at(row: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = row.get(name)
        if value not in (None, ""):
            return rfc2822_time(str(value), name)
    return None


def _event_time(row: dict[str, Any]) -> float:
    if row.get("eventdatems") not in (None, ""):
        return seconds(str(row["eventdatems"]), "event_date_ms") / 1000.0
    for name in ("eventdate", "timestamp"):
        value = row.get(name)
        if value not in (None, ""):
            text = str(value)
            return seconds(text, name) if text.replace(".", "", 1).isdigit() else iso_time(text, name)
    raise FieldError("event_date, event_date_ms or Timestamp", "")


def read(calls: list[Path], events: list[Path], bad: Report, summary: Summary | None = None,
         workdir: str | None = None) -> Iterator[Record]:
    summary = summary if summary is not None else Summary()
    legs: ExternalSort[tuple[str, int, dict[str, Any]]] = ExternalSort(key=lambda item: item[0], workdir=workdir)
    for source, line, row in rows(calls, "calls", bad):
        try:
            legs.add(_leg(row))
        except FieldError as exc:
            bad(BadLine(source, line, exc.expected, exc.got))
    for source, line, row in rows(events, "events", bad):
        try:
            item = _event(row, summary)
        except FieldError as exc:
            bad(BadLine(source, line, exc.expected, exc.got))
            continue
        if isinstance(item, Presence):
            yield item
        elif item is not None:
            legs.add(item)
    group: list[tuple[str, int, dict[str, Any]]] = []
    for item in legs:
        if group and item[0] != group[0][0]:
            call = _resolve(group, summary)
            if call is not None:
                yield call
            group = []
        group.append(item)
    if group:
        call = _resolve(group, summary)
        if call is not None:
            yield call


def _leg(row: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    sid = str(row.get("sid") or row.get("callsid") or "").strip()
    if not sid:
        raise FieldError("sid: the call's SID (CA...)", "")
    direction = str(row.get("direction", "")).strip().lower().replace("_", "-")
    if not direction:
        raise FieldError("direction: inbound, outbound-api or outbound-dial", "")
    status = str(row.get("status", "")).strip().lower().replace("_", "-")
    if status not in CALL_STATUSES:
        raise FieldError(f"status: one of {sorted(CALL_STATUSES)}", status)
    start = _at(row, "starttime", "datecreated")
    if start is None:
        raise FieldError("start_time or date_created: when the call began", "")
    end = _at(row, "endtime")
    duration = row.get("duration")
    talk = seconds(str(duration), "duration") if duration not in (None, "") else None
    parent = str(row.get("parentcallsid") or "").strip()
    leg = {"kind": "leg", "sid": sid, "parent": parent, "direction": direction, "status": status, "start": start,
           "end": end, "duration": talk, "from": str(row.get("from") or ""), "to": str(row.get("to") or "")}
    return (parent or sid, 0 if not parent else 1, leg)


def _event(row: dict[str, Any], summary: Summary) -> tuple[str, int, dict[str, Any]] | Presence | None:
    kind = str(row.get("eventtype") or "").strip()
    if not kind and row.get("queueresult") not in (None, ""):  # an <Enqueue action> request
        result = str(row["queueresult"]).strip().lower()
        if result not in QUEUE_RESULTS:
            raise FieldError(f"QueueResult: one of {sorted(QUEUE_RESULTS)}", result)
        sid = str(row.get("callsid") or "").strip()
        if not sid:
            raise FieldError("CallSid of the enqueued call", "")
        wait = seconds(str(row.get("queuetime", "")), "QueueTime")
        at = _event_time(row) if row.get("timestamp") not in (None, "") else None
        return (sid, 2, {"kind": "enqueue", "result": result, "wait": wait, "at": at,
                         "queue": str(row.get("queuesid") or "")})
    if not kind:
        raise FieldError("event_type (a TaskRouter event) or QueueResult (an <Enqueue action> request)", "")
    kind = kind.lower()
    data = row.get("eventdata") or {}
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else {}
        except ValueError:
            raise FieldError("event_data: a JSON object", data[:80]) from None
    data = {k.lower().replace("_", ""): v for k, v in data.items()} if isinstance(data, dict) else {}
    if kind == "worker.activity.update":
        name = str(data.get("workername") or row.get("workername") or "")
        activity = str(data.get("workeractivityname") or "").strip().lower()
        if not name or not activity:
            raise FieldError("worker.activity.update: event_data with worker_name and worker_activity_name", "")
        return Presence(_event_time(row), "", name, activity in AVAILABLE_ACTIVITIES)
    if kind not in TASK_EVENTS:
        summary.ignored[kind] += 1
        return None
    attributes = data.get("taskattributes") or {}
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes) if attributes.strip() else {}
        except ValueError:
            raise FieldError("task_attributes: a JSON object", attributes[:80]) from None
    sid = str(attributes.get("call_sid") or attributes.get("CallSid") or "") if isinstance(attributes, dict) else ""
    if not sid:
        summary.ignored[f"{kind} (not a voice task)"] += 1
        return None
    return (sid, 3, {"kind": kind, "at": _event_time(row), "queue": str(data.get("taskqueuename") or ""),
                     "worker": str(data.get("workername") or ""),
                     "reason": str(data.get("taskcanceledreason") or "")})


def _resolve(group: list[tuple[str, int, dict[str, Any]]], summary: Summary) -> Call | None:
    inbound = next((g[2] for g in group if g[1] == 0 and g[2]["direction"] == "inbound"), None)
    if inbound is None:
        summary.orphans += 1
        return None
    if inbound["status"] in NEVER_ANSWERED:
        summary.never_answered += 1
        return None
    sid, caller, start = inbound["sid"], inbound["from"], inbound["start"]
    tasks = {g[2]["kind"]: g[2] for g in group if g[1] == 3}
    if "task.created" in tasks:
        created = tasks["task.created"]
        queue = created["queue"]
        summary.queues[queue] += 1
        accepted = tasks.get("reservation.accepted")
        if accepted is not None:
            wrapup, completed = tasks.get("task.wrapup"), tasks.get("task.completed")
            talk_end = (wrapup or completed or {}).get("at") or inbound["end"] or accepted["at"]
            wrap = completed["at"] - wrapup["at"] if wrapup and completed else -1.0
            return Call(sid, queue, caller, created["at"], Outcome.ANSWERED, max(0.0, accepted["at"] - created["at"]),
                        max(0.0, talk_end - accepted["at"]), accepted["worker"], wrap)
        canceled = tasks.get("task.canceled")
        if canceled is not None:
            outcome = Outcome.TIMEOUT if "ttl" in canceled["reason"].lower() else Outcome.ABANDONED
            return Call(sid, queue, caller, created["at"], outcome, max(0.0, canceled["at"] - created["at"]))
        summary.no_queue_outcome += 1
        return None
    enqueue = next((g[2] for g in group if g[1] == 2), None)
    duration = inbound["duration"] or (inbound["end"] - start if inbound["end"] else 0.0)
    answered_legs = sorted((g[2] for g in group if g[1] == 1 and g[2]["status"] == "completed"
                            and (g[2]["duration"] or 0) > 0), key=lambda leg: leg["start"])
    if enqueue is not None:
        queue = enqueue["queue"] or inbound["to"]
        summary.queues[queue] += 1
        outcome, wait = QUEUE_RESULTS[enqueue["result"]], enqueue["wait"]
        arrived = enqueue["at"] - wait if enqueue["at"] is not None else start
        if outcome is Outcome.ANSWERED:
            leg = answered_legs[0] if answered_legs else None
            talk = leg["duration"] if leg else max(0.0, start + duration - arrived - wait)
            return Call(sid, queue, caller, arrived, outcome, wait, talk, leg["to"] if leg else "")
        return Call(sid, queue, caller, arrived, outcome, wait)
    legs = [g[2] for g in group if g[1] == 1]
    if not legs:
        summary.no_queue_outcome += 1
        return None
    queue = inbound["to"]
    summary.queues[queue] += 1
    if answered_legs:
        leg = answered_legs[0]
        return Call(sid, queue, caller, start, Outcome.ANSWERED, max(0.0, leg["start"] - start), leg["duration"],
                    leg["to"])
    return Call(sid, queue, caller, start, Outcome.ABANDONED, duration)
