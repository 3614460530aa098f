"""Agents' presence: our JSON API and the providers' agent events. Verify, parse, dispatch, reply."""
from __future__ import annotations

import hmac
import json
import re
from datetime import datetime
from typing import Any, Mapping

from ..domain.dispatch import Dispatcher
from ..domain.errors import (BadRequestError, BadWebhookError, NumberNotAllowedError, StoreUnavailableError,
                            UnknownQueueError)
from ..domain.model import AGENT_ID, AWAY_REASONS, Agent, AgentStatus, Ticket, check_reason
from ..domain.phone import MAX_CONTACT_LENGTH, looks_like_number
from ..ports import Telephony, WebhookRequest
from ..ports_access import Replays
from .webhooks import HttpReply, replayed, unspend, verified

MAX_BODY_BYTES = 4096
MAX_QUEUES = 32
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:@/+=-]{1,128}$")
_FIELDS = frozenset({"status", "contact", "queues", "at", "event_id", "until", "reason"})
PROVIDER_AGENT_ID = re.compile(r"^[^.\x00-\x1f\x7f/\\][^\x00-\x1f\x7f/\\]{0,63}$")


def json_reply(status: int, body: Mapping[str, Any]) -> HttpReply:
    return HttpReply(status, json.dumps(body, default=str), "application/json")


def bearer_ok(headers: Mapping[str, str], token: str) -> bool:
    given = headers.get("authorization") or headers.get("Authorization") or ""
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def agent_json(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "status": agent.status.value, "reason": agent.reason, "queues": list(agent.queues),
            "contact": agent.contact, "ticket": agent.ticket_id,
            "since": agent.changed_at.isoformat() if agent.changed_at else None,
            "until": agent.until.isoformat() if agent.until else None}


def parse_status_body(raw_body: bytes | None) -> dict[str, Any]:
    """The status body, bounded and typed field by field; BadRequestError says what is wrong."""
    if len(raw_body or b"") > MAX_BODY_BYTES:
        raise BadRequestError(f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw_body or b"")
    except (ValueError, RecursionError):
        raise BadRequestError("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequestError("body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadRequestError(f"unknown field(s): {', '.join(unknown)[:200]}; "
                              f"known: {', '.join(sorted(_FIELDS))}")
    try:
        status = AgentStatus(body.get("status"))
    except ValueError:
        raise BadRequestError(f"status must be one of {', '.join(s.value for s in AgentStatus)}") from None
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or reason not in AWAY_REASONS):
        raise BadRequestError(f"reason must be one of {', '.join(AWAY_REASONS)}")
    check_reason(status, reason)
    contact = body.get("contact")
    if contact is not None and (not isinstance(contact, str) or not 0 < len(contact) <= MAX_CONTACT_LENGTH):
        raise BadRequestError(f"contact must be a phone number, sip:user@host or client:identity "
                              f"(at most {MAX_CONTACT_LENGTH} characters)")
    queues = body.get("queues")
    if queues is not None and (not isinstance(queues, list) or len(queues) > MAX_QUEUES
                               or not all(isinstance(q, str) and 0 < len(q) <= 64 for q in queues)):
        raise BadRequestError(f"queues must be a list of at most {MAX_QUEUES} queue ids")
    event_id = body.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not _EVENT_ID.match(event_id)):
        raise BadRequestError("event_id must be 1-128 letters, digits or _.:@/+=-")
    return {"status": status, "contact": contact, "queues": tuple(queues) if queues is not None else None,
            "at": iso_time(body, "at"), "event_id": event_id, "until": iso_time(body, "until"), "reason": reason}


def iso_time(body: Mapping[str, Any], name: str) -> datetime | None:
    """The body's field `name` as an aware time (None if absent); BadRequestError if it is not one.
    (Whether the time itself makes sense is the dispatcher's to say.)"""
    value = body.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadRequestError(f"{name} must be an ISO 8601 time")
    if parsed is not None and parsed.tzinfo is None:
        raise BadRequestError(f"{name} must carry a time zone (e.g. Z)")
    return parsed


