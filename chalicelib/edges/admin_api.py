"""The admin JSON API: the lost-call list and opt-outs. Bearer token, like the agents API."""
from __future__ import annotations

import json
from typing import Any, Mapping

from .agents_api import bearer_ok, json_reply
from ..domain.errors import BadPageError, NumberNotAllowedError, UnknownQueueError
from ..domain.model import Ticket
from ..domain.operations import callback_plan
from ..domain.pages import across, page_limit
from ..domain.phone import NumberPolicy
from ..domain.queues import QueueDirectory
from ..ports import Bookings, Clock, LostCalls, Page
from .webhooks import HttpReply


def _iso(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def lost_call_json(ticket: Ticket) -> dict[str, Any]:
    plan = callback_plan(ticket)
    return {"ticket": ticket.id, "queue": ticket.queue_id, "number": ticket.callback_number or ticket.caller,
            "cause": ticket.lost_cause, "lost_at": _iso(ticket.lost_at), "status": ticket.status.value,
            "callback": plan, "attempts": ticket.attempts, "last_outcome": ticket.last_outcome,
            "next_attempt_at": (_iso(ticket.next_attempt_at or ticket.not_before)
                                if ticket.status.value == "SCHEDULED" else None)}


class AdminApi:
    def __init__(self, lost: LostCalls, bookings: Bookings, queues: QueueDirectory, clock: Clock,
                 admin_token: str) -> None:
        self.lost = lost
        self.bookings = bookings
        self.queues = queues
        self.clock = clock
        self.admin_token = admin_token

    def lost_calls(self, query: Mapping[str, str], headers: Mapping[str, str]) -> HttpReply:
        """The unrecovered lost calls, `limit` at a time (default 100, at most 500): cause, attempts,
        next attempt. `next` is the cursor of the page after (null on the last). Without `queue`,
        every queue's list in turn: the cursor carries the queue it stopped in."""
        if not bearer_ok(headers, self.admin_token):
            return json_reply(401, {"error": "missing or wrong bearer token"})
        try:
            queues = [self.queues.get(query["queue"])] if query.get("queue") else list(self.queues)
            page = across([q.id for q in queues], self._lost, page_limit(query.get("limit")), query.get("next"))
        except (UnknownQueueError, BadPageError) as exc:
            return json_reply(400, {"error": str(exc)})
        calls = [lost_call_json(t) for t in page.items]
        return json_reply(200, {"lost_calls": calls, "count": len(calls), "next": page.next})

    def _lost(self, queue_id: str, limit: int, cursor: str | None) -> Page[Ticket]:
        return self.lost.lost_calls(queue_id, limit=limit, cursor=cursor)

    def opt_out(self, raw_body: bytes | None, headers: Mapping[str, str], opted_out: bool) -> HttpReply:
        if not bearer_ok(headers, self.admin_token):
            return json_reply(401, {"error": "missing or wrong bearer token"})
        try:
            body = json.loads(raw_body or b"")
            raw = body["number"] if isinstance(body, dict) else None
        except (ValueError, KeyError):
            raw = None
        if not isinstance(raw, str):
            return json_reply(400, {"error": 'body must be {"number": "+E.164"}'})
        try:  # any country and type: an opt-out holds even for a number we would not call anyway
            number = NumberPolicy(allowed_countries=(), default_region=self.queues.default.default_region
                                  ).normalize(raw)
        except NumberNotAllowedError as exc:
            return json_reply(400, {"error": f"not a phone number: {exc.reason}"})
        self.bookings.set_opt_out(number, opted_out, self.clock.now())
        return json_reply(200, {"number": number, "opted_out": opted_out})
