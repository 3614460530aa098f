"""Amazon Connect contact records (CTR JSON, as the contact-record stream lands them: one record after
another, JSON Lines, or an array).

Source: Amazon Connect Administrator Guide, "Data model for Amazon Connect contact records"
(docs.aws.amazon.com/connect/latest/adminguide/ctr-data-model.html). Fields read:
    ContactId, InitialContactId, PreviousContactId   how contacts of one call relate
    InitiationMethod     INBOUND | OUTBOUND | TRANSFER | QUEUE_TRANSFER | CALLBACK | API | ...
    Channel              VOICE | CHAT | TASK (only VOICE is read)
    InitiationTimestamp, DisconnectTimestamp, LastUpdateTimestamp (yyyy-mm-ddThh:mm:ssZ)
    CustomerEndpoint.Address     the caller's number
    Queue.Name, Queue.EnqueueTimestamp, Queue.DequeueTimestamp, Queue.Duration (s)
    Agent.Username, Agent.ConnectedToAgentTimestamp, Agent.AgentInteractionDuration (s),
    Agent.CustomerHoldDuration (s), Agent.AfterContactWorkDuration (s)
    DisconnectReason     (CUSTOMER_DISCONNECT, AGENT_DISCONNECT, CONTACT_FLOW_DISCONNECT, ...)
Contact records are delivered at least once: copies of a ContactId are one contact, the copy with the
latest LastUpdateTimestamp kept (as the guide says to).

A call is its first queued contact (the INBOUND contact, or a transfer of it into a queue), joined with
the contacts that name it: its callback legs (InitiationMethod CALLBACK) through InitialContactId, or
PreviousContactId when a record has no InitialContactId. Arrival is when it entered the queue; the wait
runs to ConnectedToAgentTimestamp (answered) or to leaving the queue (DequeueTimestamp, else the
disconnect). A caller who left the queue for a CALLBACK contact chose a callback; one who hung up
abandoned; one the flow put out timed out. Talk is AgentInteractionDuration plus CustomerHoldDuration
(the agent is on the call throughout); AfterContactWorkDuration is the wrap-up. A callback leg reached
the caller when an agent was connected and interacted (AgentInteractionDuration > 0). Contacts that never
queued (self-service, outbound) are counted apart."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .extsort import ExternalSort
from .records import BadLine, Call, FieldError, Outcome, Record, Report, iso_time, seconds
from .tabular import rows

METHODS = {"INBOUND", "OUTBOUND", "TRANSFER", "QUEUE_TRANSFER", "CALLBACK", "API", "DISCONNECT", "MONITOR",
           "EXTERNAL_OUTBOUND", "WEBRTC_API", "AGENT_REPLY", "FLOW"}


@dataclass
class Summary:
    not_queued: int = 0  # calls that never joined a queue (self-service, outbound)
    orphans: int = 0  # callback legs or transfers whose first contact is not in the export
    duplicates: int = 0  # repeated deliveries of a contact record
    other_channels: int = 0
    ignored: Counter = field(default_factory=Counter)
    queues: Counter = field(default_factory=Counter)


def _sub(record: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    value = record.get(key)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise FieldError(f"{what}: an object", str(value)[:80])
    return {k.lower(): v for k, v in value.items()}


def _time(value: Any, what: str) -> float | None:
    return None if value in (None, "") else iso_time(str(value), what)


def _contact(record: dict[str, Any]) -> tuple[str, str, float, dict[str, Any]] | None:
    """(call key, contact id, last update, the contact's fields) for a voice contact; None for others."""
    contact = str(record.get("contactid") or "").strip()
    if not contact:
        raise FieldError("ContactId", "")
    channel = str(record.get("channel") or "VOICE").upper()
    if channel != "VOICE":
        return None
    method = str(record.get("initiationmethod") or "").upper()
    if method not in METHODS:
        raise FieldError(f"InitiationMethod: one of {sorted(METHODS)}", method)
    initiated = _time(record.get("initiationtimestamp"), "InitiationTimestamp")
    if initiated is None:
        raise FieldError("InitiationTimestamp", "")
    queue, agent = _sub(record, "queue", "Queue"), _sub(record, "agent", "Agent")
    customer = _sub(record, "customerendpoint", "CustomerEndpoint")
    fields = {
        "id": contact, "method": method, "initiated": initiated,
        "disconnected": _time(record.get("disconnecttimestamp"), "DisconnectTimestamp"),
        "caller": str(customer.get("address") or ""),
        "queue": str(queue.get("name") or ""),
        "enqueued": _time(queue.get("enqueuetimestamp"), "Queue.EnqueueTimestamp"),
        "dequeued": _time(queue.get("dequeuetimestamp"), "Queue.DequeueTimestamp"),
        "agent": str(agent.get("username") or ""),
        "connected": _time(agent.get("connectedtoagenttimestamp"), "Agent.ConnectedToAgentTimestamp"),
        "interaction": _seconds(agent, "agentinteractionduration", "Agent.AgentInteractionDuration"),
        "hold": _seconds(agent, "customerholdduration", "Agent.CustomerHoldDuration"),
        "acw": _seconds(agent, "aftercontactworkduration", "Agent.AfterContactWorkDuration"),
        "reason": str(record.get("disconnectreason") or "").upper(),
        "previous": str(record.get("previouscontactid") or ""),
    }
    if fields["queue"] and fields["enqueued"] is None:
        raise FieldError("Queue.EnqueueTimestamp for a contact with a Queue", "")
    updated = _time(record.get("lastupdatetimestamp"), "LastUpdateTimestamp") or initiated
    key = str(record.get("initialcontactid") or "") or fields["previous"] or contact
    return key, contact, updated, fields


def _seconds(sub: dict[str, Any], key: str, what: str) -> float:
    value = sub.get(key)
    return 0.0 if value in (None, "") else seconds(str(value), what)


def read(paths: list[Path], bad: Report, summary: Summary | None = None, workdir: str | None = None
         ) -> Iterator[Record]:
    summary = summary if summary is not None else Summary()
    contacts: ExternalSort[tuple[str, str, float, dict[str, Any]]] = ExternalSort(
        key=lambda c: (c[0], c[1], c[2]), workdir=workdir)
    for source, line, record in rows(paths, "contacts", bad):
        try:
            item = _contact(record)
        except FieldError as exc:
            bad(BadLine(source, line, exc.expected, exc.got))
            continue
        if item is None:
            summary.other_channels += 1
        else:
            contacts.add(item)
    group: dict[str, dict[str, Any]] = {}
    key = None
    for c in contacts:
        if key is not None and c[0] != key:
            yield from _resolve(key, group, summary)
            group = {}
        key = c[0]
        if c[1] in group:
            summary.duplicates += 1
        group[c[1]] = c[3]  # sorted by update: the latest copy wins
    if key is not None:
        yield from _resolve(key, group, summary)


def _resolve(key: str, group: dict[str, dict[str, Any]], summary: Summary) -> Iterator[Call]:
    legs = sorted(group.values(), key=lambda c: c["initiated"])
    callbacks = [c for c in legs if c["method"] == "CALLBACK"]
    queued = [c for c in legs if c["method"] != "CALLBACK" and c["queue"]]
    if not queued:
        if callbacks and key not in group:
            summary.orphans += 1
        else:
            summary.not_queued += 1
        return
    first = queued[0]
    caller = next((c["caller"] for c in legs if c["caller"]), "")
    arrived = first["enqueued"]
    summary.queues[first["queue"]] += 1
    answered = next((c for c in queued if c["connected"] is not None), None)
    reached = next((c["connected"] for c in callbacks if c["connected"] is not None and c["interaction"] > 0), None)
    callback_at = -1.0 if reached is None else reached
    if answered is not None:
        yield Call(first["id"], first["queue"], caller, arrived, Outcome.ANSWERED, max(0.0, answered["connected"] - arrived),
                   answered["interaction"] + answered["hold"], answered["agent"],
                   answered["acw"] if answered["acw"] > 0 else -1.0, callback_at)
        return
    last = queued[-1]
    left = last["dequeued"] or last["disconnected"] or last["enqueued"]
    if callbacks:
        outcome = Outcome.CALLBACK
    elif last["reason"] in ("CUSTOMER_DISCONNECT", ""):
        outcome = Outcome.ABANDONED
    else:
        outcome = Outcome.TIMEOUT
    yield Call(first["id"], first["queue"], caller, arrived, outcome, max(0.0, left - arrived), callback_at=callback_at)