# An agent's id travels through workflow input, queue messages and logs: it may not be a phone number.
NUMBER_AS_ID = json_reply(400, {"error": "agent id must not be a phone number: name the agent, and give "
                                         "the number as its contact"})


class AgentsApi:
    def __init__(self, dispatcher: Dispatcher, providers: Mapping[str, Telephony], agent_token: str,
                 public_base_url: str, replays: Replays) -> None:
        self.dispatcher = dispatcher
        self.providers = providers
        self.replays = replays  # a provider's signature over a time is acted on once
        self.agent_token = agent_token  # agents' own credential: never the admin token
        self.base_url = public_base_url.rstrip("/")

    def set_status(self, agent_id: str, raw_body: bytes | None, headers: Mapping[str, str]) -> HttpReply:
        if not bearer_ok(headers, self.agent_token):
            return json_reply(401, {"error": "missing or wrong bearer token"})
        if not AGENT_ID.match(agent_id):
            return json_reply(400, {"error": "agent id: 1-64 letters, digits or _.@+- (not starting with '.')"})
        if looks_like_number(agent_id):
            return NUMBER_AS_ID
        try:
            fields = parse_status_body(raw_body)
        except BadRequestError as exc:
            return json_reply(400, {"error": str(exc)})
        return self._apply(agent_id, fields)

    def provider_event(self, provider_name: str, raw_body: bytes | None, query: Mapping[str, str],
                       headers: Mapping[str, str]) -> HttpReply:
        provider = self.providers.get(provider_name)
        if provider is None:
            return json_reply(404, {"error": f"no provider {provider_name}"})
        request = WebhookRequest("POST", f"{self.base_url}/providers/{provider_name}/agent-events", dict(query or {}),
                                 headers, raw_body or b"")
        params = verified(provider, request)
        if isinstance(params, HttpReply):
            return params
        try:
            event = provider.parse_agent_event(params)
        except BadWebhookError as exc:
            return json_reply(400, {"error": str(exc)})
        if event is None:
            return json_reply(200, {"ignored": "not a presence event"})
        if not PROVIDER_AGENT_ID.match(event.agent_id):  # a provider's worker name may hold spaces
            return json_reply(400, {"error": "agent id: 1-64 printable characters, not starting with '.'"})
        if looks_like_number(event.agent_id):
            return NUMBER_AS_ID
        try:
            refused = replayed(provider, request, self.replays)
        except StoreUnavailableError:
            return json_reply(503, {"error": "the store could not record this now; try again"})
        if refused is not None:
            return json_reply(refused.status, {"error": refused.body.strip()})
        reply = self._apply(event.agent_id, {"status": event.status, "at": event.at, "contact": event.contact,
                                             "queues": event.queues, "event_id": event.event_id,
                                             "reason": event.reason})
        if reply.status == 503:  # not acted on: its retry, signed alike, must not be taken for a replay
            unspend(provider, request, self.replays)
        return reply

    def _apply(self, agent_id: str, fields: Mapping[str, Any]) -> HttpReply:
        try:
            agent, ticket = self.dispatcher.agent_event(agent_id, **fields)
        except (BadRequestError, UnknownQueueError) as exc:
            return json_reply(400, {"error": str(exc)})
        except NumberNotAllowedError as exc:
            return json_reply(400, {"error": f"contact refused: {exc.reason}"})
        except StoreUnavailableError:
            # nothing was decided and the event id is not spent: the sender should try again
            return json_reply(503, {"error": "the store could not record this now; try again"})
        return self._reply(agent, ticket)

    @staticmethod
    def _reply(agent: Agent | None, ticket: Ticket | None) -> HttpReply:
        if agent is None:
            return json_reply(200, {"ignored": "duplicate or stale event"})
        return json_reply(200, {"agent": agent_json(agent), "dispatched": ticket.id if ticket else None})
