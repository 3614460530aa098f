"""The table's stream on DynamoDB: the consumer that keeps each queue's SNAPSHOT (the team's presence and
when the live caller at the head joined: derived views, never a caller's place), call pointers and
lost-call markers (DynamoStream), a stream record read as a ticket change, and the snapshot decoded."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from ...domain.model import Agent, AgentStatus, TicketKind, TicketStatus
from ...ports import LineCounts, QueueSnapshot
from .items import line_head, put_lost_markers
from .schema import MarkerItem, TICKET_TTL, TicketItem, lost_marker_sk, queue_pk
from .table import OnTable

LOST_RECOUNT = 200  # the newest lost calls whose markers each sweep checks (a skipped record is a recent one)


class DynamoStream(OnTable):
    """The table's stream consumer (no port: only the stream worker calls it): keeps the queue's SNAPSHOT,
    the call pointers' `done` flag and the lost-call markers by number, from one stream record at a time.
    The line's counts are not its business: they move with the tickets (the COUNTER item)."""

    def apply_change(self, new_image: Mapping[str, Any] | None, old_image: Mapping[str, Any] | None,
                     event_id: str | None = None) -> None:
        """Keep what the webhooks read in one item from one stream record: everything is set, not added,
        so a redelivered record changes nothing (`event_id` is not needed for that)."""
        image = new_image or old_image or {}
        pk, sk = _s(image, "pk") or "", _s(image, "sk") or ""
        if sk.startswith("TICKET#"):
            self._ticket_changed(new_image, old_image, event_id)
        elif pk.startswith("AGENTS#") and sk.startswith("AGENT#"):
            self._presence_changed(pk[len("AGENTS#"):], sk[len("AGENT#"):], new_image)

    def _ticket_changed(self, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None,
                        event_id: str | None) -> None:
        image = new or old or {}
        queue_id = _s(image, "queue_id") or ""
        was, now = _line_class(old), _line_class(new)
        if was != now:
            if old is None and _s(new, "kind") == TicketKind.LIVE.value:
                # A caller joining at the end changes the head only if there was none: no query for that.
                self._head_if_none(queue_id, _s(new, "created_at") or "")
            else:
                self._refresh_head(queue_id)
        elif now is not None and _s(old, "status") != _s(new, "status"):
            self._refresh_head(queue_id)  # a callback that held its place was parked: claimable now
        call_id = _s(old, "call_id")
        if call_id and _holds_call(old) and not (_holds_call(new) and _s(new, "call_id") == call_id):
            try:
                self.table.client.update_item(
                    TableName=TicketItem.Meta.table_name, Key=_key(f"CALL#{call_id}", "CALL"),
                    UpdateExpression="SET done = :yes", ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":yes": {"BOOL": True}})
            except self.table.client.exceptions.ConditionalCheckFailedException:
                pass
        self._lost_changed(queue_id, new, old)

    def _head_if_none(self, queue_id: str, created_at: str) -> None:
        """A live caller joining an empty line (or one headed by callbacks) heads it."""
        self.table.client.update_item(
            TableName=TicketItem.Meta.table_name, Key=_key(queue_pk(queue_id), SNAPSHOT),
            UpdateExpression="SET head_at = if_not_exists(head_at, :head)",
            ExpressionAttributeValues={":head": {"S": created_at}})

    def _refresh_head(self, queue_id: str) -> None:
        """The live caller at the head and when they joined (the estimator's head wait)."""
        head = line_head(queue_id)
        key = {"TableName": TicketItem.Meta.table_name, "Key": _key(queue_pk(queue_id), SNAPSHOT)}
        if head is not None and head.kind is TicketKind.LIVE:
            self.table.client.update_item(**key, UpdateExpression="SET head_at = :at", ExpressionAttributeValues={
                ":at": {"S": TicketItem.created_at.serialize(head.created_at)}})
        else:
            self.table.client.update_item(**key, UpdateExpression="REMOVE head_at")

    def _presence_changed(self, queue_id: str, agent_id: str, new: Mapping[str, Any] | None) -> None:
        key = {"TableName": TicketItem.Meta.table_name, "Key": _key(queue_pk(queue_id), SNAPSHOT),
               "ExpressionAttributeNames": {"#a": f"agent:{agent_id}"}}
        if new is None:
            self.table.client.update_item(**key, UpdateExpression="REMOVE #a")
            return
        self.table.client.update_item(**key, UpdateExpression="SET #a = :p",
                                      ExpressionAttributeValues={":p": {"M": _presence(new)}})

    def reconcile(self, queue_id: str) -> int:
        """Recount what this consumer keeps in the queue's SNAPSHOT from the truth (the minute sweep): the
        team's presence from its presence rows (one query of the queue's team) and the head from one line
        query. (The line's counts need none: they move with the tickets.) A record the stream gave up on
        (its dead letters) leaves the view wrong until then, not for good. Writes only what differs;
        returns how many fields it corrected."""
        client, table = self.table.client, TicketItem.Meta.table_name
        team: dict[str, Any] = {}
        for page in client.get_paginator("query").paginate(
                TableName=table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"AGENTS#{queue_id}"}}):
            for item in page["Items"]:
                if (_s(item, "sk") or "").startswith("AGENT#"):
                    team[f"agent:{_s(item, 'sk')[len('AGENT#'):]}"] = {"M": _presence(item)}  # type: ignore[index]
        head = line_head(queue_id)
        kept = client.get_item(TableName=table, Key=_key(queue_pk(queue_id), SNAPSHOT)).get("Item", {})
        sets = {name: value for name, value in team.items() if kept.get(name) != value}
        removes = [name for name in kept if name.startswith("agent:") and name not in team]
        if head is None and "head_at" in kept:
            removes.append("head_at")  # nobody waits
        elif head is not None and head.kind is TicketKind.LIVE:  # (behind a callback: either is right)
            head_at = TicketItem.created_at.serialize(head.created_at)
            if _s(kept, "head_at") != head_at:
                sets["head_at"] = {"S": head_at}
        if not sets and not removes:
            return 0
        names = {f"#n{i}": name for i, name in enumerate([*sets, *removes])}
        by_name = {name: alias for alias, name in names.items()}
        expression = " ".join(part for part in (
            "SET " + ", ".join(f"{by_name[n]} = :v{i}" for i, n in enumerate(sets)) if sets else "",
            "REMOVE " + ", ".join(by_name[n] for n in removes) if removes else "") if part)
        values = {f":v{i}": value for i, value in enumerate(sets.values())}
        client.update_item(TableName=table, Key=_key(queue_pk(queue_id), SNAPSHOT), UpdateExpression=expression,
                           ExpressionAttributeNames=names, **({"ExpressionAttributeValues": values} if values else {}))
        return len(names)

    def reconcile_lost(self, queue_id: str, limit: int = LOST_RECOUNT) -> int:
        """Recount the lost-call list's by-number markers from its tickets (the sweep): the newest `limit`
        unrecovered lost calls (one query of the `lost` index, newest first: a record the stream gave up
        on is a recent one), and a marker put for each of their numbers that has none. Without it a lost
        call the workflow's GiveUp recorded, whose stream record was skipped, would never be found by its
        number, so a later answer from that number would not recover it. (A marker left behind by a
        skipped recovery is harmless: clearing by number checks the ticket is still lost.) Returns how
        many markers it put."""
        wanted: dict[tuple[str, str], datetime] = {}
        for item in TicketItem.lost.query(f"LOST#{queue_id}", scan_index_forward=False, limit=limit,
                                          page_size=min(limit, 100)):
            sk = lost_marker_sk(int(item.sk[len("TICKET#"):]))
            for number in {item.caller, item.callback_number} - {None}:
                wanted[(f"LOSTBY#{queue_id}#{number}", sk)] = item.expires_at or item.created_at + TICKET_TTL
        keys = list(wanted)
        found: set[tuple[str, str]] = set()
        for start in range(0, len(keys), 100):  # BatchGetItem's bound
            found |= {(m.pk, m.sk) for m in MarkerItem.batch_get(keys[start:start + 100], consistent_read=True)}
        missing = [key for key in keys if key not in found]
        with MarkerItem.batch_write() as batch:
            for pk, sk in missing:
                batch.save(MarkerItem(pk, sk, expires_at=wanted[(pk, sk)]))
        return len(missing)

    def _lost_changed(self, queue_id: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        """The by-number markers of the lost-call list follow the ticket's lost_pk (the workflow's
        GiveUp sets it too, and it cannot know the number)."""
        sk = lost_marker_sk(int((_s(new or old, "sk") or "TICKET#0")[len("TICKET#"):]))
        if _s(new, "lost_pk") and not _s(old, "lost_pk"):
            expires = (new or {}).get("expires_at", {}).get("N")
            put_lost_markers(queue_id, sk, {_s(new, "caller"), _s(new, "callback_number")},
                             datetime.fromtimestamp(int(expires), timezone.utc) if expires
                             else TicketItem.created_at.deserialize(_s(new, "created_at")) + TICKET_TTL)
        elif _s(old, "lost_pk") and not _s(new, "lost_pk"):
            numbers = {_s(old, "caller"), _s(old, "callback_number")}
            with MarkerItem.batch_write() as batch:
                for number in numbers - {None}:
                    batch.delete(MarkerItem(f"LOSTBY#{queue_id}#{number}", sk))


def ticket_change(new_image: Mapping[str, Any] | None,
                  old_image: Mapping[str, Any] | None) -> tuple[str, str, TicketStatus, TicketStatus | None, str | None] | None:
    """A stream record about a ticket, as (queue_id, ticket_id, status, previous status, agent_id)."""
    def s(image: Mapping[str, Any] | None, name: str) -> str | None:
        return (image or {}).get(name, {}).get("S")

    sk = s(new_image, "sk")
    if not sk or not sk.startswith("TICKET#"):
        return None
    queue_id = s(new_image, "queue_id") or ""
    previous = s(old_image, "status")
    return (queue_id, f"{queue_id}-{int(sk[len('TICKET#'):])}", TicketStatus(s(new_image, "status")),
            TicketStatus(previous) if previous else None, s(new_image, "agent_id"))


SNAPSHOT = "SNAPSHOT"


def _s(image: Mapping[str, Any] | None, name: str) -> str | None:
    return (image or {}).get(name, {}).get("S")


def _presence(image: Mapping[str, Any] | None) -> dict[str, Any]:
    """An agent's presence as the snapshot keeps it, from its presence row's image."""
    presence = {"s": {"S": _s(image, "status") or AgentStatus.OFFLINE.value}}
    for short, name in (("at", "changed_at"), ("t", "ticket_id"), ("u", "until")):
        if _s(image, name):
            presence[short] = {"S": _s(image, name) or ""}
    return presence


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _line_class(image: Mapping[str, Any] | None) -> int | None:
    """The priority class of a ticket in the line (None: not in it), from its line sort key."""
    line_sk = _s(image, "line_sk")
    return 9 - int(line_sk[0]) if _s(image, "line_pk") and line_sk else None


def _holds_call(image: Mapping[str, Any] | None) -> bool:
    """A live ticket whose call's end still matters (call_ended would act on it)."""
    return (_s(image, "kind") == TicketKind.LIVE.value
            and _s(image, "status") in (TicketStatus.WAITING.value, TicketStatus.AFTER_HOURS.value,
                                        TicketStatus.CONNECTING.value))


def snapshot_from_item(queue_id: str, raw: Mapping[str, Any], line: LineCounts,
                       estimator: Mapping[str, Any] | None) -> QueueSnapshot:
    agents = []
    for name, value in raw.items():
        if name.startswith("agent:"):
            presence = value["M"]
            at, until = presence.get("at", {}).get("S"), presence.get("u", {}).get("S")
            agents.append(Agent(name[len("agent:"):], AgentStatus(presence["s"]["S"]), (queue_id,),
                                ticket_id=presence.get("t", {}).get("S"),
                                changed_at=TicketItem.created_at.deserialize(at) if at else None,
                                until=TicketItem.created_at.deserialize(until) if until else None))
    head = raw.get("head_at", {}).get("S")
    return QueueSnapshot(line, tuple(sorted(agents, key=lambda a: a.id)),
                         TicketItem.created_at.deserialize(head) if head else None, estimator)
